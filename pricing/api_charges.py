"""How the API shows a charge's arithmetic: the billed quantity, the breakdown, the provenance.

The breakdown is the engine's (:meth:`pricing.engine.Charge.breakdown`), stored with records
priced by anything but a plain per-unit price; for plain records the API works it out from the
stored unit price through the same engine, so every rated record shows one.
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
    """The stored breakdown, or for a plain per-unit record the engine's for its stored price."""
    if record.status != UsageStatus.RATED:
        return None
    if record.price_breakdown is not None:
        return record.price_breakdown
    found = engine.charge(engine.ItemPrice(unit_price=record.unit_price), record.quantity)
    return found.breakdown() if found is not None else None


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
