"""JSON API for price lists, pricing rules, rating and usage records, by role.

Thin handlers over ``pricing.services`` (writes, atomic) and the engine through
``pricing.selectors.evaluate`` / ``evaluate_many`` (``/rate`` stores nothing). Lists are joined or
prefetched so a page costs the same queries whatever its length.

- :mod:`.rules`: pricing rules; :mod:`pricing.api_price_lists`: price lists with price models.
- :mod:`.rating`: ``POST /rate`` (one record or many) and the usage input every path validates.
- :mod:`.usage`: usage records, listed, and stored and rated in bulk.
- :mod:`.common`: limits, messages and references by id they share.
"""

from pricing.api.common import (
    MAX_DIGITS,
    MAX_RATE_RECORDS,
    MAX_USAGE_RECORDS,
    NO_RECORDS,
    QUANTITY_NOT_POSITIVE,
    RATE_RECORDS_LIST,
    RULE_CLEARABLE,
    RULE_RENAMES,
    TOO_MANY_RECORDS,
    uuid_ref,
)
from pricing.api.rating import (
    RATE_MANY_ITEMS,
    InstantField,
    RateManyInputSerializer,
    RatePriceSerializer,
    RateRecordErrorSerializer,
    RateResultSerializer,
    RateView,
    TraceEntrySerializer,
    TraceField,
    UsageInputSerializer,
    rate_result,
    resolve_customer,
    validate_records,
)
from pricing.api.rules import (
    PricingRuleFilter,
    PricingRuleSerializer,
    PricingRuleViewSet,
)
from pricing.api.usage import (
    UsageBatchErrorSerializer,
    UsageRecordFilter,
    UsageRecordSerializer,
    UsageRecordViewSet,
    UsageSummarySerializer,
)
from pricing.api_price_lists import (
    PriceListItemSerializer,
    PriceListSerializer,
    PriceListViewSet,
)

__all__ = [
    "MAX_DIGITS",
    "MAX_RATE_RECORDS",
    "MAX_USAGE_RECORDS",
    "NO_RECORDS",
    "QUANTITY_NOT_POSITIVE",
    "RATE_MANY_ITEMS",
    "RATE_RECORDS_LIST",
    "RULE_CLEARABLE",
    "RULE_RENAMES",
    "TOO_MANY_RECORDS",
    "InstantField",
    "PriceListItemSerializer",
    "PriceListSerializer",
    "PriceListViewSet",
    "PricingRuleFilter",
    "PricingRuleSerializer",
    "PricingRuleViewSet",
    "RateManyInputSerializer",
    "RatePriceSerializer",
    "RateRecordErrorSerializer",
    "RateResultSerializer",
    "RateView",
    "TraceEntrySerializer",
    "TraceField",
    "UsageBatchErrorSerializer",
    "UsageInputSerializer",
    "UsageRecordFilter",
    "UsageRecordSerializer",
    "UsageRecordViewSet",
    "UsageSummarySerializer",
    "rate_result",
    "resolve_customer",
    "uuid_ref",
    "validate_records",
]
