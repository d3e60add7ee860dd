"""JSON API for price lists, pricing rules, rating and usage records.

Thin handlers over ``pricing.services`` (writes, atomic) and the engine through
``pricing.selectors.evaluate`` (``/rate`` stores nothing). Lists are joined or prefetched so a page
costs the same queries whatever its length.
"""

import decimal
from collections.abc import Sequence
from datetime import UTC, datetime

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from groups import validation
from groups.api import (
    CUSTOMER_MISMATCH,
    CUSTOMER_REQUIRED,
    UNKNOWN_CUSTOMER,
    UNKNOWN_EXTERNAL_ID,
    CustomerRefSerializer,
    GroupRefSerializer,
    VersionedMixin,
    api_validation_error,
    parse_uuid,
    update_fields,
    versioned_schema,
)
from groups.models import Customer, CustomerGroup
from pricing import engine, services
from pricing.api_charges import (
    BreakdownField,
    ProvenanceSerializer,
    record_billed_quantity,
    record_breakdown,
    result_fields,
)
from pricing.api_csv import CSV_EMPTY, CsvRecords, UsageCsvParser
from pricing.api_price_lists import (  # noqa: F401 - the API's public names
    PriceListItemSerializer,
    PriceListSerializer,
    PriceListViewSet,
)
from pricing.changesets.editing import check_direct_edit_api
from pricing.clock import billing_tz
from pricing.decimals import ApiDecimalField
from pricing.idempotency import KEY_HEADER, idempotent
from pricing.models import (
    CATEGORY_VALIDATOR,
    ITEM_CODE_VALIDATOR,
    PriceList,
    PricingRule,
    UsageRecord,
    UsageStatus,
)
from pricing.selectors import RateRequest, evaluate, evaluate_many

MAX_USAGE_RECORDS = 10_000
MAX_RATE_RECORDS = 1_000
RATE_RECORDS_LIST = "Send a non-empty list of records to rate."
QUANTITY_NOT_POSITIVE = "Quantity must be greater than zero."
TOO_MANY_RECORDS = "At most {limit} records at a time; this list has {count}."
NO_RECORDS = "Send one record or a non-empty list of records."

# Prices and quantities up to 999,999,999.999999: 15 significant digits round-trip exactly through
# the embedded SQLite database too (it stores decimals as doubles); amounts are the engine's,
# stored exactly up to engine.MAX_AMOUNT.
MAX_DIGITS = 15

RULE_CLEARABLE = {"group": None, "customer": None, "valid_to": None, "description": ""}
RULE_RENAMES = {"price_list": "price_list_id", "group": "group_id", "customer": "customer_id"}


def _uuid_ref(queryset: QuerySet, **kwargs) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=queryset, pk_field=serializers.UUIDField(), **kwargs
    )


# --- Price lists: pricing/api_price_lists.py (items with price models, derived lists) ---------

# --- Rules ------------------------------------------------------------------------------------


class PricingRuleSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=100)
    billing_category = serializers.CharField(max_length=64, validators=[CATEGORY_VALIDATOR])
    price_list_id = _uuid_ref(PriceList.objects.all(), source="price_list")
    group_id = _uuid_ref(
        CustomerGroup.objects.all(), source="group", allow_null=True, required=False
    )
    customer_id = _uuid_ref(
        Customer.objects.all(), source="customer", allow_null=True, required=False
    )
    priority = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, help_text="Higher number wins."
    )
    valid_from = validation.ApiDateField(required=False, help_text="Defaults to today.")
    valid_to = validation.ApiDateField(
        required=False, allow_null=True, help_text="Inclusive; null = open-ended."
    )
    is_active = serializers.BooleanField(required=False)
    description = validation.ApiDescriptionField()
    status = serializers.CharField(read_only=True, help_text="active, scheduled, expired, disabled")
    version = serializers.IntegerField(read_only=True, help_text="Also the ETag, quoted.")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class PricingRuleFilter(django_filters.FilterSet):
    group_id = django_filters.UUIDFilter(field_name="group_id")
    customer_id = django_filters.UUIDFilter(field_name="customer_id")
    price_list_id = django_filters.UUIDFilter(field_name="price_list_id")
    billing_category = django_filters.CharFilter(field_name="billing_category")
    is_active = django_filters.BooleanFilter(field_name="is_active")
    active_on = validation.DateFilter(
        method="filter_active_on", help_text="Rules active and valid on this date."
    )

    class Meta:
        model = PricingRule
        fields = [
            "group_id",
            "customer_id",
            "price_list_id",
            "billing_category",
            "is_active",
            "active_on",
        ]

    def filter_active_on(self, queryset, name, value):
        return queryset.active_on(value)


