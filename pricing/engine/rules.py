"""What a pricing rule is to the engine, when it is in force, and the order rules are tried in.

Each rule of rating is written here once:

- **In force on a day**: enabled, and ``valid_from <= day <= valid_to`` (``valid_to`` inclusive;
  empty means no end). Its **status** on a day is ``disabled``, ``scheduled`` (starts later),
  ``expired`` (ended) or ``active`` (:func:`status_on`).
- **Targets**: a rule targets one customer, one group, or everyone (neither).
- **Precedence**: rules are tried by priority (higher first), then a customer's rule before a
  group's before everyone's, then the later ``valid_from``, then the code in code-point order
  (:func:`precedence_key`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from pricing.engine.prices import ItemPrice, as_price

# Target kinds in precedence order: a customer's own rule beats a group rule beats everyone's.
CUSTOMER, GROUP, EVERYONE = "customer", "group", "everyone"
TARGET_RANK = {CUSTOMER: 0, GROUP: 1, EVERYONE: 2}


class Status(StrEnum):
    """A rule's state on one day (the words the pages, the API and the filters use)."""

    ACTIVE = "active"
    SCHEDULED = "scheduled"
    EXPIRED = "expired"
    DISABLED = "disabled"


def target_kind(group_id: Hashable | None, customer_id: Hashable | None) -> str:
    if customer_id is not None:
        return CUSTOMER
    if group_id is not None:
        return GROUP
    return EVERYONE


def status_on(is_active: bool, valid_from: date, valid_to: date | None, day: date) -> Status:
    """The rule's status on ``day``."""
    if not is_active:
        return Status.DISABLED
    if day < valid_from:
        return Status.SCHEDULED
    if valid_to is not None and day > valid_to:
        return Status.EXPIRED
    return Status.ACTIVE


def in_force(is_active: bool, valid_from: date, valid_to: date | None, day: date) -> bool:
    """Whether the rule may price a record billed on ``day`` (its status is active)."""
    return is_active and valid_from <= day and (valid_to is None or day <= valid_to)


def not_ended(is_active: bool, valid_to: date | None, day: date) -> bool:
    """Enabled and not yet ended on ``day``: in force or scheduled (the audit's "live")."""
    return is_active and (valid_to is None or day <= valid_to)


def precedence_key(
    priority: int, kind: str, valid_from: date, code: str
) -> tuple[int, int, int, str]:
    """The sort key of evaluation order: the smallest key is tried first."""
    return (-priority, TARGET_RANK[kind], -valid_from.toordinal(), code)


@dataclass(frozen=True, slots=True)
class Rule:
    """A pricing rule as the engine sees it, with its price list's prices attached.

    ``prices`` maps item codes to their :class:`~pricing.engine.prices.ItemPrice` (a list's own
    items and those derived from its base chain; a plain Decimal is a per-unit price); it may
    hold only the items a caller asked about.
    ``group_name`` and ``customer_name`` only make reasons readable.
    """

    id: Hashable
    code: str
    billing_category: str
    priority: int
    valid_from: date
    price_list_id: Hashable
    currency: str
    prices: Mapping[str, ItemPrice | Decimal]
    valid_to: date | None = None
    is_active: bool = True
    group_id: Hashable | None = None
    customer_id: Hashable | None = None
    name: str = ""
    price_list_code: str = ""
    group_name: str = ""
    customer_name: str = ""

    def __post_init__(self) -> None:
        if not all(isinstance(price, ItemPrice) for price in self.prices.values()):
            prices = {item: as_price(price) for item, price in self.prices.items()}
            object.__setattr__(self, "prices", MappingProxyType(prices))

    @property
    def target_kind(self) -> str:
        return target_kind(self.group_id, self.customer_id)

    @property
    def target_label(self) -> str:
        if self.customer_id is not None:
            return f"customer {self.customer_name or self.customer_id}"
        if self.group_id is not None:
            return f"group {self.group_name or self.group_id}"
        return "everyone"

    def sort_key(self) -> tuple[int, int, int, str]:
        return precedence_key(self.priority, self.target_kind, self.valid_from, self.code)

    def status_on(self, day: date) -> Status:
        return status_on(self.is_active, self.valid_from, self.valid_to, day)

    def in_force(self, day: date) -> bool:
        return in_force(self.is_active, self.valid_from, self.valid_to, day)

    def targets(self, customer_id: Hashable, group_ids: frozenset) -> bool:
        """Whether the rule applies to this customer, given its groups at the instant."""
        if self.customer_id is not None:
            return self.customer_id == customer_id
        return self.group_id is None or self.group_id in group_ids
