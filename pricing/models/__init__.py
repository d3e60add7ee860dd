"""Price lists, pricing rules and usage records with the price they were rated at.

Rules point at groups and customers (``groups`` app) with ``PROTECT``: nothing that a rule uses
can disappear underneath it. A rated usage record copies the codes, unit price and currency of
what priced it, so later changes to rules, lists or memberships never change a stored price.

Modules by role: :mod:`.common` (validators), :mod:`.price_lists`, :mod:`.rules`, :mod:`.usage`;
changesets in ``pricing.models_changesets``, Idempotency-Key answers in ``pricing.idempotency``.
"""

# The answers kept for requests sent with an Idempotency-Key (pricing.idempotency).
from pricing.idempotency.models import IdempotentRequest
from pricing.models.common import (
    CATEGORY_VALIDATOR,
    ITEM_CODE_VALIDATOR,
    MAX_DECIMAL,
    MAX_DECIMAL_VALIDATOR,
    validate_currency,
)
from pricing.models.price_lists import (
    TIERS_NOT_READABLE,
    PriceList,
    PriceListItem,
    PriceListQuerySet,
    PricingMode,
    item_price,
)
from pricing.models.rules import (
    PricingRule,
    PricingRuleQuerySet,
    RuleStatus,
    TargetKind,
)
from pricing.models.usage import (
    PendingUsage,
    PriceTerms,
    Upload,
    UsageRecord,
    UsageStatus,
    keep_terms,
    terms_of,
    uuid7,
)

# Models of this app kept apart.
from pricing.models_changesets import (
    ChangeAction,
    ChangeKind,
    Changeset,
    ChangesetChange,
    ChangesetEvent,
    ChangesetState,
)

__all__ = [
    "CATEGORY_VALIDATOR",
    "ITEM_CODE_VALIDATOR",
    "MAX_DECIMAL",
    "MAX_DECIMAL_VALIDATOR",
    "TIERS_NOT_READABLE",
    "ChangeAction",
    "ChangeKind",
    "Changeset",
    "ChangesetChange",
    "ChangesetEvent",
    "ChangesetState",
    "IdempotentRequest",
    "PendingUsage",
    "PriceList",
    "PriceListItem",
    "PriceListQuerySet",
    "PriceTerms",
    "PricingMode",
    "PricingRule",
    "PricingRuleQuerySet",
    "RuleStatus",
    "TargetKind",
    "Upload",
    "UsageRecord",
    "UsageStatus",
    "item_price",
    "keep_terms",
    "terms_of",
    "uuid7",
    "validate_currency",
]
