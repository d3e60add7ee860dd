"""The rule book: which rule prices a usage record, at what price, and why.

Rating a record, exactly (each rule below is written once, in the module named):

1. Candidates are the rules of the record's category; a candidate is eligible when it is in force
   on the record's billing day (:mod:`.rules`, :mod:`.calendar`) and targets everyone, this
   customer, or a group the customer was a member of at the record's instant (:mod:`.membership`).
2. Eligible rules are tried in precedence order (:func:`.rules.precedence_key`).
3. The first eligible rule whose price list prices the item wins; one without the item is passed
   over, so a promotion list may override some items and fall back for the rest.
4. The amount is computed by :mod:`.money`.
5. No winner: the record is unrated, with a reason from :mod:`.reasons`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal

from pricing.engine.calendar import billing_day
from pricing.engine.membership import MembershipPeriod, groups_at
from pricing.engine.money import MAX_AMOUNT
from pricing.engine.prices import Charge, ItemPrice, charge, quote
from pricing.engine.reasons import (
    OUTCOME_OF_STATUS,
    Outcome,
    outcome_reason,
    rated_reason,
    too_large_reason,
    unrated_reason,
)
from pricing.engine.rules import Rule, Status


@dataclass(frozen=True, slots=True)
class Usage:
    """What is being rated: who, which category and item, how much, when."""

    customer_id: Hashable
    billing_category: str
    item_code: str
    quantity: Decimal
    occurred_at: datetime
    customer_name: str = ""


@dataclass(frozen=True, slots=True)
class TraceEntry:
    rule: Rule
    outcome: Outcome
    reason: str


def ineligibility(rule: Rule, customer_id: Hashable, group_ids: frozenset, day: date):
    """Why a rule cannot apply to this customer on this day, or None when it can."""
    status = rule.status_on(day)
    if status != Status.ACTIVE:
        return OUTCOME_OF_STATUS[status]
    if rule.customer_id is not None:
        return None if rule.customer_id == customer_id else Outcome.OTHER_CUSTOMER
    if rule.group_id is not None:
        return None if rule.group_id in group_ids else Outcome.NOT_A_MEMBER
    return None


def first_priced(
    rules: Sequence[Rule], customer_id: Hashable, item_code: str, group_ids: frozenset, day: date
) -> tuple[int | None, ItemPrice | None]:
    """The position and price of the first eligible rule that prices the item."""
    for position, rule in enumerate(rules):
        if rule.in_force(day) and rule.targets(customer_id, group_ids):
            price = rule.prices.get(item_code)
            if price is not None:
                return position, price
    return None, None


class Trace(Sequence[TraceEntry]):
    """Every candidate rule of the record's category, in evaluation order, with its outcome.

    Rating stops at the winner; the entries (their reason sentences above all) are computed only
    when a caller reads them, and only those it reads: :meth:`select` builds the entries of the
    rules a page shows, iterating stops where the caller stops. Reading every entry gives
    exactly what a full walk would have recorded.
    """

    __slots__ = ("_day", "_entries", "_group_ids", "_usage", "_winner_at", "rules")

    def __init__(
        self,
        rules: Sequence[Rule],
        usage: Usage,
        day: date,
        group_ids: frozenset,
        winner_at: int | None,
    ) -> None:
        self.rules = rules
        self._usage = usage
        self._day = day
        self._group_ids = group_ids
        self._winner_at = winner_at
        self._entries: list[TraceEntry] | None = None

    def outcome_at(self, position: int) -> Outcome:
        return self._outcome(position, self.rules[position])

    def _outcome(self, position: int, rule: Rule) -> Outcome:
        outcome = ineligibility(rule, self._usage.customer_id, self._group_ids, self._day)
        if outcome is not None:
            return outcome
        winner_at = self._winner_at
        # An eligible rule before the winner (or with no winner at all) was passed over for
        # want of a price; after the winner it was outranked.
        if winner_at is None or position < winner_at:
            return Outcome.NO_PRICE
        return Outcome.WON if position == winner_at else Outcome.OUTRANKED

    def outcomes(self) -> Iterator[tuple[Rule, Outcome]]:
        """Each rule with its outcome, in order, without writing reasons."""
        outcome = self._outcome
        return ((rule, outcome(position, rule)) for position, rule in enumerate(self.rules))

    def _reason(self, outcome: Outcome, rule: Rule) -> str:
        return outcome_reason(outcome, rule, self._usage.item_code, self._day, self._winner)

    def explained(self) -> Iterator[tuple[Rule, Outcome, str]]:
        """Each rule with its outcome and reason, in order, as plain tuples (the API's rows)."""
        if self._entries is not None:
            return ((e.rule, e.outcome, e.reason) for e in self._entries)
        return ((rule, outcome, self._reason(outcome, rule)) for rule, outcome in self.outcomes())

    @property
    def _winner(self) -> Rule | None:
        return self.rules[self._winner_at] if self._winner_at is not None else None

    def entry_at(self, position: int) -> TraceEntry:
        if self._entries is not None:
            return self._entries[position]
        rule = self.rules[position]
        outcome = self._outcome(position, rule)
        return TraceEntry(rule, outcome, self._reason(outcome, rule))

    def select(self, keep: Callable[[Rule], bool]) -> list[TraceEntry]:
        """The entries of the rules ``keep`` accepts, in order; the others cost no reason."""
        return [self.entry_at(i) for i, rule in enumerate(self.rules) if keep(rule)]

    def entries(self) -> list[TraceEntry]:
        """Every entry (computed once, then kept)."""
        if self._entries is None:
            self._entries = [TraceEntry(*row) for row in self.explained()]
        return self._entries

    def __len__(self) -> int:
        return len(self.rules)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return self.entries()[index]
        return self.entry_at(range(len(self.rules))[index])

    def __iter__(self) -> Iterator[TraceEntry]:
        if self._entries is not None:
            return iter(self._entries)
        return (TraceEntry(*row) for row in self.explained())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Trace({len(self)} rules, winner at {self._winner_at})"


@dataclass(slots=True)
class Result:
    """The engine's answer. ``trace`` is empty when the caller asked for no trace.

    With a trace it is a :class:`Trace`: a sequence of :class:`TraceEntry` computed on demand.
    """

    rated: bool
    rule: Rule | None
    unit_price: Decimal | None
    amount: Decimal | None
    currency: str | None
    reason: str
    day: date
    group_ids: frozenset = frozenset()
    trace: Sequence[TraceEntry] = field(default_factory=list)
    too_large: bool = False  # a rule prices the record, but its amount exceeds MAX_AMOUNT
    charge: Charge | None = None  # the arithmetic of a rated record (None: not asked for)
    billed: Decimal | None = None  # its billed quantity, when the arithmetic was not asked for

    @property
    def billed_quantity(self) -> Decimal | None:
        return self.charge.billed_quantity if self.charge is not None else self.billed


def rated_result(
    usage: Usage, rule: Rule, price: ItemPrice, day: date, *, steps: bool = True, **extra
) -> Result | None:
    """The answer for a record that ``rule`` prices at ``price``; None when its amount is too
    large to store (:func:`.prices.charge`). Without ``steps`` the result carries the amount,
    unit price and billed quantity but not the arithmetic (:func:`.prices.quote`)."""
    found = charge(price, usage.quantity) if steps else quote(price, usage.quantity)
    if found is None:
        return None
    return Result(
        rated=True,
        rule=rule,
        unit_price=found.unit_price,
        amount=found.amount,
        currency=rule.currency,
        reason=rated_reason(rule, usage.item_code, price),
        day=day,
        charge=found if steps else None,
        billed=None if steps else found.billed_quantity,
        **extra,
    )


class RuleBook:
    """Rules indexed by billing category, sorted once in evaluation order.

    Build one and call :meth:`rate` for each record; sorting and grouping happen here, not per
    record. A book is never changed after it is built (rules and their prices are immutable), so
    one may be shared between requests and threads: ``pricing.rulecache`` keeps one per process.
    """

    __slots__ = ("_by_category", "tz")

    def __init__(self, rules: Iterable[Rule], *, tz: tzinfo = UTC) -> None:
        by_category: dict[str, list[Rule]] = {}
        for rule in rules:
            by_category.setdefault(rule.billing_category, []).append(rule)
        for bucket in by_category.values():
            bucket.sort(key=Rule.sort_key)
        self._by_category: dict[str, tuple[Rule, ...]] = {
            category: tuple(bucket) for category, bucket in by_category.items()
        }
        self.tz = tz

    def rules_for(self, category: str) -> Sequence[Rule]:
        return self._by_category.get(category, ())

    @property
    def categories(self) -> list[str]:
        return sorted(self._by_category)

    def rate(
        self,
        usage: Usage,
        memberships: Iterable[MembershipPeriod] = (),
        *,
        trace: bool = True,
        group_ids: frozenset | None = None,
    ) -> Result:
        """Rate one record. ``group_ids`` may be passed instead of ``memberships``.

        Evaluation stops at the winner either way. With ``trace=True`` the result carries a
        :class:`Trace` that explains every candidate when read; with ``trace=False`` it carries
        none. The winner and price are the same either way.
        """
        day = billing_day(usage.occurred_at, self.tz)
        if group_ids is None:
            group_ids = groups_at(memberships, usage.occurred_at)
        rules = self._by_category.get(usage.billing_category, ())
        winner_at, price = first_priced(rules, usage.customer_id, usage.item_code, group_ids, day)
        entries: Sequence[TraceEntry] = (
            Trace(rules, usage, day, group_ids, winner_at) if trace else []
        )
        if winner_at is None or price is None:
            return self.unrated(usage, day, group_ids, trace=entries)
        winner = rules[winner_at]
        result = rated_result(usage, winner, price, day, group_ids=group_ids, trace=entries)
        if result is None:
            reason = too_large_reason(winner, usage.item_code, price, MAX_AMOUNT)
            unrated = self.unrated(usage, day, group_ids, trace=entries, reason=reason)
            unrated.too_large = True
            return unrated
        return result

    def unrated(
        self,
        usage: Usage,
        day: date,
        group_ids: frozenset,
        trace: Sequence[TraceEntry] | None = None,
        reason: str = "",
    ) -> Result:
        """The answer for a record no rule prices, with the engine's reason."""
        return Result(
            rated=False,
            rule=None,
            unit_price=None,
            amount=None,
            currency=None,
            reason=reason
            or unrated_reason(
                category=usage.billing_category,
                item_code=usage.item_code,
                customer_id=usage.customer_id,
                customer_name=usage.customer_name,
                day=day,
                rules=self._by_category.get(usage.billing_category, ()),
                group_ids=group_ids,
            ),
            day=day,
            group_ids=group_ids,
            trace=trace if trace is not None else [],
        )
