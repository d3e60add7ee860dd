"""A batch run: rate pending records in chunks until none are left, a limit or a time budget.

Two ways through the records, with the same answers: the queue (:mod:`.queue`), or for a whole
large backlog on PostgreSQL a sweep of the table (:mod:`.sweep`); in one process or, on
PostgreSQL, in forked worker processes (:mod:`.workers`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from django.db import connection

from pricing.batch import sweep as sweeping
from pricing.batch.inputs import PRELOAD_MIN, SnapshotHolder
from pricing.batch.queue import ALL_PENDING, QueueCursor, Scope, pending_count, rate_chunk
from pricing.batch.workers import RunReport, in_processes

DEFAULT_CHUNK_SIZE = 20_000


def rate_pending(
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    scope: Scope = ALL_PENDING,
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
    - **a sweep** (:func:`sweep`, PostgreSQL): the table read range of blocks by range of
      blocks, pending rows rated and written back in place, then the queue cleared of settled
      entries. Chosen for a whole backlog of at least ``SWEEP_MIN`` records that is at least a
      ``SWEEP_SHARE``-th of the table, where reading every row costs less than finding each
      pending one through the queue; ``sweep`` forces the choice (tests).

    ``workers`` > 1 rates in that many forked processes (:func:`in_processes`), each with its
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
        sweep = postgres and whole and holder is None and sweeping.worth_sweeping(backlog)
    if sweep:
        if not postgres:
            raise ValueError("a sweep reads the table by block ranges: PostgreSQL only")
        return sweeping.sweep(chunk_size=chunk_size, workers=workers, progress=progress)
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
    return in_processes(jobs, progress)
