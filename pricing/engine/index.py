"""The rule book indexed for rating many records: the same answers as :meth:`RuleBook.rate`.

``RuleBook.rate`` walks a category's rules in precedence order and returns the first that is in
force on the record's day, targets the record, and prices the item. For one (category, item,
validity interval) this index keeps that ordered list restricted to the rules in force that price
the item (a :class:`Table`), and remembers the first position of each group, each customer and
the first everyone-rule. The first rule of the list that targets a record is then the smallest of
those positions among the record's targets; positions after the first everyone-rule can never win
and are not stored. Every test a table applies is the engine's own (:meth:`Rule.in_force`,
:func:`.membership.counts_at`); only the order of asking changes.

Unrated records go through the rule book itself, which writes the reason.
``tests/pricing/test_batch_equivalence.py`` checks the index against the engine on random data.
"""

from __future__ import annotations

import bisect
import sys
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal

from pricing.engine.book import Result, RuleBook, Usage, rated_result
from pricing.engine.calendar import billing_day, day_after
from pricing.engine.membership import counts_at, groups_of_periods
from pricing.engine.prices import ItemPrice, amount_of
from pricing.engine.rules import Rule

NEVER = sys.maxsize  # position of a rule that does not exist
DECIDING_BUDGET = 2_000_000  # rule visits spent at most on finding the deciding groups

# A membership period as many-record rating holds it: (group key, joined_at, left_at).
Period = tuple[Hashable, datetime, datetime | None]


class Table:
    """Rules in force in one (category, item, validity interval) that price the item, by rank."""

    __slots__ = ("customers", "every", "groups", "winners")

    def __init__(self) -> None:
        self.every = NEVER
        self.groups: dict[Hashable, int] = {}
        self.customers: dict[Hashable, int] = {}
        self.winners: list[tuple[Rule, ItemPrice]] = []


def _identity(value):
    return value


