"""The pricing rules API."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework import serializers, viewsets

from groups import validation
from groups.api import (
    VersionedMixin,
    api_validation_error,
    update_fields,
    versioned_schema,
)
from groups.models import Customer, CustomerGroup
from pricing import services
from pricing.api.common import RULE_CLEARABLE, RULE_RENAMES, uuid_ref
from pricing.api_price_lists import (  # noqa: F401 - the API's public names
    PriceListItemSerializer,
    PriceListSerializer,
    PriceListViewSet,
)
from pricing.changesets.editing import check_direct_edit_api
from pricing.models import (
    CATEGORY_VALIDATOR,
    PriceList,
    PricingRule,
)

# --- Rules ------------------------------------------------------------------------------------


class PricingRuleSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=100)
    billing_category = serializers.CharField(max_length=64, validators=[CATEGORY_VALIDATOR])
    price_list_id = uuid_ref(PriceList.objects.all(), source="price_list")
    group_id = uuid_ref(
        CustomerGroup.objects.all(), source="group", allow_null=True, required=False
    )
    customer_id = uuid_ref(
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
