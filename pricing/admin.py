"""Django admin for superusers: price lists, rules and usage records."""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from pricing.decimals import DecimalField
from pricing.models import PriceList, PriceListItem, PricingRule, UsageRecord

# Prices and quantities typed in the admin are read as strictly as on the pages and the API.
STRICT_DECIMALS = {models.DecimalField: {"form_class": DecimalField}}


class PriceListItemInline(admin.TabularInline):
    model = PriceListItem
    extra = 1
    formfield_overrides = STRICT_DECIMALS


@admin.register(PriceList)
class PriceListAdmin(SimpleHistoryAdmin):
    list_display = ["name", "code", "currency", "updated_at"]
    list_filter = ["currency"]
    search_fields = ["name", "code", "description"]
    inlines = [PriceListItemInline]


@admin.register(PriceListItem)
class PriceListItemAdmin(SimpleHistoryAdmin):
    list_display = ["price_list", "item_code", "unit", "unit_price"]
    list_filter = ["price_list", "unit"]
    search_fields = ["item_code", "price_list__name", "price_list__code"]
    list_select_related = ["price_list"]
    formfield_overrides = STRICT_DECIMALS


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
