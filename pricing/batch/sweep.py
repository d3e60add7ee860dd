"""Sweeping the table: rating a large backlog on PostgreSQL without going through the queue.

Through the queue, each record costs a queue entry locked, a primary-key lookup and a queue
entry deleted, on top of its update. When a large share of the table is pending, reading the
table itself in ranges of blocks (a TID range scan: sequential, no index) finds the pending rows
for a fraction of that; worker processes take turns at the ranges, and the queue is then cleared
of its settled entries in one pass (one ``TRUNCATE`` when nothing is left pending).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import OperationalError, transaction
from django.utils import timezone

from pricing import partitions, rules_sql
from pricing.batch.inputs import SnapshotHolder
from pricing.batch.queue import STILL_PENDING, pending_count
from pricing.batch.rating import rate_rows
from pricing.batch.sql import PG_PLAN, QUEUE_TABLE, USAGE_TABLE, pg_run
from pricing.batch.workers import RunReport, in_processes
from pricing.batch.writeback import write
from pricing.clock import billing_tz
from pricing.models import UsageStatus

SWEEP_MIN = 50_000  # pending records from which a run may sweep instead of using the queue
SWEEP_SHARE = 10  # ... if they are at least 1/SWEEP_SHARE of the table's rows (planner estimate)


def worth_sweeping(backlog: int | None = None) -> bool:
    """Whether the whole backlog (``backlog`` if counted already) is worth a sweep."""
    if backlog is None:
        backlog = pending_count()
    if backlog < SWEEP_MIN:
        return False
    [(rows,)] = pg_run(
        "SELECT COALESCE(SUM(GREATEST(reltuples, 0)), 0) FROM pg_class "
        "WHERE oid = ANY(%s::regclass[])",
        [partitions.relations()],
    )
    # reltuples is -1 until a table was first analysed: judge by the backlog alone then.
    return backlog * SWEEP_SHARE >= rows


@dataclass(frozen=True)
class SweepPlan:
    """The blocks a sweep reads: each partition (or the table) as it was when the sweep began,
    in ranges of ``step`` pages, partition by partition.

    Rows added later (beyond ``pages``) are queued; the queue takes them in the next run.
    """

    relations: tuple[tuple[str, int, int], ...]  # (relation, pages, step)

    def ranges(self) -> Iterator[tuple[str, int, int]]:
        for relation, pages, step in self.relations:
            for low in range(0, pages, step):
                yield relation, low, min(low + step, pages)

    @classmethod
    def load(cls, chunk_size: int) -> SweepPlan:
        """Ranges of about ``chunk_size`` rows, for every partition (or the plain table)."""
        found = pg_run(
            "SELECT c.oid::regclass::text, pg_relation_size(c.oid) / "
            "current_setting('block_size')::int, c.reltuples, c.relpages "
            "FROM pg_class c WHERE c.oid = ANY(%s::regclass[])",
            [partitions.relations()],
        )
        plan = []
        for relation, pages, rows, analysed_pages in found:
            # Before a table is first analysed: a generous guess, so chunks err on the small side.
            per_page = rows / analysed_pages if rows > 0 and analysed_pages > 0 else 60
            plan.append((relation, int(pages), max(1, math.ceil(chunk_size / per_page))))
        return cls(relations=tuple(sorted(plan)))


def sweep(*, chunk_size: int, workers: int, progress: Callable[[int], None] | None) -> RunReport:
    """Sweep the table in ``workers`` processes, each taking every ``workers``-th range.

    Each worker loads its own snapshot (rules and the deciding groups' memberships, a small
    share of all: see :meth:`RatingIndex.deciding_groups`), then rates and writes the pending
    rows of each of its ranges in one transaction per range. Nothing is locked before
    the write: the write takes only rows still pending at the same place (``ctid``), so a row
    rated meanwhile by another runner, or edited, is left alone (and stays queued if pending).
    Then the queue is emptied at once if nothing is pending (:func:`empty_settled_queue`);
    otherwise its settled entries are deleted, each worker process taking a slice of it.
    """
    started = time.perf_counter()
    plan = SweepPlan.load(chunk_size)
    jobs = [functools.partial(_sweep_part, plan, n, workers) for n in range(workers)]
    if workers == 1:
        report = jobs[0](progress=progress)
        if not empty_settled_queue():
            drop_settled()
    else:
        [(low, high)] = pg_run(f"SELECT MIN(id), MAX(id) FROM {QUEUE_TABLE}")
        report = in_processes(jobs, progress)
        if low is not None and not empty_settled_queue():
            step = (high - low) // workers + 1
            bounds = [low + n * step for n in range(1, workers)]
            # Entries queued meanwhile have higher ids: the last slice has no upper bound.
            slices = zip([None, *bounds], [*bounds, None], strict=True)
            in_processes([functools.partial(drop_settled, *pair) for pair in slices], None)
    report.seconds = time.perf_counter() - started
    return report


def _sweep_part(
    plan: SweepPlan, part: int, parts: int, progress: Callable[[int], None] | None = None
) -> RunReport:
    """One worker's sweep: ranges ``part``, ``part + parts``, ... of the plan."""
    started = time.perf_counter()
    holder = SnapshotHolder()
    day = rules_sql.billing_day_sql("occurred_at", billing_tz())
    sql = (
        "SELECT ctid::text, customer_id::text, billing_category, item_code, quantity, "
        f"occurred_at, {day.text} FROM ONLY {{relation}} "
        f"WHERE ctid >= %s::tid AND ctid < %s::tid AND status = '{UsageStatus.PENDING}'"
    )
    report = RunReport()
    for relation, low, high in itertools.islice(plan.ranges(), part, None, parts):
        with transaction.atomic():
            pg_run(PG_PLAN, fetch=False)
            rows = pg_run(sql.format(relation=relation), [*day.params, f"({low},0)", f"({high},0)"])
            if rows:
                chunk = rate_rows(rows, holder.current())
                report.rated += write(chunk, timezone.now(), relation)
        report.chunks += 1
        if progress is not None and rows:
            progress(report.rated)
    report.seconds = time.perf_counter() - started
    return report


