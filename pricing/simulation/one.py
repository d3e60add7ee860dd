"""One simulation: the engine's answer for a customer, with a what-if, and its trace."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse

from groups.models import Customer, CustomerGroup
from pricing import arithmetic, engine
from pricing.clock import billing_tz
from pricing.models import PriceListItem
from pricing.selectors import (
    Evaluation,
    evaluate,
)
from pricing.simulation.common import (
    OUTCOME_BADGE,
    TRACE_FULL_LIMIT,
    WHAT_IF_ADD_LIMIT,
    basis_of,
    format_price,
    format_quantity,
)

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
