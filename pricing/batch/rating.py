"""Rating claimed rows in memory: the hot loop of batch rating.

Per record: one table lookup for (category, item, billing day), one dict lookup for customer
rules, and the customer's group keys looked up at once for group rules (see
:class:`pricing.engine.RatingIndex`, whose rules these are). Rows the index cannot price go to
the engine itself for the exact reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pricing import engine
from pricing.batch.inputs import Snapshot, customers_in_full
from pricing.batch.sql import Row

NEVER = engine.NEVER
# Charges remembered per snapshot (a worker's run): quantities repeat (seconds of a call, a
# message, whole megabytes), and a record priced by a model costs its whole arithmetic otherwise.
CHARGES_KEPT = 50_000
_UNKNOWN = object()


@dataclass
class RatedChunk:
    """What one chunk writes back: rated rows by outcome (each with the engine's amount,
    :func:`pricing.engine.quote`), unrated rows with their reason."""

    handles: list = field(default_factory=list)
    amounts: list[Decimal] = field(default_factory=list)
    outcome_ids: list[int] = field(default_factory=list)  # 1-based into ``outcomes``
    outcomes: list[tuple[engine.Rule, engine.ItemPrice]] = field(default_factory=list)
    # The charges of rows whose price is not simple (by position in ``handles``): their billed
    # quantity and unit price are stored with them, and their price's terms by outcome.
    details: dict[int, engine.Quote] = field(default_factory=dict)
    unrated: list[tuple[object, str]] = field(default_factory=list)  # (handle, reason)
    outcome_of: dict[int, int] = field(default_factory=dict, repr=False)  # id(winner) -> number

    def __len__(self) -> int:
        return len(self.handles) + len(self.unrated)

    def add(self, handle, winner: tuple[engine.Rule, engine.ItemPrice], found: engine.Quote):
        """One rated row (``rate_rows``'s hot loop does the same inline)."""
        outcome = self.outcome_of.get(id(winner))
        if outcome is None:
            self.outcomes.append(winner)
            outcome = self.outcome_of[id(winner)] = len(self.outcomes)
        if not winner[1].simple:
            self.details[len(self.handles)] = found
        self.handles.append(handle)
        self.outcome_ids.append(outcome)
        self.amounts.append(found.amount)


def rate_rows(rows: Sequence[Row], snapshot: Snapshot) -> RatedChunk:
    """Rate claimed rows; the hot loop of batch rating.

    Per record: one table lookup for (category, item, billing day), one dict lookup for customer
    rules, and the customer's group keys looked up at once for group rules. Rows the index
    cannot price are handed to the engine (``explain_unrated``) for the exact reason. Rows
    billed outside the snapshot's days are priced with all their customers' memberships.
    """
    index, members = snapshot.index, snapshot.members
    members.ensure(row[1] for row in rows)
    periods_of = members.periods.get
    keys_of = members.keys.get
    nevers = itertools.repeat(NEVER)
    tables_get = index.tables.get
    table_for = index.table
    round_amount, max_amount, quote = engine.round_amount, engine.MAX_AMOUNT, engine.quote
    charges = snapshot.charges
    counts_at = engine.counts_at
    chunk = RatedChunk()
    details = chunk.details
    handles, amount_list, outcome_ids = chunk.handles, chunk.amounts, chunk.outcome_ids
    local = chunk.outcome_of
    outcomes = chunk.outcomes
    misses: list[Row] = []
    outside: list[Row] = []
    first, last = snapshot.days or (date.max, date.min)
    for row in rows:
        handle, customer, category, item, quantity, occurred_at, day = row
        if not first <= day <= last:
            outside.append(row)
            continue
        table = tables_get((category, item, day)) or table_for(category, item, day)
        best = table.every
        if table.customers:
            position = table.customers.get(customer)
            if position is not None and position < best:
                best = position
        groups = table.groups
        # Most records: none of the customer's groups has a rule before the table's first
        # everyone rule (the only ones a table keeps), which one C-level pass tells.
        if groups and (keys := keys_of(customer)) and not groups.keys().isdisjoint(keys):
            # Every group's position at once; then the best candidates in turn, until one
            # whose membership period holds the record's instant (usually the first).
            positions = list(map(groups.get, keys, nevers))
            position = min(positions)
            if position < best:
                periods = periods_of(customer)
                while position < best:
                    at = positions.index(position)
                    _, joined, left = periods[at]
                    if counts_at(joined, left, occurred_at):
                        best = position
                        break
                    positions[at] = NEVER
                    position = min(positions)
        if best == NEVER:
            misses.append(row)
            continue
        winner = table.winners[best]
        price = winner[1]
        # engine.amount_of inlined: most prices are per unit, and this loop is the batch's cost.
        if price.simple:
            amount = round_amount(price.unit_price, quantity)
            if amount > max_amount:  # too large to store: the engine says why
                misses.append(row)
                continue
        else:
            # engine.quote is a function of the price and the quantity alone.
            key = (id(price), quantity)
            found = charges.get(key, _UNKNOWN)
            if found is _UNKNOWN:
                found = quote(price, quantity)
                if len(charges) >= CHARGES_KEPT:
                    charges.clear()
                charges[key] = found
            if found is None:
                misses.append(row)
                continue
            amount = found.amount
            details[len(handles)] = found
        outcome = local.get(id(winner))
        if outcome is None:
            outcomes.append(winner)
            outcome = local[id(winner)] = len(outcomes)
        handles.append(handle)
        outcome_ids.append(outcome)
        amount_list.append(amount)
    if outside:
        _rate_outside(outside, snapshot, chunk, misses)
    if misses:
        _explain(misses, snapshot, chunk)
    return chunk


def _rate_outside(
    rows: Sequence[Row], snapshot: Snapshot, chunk: RatedChunk, misses: list[Row]
) -> None:
    """Rows billed outside the snapshot's days: the cache may lack a group that decides them."""
    _, periods = customers_in_full({row[1] for row in rows})
    for row in rows:
        handle, customer, category, item, quantity, occurred_at, _ = row
        winner = snapshot.index.winner(
            customer, category, item, occurred_at, periods.get(customer, ())
        )
        found = engine.quote(winner[1], quantity) if winner is not None else None
        if found is None:
            misses.append(row)
        else:
            chunk.add(handle, winner, found)


def _explain(rows: Sequence[Row], snapshot: Snapshot, chunk: RatedChunk) -> None:
    """Unrated rows: the engine's reason, with the customer's name as ``evaluate`` writes it.

    The reason may name a rule of any group the customer is in (a rule that applies but has no
    price), not only the deciding groups the cache holds: the customers' names and all their
    memberships come in one query.
    """
    names, periods = customers_in_full({row[1] for row in rows})
    periods_of = periods.get
    for handle, customer, category, item, quantity, occurred_at, _ in rows:
        usage = engine.Usage(
            customer_id=customer,
            billing_category=category,
            item_code=item,
            quantity=quantity,
            occurred_at=occurred_at,
            customer_name=names.get(customer, ""),
        )
        result = snapshot.index.explain_unrated(usage, periods_of(customer, ()))
        if result.rated and result.rule is not None:  # pragma: no cover - index and engine agree
            raise AssertionError(f"batch index missed {result.rule.code} for {customer}")
        chunk.unrated.append((handle, result.reason))
