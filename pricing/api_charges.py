"""How the API shows a charge's arithmetic: the billed quantity, the breakdown, the provenance.

The breakdown is the engine's (:meth:`pricing.engine.Charge.breakdown`), worked out from the
price terms a record was priced with (records priced by anything but a plain per-unit price keep
them, ``UsageRecord.price_terms``) or its stored unit price, so every rated record shows one.
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pricing import engine
from pricing.models import UsageRecord, UsageStatus


class ChargeStepSerializer(serializers.Serializer):
    label = serializers.CharField(help_text='e.g. "tier 2", "per unit", "blocks of 1000".')
    quantity = serializers.CharField(allow_null=True, help_text="Null for a note.")
    unit_price = serializers.CharField(allow_null=True)
    amount = serializers.CharField(allow_null=True, help_text="Exact, before rounding.")


class PriceBreakdownSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=[m.value for m in engine.Mode])
    billed_quantity = serializers.CharField(
        help_text="The quantity after billing increments (the quantity itself without them)."
    )
    steps = ChargeStepSerializer(
        many=True, help_text="The arithmetic, in order: tiers used, blocks, minimum applied."
    )
    minimum_applied = serializers.BooleanField()


class ProvenanceSerializer(serializers.Serializer):
    base_price_list_code = serializers.CharField()
    factor = serializers.CharField()
    surcharge = serializers.CharField()
    rounding = serializers.IntegerField()
    base_unit_price = serializers.CharField()


BREAKDOWN_EXAMPLE = {
    "mode": "graduated",
    "billed_quantity": "150",
    "steps": [
        {"label": "tier 1", "quantity": "100", "unit_price": "2", "amount": "200"},
        {"label": "tier 2", "quantity": "50", "unit_price": "1.5", "amount": "75"},
    ],
    "minimum_applied": False,
}


@extend_schema_field(
    PriceBreakdownSerializer(
        allow_null=True,
        help_text="How the amount was worked out (null when not rated).",
    )
)
class BreakdownField(serializers.Field):
    """A charge's breakdown as :class:`PriceBreakdownSerializer` documents it."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value


def record_breakdown(record: UsageRecord) -> dict | None:
    """The engine's breakdown of a rated record (:meth:`UsageRecord.breakdown`)."""
    return record.breakdown()


def record_billed_quantity(record: UsageRecord) -> Decimal | None:
    if record.status != UsageStatus.RATED:
        return None
    return record.billed_quantity if record.billed_quantity is not None else record.quantity


def result_fields(result: engine.Result, item_code: str) -> dict:
    """The charge of a rating result as the rate endpoint shows it."""
    charge = result.charge
    price = result.rule.prices.get(item_code) if result.rule is not None else None
    return {
        "billed_quantity": charge.billed_quantity if charge is not None else None,
        "price_breakdown": charge.breakdown() if charge is not None else None,
        "price_source": price.source(item_code) if price is not None and result.rated else "",
        "price_provenance": price.provenance() if price is not None and result.rated else [],
    }
