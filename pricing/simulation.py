"""Reads for "simulate rating": one simulation with a what-if, the coverage grid, effective pricing.

Everything here calls the rating engine exactly as rating does and stores nothing:

- :func:`simulate` runs :func:`pricing.selectors.evaluate` (the function the rate API calls) for
  the actual memberships and, when asked, once more with hypothetical ones.
- :func:`coverage` loads the rules once and asks the engine for every (category, group) cell in
  memory, so its query count does not depend on the number of groups on the page.
- :func:`effective_pricing` rates every item of every category in memory with the process's cached
  rule book (:mod:`pricing.rulecache`) and the customer's groups read once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from groups.models import Customer, CustomerGroup, Membership
from groups.selectors import customer_search
from pricing import arithmetic, clock, engine, rulecache
from pricing.clock import billing_today, billing_tz
from pricing.forms_simulate import CoverageGroupFilter
from pricing.models import PriceListItem, PricingRule
from pricing.selectors import (
    Evaluation,
    customer_groups_at,
    engine_rules,
    evaluate,
)

# Traces longer than this hide the rules that target other groups or customers unless asked:
# at operator scale a category has a thousand rules, nearly all "not a member".
TRACE_FULL_LIMIT = 100
# At most this many groups are offered as "add to" in the what-if (those whose rules rank highest).
WHAT_IF_ADD_LIMIT = 30
COVERAGE_PAGE_SIZE = 10

OUTCOME_BADGE = {
    engine.Outcome.WON: "text-bg-success",
    engine.Outcome.OUTRANKED: "text-bg-secondary",
    engine.Outcome.NO_PRICE: "text-bg-warning",
    engine.Outcome.NOT_A_MEMBER: "text-bg-light border",
    engine.Outcome.OTHER_CUSTOMER: "text-bg-light border",
    engine.Outcome.NOT_YET_VALID: "text-bg-info",
    engine.Outcome.EXPIRED: "text-bg-dark",
    engine.Outcome.INACTIVE: "text-bg-dark",
}


format_price = engine.format_price


def format_quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def billing_now() -> datetime:
    """Now, in the billing time zone, to the minute (what the date-time input can show)."""
    return clock.billing_now().replace(second=0, microsecond=0)


def noon_on(day: date) -> datetime:
    """Midday of ``day`` in the billing time zone: an instant that surely belongs to that day."""
    return datetime.combine(day, time(12), tzinfo=billing_tz())


def basis_of(rule: engine.Rule) -> str:
    """Why the rule applies to the customer, in words a support agent can read out."""
    if rule.target_kind == engine.CUSTOMER:
        return "as an individual deal"
    if rule.target_kind == engine.GROUP:
        return f"as a member of {rule.group_name}"
    return "as everyone's default price"


# --- Items per category ----------------------------------------------------------------------


def items_by_category(categories: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Item codes priced by the rules of each category, most common first (one query).

    "Most common" is the number of the category's rules whose price list prices the item; ties
    go alphabetically. Categories whose rules price nothing map to an empty list.
    """
    rows = PricingRule.objects.all()
    if categories is not None:
        rows = rows.filter(billing_category__in=list(categories))
    rows = (
        rows.order_by()
        .values_list("billing_category", "price_list__items__item_code")
        .annotate(n=Count("pk"))
    )
    counted: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for category, item_code, n in rows:
        bucket = counted[category]
        if item_code is not None:
            bucket.append((-n, item_code))
    return {category: [code for _, code in sorted(counted[category])] for category in counted}


def item_codes_for(category: str) -> list[str]:
    """The items the rules of ``category`` price, most common first (one query)."""
    return items_by_category([category]).get(category, [])


def customer_choices(term: str, selected: Customer | None = None) -> list[Customer]:
    """The customers offered as radio buttons: the selected one first, then search matches."""
    matches = list(customer_search(term)) if term else []
    if selected is None:
        return matches
    return [selected, *(c for c in matches if c.pk != selected.pk)]


# --- One simulation --------------------------------------------------------------------------


# The outcomes of rules that could price the record: the winner, the ones that would win next
# (outranked), and higher ones passed over for want of a price for the item.
_CANDIDATE_ORDER = {
    engine.Outcome.WON: 0,
    engine.Outcome.OUTRANKED: 1,
    engine.Outcome.NO_PRICE: 2,
}


