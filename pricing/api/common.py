"""What the pricing API modules share: limits, messages, references by id."""

from django.db.models import QuerySet
from rest_framework import serializers

from pricing.api_price_lists import (  # noqa: F401 - the API's public names
    PriceListItemSerializer,
    PriceListSerializer,
    PriceListViewSet,
)

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


def uuid_ref(queryset: QuerySet, **kwargs) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=queryset, pk_field=serializers.UUIDField(), **kwargs
    )
