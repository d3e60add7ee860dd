"""The API of price lists: items with their price models, derived lists, and the viewset.

An item carries its pricing mode (``per_unit``, ``graduated``, ``volume``, ``package``), its
tiers, package size, billing increments and minimum charge; a list may be based on another list
of the same currency (``base_price_list_id``, ``factor``, ``surcharge``, ``rounding``). What
they mean is the engine's (:mod:`pricing.engine.prices`): the serializers read the input and
hand it to :func:`pricing.engine.price_errors` for field-level messages; the services refuse a
currency mismatch or a cycle of lists, and nothing is changed on any 400.
"""

from decimal import Decimal

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from groups import validation
from groups.api import VersionedMixin, api_validation_error, update_fields, versioned_schema
from pricing import engine, services
from pricing.changesets.editing import check_direct_edit_api
from pricing.decimals import ApiDecimalField
from pricing.models import ITEM_CODE_VALIDATOR, PriceList, PriceListItem, PricingMode, item_price

# Prices and quantities up to 999,999,999.999999 (see pricing.api.MAX_DIGITS).
MAX_DIGITS = 15
TIERS_NOT_TIERED = "Tiers apply only to graduated and volume prices; leave them out or empty."
PACKAGE_SIZE_NOT_PACKAGE = "A package size applies only to package prices."
UNIT_PRICE_NEEDED = "Give the unit price (per unit, or per block for a package price)."
FACTOR_NEGATIVE = "The factor cannot be negative (0.80 prices at 80 percent of the base)."
SURCHARGE_NEGATIVE = "The surcharge cannot be negative."
DERIVATION_RENAMES = {"base_price_list": "base_price_list_id"}


def _money(**kwargs) -> ApiDecimalField:
    return ApiDecimalField(max_digits=MAX_DIGITS, decimal_places=6, **kwargs)


def tiers_json(tiers) -> list[dict]:
    """Tiers as stored (decimals as text, ``up_to`` null for the open-ended last one)."""
    return [
        {
            "up_to": None if tier["up_to"] is None else str(tier["up_to"]),
            "unit_price": str(tier["unit_price"]),
        }
        for tier in tiers
    ]


class TierSerializer(serializers.Serializer):
    up_to = _money(
        min_value=Decimal(0),
        allow_null=True,
        required=False,
        help_text="Inclusive upper bound of the tier; null (or left out) for the last tier.",
    )
    unit_price = _money(min_value=Decimal(0), help_text="Price per unit within this tier.")

    def to_internal_value(self, data):
        attrs = super().to_internal_value(data)
        attrs.setdefault("up_to", None)
        return attrs