@dataclass
class TraceRow:
    entry: engine.TraceEntry
    badge: str
    position: int = 0  # 1-based place in the engine's evaluation order
    concerns: bool = True  # targets everyone, this customer or one of its groups then

    @property
    def won(self) -> bool:
        return self.entry.outcome == engine.Outcome.WON

    @property
    def target_kind(self) -> str:
        rule = self.entry.rule
        if rule.customer_id is not None:
            return engine.CUSTOMER
        return engine.GROUP if rule.group_id is not None else engine.EVERYONE


@dataclass
class Side:
    """One evaluation as the page shows it: the engine's answer, a sentence, the trace."""

    evaluation: Evaluation
    unit: str
    sentence: str
    hypothetical: bool = False
    trace: list[TraceRow] = field(default_factory=list)
    hidden: int = 0  # trace rows for other groups and customers left out

    @property
    def result(self) -> engine.Result:
        return self.evaluation.result

    # The trace as the page shows it: what decided first, then what could not apply, and the
    # rules for other groups and other customers folded into one line each.

    @property
    def deciding(self) -> list[TraceRow]:
        """The winner, the rules that would win next (in order), then higher-ranked rules that
        were passed over for want of a price for the item."""
        rows = [r for r in self.trace if r.concerns and r.entry.outcome in _CANDIDATE_ORDER]
        return sorted(rows, key=lambda r: (_CANDIDATE_ORDER[r.entry.outcome], r.position))

    @property
    def not_in_force(self) -> list[TraceRow]:
        """Rules for everyone, the customer or its groups that are not in force on the day."""
        return [r for r in self.trace if r.concerns and r.entry.outcome not in _CANDIDATE_ORDER]

    @property
    def other_groups(self) -> list[TraceRow]:
        """Rules for groups the customer is not in (then), folded on the page."""
        return [r for r in self.trace if not r.concerns and r.target_kind == engine.GROUP]

    @property
    def other_customers(self) -> list[TraceRow]:
        return [r for r in self.trace if not r.concerns and r.target_kind == engine.CUSTOMER]

    @property
    def unit_price(self) -> str:
        price = self.result.unit_price
        return format_price(price) if price is not None else ""

    @property
    def quantity(self) -> str:
        return format_quantity(self.evaluation.usage.quantity)

    @property
    def arithmetic(self) -> list[str]:
        """The winner's arithmetic, step by step (:mod:`pricing.arithmetic`)."""
        return arithmetic.charge_lines(self.result, self.result.currency)

    @property
    def price_source(self) -> str:
        return arithmetic.price_source(self.result, self.evaluation.usage.item_code)

    @property
    def when(self) -> str:
        """The instant simulated, in the billing time zone that decides the day."""
        return self.evaluation.usage.occurred_at.astimezone(billing_tz()).strftime(
            "%Y-%m-%d %H:%M %Z"
        )


@dataclass(frozen=True)
class GroupChoice:
    """A group offered in the what-if, with the highest rule of the category that targets it."""

    id: object
    name: str
    rule_code: str
    priority: int


@dataclass
class Simulation:
    actual: Side
    what_if: Side | None
    added: list[CustomerGroup]
    removed: list[CustomerGroup]
    add_choices: list[GroupChoice]
    remove_choices: list[CustomerGroup]
    item_codes: list[str]
    trace_all: bool

    @property
    def difference(self) -> Decimal | None:
        """Hypothetical amount minus actual amount, when both are rated in one currency."""
        if self.what_if is None:
            return None
        actual, other = self.actual.result, self.what_if.result
        if not (actual.rated and other.rated) or actual.currency != other.currency:
            return None
        assert actual.amount is not None
        assert other.amount is not None
        return other.amount - actual.amount

    @property
    def difference_note(self) -> str:
        if self.what_if is None:
            return ""
        actual, other = self.actual.result, self.what_if.result
        if not actual.rated and not other.rated:
            return "Unrated either way."
        if not actual.rated:
            return "Today's memberships leave the record unrated; the what-if rates it."
        if not other.rated:
            return "The what-if leaves the record unrated."
        if actual.currency != other.currency:
            return f"Different currencies ({actual.currency} and {other.currency})."
        return ""

    @property
    def difference_text(self) -> str:
        diff = self.difference
        if diff is None:
            return ""
        currency = self.actual.result.currency
        if diff == 0:
            return f"no change (0.00 {currency})"
        sign = "+" if diff > 0 else "\u2212"
        return f"{sign}{abs(diff):.2f} {currency}"


