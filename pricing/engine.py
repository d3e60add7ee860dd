"""The rating engine: which rule prices a usage record, at what price, and why.

Pure Python over plain dataclasses: no ORM, no HTTP, no settings. Every surface (the API, the
pages, the simulation, batch rating and impact preview) loads data through services, builds a
``RuleBook`` and asks it. The semantics, exactly:

1. Candidates are the active rules of the record's category whose validity contains the record's
   day in the billing time zone (``valid_to`` inclusive).
2. A candidate is eligible when it targets everyone, this customer, or a group the customer was a
   member of at the record's instant (``joined_at <= t < left_at``).
3. Eligible rules are ordered by priority (descending), then customer rule before group rule
   before everyone rule, then the later ``valid_from``, then code.
4. The first eligible rule whose price list prices the item wins; one without the item is passed
   over, so a promotion list may override some items and fall back for the rest.
5. amount = unit price x quantity, rounded half-up to 2 decimal places.
6. No winner: the record is unrated, with a reason a support agent can read out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

CENT = Decimal("0.01")

# Target kinds in tie-break order: a customer's own rule beats a group rule beats everyone.
CUSTOMER, GROUP, EVERYONE = "customer", "group", "everyone"
_TARGET_RANK = {CUSTOMER: 0, GROUP: 1, EVERYONE: 2}


class Outcome(StrEnum):
    WON = "won"
    OUTRANKED = "outranked"
    NOT_A_MEMBER = "not a member"
    OTHER_CUSTOMER = "other customer"
    NOT_YET_VALID = "not yet valid"
    EXPIRED = "expired"
    INACTIVE = "inactive"
    NO_PRICE = "no price for item"


@dataclass(frozen=True, slots=True)
class Rule:
    """A pricing rule as the engine sees it, with its price list's prices attached.

    ``prices`` maps item codes to unit prices; it may hold only the items a caller asked about.
    ``group_name`` and ``customer_name`` only make reasons readable.
    """

    id: Hashable
    code: str
    billing_category: str
    priority: int
    valid_from: date
    price_list_id: Hashable
    currency: str
    prices: Mapping[str, Decimal]
    valid_to: date | None = None
    is_active: bool = True
    group_id: Hashable | None = None
    customer_id: Hashable | None = None
    name: str = ""
    price_list_code: str = ""
    group_name: str = ""
    customer_name: str = ""

    @property
    def target_kind(self) -> str:
        if self.customer_id is not None:
            return CUSTOMER
        if self.group_id is not None:
            return GROUP
        return EVERYONE

    @property
    def target_label(self) -> str:
        if self.customer_id is not None:
            return f"customer {self.customer_name or self.customer_id}"
        if self.group_id is not None:
            return f"group {self.group_name or self.group_id}"
        return "everyone"

    def sort_key(self) -> tuple:
        """Evaluation order: priority desc, customer > group > everyone, later start, code."""
        return (
            -self.priority,
            _TARGET_RANK[self.target_kind],
            -self.valid_from.toordinal(),
            self.code,
        )


@dataclass(frozen=True, slots=True)
class MembershipPeriod:
    """A customer's membership of one group from ``joined_at`` until ``left_at`` (exclusive)."""

    group_id: Hashable
    joined_at: datetime
    left_at: datetime | None = None

    def contains(self, instant: datetime) -> bool:
        return self.joined_at <= instant and (self.left_at is None or instant < self.left_at)


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
        outcome = _ineligibility(rule, self._usage.customer_id, self._group_ids, self._day)
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

    def explained(self) -> Iterator[tuple[Rule, Outcome, str]]:
        """Each rule with its outcome and reason, in order, as plain tuples (the API's rows)."""
        if self._entries is not None:
            return ((e.rule, e.outcome, e.reason) for e in self._entries)
        usage, day, winner = self._usage, self._day, self._winner
        return (
            (rule, outcome, _reason(outcome, rule, usage, day, winner))
            for rule, outcome in self.outcomes()
        )

    @property
    def _winner(self) -> Rule | None:
        return self.rules[self._winner_at] if self._winner_at is not None else None

    def entry_at(self, position: int) -> TraceEntry:
        if self._entries is not None:
            return self._entries[position]
        rule = self.rules[position]
        outcome = self._outcome(position, rule)
        return TraceEntry(
            rule, outcome, _reason(outcome, rule, self._usage, self._day, self._winner)
        )

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


def groups_at(memberships: Iterable[MembershipPeriod], instant: datetime) -> frozenset:
    """The ids of the groups the customer belonged to at ``instant``."""
    return frozenset(m.group_id for m in memberships if m.contains(instant))