@versioned_schema
@extend_schema(tags=["pricing rules"])
class PricingRuleViewSet(VersionedMixin, viewsets.ModelViewSet):
    """Pricing rules; only pricing managers change them."""

    serializer_class = PricingRuleSerializer
    filterset_class = PricingRuleFilter
    queryset = PricingRule.objects.all()

    def get_queryset(self):
        return PricingRule.objects.in_evaluation_order()

    def perform_create(self, serializer):
        check_direct_edit_api(self.request)
        try:
            rule = services.rule_create(**serializer.validated_data, by=self.request.user)
        except DjangoValidationError as exc:
            raise api_validation_error(exc, RULE_RENAMES) from exc
        serializer.instance = rule

    def perform_update(self, serializer):
        check_direct_edit_api(self.request)
        try:
            fields = update_fields(serializer, RULE_CLEARABLE)
            rule = services.rule_update(
                rule=serializer.instance,
                by=self.request.user,
                expected_version=self.expected_version(),
                **fields,
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc, RULE_RENAMES) from exc
        serializer.instance = rule

    def perform_destroy(self, instance):
        check_direct_edit_api(self.request)
        services.rule_delete(
            rule=instance, by=self.request.user, expected_version=self.expected_version()
        )


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
        serializer = UsageInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attrs = serializer.validated_data
        customer = _lookup_customer(attrs)
        evaluation = evaluate(
            customer=customer,
            billing_category=attrs["billing_category"],
            item_code=attrs["item_code"],
            quantity=attrs["quantity"],
            occurred_at=attrs.get("occurred_at") or timezone.now(),
        )
        return Response(output(rate_result(evaluation)).data)

    @staticmethod
    def _many(rows, output: type[serializers.Serializer]) -> list[dict]:
        if not isinstance(rows, list) or not rows:
            raise serializers.ValidationError({"records": [RATE_RECORDS_LIST]})
        if len(rows) > MAX_RATE_RECORDS:
            raise serializers.ValidationError(
                {"records": [TOO_MANY_RECORDS.format(limit=MAX_RATE_RECORDS, count=len(rows))]}
            )
        valid, errors = validate_records(rows)
        evaluations = evaluate_many([RateRequest(**record) for _, record in valid])
        answers: list = [None] * len(rows)
        represent = output()
        for (index, _), evaluation in zip(valid, evaluations, strict=True):
            answers[index] = represent.to_representation(rate_result(evaluation))
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


# --- Usage records ----------------------------------------------------------------------------


class UsageRecordSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    customer_id = serializers.UUIDField(read_only=True)
    external_id = serializers.CharField(
        source="customer.external_id", read_only=True, allow_null=True
    )
    billing_category = serializers.CharField(read_only=True)
    item_code = serializers.CharField(read_only=True)
    quantity = serializers.DecimalField(max_digits=None, decimal_places=6, read_only=True)
    occurred_at = serializers.DateTimeField(read_only=True)
    status = serializers.ChoiceField(choices=UsageStatus.choices, read_only=True)
    rule_id = serializers.UUIDField(read_only=True, allow_null=True)
    rule_code = serializers.CharField(read_only=True)
    price_list_id = serializers.UUIDField(read_only=True, allow_null=True)
    price_list_code = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    unit_price = serializers.DecimalField(
        max_digits=None, decimal_places=6, read_only=True, allow_null=True
    )
    amount = serializers.DecimalField(
        max_digits=None, decimal_places=2, read_only=True, allow_null=True
    )
    billed_quantity = serializers.SerializerMethodField(
        help_text="The quantity after billing increments (null when not rated)."
    )
    price_breakdown = serializers.SerializerMethodField()
    rated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    unrated_reason = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(
        serializers.DecimalField(max_digits=None, decimal_places=6, allow_null=True)
    )
    def get_billed_quantity(self, record: UsageRecord) -> str | None:
        value = record_billed_quantity(record)
        return None if value is None else f"{value:.6f}"

    @extend_schema_field(BreakdownField())
    def get_price_breakdown(self, record: UsageRecord) -> dict | None:
        return record_breakdown(record)


