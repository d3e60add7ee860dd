"""Batch rating: the single-record engine's answer for millions of records, fast, in bounded memory.

How a run works (``rate_pending``):

1. **Find pending records**, a chunk at a time, each chunk in its own transaction, one of two
   ways:

   - *the queue* (``PendingUsage``, kept by database triggers): ``SELECT ... FOR UPDATE SKIP
     LOCKED`` on its entries on PostgreSQL (two runners never get the same record), an
     ``IMMEDIATE`` transaction on SQLite (one writer at a time); each worker resumes after the
     last entry it claimed. Its cost is per pending record, whatever the size of the table:
     uploads, limits and time-boxed runs use it.
   - *a sweep* (PostgreSQL, a whole backlog that is a large share of the table): the table
     itself read range of blocks by range of blocks (TID range scans, sequential, no index);
     worker processes take turns at the ranges; at the end the queue is cleared of settled
     entries. No queue lock, index lookup or queue delete per record: see ``_sweep``.

   Rows are plain tuples, never model instances, and carry a handle that is stable for the
   transaction (``ctid`` / ``rowid``) so the write-back needs no index lookup.
2. **Rate in memory** with a :class:`RatingIndex` built from the engine's own rules
   (``pricing.selectors.engine_rules``, the loader ``evaluate`` uses; kept while the rules'
   fingerprint holds) and a :class:`MembershipCache` holding only the groups that can decide a
   price for the stored records' days (``RatingIndex.deciding_groups``): the chunk's
   customers, or all of them in one streamed pass when a run is large. A fingerprint query per
   chunk replaces both when rules, price lists or memberships change, so a long run picks
   changes up at the next chunk. Memory is bounded by the chunk size and the number of
   customers, never by the records.
3. **Write back** in one statement per chunk: ``UPDATE ... FROM unnest(arrays)`` joined on
   ``ctid`` on PostgreSQL, ``UPDATE ... FROM json_each(...)`` by ``rowid`` on SQLite (then the
   chunk's queue entries are deleted). Only rows still pending at that place are updated, so a
   record is never rated twice. Rating writes no indexed column of the usage table, and its
   pages keep free space (fillfactor), so on PostgreSQL each row is rewritten in place (a HOT
   update) and no index entry is added: that is what keeps the write close to the database's
   floor.

Why the index gives exactly the engine's answer: ``RuleBook.rate`` walks the category's rules in
evaluation order and returns the first one that is active, valid on the record's day, targets
this customer / one of its groups at the instant / everyone, and prices the item. For one
(category, item, validity interval) the index keeps that same ordered list restricted to the rules
that are active, valid and price the item, and remembers the first position of each group, each
customer and the first everyone rule. The first rule of the list that targets the record is the
smallest of those positions among the record's targets; positions after the first everyone rule
can never win and are not stored. Unrated records go through ``RuleBook.rate`` itself, which
also writes the reason. ``tests/pricing/test_batch_equivalence.py`` checks the claim against
``evaluate`` on random data.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal

from django.db import OperationalError, connection, connections, transaction
from django.db.models.expressions import Col
from django.utils import timezone

from groups.models import Customer, CustomerGroup, Membership
from pricing import engine
from pricing.models import (
    PendingUsage,
    PriceList,
    PriceListItem,
    PricingRule,
    UsageRecord,
    UsageStatus,
)
from pricing.selectors import billing_tz, engine_rules

MEMBERSHIP_CHUNK = 5000  # customers per membership query
MEMBERSHIP_CACHE_MAX = 500_000  # customers kept between chunks before the cache is dropped
PRELOAD_MIN = 2_000  # customers a chunk needs before loading everyone is considered
PRELOAD_SHARE = 10  # ... and it needs at least 1/PRELOAD_SHARE of all customers
DEFAULT_CHUNK_SIZE = 20_000

USAGE_TABLE = UsageRecord._meta.db_table
QUEUE_TABLE = PendingUsage._meta.db_table
MEMBERSHIP_TABLE = Membership._meta.db_table

# (handle, customer_key, category, item, quantity, occurred_at, billing day). On PostgreSQL the
# database computes the billing day, and quantity is None: the write-back computes amounts.
Row = tuple


# --- Keys -------------------------------------------------------------------------------------


def db_key(value) -> str:
    """A UUID as the database returns it in raw SQL: text on PostgreSQL, 32 hex on SQLite.

    The hot path keys customers and groups by these strings: they hash once and compare fast,
    where ``uuid.UUID`` hashes in Python on every lookup.
    """
    if value is None:
        return None  # type: ignore[return-value]
    if not isinstance(value, uuid.UUID):
        value = uuid.UUID(str(value))
    return value.hex if connection.vendor == "sqlite" else str(value)


# --- The rule index ---------------------------------------------------------------------------

RatingIndex = engine.RatingIndex
NEVER = engine.NEVER


def load_index(*, categories: Iterable[str] | None = None, tz: tzinfo | None = None) -> RatingIndex:
    """Every rule (or those of ``categories``) with all their prices, keyed for raw rows.

    The rule and group ids inside the engine rules are turned into raw-SQL keys so the index,
    the membership cache and the claimed rows all speak the same key.
    """
    rules = engine_rules(categories=categories)
    return RatingIndex(keyed_rules(rules), tz=tz or billing_tz(), key=_identity)


def keyed_rules(rules: Iterable[engine.Rule]) -> list[engine.Rule]:
    """Engine rules whose ``group_id`` / ``customer_id`` are raw-SQL keys (see :func:`db_key`)."""
    from dataclasses import replace

    return [
        replace(
            rule,
            group_id=db_key(rule.group_id) if rule.group_id is not None else None,
            customer_id=db_key(rule.customer_id) if rule.customer_id is not None else None,
        )
        for rule in rules
    ]


def _identity(value):
    return value


# --- Memberships ------------------------------------------------------------------------------


class MembershipCache:
    """Membership periods of customers, keyed by raw-SQL customer key, loaded on demand.

    Only periods of groups some rule targets are kept: no other group can change a price. A
    chunk that needs a tenth of all customers or more loads every membership in one sequential
    pass instead (a run over millions of records touches every customer anyway, and one scan
    beats a hundred thousand index probes).
    """

    def __init__(self, group_keys: frozenset, preload: bool = True) -> None:
        self.group_keys = group_keys
        self.preload = preload
        self.periods: dict[str, tuple] = {}
        self.complete = False  # every customer's periods are loaded; absent means none
        # The group keys of each customer's periods, in the same order: the hot loop looks
        # them all up at C speed (map) and reads a period only for the best candidate.
        self.keys: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def ensure(self, customer_keys: Iterable[str]) -> int:
        """Load the customers not cached yet; returns the number of queries run."""
        if self.complete:
            return 0
        with self._lock:
            missing = [key for key in set(customer_keys) if key not in self.periods]
            if not missing:
                return 0
            if (
                self.preload
                and len(missing) >= PRELOAD_MIN
                and not self.periods
                and self.load_everyone_if_worth_it(len(missing), locked=True)
            ):
                return 2
            if len(self.periods) + len(missing) > MEMBERSHIP_CACHE_MAX:
                self.periods, self.keys = {}, {}
            loaded: dict[str, list] = {key: [] for key in missing}
            queries = 0
            for start in range(0, len(missing), MEMBERSHIP_CHUNK):
                queries += 1
                self._collect(_membership_rows(missing[start : start + MEMBERSHIP_CHUNK]), loaded)
            self.periods.update((key, tuple(value)) for key, value in loaded.items())
            self.keys.update(_group_keys(loaded))
            return queries

    def load_everyone_if_worth_it(self, customers: int, *, locked: bool = False) -> bool:
        """Load every membership when ``customers`` is a tenth of all customers or more."""
        if self.complete:
            return True
        total = Customer.objects.count()
        if customers * PRELOAD_SHARE < total or total > MEMBERSHIP_CACHE_MAX:
            return False
        if locked:
            self._load_all()
        else:
            with self._lock:
                self._load_all()
        return True

    def _collect(self, rows: Iterable[tuple], into: dict[str, list]) -> None:
        group_keys = self.group_keys
        interned: dict[str, str] = {}
        for customer, group, joined, left in rows:
            if group in group_keys:
                group = interned.setdefault(group, group)
                periods = into.get(customer)
                if periods is None:
                    periods = into[customer] = []
                periods.append((group, joined, left))

    def _load_all(self) -> None:
        """The memberships of the cache's groups in one pass (server-side cursor on PostgreSQL)."""
        loaded: dict[str, list] = {}
        if connection.vendor == "postgresql" and self.group_keys:
            import psycopg

            connection.ensure_connection()
            with (
                transaction.atomic(),
                connection.wrap_database_errors,
                psycopg.ServerCursor(connection.connection, "rating_memberships") as cursor,
            ):
                cursor.execute(
                    "SELECT customer_id::text, group_id::text, joined_at, left_at "
                    f"FROM {MEMBERSHIP_TABLE} WHERE group_id = ANY(%s::uuid[])",
                    [_pg_array(self.group_keys)],
                    binary=True,
                )
                while rows := cursor.fetchmany(20_000):
                    self._collect(rows, loaded)
        elif connection.vendor != "postgresql" and self.group_keys:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT customer_id, group_id, joined_at, left_at FROM {MEMBERSHIP_TABLE} "
                    "WHERE group_id IN (SELECT value FROM json_each(%s))",
                    [json.dumps(sorted(self.group_keys))],
                )
                while rows := cursor.fetchmany(20_000):
                    self._collect([(c, g, _aware(j), _aware(lf)) for c, g, j, lf in rows], loaded)
        self.periods = {key: tuple(value) for key, value in loaded.items()}
        self.keys = dict(_group_keys(loaded))
        self.complete = True


