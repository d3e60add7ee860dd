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

from collections.abc import Hashable, Iterable, Mapping, Sequence
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


@dataclass(slots=True)
class Result:
    """The engine's answer. ``trace`` is empty when the caller asked for no trace."""

    rated: bool
    rule: Rule | None
    unit_price: Decimal | None
    amount: Decimal | None
    currency: str | None
    reason: str
    day: date
    group_ids: frozenset = frozenset()
    trace: list[TraceEntry] = field(default_factory=list)


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

    Build one per request (or per batch chunk) and call :meth:`rate` for each record; sorting and
    grouping happen here, not per record.
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

        With ``trace=False`` evaluation stops at the winner, which is what batch rating wants;
        the winner and price are the same either way.
        """
        day = billing_day(usage.occurred_at, self.tz)
        if group_ids is None:
            group_ids = groups_at(memberships, usage.occurred_at)
        rules = self._by_category.get(usage.billing_category, ())
        entries: list[TraceEntry] = []
        winner: Rule | None = None
        unit_price: Decimal | None = None

        for rule in rules:
            outcome = _ineligibility(rule, usage.customer_id, group_ids, day)
            if outcome is None:
                if winner is not None:
                    outcome = Outcome.OUTRANKED
                else:
                    price = rule.prices.get(usage.item_code)
                    if price is None:
                        outcome = Outcome.NO_PRICE
                    else:
                        winner, unit_price, outcome = rule, price, Outcome.WON
                        if not trace:
                            break
            if trace:
                entries.append(
                    TraceEntry(rule, outcome, _reason(outcome, rule, usage, day, winner))
                )

        if winner is None or unit_price is None:
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
