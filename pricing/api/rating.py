"""POST /api/v1/rate: one record or many, rated by the engine, nothing stored."""

import decimal
from collections.abc import Sequence

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from groups import validation
from groups.api import (
    CUSTOMER_MISMATCH,
    CUSTOMER_REQUIRED,
    UNKNOWN_CUSTOMER,
    UNKNOWN_EXTERNAL_ID,
    CustomerRefSerializer,
    GroupRefSerializer,
)
from groups.api.intake import intake
from groups.api.represent import representation
from groups.models import Customer
from pricing import engine, services
from pricing.api.common import (
    MAX_DIGITS,
    MAX_RATE_RECORDS,
    QUANTITY_NOT_POSITIVE,
    RATE_RECORDS_LIST,
    TOO_MANY_RECORDS,
)
from pricing.api_charges import (
    BreakdownField,
    ProvenanceSerializer,
    result_fields,
)
from pricing.api_price_lists import (  # noqa: F401 - the API's public names
    PriceListItemSerializer,
    PriceListSerializer,
    PriceListViewSet,
)
from pricing.clock import billing_tz
from pricing.decimals import ApiDecimalField
from pricing.models import (
    CATEGORY_VALIDATOR,
    ITEM_CODE_VALIDATOR,
)
from pricing.selectors import RateRequest, evaluate, evaluate_many

# --- Rating -----------------------------------------------------------------------------------


class InstantField(validation.ApiDateTimeField):
    """An ISO 8601 instant; one written without an offset is read in the billing time zone
    (``BILLING_TIME_ZONE``), as CSV uploads and the pages read it (:func:`engine.read_instant`).
    Instants outside the supported range are refused (``groups.validation``)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "help_text",
            "An ISO 8601 instant, e.g. 2026-03-01T14:30:00+01:00; without an offset it is read "
            "in the billing time zone.",
        )
        super().__init__(**kwargs)

    def default_timezone(self):
        return billing_tz()

    def enforce_timezone(self, value):
        if value.tzinfo is None:
            value = engine.read_instant(value, billing_tz())
        return super().enforce_timezone(value)


class UsageInputSerializer(serializers.Serializer):
    """One usage record to rate (``/rate``) or store (``/usage-records``); no queries."""

    customer_id = serializers.UUIDField(required=False, help_text="Or give external_id.")
    external_id = serializers.CharField(required=False, max_length=100)
    billing_category = serializers.CharField(max_length=64, validators=[CATEGORY_VALIDATOR])
    item_code = serializers.CharField(max_length=64, validators=[ITEM_CODE_VALIDATOR])
    quantity = ApiDecimalField(max_digits=MAX_DIGITS, decimal_places=6)
    occurred_at = InstantField(
        required=False,
        help_text="When the usage happened (default: now). An ISO 8601 instant; without an "
        "offset it is read in the billing time zone.",
    )

    def validate_quantity(self, value: decimal.Decimal) -> decimal.Decimal:
        if value <= 0:
            raise serializers.ValidationError(QUANTITY_NOT_POSITIVE)
        return value

    def validate(self, attrs):
        if attrs.get("customer_id") is None and not attrs.get("external_id"):
            raise serializers.ValidationError({"customer_id": [CUSTOMER_REQUIRED]})
        return attrs


def resolve_customer(attrs, by_id: dict, by_external_id: dict) -> Customer:
    """The customer a validated record names, or a field error when there is none."""
    customer_id, external_id = attrs.get("customer_id"), attrs.get("external_id")
    customer = by_id.get(customer_id) if customer_id is not None else None
    if customer_id is not None and customer is None:
        raise serializers.ValidationError({"customer_id": [UNKNOWN_CUSTOMER]})
    if external_id:
        named = by_external_id.get(external_id)
        if named is None:
            raise serializers.ValidationError({"external_id": [UNKNOWN_EXTERNAL_ID]})
        if customer is not None and named.pk != customer.pk:
            raise serializers.ValidationError({"external_id": [CUSTOMER_MISMATCH]})
        customer = named
    return customer


class TraceEntrySerializer(serializers.Serializer):
    rule_id = serializers.UUIDField()
    rule_code = serializers.CharField()
    priority = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=[o.value for o in engine.Outcome])
    reason = serializers.CharField()


@extend_schema_field(TraceEntrySerializer(many=True))
class TraceField(serializers.Field):
    """The engine's trace as :class:`TraceEntrySerializer` documents it, written directly.

    A category holds over a thousand rules at operator scale; a nested serializer per entry
    cost most of the response time. The output is the same: the id as a hyphenated string,
    the outcome's value.
    """

    def to_representation(self, value: Sequence[engine.TraceEntry]) -> list[dict]:
        rows = (
            value.explained()
            if isinstance(value, engine.Trace)
            else ((e.rule, e.outcome, e.reason) for e in value)
        )
        return [
            {
                "rule_id": str(rule.id),
                "rule_code": rule.code,
                "priority": rule.priority,
                "outcome": _OUTCOME_VALUES[outcome],
                "reason": reason,
            }
            for rule, outcome, reason in rows
        ]


_OUTCOME_VALUES = {outcome: outcome.value for outcome in engine.Outcome}


class RatePriceSerializer(serializers.Serializer):
    """A rating's answer without its trace (``?trace=0``)."""

    rated = serializers.BooleanField()
    rule_id = serializers.UUIDField(allow_null=True)
    rule_code = serializers.CharField(allow_null=True)
    price_list_id = serializers.UUIDField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    unit_price = serializers.DecimalField(max_digits=None, decimal_places=6, allow_null=True)
    amount = serializers.DecimalField(max_digits=None, decimal_places=2, allow_null=True)
    billed_quantity = serializers.DecimalField(
        max_digits=None,
        decimal_places=6,
        allow_null=True,
        help_text="The quantity after billing increments (null when not rated).",
    )
    price_breakdown = BreakdownField()
    price_source = serializers.CharField(
        help_text='Where the price came from: "derived: 0.80 x STD-RETAIL-2026 minute 0.50", '
        'or "" for an item of the rule\'s own list.'
    )
    price_provenance = ProvenanceSerializer(
        many=True, help_text="The derivation chain of the price, nearest list first."
    )
    reason = serializers.CharField()
    customer = CustomerRefSerializer()
    billing_category = serializers.CharField()
    item_code = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=None, decimal_places=6)
    occurred_at = serializers.DateTimeField()
    billing_day = serializers.DateField(help_text="The record's day in the billing time zone.")
    groups = GroupRefSerializer(many=True, help_text="The customer's groups at that instant.")


