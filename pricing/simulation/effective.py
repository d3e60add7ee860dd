"""Effective pricing of one customer: every item of every category."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from groups.models import Customer, CustomerGroup
from pricing import arithmetic, engine, rulecache
from pricing.selectors import (
    customer_groups_at,
)
from pricing.simulation.common import billing_now, format_price, items_by_category
from pricing.simulation.one import simulate_url

# --- Effective pricing of one customer -------------------------------------------------------


@dataclass
class EffectivePrice:
    category: str
    item_code: str
    result: engine.Result
    url: str

    @property
    def unit_price(self) -> str:
        price = self.result.unit_price
        return format_price(price) if price is not None else ""

    @property
    def note(self) -> str:
        return arithmetic.price_note(self.result, self.item_code)


@dataclass
class EffectivePricing:
    customer: Customer
    at: datetime
    groups: list[CustomerGroup]
    rows: list[EffectivePrice]


def effective_pricing(customer: Customer, *, at: datetime | None = None) -> EffectivePricing:
    """The rule that wins now for each item of each category in use, for one customer.

    One row per (category, item) the category's rules price, most common item first. Three
    queries whatever the number of categories, rules or groups (items per category, the check
    of the cached rule book, the customer's groups at ``at``), two more when the rules changed
    since the book was built; then the engine in memory, unrated items' reasons included.
    """
    at = at or billing_now()
    category_items = items_by_category()
    book = rulecache.rule_book()
    member_of = customer_groups_at(customer.pk, at)
    group_ids = frozenset(member_of)
    groups = sorted(member_of.values(), key=lambda g: g.name)
    rows = []
    for category in sorted(category_items):
        for item_code in category_items[category] or [""]:
            usage = engine.Usage(
                customer_id=customer.pk,
                billing_category=category,
                item_code=item_code or "(none)",
                quantity=Decimal(1),
                occurred_at=at,
                customer_name=customer.name,
            )
            rows.append(
                EffectivePrice(
                    category=category,
                    item_code=item_code,
                    result=book.rate(usage, group_ids=group_ids, trace=False),
                    url=simulate_url(customer=customer, category=category, item=item_code),
                )
            )
    return EffectivePricing(customer=customer, at=at, groups=groups, rows=rows)