def _group_keys(loaded: dict[str, list]) -> Iterator[tuple[str, tuple[str, ...]]]:
    for key, periods in loaded.items():
        yield key, tuple(period[0] for period in periods)


def _membership_rows(customer_keys: list[str]) -> list[tuple]:
    if connection.vendor == "postgresql":
        return _pg_run(
            f"SELECT customer_id::text, group_id::text, joined_at, left_at FROM {MEMBERSHIP_TABLE} "
            "WHERE customer_id = ANY(%s::uuid[])",
            [_pg_array(customer_keys)],
        )
    with connection.cursor() as cursor:
        marks = ",".join(["%s"] * len(customer_keys))
        cursor.execute(
            f"SELECT customer_id, group_id, joined_at, left_at FROM {MEMBERSHIP_TABLE} "
            f"WHERE customer_id IN ({marks})",
            customer_keys,
        )
        return [
            (customer, group, _aware(joined), _aware(left))
            for customer, group, joined, left in cursor.fetchall()
        ]


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes; the ORM makes them aware the same way."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _text_uuids(cursor) -> None:
    """Have psycopg return uuid columns as text on this cursor (cheap to hash, see db_key)."""
    from psycopg.types.string import TextLoader

    cursor.cursor.adapters.register_loader("uuid", TextLoader)


def _pg_run(sql: str, params=None, *, fetch: bool = True):
    """Run one statement on PostgreSQL with server-side binding and binary results.

    Django's cursor binds client-side and reads text; on the hot path, binary timestamps and
    numerics load several times faster, and large array literals are sent as they are instead
    of being escaped. Same connection and transaction as the ORM; errors are Django's; the
    query is logged like Django's own (query-count tests see it).
    """
    import psycopg

    connection.ensure_connection()
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=fetch)
        result = cursor.fetchall() if fetch else cursor.rowcount
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return result


def _pg_array(values: Iterable[str], *, quote: bool = False) -> str:
    """An array literal built in one join (values must need no escaping beyond quotes)."""
    if quote:
        return '{"' + '","'.join(values) + '"}' if values else "{}"
    return "{" + ",".join(values) + "}"


# --- Snapshot of everything rating reads ------------------------------------------------------