class PriceListItemSerializer(serializers.Serializer):
    """One item and its price model; the engine checks the model (tiers ascending, contiguous,
    non-negative, the last open-ended; a package size for packages; positive increments)."""

    item_code = serializers.CharField(max_length=64, validators=[ITEM_CODE_VALIDATOR])
    unit = serializers.CharField(max_length=32)
    unit_price = _money(
        min_value=Decimal(0),
        required=False,
        help_text="Per unit (per_unit), per block (package), or the first tier's price "
        "(graduated, volume: may be left out, it is taken from the first tier).",
    )
    pricing_mode = serializers.ChoiceField(
        choices=PricingMode.choices,
        default=PricingMode.PER_UNIT,
        help_text="per_unit: quantity x unit price; graduated: each tier's share at its price; "
        "volume: the whole quantity at the price of the tier it reaches; package: whole blocks "
        "of package_size at unit_price.",
    )
    tiers = TierSerializer(
        many=True,
        required=False,
        max_length=100,
        help_text="Graduated and volume prices: tiers lowest first, the last with up_to null.",
    )
    package_size = _money(
        min_value=Decimal("0.000001"),
        required=False,
        allow_null=True,
        help_text="Units per block of a package price, e.g. 1000 (SMS).",
    )
    first_increment = _money(
        min_value=Decimal("0.000001"),
        required=False,
        allow_null=True,
        help_text="Billing increments: the least quantity billed (60 in 60/60).",
    )
    next_increment = _money(
        min_value=Decimal("0.000001"),
        required=False,
        allow_null=True,
        help_text="Beyond the first increment the quantity rounds up to whole blocks of this.",
    )
    minimum_charge = _money(
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        help_text="A record costs at least this much.",
    )

    def validate(self, attrs):
        mode = attrs.get("pricing_mode", PricingMode.PER_UNIT)
        tiers = attrs.get("tiers") or []
        tiered = mode in (PricingMode.GRADUATED, PricingMode.VOLUME)
        if tiers and not tiered:
            raise serializers.ValidationError({"tiers": [TIERS_NOT_TIERED]})
        if attrs.get("package_size") is not None and mode != PricingMode.PACKAGE:
            raise serializers.ValidationError({"package_size": [PACKAGE_SIZE_NOT_PACKAGE]})
        if tiered and not tiers:
            raise serializers.ValidationError({"tiers": [engine.prices.TIERS_NEEDED]})
        if attrs.get("unit_price") is None:
            if not tiered:
                raise serializers.ValidationError({"unit_price": [UNIT_PRICE_NEEDED]})
            attrs["unit_price"] = tiers[0]["unit_price"]
        stored = tiers_json(tiers)
        errors = engine.price_errors(
            item_price(
                mode=mode,
                unit_price=attrs["unit_price"],
                tiers=stored,
                package_size=attrs.get("package_size"),
                first_increment=attrs.get("first_increment"),
                next_increment=attrs.get("next_increment"),
                minimum_charge=attrs.get("minimum_charge"),
            )
        )
        if errors:
            raise serializers.ValidationError(errors)
        attrs["pricing_mode"] = mode
        attrs["tiers"] = stored
        return attrs


class PriceListSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200)
    code = serializers.SlugField(max_length=100)
    currency = serializers.CharField(
        max_length=3, min_length=3, help_text="ISO 4217 code, e.g. CZK."
    )
    description = validation.ApiDescriptionField()
    base_price_list_id = serializers.PrimaryKeyRelatedField(
        queryset=PriceList.objects.all(),
        pk_field=serializers.UUIDField(),
        source="base_price_list",
        allow_null=True,
        required=False,
        help_text="A derived list: items it does not price itself come from this list (same "
        "currency; no cycles), at base x factor + surcharge.",
    )
    factor = ApiDecimalField(
        max_digits=10,
        decimal_places=6,
        min_value=Decimal(0),
        required=False,
        error_messages={"min_value": FACTOR_NEGATIVE},
        help_text="Derived prices: base price x factor (0.80 is 20% off). Default 1.",
    )
    surcharge = _money(
        min_value=Decimal(0),
        required=False,
        error_messages={"min_value": SURCHARGE_NEGATIVE},
        help_text="Derived prices: added to every price per unit. Default 0.",
    )
    rounding = serializers.IntegerField(
        min_value=0,
        max_value=6,
        required=False,
        help_text="Derived prices are rounded half-up to this many decimal places. Default 2.",
    )
    depth = serializers.SerializerMethodField(
        help_text="How many lists this one derives from through its chain of bases (0: none)."
    )
    items = PriceListItemSerializer(
        many=True,
        required=False,
        max_length=10_000,
        help_text="The list's own items. On PUT and PATCH, the list replaces all of them.",
    )
    version = serializers.IntegerField(
        read_only=True, help_text="Also the ETag, quoted; a change of any item counts too."
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_depth(self, price_list: PriceList) -> int:
        bases = self.context.get("bases")
        if bases is None:
            bases = dict(PriceList.objects.values_list("pk", "base_price_list_id"))
            self.context["bases"] = bases
        return chain_depth(bases, price_list.pk)


def chain_depth(bases: dict, pk) -> int:
    """The number of bases above ``pk`` (a cycle, which the services refuse, stops the count)."""
    seen, current = {pk}, bases.get(pk)
    while current is not None and current not in seen:
        seen.add(current)
        current = bases.get(current)
    return len(seen) - 1


class PriceListFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="Part of name or code.")
    code = django_filters.CharFilter(field_name="code", lookup_expr="iexact")
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")

    class Meta:
        model = PriceList
        fields = ["search", "code", "currency"]

    def filter_search(self, queryset, name, value):
        return queryset.search(value)


