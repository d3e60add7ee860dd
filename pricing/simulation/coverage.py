"""The coverage grid: every (category, group) cell priced in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial

from django.db.models import Q, QuerySet

from groups.models import CustomerGroup
from pricing import arithmetic, engine
from pricing.clock import billing_tz
from pricing.forms_simulate import CoverageGroupFilter
from pricing.models import PricingRule
from pricing.selectors import (
    engine_rules,
)
from pricing.simulation.common import format_price, items_by_category, noon_on

# --- Coverage grid ---------------------------------------------------------------------------


@dataclass
class CoverageCell:
    result: engine.Result
    tie_with: engine.Rule | None = None
    item_code: str = ""

    @property
    def note(self) -> str:
        return arithmetic.price_note(self.result, self.item_code)

    @property
    def css(self) -> str:
        """Bootstrap's contextual cell classes: custom backgrounds lose to its table variables."""
        if not self.result.rated:
            return "table-danger"
        return "table-warning" if self.tie_with is not None else ""

    @property
    def unit_price(self) -> str:
        price = self.result.unit_price
        return format_price(price) if price is not None else ""


@dataclass
class CoverageRow:
    category: str
    item: str
    items: list[str]
    cells: list[CoverageCell]


@dataclass
class Coverage:
    day: date
    groups: Sequence[CustomerGroup]  # the columns after "no group"
    rows: list[CoverageRow]


class _Nobody:
    """The hypothetical customer of the coverage grid: no individual deals, never equal to one."""

    __slots__ = ()

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "a customer in no other group"


_NOBODY = _Nobody()


def _tie_with(result: engine.Result, item_code: str) -> engine.Rule | None:
    """The next eligible rule pricing the item, when it has the winner's priority.

    Such a cell was decided by the tie-break order (customer > group > everyone, later start,
    code) rather than by priority.
    """
    if result.rule is None:
        return None
    for entry in result.trace:
        if entry.outcome == engine.Outcome.OUTRANKED and item_code in entry.rule.prices:
            return entry.rule if entry.rule.priority == result.rule.priority else None
    return None


def _reasons_from_every_rule(
    pending: list[tuple[engine.Usage, frozenset, Callable[[engine.Result], None]]],
    rules: QuerySet[PricingRule],
) -> None:
    """Re-rate unrated records against every rule of their categories, for the exact reason.

    The first pass loads only the rules that can apply; that decides every winner, but an
    unrated record's reason names the nearest miss among all rules (an expired rule, a group to
    join). Two more queries, only when something is unrated.
    """
    if not pending:
        return
    categories = {usage.billing_category for usage, _, _ in pending}
    items = {usage.item_code for usage, _, _ in pending}
    book = engine.RuleBook(
        engine_rules(rules=rules, categories=categories, item_codes=items), tz=billing_tz()
    )
    for usage, group_ids, store in pending:
        store(book.rate(usage, group_ids=group_ids))


def coverage(
    *,
    day: date,
    groups: Sequence[CustomerGroup],
    items: dict[str, str] | None = None,
    category_items: dict[str, list[str]] | None = None,
) -> Coverage:
    """Which rule wins on ``day`` in each category for a customer who is only in each group.

    ``groups`` is the page of columns (a "no group" column comes first). ``items`` picks the item
    per category (default: the category's most common item). The rules are loaded once: those
    for everyone and for the groups on the page, the only ones that can apply to such a customer
    (with 1,000 groups the rest would be "not a member" in every cell). Every cell is then the
    engine's answer in memory: three queries (two without ``category_items``), two more when a
    cell is unrated, whatever the number of groups and rules.
    """
    if category_items is None:
        category_items = items_by_category()
    chosen = {}
    for category, codes in category_items.items():
        wanted = (items or {}).get(category, "")
        chosen[category] = wanted or (codes[0] if codes else "")
    hypothetical = PricingRule.objects.filter(customer__isnull=True)
    rules = engine_rules(
        rules=hypothetical.filter(Q(group__isnull=True) | Q(group__in=[g.pk for g in groups])),
        item_codes={code for code in chosen.values() if code},
    )
    book = engine.RuleBook(rules, tz=billing_tz())
    occurred_at = noon_on(day)
    columns: list[frozenset] = [frozenset()] + [frozenset({g.pk}) for g in groups]
    rows = []
    unrated = []
    for category in sorted(category_items):
        item = chosen[category]
        cells = []
        for group_ids in columns:
            usage = engine.Usage(
                customer_id=_NOBODY,
                billing_category=category,
                item_code=item or "(none)",
                quantity=Decimal(1),
                occurred_at=occurred_at,
                customer_name="a customer only in this group"
                if group_ids
                else "a customer in no group",
            )
            result = book.rate(usage, group_ids=group_ids)
            cell = CoverageCell(result, _tie_with(result, item), item)
            if not result.rated:
                unrated.append((usage, group_ids, partial(setattr, cell, "result")))
            cells.append(cell)
        rows.append(CoverageRow(category, item, category_items[category], cells))
    _reasons_from_every_rule(unrated, hypothetical)
    return Coverage(day=day, groups=groups, rows=rows)


def coverage_groups(params) -> tuple[CoverageGroupFilter, QuerySet[CustomerGroup]]:
    """The groups the coverage grid pages through (the filter applied), by name."""
    groups = CoverageGroupFilter(params, queryset=CustomerGroup.objects.order_by("name", "id"))
    return groups, groups.qs