def fingerprint() -> tuple[tuple, tuple]:
    """Cheap summaries of the rules and of the memberships, each moving on any change (1 query).

    Services save rules and price lists (``updated_at``, history rows), open memberships with
    new rows and close them touching ``members_changed_at``; all of these move the tuples.
    Writes that bypass the services (``QuerySet.update``) are not seen.
    """
    item_history = PriceListItem.history.model._meta.db_table
    sql = (
        "SELECT "
        f"(SELECT COUNT(*) FROM {PricingRule._meta.db_table}), "
        f"(SELECT MAX(updated_at) FROM {PricingRule._meta.db_table}), "
        f"(SELECT MAX(updated_at) FROM {PriceList._meta.db_table}), "
        f"(SELECT MAX(history_id) FROM {item_history}), "
        f"(SELECT MAX(id) FROM {MEMBERSHIP_TABLE}), "
        f"(SELECT MAX(members_changed_at) FROM {CustomerGroup._meta.db_table})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = tuple(cursor.fetchone())
    return row[:4], row[4:]


# The rule index outlives a run: polling requests and successive runs in one process reuse it
# while the rules' fingerprint (and the billing time zone) stay the same. Memberships are not
# kept across runs: they are large, and a web worker should not hold a million of them.
_index_cache: dict[tuple, RatingIndex] = {}
_index_lock = threading.Lock()


def cached_index(rules_stamp: tuple) -> RatingIndex:
    tz = billing_tz()
    key = (connection.alias, rules_stamp, str(tz))
    index = _index_cache.get(key)
    if index is None:
        with _index_lock:
            index = _index_cache.get(key)
            if index is None:
                index = load_index(tz=tz)
                _index_cache.clear()
                _index_cache[key] = index
    return index


@dataclass
class Snapshot:
    """Rules and memberships as of ``stamp``; shared by the chunks (and threads) of one run.

    ``days`` is the span of billing days of the usage records when the snapshot was taken (None:
    there were none): the cache holds memberships of the groups that can decide a price within
    it. A record outside it (stored since, backdated) is rated with all its customer's
    memberships, read for it (:func:`rate_rows`).
    """

    stamp: tuple
    index: RatingIndex
    members: MembershipCache
    days: tuple[date, date] | None = None

    @classmethod
    def load(cls, stamp: tuple | None = None, *, preload: bool = True) -> Snapshot:
        stamp = stamp if stamp is not None else fingerprint()
        index = cached_index(stamp[0])
        days = _usage_days(index.tz)
        members = MembershipCache(index.deciding_groups(days), preload)
        return cls(stamp=stamp, index=index, members=members, days=days)


def _usage_days(tz: tzinfo) -> tuple[date, date] | None:
    """First and last billing day of all usage records (two index probes)."""
    instants = UsageRecord.objects.order_by("occurred_at").values_list("occurred_at", flat=True)
    first = instants.first()
    if first is None:
        return None
    return first.astimezone(tz).date(), instants.last().astimezone(tz).date()


class SnapshotHolder:
    """Keeps one snapshot per run and replaces it when the fingerprint moves.

    ``preload=False`` (short runs, such as a polling request's slice) never loads every
    membership at once, only those of the customers at hand.
    """

    def __init__(self, *, preload: bool = True) -> None:
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self.preload = preload

    def current(self) -> Snapshot:
        stamp = fingerprint()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.stamp == stamp:
            return snapshot
        with self._lock:
            if self._snapshot is None or self._snapshot.stamp != stamp:
                self._snapshot = Snapshot.load(stamp, preload=self.preload)
            return self._snapshot


# --- Rating rows in memory --------------------------------------------------------------------


@dataclass
class RatedChunk:
    """What one chunk writes back: rated rows by outcome, unrated rows with their reason.

    ``amounts`` is filled only when the database cannot compute them itself: PostgreSQL's
    write-back multiplies the stored quantity by the outcome's unit price and rounds half up to
    the cent in exact numeric arithmetic, which is ``engine.round_amount`` for the non-negative
    prices and positive quantities the models allow. (Python's 28-digit context would round
    differently only for amounts of 10^16 and more.)
    """

    handles: list = field(default_factory=list)
    amounts: list[Decimal] = field(default_factory=list)
    outcome_ids: list[int] = field(default_factory=list)  # 1-based into ``outcomes``
    outcomes: list[tuple[engine.Rule, Decimal]] = field(default_factory=list)
    unrated: list[tuple[object, str]] = field(default_factory=list)  # (handle, reason)
    outcome_of: dict[int, int] = field(default_factory=dict, repr=False)  # id(winner) -> number

    def __len__(self) -> int:
        return len(self.handles) + len(self.unrated)

    def add(self, handle, winner: tuple[engine.Rule, Decimal], amount: Decimal | None) -> None:
        """One rated row (``rate_rows``'s hot loop does the same inline)."""
        outcome = self.outcome_of.get(id(winner))
        if outcome is None:
            self.outcomes.append(winner)
            outcome = self.outcome_of[id(winner)] = len(self.outcomes)
        self.handles.append(handle)
        self.outcome_ids.append(outcome)
        if amount is not None:
            self.amounts.append(amount)


def rate_rows(rows: Sequence[Row], snapshot: Snapshot, *, amounts: bool = True) -> RatedChunk:
    """Rate claimed rows; the hot loop of batch rating.

    Per record: one table lookup for (category, item, billing day), one dict lookup for customer
    rules, and the customer's group keys looked up at once for group rules. Rows the index
    cannot price are handed to the engine (``explain_unrated``) for the exact reason. Rows
    billed outside the snapshot's days are priced with all their customers' memberships.
    ``amounts=False`` leaves the amounts to the database (see :class:`RatedChunk`).
    """
    index, members = snapshot.index, snapshot.members
    members.ensure(row[1] for row in rows)
    periods_of = members.periods.get
    keys_of = members.keys.get
    nevers = itertools.repeat(NEVER)
    tables_get = index.tables.get
    table_for = index.table
    round_amount = engine.round_amount
    chunk = RatedChunk()
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
                    if joined <= occurred_at and (left is None or occurred_at < left):
                        best = position
                        break
                    positions[at] = NEVER
                    position = min(positions)
        if best == NEVER:
            misses.append(row)
            continue
        winner = table.winners[best]
        outcome = local.get(id(winner))
        if outcome is None:
            outcomes.append(winner)
            outcome = local[id(winner)] = len(outcomes)
        handles.append(handle)
        outcome_ids.append(outcome)
        if amounts:
            amount_list.append(round_amount(winner[1], quantity))
    if outside:
        _rate_outside(outside, snapshot, chunk, misses, amounts=amounts)
    if misses:
        _explain(misses, snapshot, chunk)
    return chunk


def _rate_outside(
    rows: Sequence[Row], snapshot: Snapshot, chunk: RatedChunk, misses: list[Row], *, amounts: bool
) -> None:
    """Rows billed outside the snapshot's days: the cache may lack a group that decides them."""
    _, periods = _customers_in_full({row[1] for row in rows})
    for row in rows:
        handle, customer, category, item, quantity, occurred_at, _ = row
        winner = snapshot.index.winner(
            customer, category, item, occurred_at, periods.get(customer, ())
        )
        if winner is None:
            misses.append(row)
        else:
            chunk.add(handle, winner, engine.round_amount(winner[1], quantity) if amounts else None)


def _explain(rows: Sequence[Row], snapshot: Snapshot, chunk: RatedChunk) -> None:
    """Unrated rows: the engine's reason, with the customer's name as ``evaluate`` writes it.

    The reason may name a rule of any group the customer is in (a rule that applies but has no
    price), not only the deciding groups the cache holds: the customers' names and all their
    memberships come in one query.
    """
    names, periods = _customers_in_full({row[1] for row in rows})
    periods_of = periods.get
    for handle, customer, category, item, quantity, occurred_at, _ in rows:
        usage = engine.Usage(
            customer_id=customer,
            billing_category=category,
            item_code=item,
            quantity=quantity if quantity is not None else Decimal(0),  # no amount: unrated
            occurred_at=occurred_at,
            customer_name=names.get(customer, ""),
        )
        result = snapshot.index.explain_unrated(usage, periods_of(customer, ()))
        if result.rated and result.rule is not None:  # pragma: no cover - index and engine agree
            raise AssertionError(f"batch index missed {result.rule.code} for {customer}")
        chunk.unrated.append((handle, result.reason))


def _customers_in_full(keys: set[str]) -> tuple[dict[str, str], dict[str, list]]:
    """Names and every membership period of these customers (one query)."""
    names: dict[str, str] = {}
    periods: dict[str, list] = {}
    rows = Customer.objects.filter(pk__in=[uuid.UUID(key) for key in keys]).values_list(
        "pk", "name", "memberships__group_id", "memberships__joined_at", "memberships__left_at"
    )
    for pk, name, group, joined, left in rows:
        key = db_key(pk)
        names[key] = name
        if group is not None:
            periods.setdefault(key, []).append((db_key(group), joined, left))
    return names, periods


# --- Claim and write back ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which pending records a run rates: all of them, one upload (a record id range), and/or
    a range of queue entries (``PendingUsage.id``, inclusive), which is how a backlog is shared
    out between background tasks (:func:`queue_bounds`)."""

    id_range: tuple[uuid.UUID, uuid.UUID] | None = None
    queue_range: tuple[int, int] | None = None

    @property
    def whole(self) -> bool:
        return self.id_range is None and self.queue_range is None


def queue_bounds() -> tuple[int, int] | None:
    """The lowest and highest queue entry ids (one query), or None when the queue is empty."""
    from django.db.models import Max, Min

    bounds = PendingUsage.objects.aggregate(low=Min("id"), high=Max("id"))
    return None if bounds["low"] is None else (bounds["low"], bounds["high"])


@dataclass
class Claim:
    """One chunk taken from the queue: the rows to rate and the queue entries to delete."""

    rows: list[Row] = field(default_factory=list)
    queue_ids: list[int] = field(default_factory=list)


class QueueCursor:
    """A worker's place in the queue: the last ``PendingUsage.id`` it claimed.

    Each claim starts after it, so a long run never rescans the entries it already deleted
    (dead index entries until the next vacuum).
    """

    __slots__ = ("after",)

    def __init__(self) -> None:
        self.after = 0


def _claim(size: int, scope: Scope, cursor: QueueCursor) -> Claim:
    """Lock and read up to ``size`` queued records (inside the caller's transaction).

    PostgreSQL locks the queue entries (``FOR UPDATE SKIP LOCKED``: two runners never get the
    same record); SQLite's ``IMMEDIATE`` transactions admit one writer at a time. Entries whose
    record is gone or no longer pending are stale: they are deleted with the chunk, not rated.
    """
    where, params = "q.id > %s", [cursor.after]
    if scope.id_range is not None:
        low, high = scope.id_range
        where += " AND q.record_id BETWEEN %s AND %s"
        params += [db_key(low), db_key(high)] if connection.vendor == "sqlite" else [low, high]
    if scope.queue_range is not None:
        where += " AND q.id BETWEEN %s AND %s"
        params += list(scope.queue_range)
    if connection.vendor == "postgresql":
        # Plan settings for the whole chunk transaction (see _PG_PLAN): without them the planner
        # joins a few thousand queue entries to the records with a scan of the whole table.
        _pg_run(_PG_PLAN, fetch=False)
        found = _pg_run(
            f"WITH claimed AS (SELECT q.id, q.record_id FROM {QUEUE_TABLE} q WHERE {where} "
            "ORDER BY q.id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "SELECT c.id, u.ctid::text, u.customer_id::text, u.billing_category, u.item_code, "
            f"NULL::numeric, u.occurred_at, {_PG_DAY}, u.status "
            f"FROM claimed c LEFT JOIN {USAGE_TABLE} u "
            # In table order, as a sweep writes: two writers never wait on each other in a cycle.
            "ON u.id = c.record_id ORDER BY u.ctid",
            [*params, size, billing_tz().key],
        )
        convert = None
    else:
        with connection.cursor() as db:
            db.execute(
                "SELECT q.id, u.rowid, u.customer_id, u.billing_category, u.item_code, "
                f"u.quantity, u.occurred_at, NULL, u.status FROM {QUEUE_TABLE} q LEFT JOIN "
                f"{USAGE_TABLE} u ON u.id = q.record_id WHERE {where} ORDER BY q.id LIMIT %s",
                [*params, size],
            )
            found = db.fetchall()
        to_decimal = _sqlite_quantity_converter()
        tz = billing_tz()

        def convert(row: tuple) -> Row:
            handle, customer, category, item, quantity, occurred_at, _ = row
            at = _aware(occurred_at)
            day = at.astimezone(tz).date()
            return (handle, customer, category, item, to_decimal(quantity), at, day)

    pending = UsageStatus.PENDING
    live = [row[1:8] for row in found if row[8] == pending]
    claim = Claim(
        rows=live if convert is None else [convert(row) for row in live],
        queue_ids=[row[0] for row in found],
    )
    if claim.queue_ids:
        cursor.after = max(claim.queue_ids)
    return claim


# Entries whose record is still pending are kept when a dequeue is told to check.
_STILL_PENDING = (
    f"NOT EXISTS (SELECT 1 FROM {USAGE_TABLE} u "
    f"WHERE u.id = {QUEUE_TABLE}.record_id AND u.status = '{UsageStatus.PENDING}')"
)


def _dequeue(queue_ids: list[int], *, settled_only: bool = False) -> None:
    """Delete claimed queue entries (same transaction as the rated rows).

    ``settled_only`` keeps the entries whose record is still pending: after a write that found
    some records changed under it (rated by a sweep meanwhile, or edited), the others stay queued.
    """
    if not queue_ids:
        return
    check = f" AND {_STILL_PENDING}" if settled_only else ""
    if connection.vendor == "postgresql":
        _pg_run(
            f"DELETE FROM {QUEUE_TABLE} WHERE id = ANY(%s::bigint[]){check}",
            [_pg_array(map(str, queue_ids))],
            fetch=False,
        )
        return
    with connection.cursor() as db:
        db.execute(
            f"DELETE FROM {QUEUE_TABLE} WHERE id IN (SELECT value FROM json_each(%s)){check}",
            [json.dumps(queue_ids)],
        )


def _sqlite_quantity_converter() -> Callable:
    """The ORM's own converter for ``quantity`` on SQLite (15 significant digits, quantized)."""
    field_ = UsageRecord._meta.get_field("quantity")
    column = Col(USAGE_TABLE, field_)
    convert = connection.ops.get_decimalfield_converter(column)
    return lambda value: convert(value, column, connection)


# A record's billing day, as the engine takes it (the time zone is the first parameter).
_PG_DAY = "(occurred_at AT TIME ZONE %s)::date"

# Rated rows: per-row arrays (handle, amount, outcome number) and per-outcome arrays indexed by
# the outcome number, so each row's rule, codes and price come from an array subscript.
_PG_RATED = f"""
UPDATE {USAGE_TABLE} AS u SET
    status = '{UsageStatus.RATED}',
    rule_id = (%(rule_ids)s::uuid[])[v.k],
    rule_code = (%(rule_codes)s::text[])[v.k],
    price_list_id = (%(list_ids)s::uuid[])[v.k],
    price_list_code = (%(list_codes)s::text[])[v.k],
    unit_price = (%(prices)s::numeric[])[v.k],
    amount = round(u.quantity * (%(prices)s::numeric[])[v.k], 2),
    currency = (%(currencies)s::text[])[v.k],
    rated_at = %(at)s,
    unrated_reason = ''
FROM unnest(%(handles)s::tid[], %(outcomes)s::int[]) AS v(tid, k)
WHERE u.ctid = v.tid AND u.status = '{UsageStatus.PENDING}'
"""

# For this transaction only: nested loops by primary key and ctid (see _claim and _write), no
# JIT for plans run once, and a commit that does not wait for its WAL flush. A crash may forget
# the last chunks committed, queue deletions included: their records are pending again and the
# next run rates them (never twice).
_PG_PLAN = (
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),"
    " set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true),"
    " set_config('synchronous_commit', 'off', true)"
)

_PG_UNRATED = f"""
UPDATE {USAGE_TABLE} AS u SET
    status = '{UsageStatus.UNRATED}', rule_id = NULL, rule_code = '', price_list_id = NULL,
    price_list_code = '', unit_price = NULL, amount = NULL, currency = '',
    rated_at = %s, unrated_reason = v.reason
FROM unnest(%s::tid[], %s::text[]) AS v(tid, reason)
WHERE u.ctid = v.tid AND u.status = '{UsageStatus.PENDING}'
"""

# SQLite: one statement per chunk over a JSON array (json_each), not one per row: executemany
# pays SQLite's per-statement cost 20,000 times, this pays it once.
_SQLITE_RATED = f"""
UPDATE {USAGE_TABLE} AS u SET
    status = '{UsageStatus.RATED}',
    amount = json_extract(v.value, '$[1]'),
    rule_id = json_extract(v.value, '$[2]'),
    rule_code = json_extract(v.value, '$[3]'),
    price_list_id = json_extract(v.value, '$[4]'),
    price_list_code = json_extract(v.value, '$[5]'),
    unit_price = json_extract(v.value, '$[6]'),
    currency = json_extract(v.value, '$[7]'),
    rated_at = %s,
    unrated_reason = ''
FROM json_each(%s) AS v
WHERE u.rowid = json_extract(v.value, '$[0]') AND u.status = '{UsageStatus.PENDING}'
"""

_SQLITE_UNRATED = f"""
UPDATE {USAGE_TABLE} AS u SET
    status = '{UsageStatus.UNRATED}', rule_id = NULL, rule_code = '', price_list_id = NULL,
    price_list_code = '', unit_price = NULL, amount = NULL, currency = '',
    rated_at = %s, unrated_reason = json_extract(v.value, '$[1]')
FROM json_each(%s) AS v
WHERE u.rowid = json_extract(v.value, '$[0]') AND u.status = '{UsageStatus.PENDING}'
"""


def _write(chunk: RatedChunk, at: datetime) -> int:
    """Store a rated chunk (inside the claiming transaction); returns rows written."""
    written = 0
    if connection.vendor == "postgresql":
        # _claim set the plan for this transaction: the planner cannot know that a few
        # thousand ctids beat a scan of the table; a TID nested loop makes each row one fetch.
        if chunk.handles:
            rules = [rule for rule, _ in chunk.outcomes]
            written += _pg_run(
                _PG_RATED,
                {
                    "at": at,
                    "handles": _pg_array(chunk.handles, quote=True),
                    "outcomes": _pg_array(map(str, chunk.outcome_ids)),
                    "rule_ids": [rule.id for rule in rules],
                    "rule_codes": [rule.code for rule in rules],
                    "list_ids": [rule.price_list_id for rule in rules],
                    "list_codes": [rule.price_list_code for rule in rules],
                    "prices": [price for _, price in chunk.outcomes],
                    "currencies": [rule.currency for rule in rules],
                },
                fetch=False,
            )
        if chunk.unrated:
            handles, reasons = zip(*chunk.unrated, strict=True)
            written += _pg_run(
                _PG_UNRATED, [at, _pg_array(handles, quote=True), list(reasons)], fetch=False
            )
        return written
    with connection.cursor() as cursor:
        stamp = connection.ops.adapt_datetimefield_value(at)
        # Values travel as JSON strings, as Django's own Decimal adapter would send them.
        outcomes = [
            (
                db_key(rule.id),
                rule.code,
                db_key(rule.price_list_id),
                rule.price_list_code,
                str(price),
                rule.currency,
            )
            for rule, price in chunk.outcomes
        ]
        if chunk.handles:
            rated = [
                (handle, str(amount), *outcomes[k - 1])
                for handle, amount, k in zip(
                    chunk.handles, chunk.amounts, chunk.outcome_ids, strict=True
                )
            ]
            cursor.execute(_SQLITE_RATED, [stamp, json.dumps(rated)])
            written += cursor.rowcount
        if chunk.unrated:
            cursor.execute(_SQLITE_UNRATED, [stamp, json.dumps(chunk.unrated)])
            written += cursor.rowcount
        return written


def pending_count(scope: Scope = Scope()) -> int:
    """Records waiting in the queue: a count of the narrow queue table, never of the records.

    A record whose status was changed by hand (not by rating) leaves a stale entry that is
    counted until the next run drops it; nothing else can make the two differ.
    """
    queryset = PendingUsage.objects.all()
    if scope.id_range is not None:
        low, high = scope.id_range
        queryset = queryset.filter(record__gte=low, record__lte=high)
    if scope.queue_range is not None:
        queryset = queryset.filter(id__range=scope.queue_range)
    return queryset.count()


def rate_chunk(
    size: int,
    holder: SnapshotHolder,
    scope: Scope = Scope(),
    cursor: QueueCursor | None = None,
) -> int:
    """Claim, rate and store one chunk in one transaction.

    Returns how many records it rated, or None when the queue holds nothing more for this
    scope (a chunk of stale entries only rates 0 and the run goes on).
    """
    cursor = cursor or QueueCursor()
    with transaction.atomic():
        claim = _claim(size, scope, cursor)
        if not claim.queue_ids:
            return None
        written = 0
        settled_only = False
        if claim.rows:
            snapshot = holder.current()
            chunk = rate_rows(claim.rows, snapshot, amounts=connection.vendor != "postgresql")
            written = _write(chunk, timezone.now())
            # Fewer rows written than claimed: some records changed under us (a sweep rated
            # them, or they were edited). Entries of records still pending stay queued.
            settled_only = written != len(chunk)
        _dequeue(claim.queue_ids, settled_only=settled_only)
        return written


@dataclass
class RunReport:
    rated: int = 0
    seconds: float = 0.0
    chunks: int = 0


def rate_pending(
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    scope: Scope = Scope(),
    time_budget: float | None = None,
    preload: bool | None = None,
    holder: SnapshotHolder | None = None,
    sweep: bool | None = None,
    backlog: int | None = None,
) -> RunReport:
    """Rate pending records in chunks until none are left, ``limit`` or ``time_budget`` is hit.

    Two ways through the records, with the same answers:

    - **the queue**: chunks of ``PendingUsage`` entries in arrival order; costs per pending
      record, whatever the size of the table. Used for uploads, limits and time-boxed runs.
    - **a sweep** (:func:`_sweep`, PostgreSQL): the table read range of blocks by range of
      blocks, pending rows rated and written back in place, then the queue cleared of settled
      entries. Chosen for a whole backlog of at least ``SWEEP_MIN`` records that is at least a
      ``SWEEP_SHARE``-th of the table, where reading every row costs less than finding each
      pending one through the queue; ``sweep`` forces the choice (tests).

    ``workers`` > 1 rates in that many forked processes (:func:`_in_processes`), each with its
    own connection: Python's share of the work runs on every core. PostgreSQL only, and only
    outside a transaction (a worker could not see the caller's uncommitted records); SQLite
    serialises writers, so it always uses one. ``holder`` hands a loaded snapshot to a worker.
    ``backlog`` is :func:`pending_count` of ``scope`` if the caller has just taken it (a count
    of a million queue entries is not free); otherwise it is counted when needed.
    """
    postgres = connection.vendor == "postgresql"
    if not postgres or connection.in_atomic_block:
        workers = 1
    if sweep is None:
        whole = scope.whole and limit is None and time_budget is None
        sweep = postgres and whole and holder is None and _worth_sweeping(backlog)
    if sweep:
        if not postgres:
            raise ValueError("a sweep reads the table by block ranges: PostgreSQL only")
        return _sweep(chunk_size=chunk_size, workers=workers, progress=progress)
    # A time-boxed run (a polling request) rates a slice: loading every membership would cost
    # more than the slice itself.
    if holder is None:
        holder = SnapshotHolder(preload=time_budget is None if preload is None else preload)
    if workers > 1:
        return _rate_in_processes(
            workers,
            progress,
            holder,
            backlog,
            chunk_size=chunk_size,
            limit=limit,
            scope=scope,
            time_budget=time_budget,
        )
    started = time.perf_counter()
    report = RunReport()
    cursor = QueueCursor()
    while True:
        # The budget is checked between chunks; the first chunk always runs, so each call
        # makes progress however small the budget.
        if (
            time_budget is not None
            and report.chunks
            and time.perf_counter() - started >= time_budget
        ):
            break
        size = chunk_size if limit is None else min(chunk_size, limit - report.rated)
        if size <= 0:
            break
        count = rate_chunk(size, holder, scope, cursor)
        if count is None:
            break
        report.rated += count
        report.chunks += 1
        if progress is not None:
            progress(report.rated)
    report.seconds = time.perf_counter() - started
    return report


def _rate_in_processes(
    workers: int,
    progress: Callable[[int], None] | None,
    holder: SnapshotHolder,
    backlog: int | None,
    **options,
) -> RunReport:
    """Take queue chunks in ``workers`` forked processes (``SKIP LOCKED`` shares them out).

    The parent loads the snapshot (rules and, for a large backlog, every membership) once
    before forking; the workers share it copy-on-write instead of each loading their own.
    ``limit`` is split between the workers.
    """
    limit = options.pop("limit")
    if backlog is None:
        backlog = pending_count(options["scope"])
    if holder.preload and backlog >= PRELOAD_MIN:
        snapshot = holder.current()
        snapshot.members.load_everyone_if_worth_it(backlog)
    jobs = []
    for n in range(workers):
        share = None if limit is None else limit // workers + (1 if n < limit % workers else 0)
        if share != 0:
            jobs.append(
                functools.partial(
                    rate_pending, workers=1, holder=holder, sweep=False, limit=share, **options
                )
            )
    return _in_processes(jobs, progress)


# --- Sweeping the table (PostgreSQL, large backlogs) ------------------------------------------
# Through the queue, each record costs a queue entry locked, a primary-key lookup and a queue
# entry deleted, on top of its update. When a large share of the table is pending, reading the
# table itself in ranges of blocks (a TID range scan: sequential, no index) finds the pending
# rows for a fraction of that, and the queue is then cleared of its settled entries in one pass.

SWEEP_MIN = 50_000  # pending records from which a run may sweep instead of using the queue
SWEEP_SHARE = 10  # ... if they are at least 1/SWEEP_SHARE of the table's rows (planner estimate)


def _worth_sweeping(backlog: int | None = None) -> bool:
    """Whether the whole backlog (``backlog`` if counted already) is worth a sweep."""
    if backlog is None:
        backlog = pending_count()
    if backlog < SWEEP_MIN:
        return False
    [(rows,)] = _pg_run(f"SELECT reltuples FROM pg_class WHERE oid = '{USAGE_TABLE}'::regclass")
    # reltuples is -1 until the table was first analysed: judge by the backlog alone then.
    return backlog * SWEEP_SHARE >= rows


@dataclass(frozen=True)
class SweepPlan:
    """The blocks a sweep reads: the table as it was when it started, ``step`` at a time.

    Rows added later (beyond ``pages``) are queued; the queue takes them in the next run.
    """

    pages: int
    step: int

    def ranges(self) -> Iterator[tuple[int, int]]:
        for low in range(0, self.pages, self.step):
            yield low, min(low + self.step, self.pages)

    @classmethod
    def load(cls, chunk_size: int) -> SweepPlan:
        """Ranges of about ``chunk_size`` rows."""
        [(pages, rows, analysed_pages)] = _pg_run(
            f"SELECT pg_relation_size('{USAGE_TABLE}') / current_setting('block_size')::int, "
            f"reltuples, relpages FROM pg_class WHERE oid = '{USAGE_TABLE}'::regclass"
        )
        # Before the table is first analysed: a generous guess, so chunks err on the small side.
        per_page = rows / analysed_pages if rows > 0 and analysed_pages > 0 else 60
        return cls(pages=int(pages), step=max(1, math.ceil(chunk_size / per_page)))


def _sweep(*, chunk_size: int, workers: int, progress: Callable[[int], None] | None) -> RunReport:
    """Sweep the table in ``workers`` processes, each taking every ``workers``-th range.

    Each worker loads its own snapshot (rules and the deciding groups' memberships, a small
    share of all: see :meth:`RatingIndex.deciding_groups`), then rates and writes the pending
    rows of each of its ranges in one transaction per range. Nothing is locked before
    the write: the write takes only rows still pending at the same place (``ctid``), so a row
    rated meanwhile by another runner, or edited, is left alone (and stays queued if pending).
    Then the queue is emptied at once if nothing is pending (:func:`_empty_settled_queue`);
    otherwise its settled entries are deleted, each worker process taking a slice of it.
    """
    started = time.perf_counter()
    plan = SweepPlan.load(chunk_size)
    jobs = [functools.partial(_sweep_part, plan, n, workers) for n in range(workers)]
    if workers == 1:
        report = jobs[0](progress=progress)
        if not _empty_settled_queue():
            _drop_settled()
    else:
        [(low, high)] = _pg_run(f"SELECT MIN(id), MAX(id) FROM {QUEUE_TABLE}")
        report = _in_processes(jobs, progress)
        if low is not None and not _empty_settled_queue():
            step = (high - low) // workers + 1
            bounds = [low + n * step for n in range(1, workers)]
            # Entries queued meanwhile have higher ids: the last slice has no upper bound.
            slices = zip([None, *bounds], [*bounds, None], strict=True)
            _in_processes([functools.partial(_drop_settled, *pair) for pair in slices], None)
    report.seconds = time.perf_counter() - started
    return report


def _sweep_part(
    plan: SweepPlan, part: int, parts: int, progress: Callable[[int], None] | None = None
) -> RunReport:
    """One worker's sweep: ranges ``part``, ``part + parts``, ... of the plan."""
    started = time.perf_counter()
    holder = SnapshotHolder()
    sql = (
        "SELECT ctid::text, customer_id::text, billing_category, item_code, NULL::numeric, "
        f"occurred_at, {_PG_DAY} FROM {USAGE_TABLE} WHERE ctid >= %s::tid AND ctid < %s::tid "
        f"AND status = '{UsageStatus.PENDING}'"
    )
    report = RunReport()
    for low, high in itertools.islice(plan.ranges(), part, None, parts):
        with transaction.atomic():
            _pg_run(_PG_PLAN, fetch=False)
            rows = _pg_run(sql, [billing_tz().key, f"({low},0)", f"({high},0)"])
            if rows:
                chunk = rate_rows(rows, holder.current(), amounts=False)
                report.rated += _write(chunk, timezone.now())
        report.chunks += 1
        if progress is not None and rows:
            progress(report.rated)
    report.seconds = time.perf_counter() - started
    return report


def _empty_settled_queue() -> bool:
    """Empty the queue at once if no record is pending any more; False if it cannot.

    The usual end of a sweep: every entry is settled, and one TRUNCATE replaces a million row
    deletions. The queue is locked first (``NOWAIT``: if a queue runner or a writer is using it,
    the caller deletes settled entries row by row instead), so no record can be queued while
    the usage table is checked; a writer meanwhile waits for the lock (well under a second).
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                _pg_run(f"LOCK TABLE {QUEUE_TABLE} IN ACCESS EXCLUSIVE MODE NOWAIT", fetch=False)
        except OperationalError:
            return False
        [(pending,)] = _pg_run(
            f"SELECT EXISTS (SELECT 1 FROM {USAGE_TABLE} WHERE status = '{UsageStatus.PENDING}')"
        )
        if pending:
            return False
        try:
            with transaction.atomic():
                _pg_run(f"TRUNCATE {QUEUE_TABLE}", fetch=False)
        except OperationalError:  # the caller's transaction queued entries (deferred checks)
            return False
        return True


def _drop_settled(
    low: int | None = None, high: int | None = None, progress: Callable | None = None
) -> RunReport:
    """Delete the queue entries (ids from ``low`` to before ``high``) whose record is settled.

    ``progress`` is not called: it is there because a worker job (:data:`Job`) takes one.
    """
    where = _STILL_PENDING
    if low is not None:
        where += f" AND id >= {int(low)}"
    if high is not None:
        where += f" AND id < {int(high)}"
    with transaction.atomic():
        # One hash anti-join against the (few) pending rows, whatever the stale statistics
        # say; room to hash them in memory; no need to wait for the WAL flush (see _PG_PLAN).
        _pg_run(
            "SELECT set_config('enable_nestloop', 'off', true), "
            "set_config('work_mem', '256MB', true), set_config('jit', 'off', true), "
            "set_config('synchronous_commit', 'off', true)",
            fetch=False,
        )
        _pg_run(f"DELETE FROM {QUEUE_TABLE} WHERE {where}", fetch=False)
    return RunReport()


# --- Worker processes -------------------------------------------------------------------------

Job = Callable[..., RunReport]  # called with progress=callback(records rated so far)


def _in_processes(jobs: list[Job], progress: Callable[[int], None] | None) -> RunReport:
    """Run each job in a forked process and add up their reports.

    Rating is CPU work in Python and in the database in turns; threads share one interpreter
    lock, processes use every core. Connections and the connection pool (whose threads a fork
    would not carry over) are closed first; each worker opens its own. Progress from every
    worker adds up into ``progress``.
    """
    import multiprocessing

    started = time.perf_counter()
    for conn in connections.all(initialized_only=True):
        conn.close()
        if hasattr(conn, "close_pool"):
            conn.close_pool()
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    processes = []
    for n, job in enumerate(jobs):
        process = context.Process(target=_worker, args=(job, messages), name=f"rate-{n}")
        process.start()
        processes.append(process)
    report = RunReport()
    errors: list[str] = []
    running = len(processes)
    while running:
        try:
            kind, *values = messages.get(timeout=5)
        except queue.Empty:  # check that nobody died without a word
            if not any(p.is_alive() for p in processes):
                errors.append("a rating worker exited without reporting")
                break
            continue
        if kind == "progress":
            report.rated += values[0]
            if progress is not None:
                progress(report.rated)
        elif kind == "done":
            running -= 1
            report.chunks += values[1]
        else:
            running -= 1
            errors.append(values[0])
    for process in processes:
        process.join()
    if errors:
        raise RuntimeError("rating worker failed: " + "; ".join(errors))
    report.seconds = time.perf_counter() - started
    return report


def _worker(job: Job, messages) -> None:
    """A forked worker: run ``job``, report on ``messages``.

    Messages: ``("progress", n)`` after each chunk, then one ``("done", rated, chunks)`` or
    ``("error", text)``. The process ends with ``os._exit``: nothing inherited from the parent
    (atexit handlers, buffered output) runs twice.
    """
    last = [0]

    def progress(done: int) -> None:
        messages.put(("progress", done - last[0]))
        last[0] = done

    code = 0
    try:
        report = job(progress=progress)
    except BaseException as exc:  # reported to the parent, which raises
        messages.put(("error", f"{type(exc).__name__}: {exc}"))
        code = 1
    else:
        messages.put(("done", report.rated, report.chunks))
    finally:
        connections.close_all()
        messages.close()
        messages.join_thread()
    os._exit(code)


# --- Upload batches ---------------------------------------------------------------------------
# An upload has no table of its own (no model change): its records get ids that share one
# 64-bit prefix (a UUIDv8 layout), so "the records of an upload" is a primary-key range scan and
# line numbers survive in the low bits.

_V8 = 0x8 << 12  # version nibble in the third group
BATCH_KEY_RE = re.compile(r"[0-9a-f]{12}8[0-9a-f]{3}")
_VARIANT = 0b10 << 62


def new_batch_key() -> str:
    """Sixteen hex digits naming an upload (60 random bits plus the UUID version nibble)."""
    raw = int.from_bytes(uuid.uuid4().bytes[:8], "big")
    return f"{(raw & ~0xF000) | _V8:016x}"


def is_batch_key(value: str) -> bool:
    return bool(BATCH_KEY_RE.fullmatch(value or ""))


def batch_record_id(batch_key: str, line: int) -> uuid.UUID:
    return uuid.UUID(int=(int(batch_key, 16) << 64) | _VARIANT | line)


def batch_id_range(batch_key: str) -> tuple[uuid.UUID, uuid.UUID]:
    prefix = int(batch_key, 16) << 64
    return uuid.UUID(int=prefix | _VARIANT), uuid.UUID(int=prefix | _VARIANT | (2**62 - 1))


def batch_line(record_id: uuid.UUID) -> int:
    """The CSV line a record of an upload came from."""
    return record_id.int & (2**62 - 1)


def insert_pending(rows: Iterable[tuple], *, created_by_id, at: datetime) -> int:
    """Insert ``(id, customer_key, category, item, quantity, occurred_at)`` rows as pending.

    COPY on PostgreSQL, ``INSERT ... SELECT FROM json_each`` on SQLite: an upload of 300,000
    lines is stored in a few seconds, where model instances through ``bulk_create`` would take
    ten times longer.
    The caller validated every value; this is the storage step only.
    """
    columns = (
        "id, customer_id, billing_category, item_code, quantity, occurred_at, status, rule_code, "
        "price_list_code, currency, unrated_reason, created_at, created_by_id"
    )
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY's text format written in blocks: every value was validated to hold no tab,
            # newline or backslash (codes, UUIDs, numbers, ISO instants), so nothing needs
            # escaping, and one write per 5,000 lines beats a write_row() per line.
            tail = f"\t{UsageStatus.PENDING}\t\t\t\t\t{at.isoformat()}\t"
            tail += "\\N\n" if created_by_id is None else f"{created_by_id}\n"
            with cursor.cursor.copy(f"COPY {USAGE_TABLE} ({columns}) FROM STDIN") as copy:
                block: list[str] = []
                for record_id, customer, category, item, quantity, occurred_at in rows:
                    block.append(
                        f"{record_id.hex}\t{customer}\t{category}\t{item}\t{quantity:f}\t"
                        f"{occurred_at.isoformat()}{tail}"
                    )
                    if len(block) >= 5000:
                        copy.write("".join(block))
                        count += len(block)
                        block = []
                if block:
                    copy.write("".join(block))
                    count += len(block)
            return count
        adapt = connection.ops.adapt_datetimefield_value
        stamp = adapt(at)
        batch: list[tuple] = []
        sql = (
            f"INSERT INTO {USAGE_TABLE} ({columns}) SELECT "
            + ", ".join(f"json_extract(value, '$[{n}]')" for n in range(6))
            + f", '{UsageStatus.PENDING}', '', '', '', '', %s, %s FROM json_each(%s)"
        )
        for record_id, customer, category, item, quantity, occurred_at in rows:
            batch.append(
                (record_id.hex, customer, category, item, str(quantity), adapt(occurred_at))
            )
            if len(batch) >= 5000:
                cursor.execute(sql, [stamp, created_by_id, json.dumps(batch)])
                count += len(batch)
                batch = []
        if batch:
            cursor.execute(sql, [stamp, created_by_id, json.dumps(batch)])
            count += len(batch)
    return count


# --- Reads for the usage pages ----------------------------------------------------------------


@dataclass
class BatchSummary:
    """Progress and totals of one upload (one grouped query over its id range)."""

    key: str
    total: int = 0
    pending: int = 0
    rated: int = 0
    unrated: int = 0
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)  # (currency, total)
    created_at: datetime | None = None
    created_by: str = ""

    @property
    def done(self) -> int:
        return self.total - self.pending

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    @property
    def finished(self) -> bool:
        return self.pending == 0


def batch_summary(key: str) -> BatchSummary | None:
    """None when no record has this upload's key."""
    from django.db.models import Count, Max, Min, Sum

    rows = (
        UsageRecord.objects.filter(pk__range=batch_id_range(key))
        .order_by()
        .values("status", "currency")
        .annotate(
            n=Count("pk"),
            total=Sum("amount"),
            created=Min("created_at"),
            by=Max("created_by__username"),
        )
    )
    summary = BatchSummary(key=key)
    amounts: dict[str, Decimal] = {}
    for row in rows:
        summary.total += row["n"]
        if row["status"] in (UsageStatus.PENDING, UsageStatus.RATED, UsageStatus.UNRATED):
            setattr(summary, row["status"], getattr(summary, row["status"]) + row["n"])
        if row["currency"] and row["total"] is not None:
            amounts[row["currency"]] = amounts.get(row["currency"], Decimal(0)) + row["total"]
        summary.created_at = min(filter(None, (summary.created_at, row["created"])), default=None)
        summary.created_by = summary.created_by or row["by"] or ""
    if not summary.total:
        return None
    summary.amounts = sorted(amounts.items())
    return summary


def batch_records(key: str):
    """The records of an upload in file order, with their customers."""
    return (
        UsageRecord.objects.filter(pk__range=batch_id_range(key))
        .select_related("customer")
        .order_by("pk")
    )


EXPORT_HEADER = [
    "line",
    "customer_external_id",
    "customer_id",
    "customer_name",
    "category",
    "item",
    "quantity",
    "occurred_at",
    "status",
    "rule",
    "price_list",
    "unit_price",
    "amount",
    "currency",
    "unrated_reason",
    "rated_at",
    "id",
]


def export_rows(queryset, *, lines: bool = False) -> Iterator[list]:
    """CSV rows for records (header first), streamed in chunks of 2,000: memory stays flat."""
    yield EXPORT_HEADER
    values = queryset.values_list(
        "pk",
        "customer__external_id",
        "customer_id",
        "customer__name",
        "billing_category",
        "item_code",
        "quantity",
        "occurred_at",
        "status",
        "rule_code",
        "price_list_code",
        "unit_price",
        "amount",
        "currency",
        "unrated_reason",
        "rated_at",
    )
    for row in values.iterator(chunk_size=2000):
        pk, *rest = row
        cells = ["" if value is None else value for value in rest]
        cells[6] = cells[6].isoformat() if cells[6] else ""
        cells[14] = cells[14].isoformat() if cells[14] else ""
        yield [batch_line(pk) if lines else "", *cells, pk]