def rate_result(evaluation) -> dict:
    """The engine's answer (with the context the caller sent) as the API shows it."""
    result, usage = evaluation.result, evaluation.usage
    rule = result.rule
    return {
        "rated": result.rated,
        "rule_id": rule.id if rule else None,
        "rule_code": rule.code if rule else None,
        "price_list_id": rule.price_list_id if rule else None,
        "currency": result.currency,
        "unit_price": result.unit_price,
        "amount": result.amount,
        **result_fields(result, usage.item_code),
        "reason": result.reason,
        "customer": evaluation.customer,
        "billing_category": usage.billing_category,
        "item_code": usage.item_code,
        "quantity": usage.quantity,
        "occurred_at": usage.occurred_at,
        "billing_day": result.day,
        "groups": evaluation.groups,
        "trace": result.trace,
    }


class RateResultSerializer(RatePriceSerializer):
    trace = TraceField(help_text="Every candidate rule in evaluation order (not with ?trace=0).")


class RateRecordErrorSerializer(serializers.Serializer):
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='This record\'s field errors, e.g. {"quantity": ["..."]}.',
    )


class RateManyInputSerializer(serializers.Serializer):
    records = UsageInputSerializer(many=True, help_text=f"1 to {MAX_RATE_RECORDS} records.")


RATE_MANY_ITEMS = PolymorphicProxySerializer(
    component_name="RateManyItem",
    serializers=[RateResultSerializer, RateRecordErrorSerializer],
    resource_type_field_name=None,
    many=True,
)


def _wants_trace(request: Request) -> bool:
    return request.query_params.get("trace", "1").strip().lower() not in {"0", "false", "no"}