def _sentence(evaluation: Evaluation, unit: str, *, hypothetical: bool) -> str:
    result = evaluation.result
    if not result.rated or result.rule is None or result.unit_price is None:
        return result.reason
    rule = result.rule
    verb = "would pay" if hypothetical else "pays"
    return (
        f"{evaluation.customer.name} {verb} {format_price(result.unit_price)} {result.currency} "
        f"per {unit} under rule {rule.code}, priority {rule.priority}, {basis_of(rule)}."
    )


def _concerns(rule: engine.Rule, customer_id, group_ids: frozenset) -> bool:
    """Whether a rule targets everyone, this customer, or one of its groups at the instant."""
    return rule.targets(customer_id, group_ids)


def _trace_rows(
    result: engine.Result, customer_id, *, show_all: bool
) -> tuple[list[TraceRow], int]:
    """The trace as rows, in evaluation order; a long one keeps only the rules that concern
    this customer.

    At operator scale a category has a thousand rules for other groups, whatever their
    outcome (not a member, expired, disabled) beside the point; the page offers them on demand.
    """
    entries = result.trace

    def concerns(rule: engine.Rule) -> bool:
        return _concerns(rule, customer_id, result.group_ids)

    if show_all or len(entries) <= TRACE_FULL_LIMIT:
        if isinstance(entries, engine.Trace):
            kept = list(enumerate(entries.entries()))
        else:
            kept = list(enumerate(entries))
    elif isinstance(entries, engine.Trace):  # reasons only for the rows shown
        kept = [(i, entries.entry_at(i)) for i, rule in enumerate(entries.rules) if concerns(rule)]
    else:
        kept = [(i, e) for i, e in enumerate(entries) if concerns(e.rule)]
    rows = [
        TraceRow(entry, OUTCOME_BADGE[entry.outcome], position + 1, concerns(entry.rule))
        for position, entry in kept
    ]
    return rows, len(entries) - len(kept)


def _outcomes(trace: Sequence[engine.TraceEntry]) -> Iterable[tuple[engine.Rule, engine.Outcome]]:
    """Each rule of a trace with its outcome, without writing reasons when the trace is lazy."""
    if isinstance(trace, engine.Trace):
        return trace.outcomes()
    return ((entry.rule, entry.outcome) for entry in trace)


def _units(evaluations: Sequence[Evaluation], item_code: str) -> dict:
    """The unit of ``item_code`` on each winning price list (one query for all of them)."""
    list_ids = {e.result.rule.price_list_id for e in evaluations if e.result.rule is not None}
    if not list_ids:
        return {}
    return dict(
        PriceListItem.objects.filter(price_list_id__in=list_ids, item_code=item_code).values_list(
            "price_list_id", "unit"
        )
    )


def _add_choices(result: engine.Result, selected: Sequence[CustomerGroup]) -> list[GroupChoice]:
    """Groups whose rules could change the result: those the customer is "not a member" of.

    Read off the actual trace (no query), highest-ranked rule first; groups already chosen stay
    listed even when they fall outside the first :data:`WHAT_IF_ADD_LIMIT`.
    """
    choices: dict = {}
    for rule, outcome in _outcomes(result.trace):
        if outcome == engine.Outcome.NOT_A_MEMBER and rule.group_id not in choices:
            if len(choices) >= WHAT_IF_ADD_LIMIT:
                break
            choices[rule.group_id] = GroupChoice(
                rule.group_id, rule.group_name, rule.code, rule.priority
            )
    for group in selected:
        if group.pk not in choices:
            choices[group.pk] = GroupChoice(group.pk, group.name, "", 0)
    return list(choices.values())