def price_lists_queryset() -> QuerySet[PriceList]:
    """Price lists with their items prefetched (one extra query per page)."""
    items = PriceListItem.objects.order_by("item_code")
    return PriceList.objects.prefetch_related(Prefetch("items", queryset=items)).order_by(
        "name", "id"
    )


EXAMPLES = [
    OpenApiExample(
        "Graduated data, 60/60 voice with a minimum, SMS packages",
        request_only=True,
        value={
            "name": "Standard retail 2026",
            "code": "STD-RETAIL-2026",
            "currency": "CZK",
            "items": [
                {
                    "item_code": "GB",
                    "unit": "GB",
                    "pricing_mode": "graduated",
                    "tiers": [
                        {"up_to": "100", "unit_price": "2.00"},
                        {"up_to": "1000", "unit_price": "1.50"},
                        {"up_to": None, "unit_price": "1.00"},
                    ],
                },
                {
                    "item_code": "second",
                    "unit": "second",
                    "unit_price": "0.01",
                    "first_increment": "60",
                    "next_increment": "60",
                    "minimum_charge": "1.00",
                },
                {
                    "item_code": "SMS",
                    "unit": "message",
                    "pricing_mode": "package",
                    "unit_price": "15.00",
                    "package_size": "1000",
                },
            ],
        },
    ),
    OpenApiExample(
        "A promotion: 20% off the standard list",
        request_only=True,
        value={
            "name": "Summer Promo 2026",
            "code": "SUMMER-PROMO-2026",
            "currency": "CZK",
            "base_price_list_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "factor": "0.80",
            "surcharge": "0",
            "rounding": 2,
        },
    ),
]


@versioned_schema
@extend_schema_view(
    create=extend_schema(examples=EXAMPLES),
    update=extend_schema(examples=EXAMPLES),
    partial_update=extend_schema(examples=EXAMPLES[1:]),
)
@extend_schema(tags=["price lists"])
class PriceListViewSet(VersionedMixin, viewsets.ModelViewSet):
    """Price lists with nested items; only pricing managers change them."""

    serializer_class = PriceListSerializer
    filterset_class = PriceListFilter
    queryset = PriceList.objects.all()

    def get_queryset(self):
        return price_lists_queryset()

    def get_serializer_context(self):
        # Every list's base, once per request: the depth of each list shown comes from it.
        context = super().get_serializer_context()
        context["bases"] = dict(PriceList.objects.values_list("pk", "base_price_list_id"))
        return context

    def perform_create(self, serializer):
        check_direct_edit_api(self.request)
        try:
            price_list = services.price_list_create(
                **serializer.validated_data, by=self.request.user
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc, DERIVATION_RENAMES) from exc
        self._show(serializer, price_list)

    def perform_update(self, serializer):
        check_direct_edit_api(self.request)
        # Items are replaced only when sent, on PUT as on PATCH: leaving them out keeps them.
        # PUT without a base makes the list plain again.
        fields = update_fields(serializer, {"description": "", "base_price_list": None})
        try:
            price_list = services.price_list_update(
                price_list=serializer.instance,
                by=self.request.user,
                # The ETag covers the items: any change since it was read is a conflict.
                expected_version=self.expected_version(),
                strict=True,
                **fields,
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc, DERIVATION_RENAMES) from exc
        self._show(serializer, price_list)

    def _show(self, serializer, price_list: PriceList) -> None:
        serializer.instance = price_lists_queryset().get(pk=price_list.pk)
        serializer.context["bases"] = dict(
            PriceList.objects.values_list("pk", "base_price_list_id")
        )

    def perform_destroy(self, instance):
        check_direct_edit_api(self.request)
        services.price_list_delete(
            price_list=instance, by=self.request.user, expected_version=self.expected_version()
        )
