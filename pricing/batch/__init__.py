"""Batch rating: the engine's answer for millions of records, fast, in bounded memory.

A run (:func:`rate_pending`) finds pending records a chunk at a time, each chunk in its own
transaction, rates them in memory with the engine's rules indexed for many records, and writes
them back in one statement per chunk, only where they are still pending (so a record is never
rated twice, and an interrupted run leaves the rest pending). The modules, by role:

- :mod:`.sql`: per-database plumbing (table names, raw-SQL keys, PostgreSQL's fast path).
- :mod:`.inputs`: loading the inputs once per run (the rule index, the deciding memberships)
  and replacing them when the one invalidation signal moves (:mod:`pricing.invalidation`).
- :mod:`.rating`: the hot loop, rating rows in memory (:class:`pricing.engine.RatingIndex`).
- :mod:`.writeback`: storing a rated chunk.
- :mod:`.queue`: finding pending records through the queue table, chunk by chunk.
- :mod:`.sweep`: finding them by sweeping the table (PostgreSQL, a large backlog).
- :mod:`.workers`: forked worker processes.
- :mod:`.run`: a whole run.
- :mod:`.uploads`: the records of one CSV upload, stored and read back.

Why the index gives exactly the engine's answer: see :mod:`pricing.engine.index`.
``tests/pricing/test_batch_equivalence.py`` checks batch rating against ``evaluate`` on random
data, both databases, several time zones.
"""

from pricing.batch.inputs import (
    MembershipCache,
    Snapshot,
    SnapshotHolder,
    cached_index,
    keyed_rules,
    load_index,
)
from pricing.batch.queue import Scope, pending_count, queue_bounds, rate_chunk
from pricing.batch.rating import RatedChunk, rate_rows
from pricing.batch.run import DEFAULT_CHUNK_SIZE, rate_pending
from pricing.batch.sql import QUEUE_TABLE, USAGE_TABLE, Row, db_key
from pricing.batch.sweep import SweepPlan
from pricing.batch.uploads import (
    EXPORT_HEADER,
    RECORD_COLUMNS,
    BatchSummary,
    batch_id_range,
    batch_line,
    batch_record_id,
    batch_records,
    batch_summary,
    export_rows,
    insert_pending,
    insert_records,
    insert_rows,
    is_batch_key,
    new_batch_key,
)
from pricing.batch.workers import RunReport

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EXPORT_HEADER",
    "QUEUE_TABLE",
    "RECORD_COLUMNS",
    "USAGE_TABLE",
    "BatchSummary",
    "MembershipCache",
    "RatedChunk",
    "Row",
    "RunReport",
    "Scope",
    "Snapshot",
    "SnapshotHolder",
    "SweepPlan",
    "batch_id_range",
    "batch_line",
    "batch_record_id",
    "batch_records",
    "batch_summary",
    "cached_index",
    "db_key",
    "export_rows",
    "insert_pending",
    "insert_records",
    "insert_rows",
    "is_batch_key",
    "keyed_rules",
    "load_index",
    "new_batch_key",
    "pending_count",
    "queue_bounds",
    "rate_chunk",
    "rate_pending",
    "rate_rows",
]