def round_amount(unit_price: Decimal, quantity: Decimal) -> Decimal:
    return (unit_price * quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def billing_day(instant: datetime, tz: tzinfo = UTC) -> date:
    """The calendar day an instant belongs to in the billing time zone."""
    if instant.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return instant.astimezone(tz).date()


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
        :class:`Trace` that explains every candidate when read; with ``trace=False`` (batch
        rating) it carries none. The winner and price are the same either way.
        """
        day = billing_day(usage.occurred_at, self.tz)
        if group_ids is None:
            group_ids = groups_at(memberships, usage.occurred_at)
        rules = self._by_category.get(usage.billing_category, ())
        winner_at, unit_price = _first_priced(rules, usage, group_ids, day)
        entries: Sequence[TraceEntry] = (
            Trace(rules, usage, day, group_ids, winner_at) if trace else []
        )

        if winner_at is None or unit_price is None:
            return Result(
                rated=False,
                rule=None,
                unit_price=None,
                amount=None,
                currency=None,
                reason=_unrated_reason(usage, day, rules, group_ids),
                day=day,
                group_ids=group_ids,
                trace=entries,
            )
        winner = rules[winner_at]
        return Result(
            rated=True,
            rule=winner,
            unit_price=unit_price,
            amount=round_amount(unit_price, usage.quantity),
            currency=winner.currency,
            reason=(
                f"{winner.code} (priority {winner.priority}, {winner.target_label}) prices "
                f"{usage.item_code} at {unit_price.normalize():f} {winner.currency}."
            ),
            day=day,
            group_ids=group_ids,
            trace=entries,
        )


def _first_priced(
    rules: Sequence[Rule], usage: Usage, group_ids: frozenset, day: date
) -> tuple[int | None, Decimal | None]:
    """The position and unit price of the first eligible rule that prices the item.

    The eligibility test is :func:`_ineligibility` inlined: this loop is the whole cost of a
    single rating once the rules are loaded.
    """
    customer_id, item_code = usage.customer_id, usage.item_code
    for position, rule in enumerate(rules):
        if not rule.is_active or day < rule.valid_from:
            continue
        if rule.valid_to is not None and day > rule.valid_to:
            continue
        if rule.customer_id is not None:
            if rule.customer_id != customer_id:
                continue
        elif rule.group_id is not None and rule.group_id not in group_ids:
            continue
        price = rule.prices.get(item_code)
        if price is not None:
            return position, price
    return None, None


def _ineligibility(
    rule: Rule, customer_id: Hashable, group_ids: frozenset, day: date
) -> Outcome | None:
    """Why a rule cannot apply to this customer on this day, or None when it can."""
    if not rule.is_active:
        return Outcome.INACTIVE
    if day < rule.valid_from:
        return Outcome.NOT_YET_VALID
    if rule.valid_to is not None and day > rule.valid_to:
        return Outcome.EXPIRED
    if rule.customer_id is not None:
        return None if rule.customer_id == customer_id else Outcome.OTHER_CUSTOMER
    if rule.group_id is not None:
        return None if rule.group_id in group_ids else Outcome.NOT_A_MEMBER
    return None


def _reason(outcome: Outcome, rule: Rule, usage: Usage, day: date, winner: Rule | None) -> str:
    match outcome:
        case Outcome.WON:
            return (
                f"Highest-ranked eligible rule; {rule.price_list_code or 'its price list'} "
                f"prices {usage.item_code}."
            )
        case Outcome.OUTRANKED:
            assert winner is not None
            return f"Eligible, but {winner.code} ranks higher."
        case Outcome.NOT_A_MEMBER:
            return f"The customer was not a member of {rule.group_name or 'the group'} then."
        case Outcome.OTHER_CUSTOMER:
            return f"Applies only to {rule.target_label}."
        case Outcome.NOT_YET_VALID:
            return f"Valid from {rule.valid_from.isoformat()}, after {day.isoformat()}."
        case Outcome.EXPIRED:
            assert rule.valid_to is not None
            return f"Expired on {rule.valid_to.isoformat()}."
        case Outcome.INACTIVE:
            return "The rule is disabled."
        case Outcome.NO_PRICE:
            return (
                f"{rule.price_list_code or 'Its price list'} has no price for "
                f"{usage.item_code}; passed over."
            )
    raise AssertionError(outcome)  # pragma: no cover


def _unrated_reason(usage: Usage, day: date, rules: Sequence[Rule], group_ids: frozenset) -> str:
    """A sentence a support agent can read out, naming the nearest miss when there is one."""
    who = usage.customer_name or "this customer"
    base = (
        f"No active {usage.billing_category} rule prices item {usage.item_code} for {who} "
        f"on {day.isoformat()}"
    )
    if not rules:
        return f"{base}; there are no {usage.billing_category} rules at all."
    nearest = _nearest_miss(usage, day, rules, group_ids)
    return f"{base}; nearest: {nearest}." if nearest else f"{base}."


def _nearest_miss(
    usage: Usage, day: date, rules: Sequence[Rule], group_ids: frozenset
) -> str | None:
    """The miss most likely to explain the outcome, most actionable first."""
    no_price = [r for r in rules if _ineligibility(r, usage.customer_id, group_ids, day) is None]
    if no_price:
        rule = no_price[0]
        return f"{rule.code} applies but {rule.price_list_code or 'its list'} has no price for it"
    expired = [
        r
        for r in rules
        if r.is_active and r.valid_to is not None and r.valid_to < day and _applies_to(r, usage)
    ]
    if expired:
        rule = max(expired, key=lambda r: (r.valid_to, -r.priority))
        return f"{rule.code} expired on {rule.valid_to.isoformat()}"  # type: ignore[union-attr]
    scheduled = [r for r in rules if r.is_active and r.valid_from > day and _applies_to(r, usage)]
    if scheduled:
        rule = min(scheduled, key=lambda r: (r.valid_from, -r.priority))
        return f"{rule.code} starts on {rule.valid_from.isoformat()}"
    group_rules = [r for r in rules if r.group_id is not None and r.is_active]
    if group_rules:
        rule = group_rules[0]
        return f"{rule.code} needs membership of {rule.group_name or 'its group'}"
    disabled = [r for r in rules if not r.is_active]
    if disabled:
        return f"{disabled[0].code} is disabled"
    return None


def _applies_to(rule: Rule, usage: Usage) -> bool:
    return rule.customer_id is None or rule.customer_id == usage.customer_id
