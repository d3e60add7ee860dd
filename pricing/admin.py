"""Django admin for superusers: price lists, rules and usage records."""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from pricing import services
from pricing.decimals import DecimalField
from pricing.models import PriceList, PriceListItem, PricingRule, UsageRecord, UsageStatus

# Prices and quantities typed in the admin are read as strictly as on the pages and the API.
STRICT_DECIMALS = {models.DecimalField: {"form_class": DecimalField}}


class PriceListItemInline(admin.TabularInline):
    """Codes and per-unit prices in a table; an item's price model (tiers, packages,
    increments, minimum) is edited on its own page."""

    model = PriceListItem
    extra = 1
    fields = ["item_code", "unit", "unit_price", "pricing_mode"]
    readonly_fields = ["pricing_mode"]
    show_change_link = True
    formfield_overrides = STRICT_DECIMALS


@admin.register(PriceList)
class PriceListAdmin(SimpleHistoryAdmin):
    list_display = ["name", "code", "currency", "updated_at"]
    list_filter = ["currency"]
    search_fields = ["name", "code", "description"]
    autocomplete_fields = ["base_price_list"]
    inlines = [PriceListItemInline]


@admin.register(PriceListItem)
class PriceListItemAdmin(SimpleHistoryAdmin):
    list_display = ["price_list", "item_code", "unit", "unit_price"]
    list_filter = ["price_list", "unit"]
    search_fields = ["item_code", "price_list__name", "price_list__code"]
    list_select_related = ["price_list"]
    formfield_overrides = STRICT_DECIMALS

    # An item's change is a new version of its list too (the list's API ETag covers its items).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.price_list_items_changed(price_list=obj.price_list)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        services.price_list_items_changed(price_list=obj.price_list)


@admin.register(PricingRule)
class PricingRuleAdmin(SimpleHistoryAdmin):
    list_display = [
        "code",
        "name",
        "billing_category",
        "priority",
        "group",
        "customer",
        "price_list",
        "valid_from",
        "valid_to",
        "is_active",
    ]
    list_filter = ["billing_category", "is_active", "price_list"]
    search_fields = ["code", "name", "group__name", "customer__name"]
    autocomplete_fields = ["customer", "group", "price_list"]
    list_select_related = ["group", "customer", "price_list"]
    ordering = ["billing_category", "-priority", "code"]


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Usage records; once rated (or found unrated) a record is read-only, as in the API.

    A settled record carries the price the engine gave it: changing its quantity or customer
    here would leave it rated at the old amount. Only pending records (not rated yet) can be
    corrected or deleted.
    """

    list_display = [
        "occurred_at",
        "customer",
        "billing_category",
        "item_code",
        "quantity",
        "status",
        "rule_code",
        "amount",
        "currency",
    ]
    list_filter = ["status", "billing_category", "currency"]
    search_fields = ["customer__name", "customer__external_id", "rule_code", "item_code"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]
    readonly_fields = [
        "rule",
        "rule_code",
        "price_list",
        "price_list_code",
        "unit_price",
        "amount",
        "currency",
        "rated_at",
        "unrated_reason",
        "status",
    ]
    show_full_result_count = False
    date_hierarchy = "occurred_at"
    formfield_overrides = STRICT_DECIMALS
    # No bulk actions: "delete selected" would not ask each record whether it is settled.
    actions = None

    def has_change_permission(self, request, obj: UsageRecord | None = None) -> bool:
        if obj is not None and obj.status != UsageStatus.PENDING:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj: UsageRecord | None = None) -> bool:
        if obj is not None and obj.status != UsageStatus.PENDING:
            return False
        return super().has_delete_permission(request, obj)