def simulate(
    *,
    customer: Customer,
    billing_category: str,
    item_code: str,
    quantity: Decimal,
    occurred_at: datetime,
    add_groups: Sequence[CustomerGroup] = (),
    remove_groups: Sequence[CustomerGroup] = (),
    item_codes: Sequence[str] = (),
    trace_all: bool = False,
) -> Simulation:
    """Rate like the API does, and again with hypothetical memberships when any are given.

    Two queries per evaluation (see :func:`pricing.selectors.evaluate`; two more when the rules
    changed since the last one) plus one for the units of the winning items; nothing is written.
    """
    actual = evaluate(
        customer=customer,
        billing_category=billing_category,
        item_code=item_code,
        quantity=quantity,
        occurred_at=occurred_at,
    )
    # Adding a group the customer is in, or removing one it is not in, changes nothing.
    actual_ids = actual.result.group_ids
    added = [g for g in add_groups if g.pk not in actual_ids]
    removed = [g for g in remove_groups if g.pk in actual_ids]
    hypothetical = None
    if added or removed:
        hypothetical = evaluate(
            customer=customer,
            billing_category=billing_category,
            item_code=item_code,
            quantity=quantity,
            occurred_at=occurred_at,
            add_group_ids=[g.pk for g in added],
            remove_group_ids=[g.pk for g in removed],
            extra_groups=added,
        )
    evaluations = [e for e in (actual, hypothetical) if e is not None]
    units = _units(evaluations, item_code)

    def side(evaluation: Evaluation, *, hypothetical: bool) -> Side:
        rule = evaluation.result.rule
        unit = units.get(rule.price_list_id, item_code) if rule is not None else item_code
        rows, hidden = _trace_rows(evaluation.result, customer.pk, show_all=trace_all)
        return Side(
            evaluation=evaluation,
            unit=unit,
            sentence=_sentence(evaluation, unit, hypothetical=hypothetical),
            hypothetical=hypothetical,
            trace=rows,
            hidden=hidden,
        )

    return Simulation(
        actual=side(actual, hypothetical=False),
        what_if=side(hypothetical, hypothetical=True) if hypothetical is not None else None,
        added=added,
        removed=removed,
        add_choices=_add_choices(actual.result, add_groups),
        remove_choices=list(actual.groups),
        item_codes=list(item_codes),
        trace_all=trace_all,
    )


def simulate_url(
    *,
    customer=None,
    category: str = "",
    item: str = "",
    quantity: Decimal | None = None,
    at: datetime | None = None,
    add: Iterable = (),
    remove: Iterable = (),
    trace_all: bool = False,
) -> str:
    """The link that reproduces a simulation (what the page pushes to the address bar)."""
    params: list[tuple[str, str]] = []
    if customer is not None:
        params.append(("customer", str(getattr(customer, "pk", customer))))
    if category:
        params.append(("category", category))
    if item:
        params.append(("item", item))
    if quantity is not None:
        params.append(("quantity", format_quantity(quantity)))
    if at is not None:
        params.append(("at", at.astimezone(billing_tz()).strftime("%Y-%m-%dT%H:%M")))
    params += [("add", str(getattr(g, "pk", g))) for g in add]
    params += [("remove", str(getattr(g, "pk", g))) for g in remove]
    if trace_all:
        params.append(("trace", "all"))
    url = reverse("pricing:simulate")
    return f"{url}?{urlencode(params)}" if params else url


# --- Pre-filling from a rule -----------------------------------------------------------------


@dataclass
class RulePrefill:
    rule: PricingRule
    customer: Customer | None
    item: str
    at: datetime | None  # None: now
    note: str

    @property
    def url(self) -> str:
        return simulate_url(
            customer=self.customer,
            category=self.rule.billing_category,
            item=self.item,
            quantity=Decimal(1),
            at=self.at,
        )


def prefill_from_rule(rule_id) -> RulePrefill | None:
    """What to simulate to see ``rule_id`` at work: its category, one of its customers, an item.

    The customer is the rule's own customer, or a member of its group on the day simulated
    (first by name). The day is today, or the rule's first (last) day when it is scheduled
    (expired), so the rule is in force. The item is the category's most common item the rule's
    price list prices. None for an unknown rule. Four queries at most.
    """
    rule = PricingRule.objects.with_targets().filter(pk=rule_id).first()
    if rule is None:
        return None
    at: datetime | None = None
    status = rule.status_on(billing_today())
    if status == engine.Status.SCHEDULED:
        at = noon_on(rule.valid_from)
    elif status == engine.Status.EXPIRED:
        at = noon_on(rule.valid_to)
    own_items = set(rule.price_list.items.values_list("item_code", flat=True))
    item = next((code for code in item_codes_for(rule.billing_category) if code in own_items), "")
    customer = rule.customer
    if rule.group_id is not None:
        membership = (
            Membership.objects.as_of(at or timezone.now())
            .filter(group_id=rule.group_id)
            .select_related("customer")
            .order_by("customer__name", "customer_id")
            .first()
        )
        customer = membership.customer if membership else None
        note = (
            f"Simulating {rule.code} for {customer.name}, a member of {rule.group.name}."
            if customer
            else f"{rule.group.name} has no members then; pick a customer to simulate {rule.code}."
        )
    elif customer is not None:
        note = f"Simulating {rule.code} for its customer, {customer.name}."
    else:
        note = f"{rule.code} applies to everyone; pick a customer to simulate it."
    return RulePrefill(rule=rule, customer=customer, item=item, at=at, note=note)


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