@extend_schema(tags=["rating"])
class RateView(generics.GenericAPIView):
    """Rate one usage record, or a list of up to 1,000, with the engine; nothing is stored.

    Three queries for the work itself, whatever the number of rules or records: the customers,
    the check that the rules cached by the process are current (two more reload them after a
    change), the customers' memberships. ``?trace=0`` leaves out the trace (the price only).
    """

    serializer_class = UsageInputSerializer
    required_permissions = {"POST": ["groups.view_customer", "pricing.view_pricingrule"]}
    pagination_class = None
    filter_backends = []

    @extend_schema(
        summary='Rate one record, or {"records": [...]} (up to 1,000); nothing stored',
        description=(
            "One record answers one result (404 for an unknown customer). A list answers a list "
            "in the same order, each item a result or that record's `errors`: one bad record "
            "does not fail the others."
        ),
        parameters=[
            OpenApiParameter(
                "trace",
                bool,
                description="0 leaves out the trace, when only the price is needed.",
                default=True,
            )
        ],
        request=PolymorphicProxySerializer(
            component_name="RateInput",
            serializers=[UsageInputSerializer, RateManyInputSerializer],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            200: PolymorphicProxySerializer(
                component_name="RateOutput",
                serializers=[RateResultSerializer, RATE_MANY_ITEMS],
                resource_type_field_name=None,
                many=False,
            )
        },
    )
    def post(self, request: Request) -> Response:
        output = RateResultSerializer if _wants_trace(request) else RatePriceSerializer
        if isinstance(request.data, dict) and "records" in request.data:
            return Response(self._many(request.data["records"], output))
        attrs = intake(UsageInputSerializer)(request.data)
        record = RateRequest(
            customer=_lookup_customer(attrs),
            billing_category=attrs["billing_category"],
            item_code=attrs["item_code"],
            quantity=attrs["quantity"],
            occurred_at=attrs.get("occurred_at") or timezone.now(),
        )
        if output is RateResultSerializer:
            evaluation = evaluate(**vars(record))
        else:  # the price only: through the cached book's index
            [evaluation] = evaluate_many([record], trace=False)
        return Response(representation(output)(rate_result(evaluation)))

    @staticmethod
    def _many(rows, output: type[serializers.Serializer]) -> list[dict]:
        if not isinstance(rows, list) or not rows:
            raise serializers.ValidationError({"records": [RATE_RECORDS_LIST]})
        if len(rows) > MAX_RATE_RECORDS:
            raise serializers.ValidationError(
                {"records": [TOO_MANY_RECORDS.format(limit=MAX_RATE_RECORDS, count=len(rows))]}
            )
        valid, errors = validate_records(rows)
        evaluations = evaluate_many(
            [RateRequest(**record) for _, record in valid],
            trace=output is RateResultSerializer,
        )
        answers: list = [None] * len(rows)
        represent = representation(output)
        for (index, _), evaluation in zip(valid, evaluations, strict=True):
            answers[index] = represent(rate_result(evaluation))
        for index, error in errors.items():
            answers[int(index)] = {"errors": error}
        return answers


def _lookup_customer(attrs) -> Customer:
    """The customer a record names by id and/or external ID, in one query."""
    condition = Q()
    if attrs.get("customer_id") is not None:
        condition |= Q(pk=attrs["customer_id"])
    if attrs.get("external_id"):
        condition |= Q(external_id=attrs["external_id"])
    found = list(Customer.objects.filter(condition))
    by_external_id = {c.external_id: c for c in found if c.external_id}
    if not found:
        # The record names nobody: 404, as for an unknown id in a path.
        named_by_id = attrs.get("customer_id") is not None
        raise NotFound(UNKNOWN_CUSTOMER if named_by_id else UNKNOWN_EXTERNAL_ID)
    return resolve_customer(attrs, {c.pk: c for c in found}, by_external_id)


def validate_records(rows: list) -> tuple[list[tuple[int, dict]], dict[str, dict]]:
    """Validate usage records and resolve their customers in two queries whatever their number:
    ``(valid, errors)``, the valid records with their index in ``rows`` and the errors by index.
    """
    errors: dict[str, dict] = {}
    checked: list[tuple[int, dict]] = []
    # One serializer validates every row, as ListSerializer does: its fields are built once
    # rather than deep-copied 10,000 times; plain rows skip DRF's per-field orchestration.
    validator, memo = intake(UsageInputSerializer), {}
    for index, row in enumerate(rows):
        try:
            checked.append((index, validator(row, memo)))
        except serializers.ValidationError as exc:
            errors[str(index)] = serializers.as_serializer_error(exc)
    by_id, by_external_id = services.resolve_customers(
        ids=[a["customer_id"] for _, a in checked if a.get("customer_id") is not None],
        external_ids=[a["external_id"] for _, a in checked if a.get("external_id")],
    )
    now = timezone.now()
    valid = []
    for index, attrs in checked:
        try:
            customer = resolve_customer(attrs, by_id, by_external_id)
        except serializers.ValidationError as exc:
            errors[str(index)] = exc.detail
            continue
        valid.append(
            (
                index,
                {
                    "customer": customer,
                    "billing_category": attrs["billing_category"],
                    "item_code": attrs["item_code"],
                    "quantity": attrs["quantity"],
                    "occurred_at": attrs.get("occurred_at") or now,
                },
            )
        )
    return valid, errors
