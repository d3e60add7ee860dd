"""Impact preview: what a draft change to a rule or to a group's members would do to amounts.

Nothing is saved. The records of a window (by billing day) that the change can touch are read in
chunks and rated twice in memory with the batch index: once under today's rules and memberships,
once under the draft. Per customer and currency the two totals are compared; the customers whose
amounts move most come first.

- A rule draft replaces one rule's priority, validity, active flag, price list and target; only
  records of that rule's category can change.
- A membership draft treats the listed customers as members (added) or not (removed) of a group
  at every instant of the window, like the what-if of the simulation page; only their records
  can change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection

from groups.models import Customer, CustomerGroup
from pricing import batch, engine
from pricing.batch import sql as batch_sql
from pricing.clock import billing_tz
from pricing.models import PriceList, PricingRule
from pricing.selectors import engine_rules, list_prices

IMPACT_MAX_RECORDS = 300_000
NOTHING_TO_PREVIEW = "Describe a change: edit the rule, or add or remove customers of a group."
WINDOW_TOO_LARGE = (
    "The window holds {count:,} records that the change can touch; at most {limit:,} can be "
    "previewed at once. Choose fewer days."
)
WINDOW_BACKWARDS = "The window must end on or after its first day."
ZERO = Decimal("0.00")
_EVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class RuleDraft:
    """The new state of one rule (every field given; the form pre-fills the current values)."""

    rule: PricingRule
    priority: int
    valid_from: date
    valid_to: date | None
    is_active: bool
    price_list: PriceList
    group: CustomerGroup | None = None
    customer: Customer | None = None


@dataclass
class MembershipDraft:
    group: CustomerGroup
    add: Sequence[Customer] = ()
    remove: Sequence[Customer] = ()


@dataclass
class CustomerImpact:
    customer_key: str
    currency: str
    records: int = 0
    changed: int = 0
    before: Decimal = ZERO
    after: Decimal = ZERO
    customer: Customer | None = None

    @property
    def delta(self) -> Decimal:
        return self.after - self.before


@dataclass
class CurrencyTotal:
    currency: str
    before: Decimal = ZERO
    after: Decimal = ZERO

    @property
    def delta(self) -> Decimal:
        return self.after - self.before


@dataclass
class ImpactReport:
    start: date
    end: date
    records: int = 0  # re-rated records
    changed: int = 0  # whose rule, price or status would change
    became_rated: int = 0
    became_unrated: int = 0
    customers_affected: int = 0
    totals: list[CurrencyTotal] = field(default_factory=list)
    customers: list[CustomerImpact] = field(default_factory=list)  # top N by |change|


def _draft_rule(current: engine.Rule, draft: RuleDraft) -> engine.Rule:
    prices = list_prices(
        [draft.price_list.pk], derived=draft.price_list.base_price_list_id is not None
    )[draft.price_list.pk]
    return replace(
        current,
        priority=draft.priority,
        valid_from=draft.valid_from,
        valid_to=draft.valid_to,
        is_active=draft.is_active,
        price_list_id=draft.price_list.pk,
        price_list_code=draft.price_list.code,
        currency=draft.price_list.currency,
        prices=prices,
        group_id=batch.db_key(draft.group.pk) if draft.group else None,
        customer_id=batch.db_key(draft.customer.pk) if draft.customer else None,
        group_name=draft.group.name if draft.group else "",
        customer_name=draft.customer.name if draft.customer else "",
    )


def _window(start: date, end: date) -> tuple[datetime, datetime]:
    return engine.days_window(start, end, billing_tz())


def _records(
    start: datetime, end: datetime, categories: Sequence[str], customer_ids: Sequence
) -> tuple[str, list]:
    """SQL filter for the records the change can touch, and its parameters."""
    where = ["occurred_at >= %s", "occurred_at < %s"]
    params: list = [start, end]
    touched = []
    if categories:
        touched.append(f"billing_category IN ({', '.join(['%s'] * len(categories))})")
        params.extend(categories)
    if customer_ids:
        keys = [batch.db_key(pk) for pk in customer_ids]
        touched.append(f"customer_id IN ({', '.join(['%s'] * len(keys))})")
        params.extend(keys)
    where.append(f"({' OR '.join(touched) or '1 = 0'})")
    return " AND ".join(where), params


def _count(where: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {batch.USAGE_TABLE} WHERE {where}", params)
        return cursor.fetchone()[0]


def _stream(where: str, params: list, size: int = 20_000) -> Iterator[list[tuple]]:
    """``(customer_key, category, item, quantity, occurred_at)`` rows in chunks."""
    sql = (
        "SELECT customer_id, billing_category, item_code, quantity, occurred_at "
        f"FROM {batch.USAGE_TABLE} WHERE {where}"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            batch_sql.text_uuids(cursor)
        cursor.execute(sql, params)
        sqlite = connection.vendor == "sqlite"
        to_decimal = batch_sql.sqlite_quantity_converter() if sqlite else None
        while rows := cursor.fetchmany(size):
            if to_decimal is not None:
                rows = [(c, g, i, to_decimal(q), batch_sql.aware(t)) for c, g, i, q, t in rows]
            yield rows


def impact_preview(
    *,
    start: date,
    end: date,
    rule: RuleDraft | None = None,
    membership: MembershipDraft | None = None,
    top: int = 20,
) -> ImpactReport:
    """Re-rate the window's touchable records under today's setup and under the draft."""
    if rule is None and membership is None:
        raise ValidationError(NOTHING_TO_PREVIEW)
    if end < start:
        raise ValidationError(WINDOW_BACKWARDS)
    customer_ids = (
        [c.pk for c in (*membership.add, *membership.remove)] if membership is not None else []
    )
    where, params = _records(
        *_window(start, end), [rule.rule.billing_category] if rule else [], customer_ids
    )
    count = _count(where, params)
    if count > IMPACT_MAX_RECORDS:
        raise ValidationError(WINDOW_TOO_LARGE.format(count=count, limit=IMPACT_MAX_RECORDS))

    categories = [rule.rule.billing_category] if membership is None and rule else None
    rules = batch.keyed_rules(engine_rules(categories=categories))
    draft_rules = rules
    if rule is not None:
        draft_rules = [_draft_rule(r, rule) if r.id == rule.rule.pk else r for r in rules]
    return _compare(
        ImpactReport(start=start, end=end), where, params, rules, draft_rules, membership, top
    )


def impact_between(
    *,
    start: date,
    end: date,
    before: Sequence[engine.Rule],
    after: Sequence[engine.Rule],
    categories: Sequence[str],
    top: int = 20,
    progress=None,
) -> ImpactReport:
    """Re-rate the window's records of ``categories`` under two rule books (a changeset's
    impact: today's rules, and the same with the changeset applied in memory)."""
    if end < start:
        raise ValidationError(WINDOW_BACKWARDS)
    where, params = _records(*_window(start, end), sorted(categories), [])
    count = _count(where, params)
    if count > IMPACT_MAX_RECORDS:
        raise ValidationError(WINDOW_TOO_LARGE.format(count=count, limit=IMPACT_MAX_RECORDS))
    if progress is not None:
        progress(0, count)
    return _compare(
        ImpactReport(start=start, end=end),
        where,
        params,
        batch.keyed_rules(before),
        batch.keyed_rules(after),
        None,
        top,
        progress,
    )


