"""The queue of pending records: claiming chunks of it, rating them, and dropping their entries.

``PendingUsage`` is kept by database triggers (an entry for every record inserted or set back
as pending). A chunk is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (two
runners never get the same record) or in an ``IMMEDIATE`` transaction on SQLite (one writer at a
time), rated in memory, written back and dequeued in the same transaction. Its cost is per
pending record, whatever the size of the table: uploads, limits, time-boxed runs and background
tasks sharing a backlog by queue range use it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from pricing import engine, rules_sql
from pricing.batch.inputs import SnapshotHolder
from pricing.batch.rating import rate_rows
from pricing.batch.sql import (
    PG_PLAN,
    QUEUE_TABLE,
    USAGE_TABLE,
    Row,
    aware,
    db_key,
    pg_array,
    pg_run,
    sqlite_quantity_converter,
)
from pricing.batch.writeback import write
from pricing.clock import billing_tz
from pricing.models import PendingUsage, UsageStatus


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


ALL_PENDING = Scope()


def queue_bounds() -> tuple[int, int] | None:
    """The lowest and highest queue entry ids (one query), or None when the queue is empty."""
    bounds = PendingUsage.objects.aggregate(low=Min("id"), high=Max("id"))
    return None if bounds["low"] is None else (bounds["low"], bounds["high"])


@dataclass
class Claim:
    """One chunk taken from the queue: the rows to rate, by the relation that holds them (one
    partition of a partitioned usage table, or the table), and the queue entries to delete."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    queue_ids: list[int] = field(default_factory=list)


class QueueCursor:
    """A worker's place in the queue: the last ``PendingUsage.id`` it claimed.

    Each claim starts after it, so a long run never rescans the entries it already deleted
    (dead index entries until the next vacuum).
    """

    __slots__ = ("after",)

    def __init__(self) -> None:
        self.after = 0


def claim(size: int, scope: Scope, cursor: QueueCursor) -> Claim:
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
        # Plan settings for the whole chunk transaction (see PG_PLAN): without them the planner
        # joins a few thousand queue entries to the records with a scan of the whole table.
        pg_run(PG_PLAN, fetch=False)
        day = rules_sql.billing_day_sql("u.occurred_at", billing_tz())
        found = pg_run(
            f"WITH claimed AS (SELECT q.id, q.record_id FROM {QUEUE_TABLE} q WHERE {where} "
            "ORDER BY q.id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "SELECT c.id, u.ctid::text, u.customer_id::text, u.billing_category, u.item_code, "
            f"u.quantity, u.occurred_at, {day.text}, u.status, u.tableoid::regclass::text "
            f"FROM claimed c LEFT JOIN {USAGE_TABLE} u "
            # In table order, as a sweep writes: two writers never wait on each other in a cycle.
            "ON u.id = c.record_id ORDER BY u.tableoid, u.ctid",
            [*params, size, *day.params],
        )
        convert = None
    else:
        with connection.cursor() as db:
            db.execute(
                "SELECT q.id, u.rowid, u.customer_id, u.billing_category, u.item_code, "
                f"u.quantity, u.occurred_at, NULL, u.status, '{USAGE_TABLE}' "
                f"FROM {QUEUE_TABLE} q LEFT JOIN "
                f"{USAGE_TABLE} u ON u.id = q.record_id WHERE {where} ORDER BY q.id LIMIT %s",
                [*params, size],
            )
            found = db.fetchall()
        to_decimal = sqlite_quantity_converter()
        tz = billing_tz()

        def convert(row: tuple) -> Row:
            handle, customer, category, item, quantity, occurred_at, _ = row
            at = aware(occurred_at)
            day = engine.billing_day(at, tz)
            return (handle, customer, category, item, to_decimal(quantity), at, day)

    pending = UsageStatus.PENDING
    claim = Claim(queue_ids=[row[0] for row in found])
    for row in found:
        if row[8] == pending:
            live = row[1:8] if convert is None else convert(row[1:8])
            claim.rows.setdefault(row[9], []).append(live)
    if claim.queue_ids:
        cursor.after = max(claim.queue_ids)
    return claim


# Entries whose record is still pending are kept when a dequeue is told to check.
STILL_PENDING = (
    f"NOT EXISTS (SELECT 1 FROM {USAGE_TABLE} u "
    f"WHERE u.id = {QUEUE_TABLE}.record_id AND u.status = '{UsageStatus.PENDING}')"
)


def dequeue(queue_ids: list[int], *, settled_only: bool = False) -> None:
    """Delete claimed queue entries (same transaction as the rated rows).

    ``settled_only`` keeps the entries whose record is still pending: after a write that found
    some records changed under it (rated by a sweep meanwhile, or edited), the others stay queued.
    """
    if not queue_ids:
        return
    check = f" AND {STILL_PENDING}" if settled_only else ""
    if connection.vendor == "postgresql":
        pg_run(
            f"DELETE FROM {QUEUE_TABLE} WHERE id = ANY(%s::bigint[]){check}",
            [pg_array(map(str, queue_ids))],
            fetch=False,
        )
        return
    with connection.cursor() as db:
        db.execute(
            f"DELETE FROM {QUEUE_TABLE} WHERE id IN (SELECT value FROM json_each(%s)){check}",
            [json.dumps(queue_ids)],
        )


def pending_count(scope: Scope = ALL_PENDING) -> int:
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
    scope: Scope = ALL_PENDING,
    cursor: QueueCursor | None = None,
) -> int:
    """Claim, rate and store one chunk in one transaction.

    Returns how many records it rated, or None when the queue holds nothing more for this
    scope (a chunk of stale entries only rates 0 and the run goes on).
    """
    cursor = cursor or QueueCursor()
    with transaction.atomic():
        claimed = claim(size, scope, cursor)
        if not claimed.queue_ids:
            return None
        written = 0
        settled_only = False
        if claimed.rows:
            snapshot = holder.current()
            now, rated = timezone.now(), 0
            for relation, rows in claimed.rows.items():
                chunk = rate_rows(rows, snapshot)
                rated += len(chunk)
                written += write(chunk, now, relation)
            # Fewer rows written than claimed: some records changed under us (a sweep rated
            # them, or they were edited). Entries of records still pending stay queued.
            settled_only = written != rated
        dequeue(claimed.queue_ids, settled_only=settled_only)
        return written
