"""Usage records: listed, and stored and rated in bulk (JSON or CSV, Idempotency-Key)."""

import decimal
from datetime import UTC, datetime

import django_filters
from django.db import DataError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from groups.api import (
    parse_uuid,
)
from pricing import services
from pricing.api.common import MAX_USAGE_RECORDS, NO_RECORDS, TOO_MANY_RECORDS
from pricing.api.rating import UsageInputSerializer, validate_records
from pricing.api_charges import (
    BreakdownField,
    record_billed_quantity,
    record_breakdown,
)
from pricing.api_csv import CSV_EMPTY, CsvRecords, UsageCsvParser
from pricing.api_price_lists import (  # noqa: F401 - the API's public names
    PriceListItemSerializer,
    PriceListSerializer,
    PriceListViewSet,
)
from pricing.idempotency import KEY_HEADER, idempotent
from pricing.models import (
    UsageRecord,
    UsageStatus,
)

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


def _summary(stored: services.StoredRecords) -> dict:
    rated = stored.rated
    return {
        "stored": len(stored),
        "rated": rated,
        "unrated": len(stored) - rated,
        "ids": [str(pk) for pk in stored.ids],
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
        return UsageRecord.objects.select_related("customer", "price_terms").order_by(
            "-occurred_at", "id"
        )

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