def empty_settled_queue() -> bool:
    """Empty the queue at once if no record is pending any more; False if it cannot.

    The usual end of a sweep: every entry is settled, and one TRUNCATE replaces a million row
    deletions. The queue is locked first (``NOWAIT``: if a queue runner or a writer is using it,
    the caller deletes settled entries row by row instead), so no record can be queued while
    the usage table is checked; a writer meanwhile waits for the lock (well under a second).
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                pg_run(f"LOCK TABLE {QUEUE_TABLE} IN ACCESS EXCLUSIVE MODE NOWAIT", fetch=False)
        except OperationalError:
            return False
        [(pending,)] = pg_run(
            f"SELECT EXISTS (SELECT 1 FROM {USAGE_TABLE} WHERE status = '{UsageStatus.PENDING}')"
        )
        if pending:
            return False
        try:
            with transaction.atomic():
                pg_run(f"TRUNCATE {QUEUE_TABLE}", fetch=False)
        except OperationalError:  # the caller's transaction queued entries (deferred checks)
            return False
        return True


def drop_settled(
    low: int | None = None, high: int | None = None, progress: Callable | None = None
) -> RunReport:
    """Delete the queue entries (ids from ``low`` to before ``high``) whose record is settled.

    ``progress`` is not called: it is there because a worker job (:data:`Job`) takes one.
    """
    where = STILL_PENDING
    if low is not None:
        where += f" AND id >= {int(low)}"
    if high is not None:
        where += f" AND id < {int(high)}"
    with transaction.atomic():
        # One hash anti-join against the (few) pending rows, whatever the stale statistics
        # say; room to hash them in memory; no need to wait for the WAL flush (see PG_PLAN).
        pg_run(
            "SELECT set_config('enable_nestloop', 'off', true), "
            "set_config('work_mem', '256MB', true), set_config('jit', 'off', true), "
            "set_config('synchronous_commit', 'off', true)",
            fetch=False,
        )
        pg_run(f"DELETE FROM {QUEUE_TABLE} WHERE {where}", fetch=False)
    return RunReport()