class RatingIndex:
    """Rules indexed for rating many records; the same answers as ``RuleBook.rate``.

    ``book`` is the engine's own rule book over the same rules; it rates the records this index
    finds no winner for, so unrated reasons are the engine's words. ``key`` turns rule targets
    into the keys the caller's records carry (batch rating uses raw-SQL text keys).
    """

    def __init__(
        self, rules: Iterable[Rule], *, tz: tzinfo, key: Callable[[object], Hashable] = _identity
    ) -> None:
        self.book = RuleBook(rules, tz=tz)
        self.tz = tz
        self._key = key
        # The days on which some rule of the category starts or stops being in force.
        self._boundaries: dict[str, list[date]] = {}
        for category in self.book.categories:
            days: set[date] = set()
            for rule in self.book.rules_for(category):
                days.add(rule.valid_from)
                if rule.valid_to is not None:
                    days.add(day_after(rule.valid_to))
            self._boundaries[category] = sorted(days)
        self.group_keys = frozenset(
            key(rule.group_id)
            for category in self.book.categories
            for rule in self.book.rules_for(category)
            if rule.group_id is not None
        )
        self._by_interval: dict[tuple[str, str, int], Table] = {}
        self.tables: dict[tuple[str, str, date], Table] = {}
        self._lock = threading.Lock()
        self._deciding: dict[tuple[date, date], frozenset] = {}

    def deciding_groups(self, days: tuple[date, date] | None) -> frozenset:
        """The groups whose membership can decide the rule of a record billed within ``days``.

        A group decides only if it is in some table's ``groups``: one of its rules is in force,
        prices the item and comes before the first everyone-rule, for some category, item and
        validity interval. The tables of a span of days are finite (categories x priced items x
        the intervals that meet the span), so building them all tells exactly. ``None``: no
        days, no groups. With more tables than ``DECIDING_BUDGET`` rule visits allow, every
        group is kept.
        """
        if days is None:
            return frozenset()
        found = self._deciding.get(days)
        if found is not None:
            return found
        first, last = days
        plan = []
        for category in self.book.categories:
            rules = self.book.rules_for(category)
            items = {item for rule in rules for item in rule.prices}
            starts = [first, *(day for day in self._boundaries[category] if first < day <= last)]
            plan.append((category, items, starts, len(rules)))
        if sum(len(items) * len(starts) * n for _, items, starts, n in plan) > DECIDING_BUDGET:
            found = self.group_keys
        else:
            deciding: set = set()
            for category, items, starts, _ in plan:
                for day in starts:
                    for item in items:
                        deciding.update(self.table(category, item, day).groups)
            found = frozenset(deciding)
        self._deciding[days] = found
        return found

    def table(self, category: str, item: str, day: date) -> Table:
        """The table for a record's category, item and billing day (built once, then memoised).

        Which rules are in force only changes on the category's boundary days; every day between
        two boundaries shares one table.
        """
        table = self.tables.get((category, item, day))
        if table is not None:
            return table
        interval = bisect.bisect_right(self._boundaries.get(category, ()), day)
        with self._lock:
            table = self._by_interval.get((category, item, interval))
            if table is None:
                table = self._build(category, item, day)
                self._by_interval[(category, item, interval)] = table
            self.tables[(category, item, day)] = table
        return table

    def _build(self, category: str, item: str, day: date) -> Table:
        table = Table()
        key = self._key
        for rule in self.book.rules_for(category):
            if not rule.in_force(day):
                continue
            price = rule.prices.get(item)
            if price is None:
                continue
            position = len(table.winners)
            table.winners.append((rule, price))
            if rule.customer_id is not None:
                table.customers.setdefault(key(rule.customer_id), position)
            elif rule.group_id is not None:
                table.groups.setdefault(key(rule.group_id), position)
            else:
                table.every = position
                break  # nothing after the first everyone-rule can win
        return table

    def winner(
        self,
        customer: Hashable,
        category: str,
        item: str,
        occurred_at: datetime,
        periods: Sequence[Period],
    ) -> tuple[Rule, ItemPrice] | None:
        """The winning rule and its price for one record, or None."""
        table = self.table(category, item, billing_day(occurred_at, self.tz))
        best = table.every
        position = table.customers.get(customer)
        if position is not None and position < best:
            best = position
        groups = table.groups
        for group, joined, left in periods:
            position = groups.get(group)
            if position is not None and position < best and counts_at(joined, left, occurred_at):
                best = position
        return None if best == NEVER else table.winners[best]

    def priced(
        self,
        customer: Hashable,
        category: str,
        item: str,
        occurred_at: datetime,
        quantity: Decimal,
        periods: Sequence[Period],
    ) -> tuple[Rule, ItemPrice, Decimal] | None:
        """``(rule, price, amount)`` of a record, or None when it is unrated (what :meth:`rate`
        answers, without building a result or a reason)."""
        found = self.winner(customer, category, item, occurred_at, periods)
        if found is None:
            return None
        amount = amount_of(found[1], quantity)
        return None if amount is None else (found[0], found[1], amount)

    def rate(self, usage: Usage, periods: Sequence[Period], *, steps: bool = True) -> Result:
        """The engine's answer for one record (no trace); ``usage.customer_id`` is its key.
        Without ``steps``, a rated result carries no arithmetic (:func:`rated_result`)."""
        found = self.winner(
            usage.customer_id, usage.billing_category, usage.item_code, usage.occurred_at, periods
        )
        if found is not None:
            day = billing_day(usage.occurred_at, self.tz)
            result = rated_result(usage, found[0], found[1], day, steps=steps)
            if result is not None:
                return result
        return self.explain_unrated(usage, periods)

    def explain_unrated(self, usage: Usage, periods: Sequence[Period]) -> Result:
        """Ask the engine itself about a record the index found no winner for."""
        group_ids = groups_of_periods(periods, usage.occurred_at)
        return self.book.rate(usage, group_ids=group_ids, trace=False)