def _compare(report, where, params, rules, draft_rules, membership, top, progress=None):
    """Rate each touchable record under both rule books and total the differences."""
    tz = billing_tz()
    before_index = engine.RatingIndex(rules, tz=tz, key=_same)
    after_index = engine.RatingIndex(draft_rules, tz=tz, key=_same)
    group_key = batch.db_key(membership.group.pk) if membership else None
    members = batch.MembershipCache(
        before_index.group_keys | after_index.group_keys | {group_key} - {None}
    )
    added = {batch.db_key(c.pk) for c in membership.add} if membership else set()
    removed = {batch.db_key(c.pk) for c in membership.remove} if membership else set()

    impacts: dict[tuple[str, str], CustomerImpact] = {}
    totals: dict[str, CurrencyTotal] = {}

    def add(customer: str, currency: str, before: Decimal, after: Decimal) -> CustomerImpact:
        impact = impacts.get((customer, currency))
        if impact is None:
            impact = impacts[(customer, currency)] = CustomerImpact(customer, currency)
        impact.before += before
        impact.after += after
        total = totals.get(currency)
        if total is None:
            total = totals[currency] = CurrencyTotal(currency)
        total.before += before
        total.after += after
        return impact

    for rows in _stream(where, params):
        members.ensure(row[0] for row in rows)
        for customer, category, item, quantity, occurred_at in rows:
            periods = members.periods.get(customer, ())
            old = before_index.priced(customer, category, item, occurred_at, quantity, periods)
            if customer in added:
                periods = (*periods, (group_key, _EVER, None))
            elif customer in removed:
                periods = tuple(p for p in periods if p[0] != group_key)
            new = after_index.priced(customer, category, item, occurred_at, quantity, periods)
            report.records += 1
            changed = (old is None) != (new is None) or (
                old is not None and new is not None and (old[0].id, old[1]) != (new[0].id, new[1])
            )
            if changed:
                report.changed += 1
                report.became_rated += old is None
                report.became_unrated += new is None
            old_amount = old[2] if old else ZERO
            new_amount = new[2] if new else ZERO
            old_currency = old[0].currency if old else None
            new_currency = new[0].currency if new else None
            if old_currency == new_currency:
                entries = [(old_currency, old_amount, new_amount)] if old_currency else []
            else:  # a currency (or rated / unrated) switch: out of one total, into the other
                entries = [(old_currency, old_amount, ZERO), (new_currency, ZERO, new_amount)]
                entries = [entry for entry in entries if entry[0]]
            for position, (currency, before, after) in enumerate(entries):
                impact = add(customer, currency, before, after)
                impact.records += position == 0
                impact.changed += changed
        if progress is not None:
            progress(report.records)

    moved = [impact for impact in impacts.values() if impact.changed]
    report.customers_affected = len({impact.customer_key for impact in moved})
    moved.sort(key=lambda i: (-abs(i.delta), -i.changed, i.customer_key))
    report.customers = moved[:top]
    names = {
        batch.db_key(c.pk): c
        for c in Customer.objects.filter(
            pk__in=[uuid.UUID(i.customer_key) for i in report.customers]
        )
    }
    for impact in report.customers:
        impact.customer = names.get(impact.customer_key)
    report.totals = sorted(totals.values(), key=lambda t: t.currency)
    return report


def _same(value):
    return value