def _in_utc(value: datetime) -> datetime:
    """An instant in UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise serializers.ValidationError({"occurred_at": ["Date out of range."]}) from exc


class UsageRecordFilter(django_filters.FilterSet):
    customer = django_filters.CharFilter(
        method="filter_customer", help_text="The customer's id or external ID."
    )
    status = django_filters.ChoiceFilter(choices=UsageStatus.choices)
    category = django_filters.CharFilter(field_name="billing_category")
    item_code = django_filters.CharFilter(field_name="item_code")
    occurred_at = django_filters.IsoDateTimeFromToRangeFilter(
        method="filter_occurred_at",
        help_text="occurred_at_after (inclusive) and occurred_at_before (exclusive).",
    )

    class Meta:
        model = UsageRecord
        fields = ["customer", "status", "category", "item_code", "occurred_at"]

    def filter_occurred_at(self, queryset, name, value: slice):
        if value.start is not None:
            queryset = queryset.filter(occurred_at__gte=_in_utc(value.start))
        if value.stop is not None:
            queryset = queryset.filter(occurred_at__lt=_in_utc(value.stop))
        return queryset

    def filter_customer(self, queryset, name, value):
        customer_id = parse_uuid(value)
        if customer_id is not None:
            return queryset.filter(customer_id=customer_id)
        return queryset.filter(customer__external_id=value.strip())


class UsageSummarySerializer(serializers.Serializer):
    stored = serializers.IntegerField(help_text="Records stored (all of them, or none: a 400).")
    rated = serializers.IntegerField()
    unrated = serializers.IntegerField(help_text="Stored with the reason no rule priced them.")
    ids = serializers.ListField(child=serializers.UUIDField(), help_text="In the input's order.")


def _summary(stored: Sequence[UsageRecord]) -> dict:
    rated = sum(1 for record in stored if record.status == UsageStatus.RATED)
    return {
        "stored": len(stored),
        "rated": rated,
        "unrated": len(stored) - rated,
        "ids": [str(record.pk) for record in stored],
    }


def _prefers_minimal(request: Request) -> bool:
    """``Prefer: return=minimal`` (RFC 7240): counts and ids rather than every record."""
    return any(
        part.strip().lower() == "return=minimal"
        for part in request.headers.get("Prefer", "").split(",")
    )


class UsageBatchErrorSerializer(serializers.Serializer):
    records = serializers.DictField(
        child=serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        required=False,
        help_text='Errors by record index, e.g. {"3": {"quantity": ["..."]}}.',
    )
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)


@extend_schema_view(
    list=extend_schema(summary="Stored usage records, newest first"),
    retrieve=extend_schema(summary="One stored usage record"),
)
@extend_schema(tags=["usage records"])
class UsageRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Usage records with the price embedded when they were stored and rated."""

    serializer_class = UsageRecordSerializer
    filterset_class = UsageRecordFilter
    queryset = UsageRecord.objects.all()

    def get_queryset(self):
        return UsageRecord.objects.select_related("customer").order_by("-occurred_at", "id")

    parser_classes = [*api_settings.DEFAULT_PARSER_CLASSES, UsageCsvParser]

    @extend_schema(
        summary="Store and rate one record or a list of up to 10,000 (all or nothing)",
        description=(
            "A JSON record, a JSON list, or CSV (`Content-Type: text/csv`, first line the column "
            "names: customer_id or external_id, billing_category, item_code, quantity, "
            "occurred_at). Stored and rated in one transaction: every record, or none (400 with "
            "the errors by index). A JSON list answers every stored record; CSV, or "
            "`Prefer: return=minimal`, answers counts and the ids in the input's order. "
            "`Idempotency-Key`: a retried request with the same key and body stores nothing "
            "again and gets the first answer (`Idempotent-Replayed: true`); the same key with "
            "another body is a 422. Keys are kept 24 hours."
        ),
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="UsageRecordInputOneOrMany",
                serializers=[UsageInputSerializer, UsageInputSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            ),
            "text/csv": OpenApiTypes.STR,
        },
        responses={
            201: PolymorphicProxySerializer(
                component_name="UsageRecordOneOrMany",
                serializers=[
                    UsageRecordSerializer,
                    UsageRecordSerializer(many=True),
                    UsageSummarySerializer,
                ],
                resource_type_field_name=None,
                many=False,
            ),
            400: OpenApiResponse(UsageBatchErrorSerializer, description="Nothing was stored."),
            422: OpenApiResponse(
                description="The Idempotency-Key was used before for a different request."
            ),
        },
        filters=False,
        parameters=[
            OpenApiParameter(
                KEY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Any unique string (e.g. a UUID): a retry stores nothing twice.",
            ),
            OpenApiParameter(
                "Prefer",
                str,
                OpenApiParameter.HEADER,
                description="`return=minimal`: answer counts and ids only.",
                enum=["return=minimal"],
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        return idempotent(request, lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        if request.content_type.startswith("text/csv") and not request.data:
            raise ParseError(CSV_EMPTY)  # an empty body never reaches the parser
        many = isinstance(request.data, list)
        rows = request.data if many else [request.data]
        if not rows:
            raise serializers.ValidationError({"non_field_errors": [NO_RECORDS]})
        if len(rows) > MAX_USAGE_RECORDS:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        TOO_MANY_RECORDS.format(limit=MAX_USAGE_RECORDS, count=len(rows))
                    ]
                }
            )
        records = self._validated_records(rows, many=many)
        try:
            stored = services.usage_records_create(records=records, by=request.user)
        except (services.AmountTooLarge, DataError, decimal.InvalidOperation) as exc:
            too_large = isinstance(exc, services.AmountTooLarge)
            indexes = [str(i) for i in exc.args[0]] if too_large else ["0"]
            error = {"quantity": [services.AMOUNT_TOO_LARGE]}
            raise serializers.ValidationError(
                {"records": dict.fromkeys(indexes, error)} if many else error
            ) from exc
        if isinstance(request.data, CsvRecords) or _prefers_minimal(request):
            return Response(_summary(stored), status=status.HTTP_201_CREATED)
        data = UsageRecordSerializer(stored, many=True).data
        return Response(data if many else data[0], status=status.HTTP_201_CREATED)

    @staticmethod
    def _validated_records(rows: list, *, many: bool) -> list[dict]:
        """Every row valid, or a 400 reporting the errors by index (nothing is stored)."""
        valid, errors = validate_records(rows)
        if errors:
            if not many:
                raise serializers.ValidationError(errors["0"])
            raise serializers.ValidationError({"records": errors})
        return [record for _, record in valid]


def validate_records(rows: list) -> tuple[list[tuple[int, dict]], dict[str, dict]]:
    """Validate usage records and resolve their customers in two queries whatever their number:
    ``(valid, errors)``, the valid records with their index in ``rows`` and the errors by index.
    """
    errors: dict[str, dict] = {}
    checked: list[tuple[int, dict]] = []
    # One serializer validates every row, as ListSerializer does: its fields are built once
    # rather than deep-copied 10,000 times.
    validator = UsageInputSerializer()
    for index, row in enumerate(rows):
        try:
            checked.append((index, validator.run_validation(row)))
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
