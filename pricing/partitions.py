"""The usage table's layout on PostgreSQL: partitioned by month of ``occurred_at``.

A month of usage records is one partition (``pricing_usagerecord_y2026m03``), so a month can be
detached and archived on its own and vacuum works on a month at a time; records outside every
monthly partition land in ``pricing_usagerecord_default``. The primary key is
``(id, occurred_at)`` (PostgreSQL asks for the partition key in every unique index; ids are
time-ordered UUIDs, unique by construction), and the queue table refers to records without a
database constraint (one cannot reference a partitioned table by ``id`` alone).

Partitions are created ahead by :func:`ensure_months` (a daily task and ``manage.py
usage_partitions``), taking out of the default partition any rows that fall in a new month.
:func:`convert` turns a plain table into the partitioned layout: in migration 0013 for a small
table, and on a live database in chunks through ``manage.py usage_partitions --convert``, which
mirrors writes made meanwhile with a trigger and swaps the tables in one short transaction.

SQLite keeps one table: every function here is PostgreSQL's and does nothing elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection, transaction

logger = logging.getLogger(__name__)

TABLE = "pricing_usagerecord"
DEFAULT = f"{TABLE}_default"
FILLFACTOR = 35  # see migration 0003: room in every page for the rated version of its rows
MONTHS_AHEAD = 3


def columns(table: str = TABLE) -> str:
    """The usage table's columns as they are in the database, in order (a migration that
    converts the table runs before later migrations have added their columns)."""
    [(names,)] = _run(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    return names


@dataclass(frozen=True)
class Partition:
    name: str
    first: date | None  # first day (None: the default partition)
    end: date | None  # first day after it

    @property
    def label(self) -> str:
        return "default" if self.first is None else f"{self.first:%Y-%m}"


def _run(sql: str, params=None) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def applies() -> bool:
    return connection.vendor == "postgresql"


def is_partitioned(table: str = TABLE) -> bool:
    if not applies():
        return False
    rows = _run("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    return bool(rows) and rows[0][0] == "p"


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(month: date, table: str = TABLE) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def partitions(table: str = TABLE) -> list[Partition]:
    """The table's partitions, months in order, the default last (none when not partitioned)."""
    if not is_partitioned(table):
        return []
    rows = _run(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        [table],
    )
    months, default = [], []
    for name, bound in rows:
        if bound == "DEFAULT":
            default.append(Partition(name, None, None))
            continue
        # FOR VALUES FROM ('2026-03-01 00:00:00+00') TO ('2026-04-01 00:00:00+00')
        first, end = (part.split("'")[1][:10] for part in bound.split(" TO "))
        months.append(Partition(name, date.fromisoformat(first), date.fromisoformat(end)))
    return sorted(months, key=lambda p: p.first) + default


def relations(table: str = TABLE) -> list[str]:
    """What holds the rows: the partitions, or the table itself when it is not partitioned."""
    found = partitions(table)
    return [p.name for p in found] if found else [table]


def row_estimates(names: list[str]) -> dict[str, int]:
    """The planner's row count of each relation (after ANALYZE or autovacuum; 0 before)."""
    return dict(
        _run(
            "SELECT relname, GREATEST(reltuples, 0)::bigint FROM pg_class WHERE relname = ANY(%s)",
            [names],
        )
    )


def _bounds(month: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(month, datetime.min.time(), tzinfo=UTC),
        datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC),
    )


def _create_month(month: date, table: str = TABLE) -> str:
    """Create one month's partition, moving its rows out of the default partition first."""
    name = partition_name(month, table)
    low, high = _bounds(month)
    default = f"{table}_default"
    has_default = bool(_run("SELECT to_regclass(%s)", [default])[0][0])
    with transaction.atomic():
        if has_default and _run(
            f"SELECT 1 FROM {default} WHERE occurred_at >= %s AND occurred_at < %s LIMIT 1",
            [low, high],
        ):
            # A month cannot be attached while the default partition holds rows of it.
            cols = columns(table)
            _run(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            _run(f"ALTER TABLE {name} SET (fillfactor = {FILLFACTOR})")
            _run(
                f"WITH moved AS (DELETE FROM {default} WHERE occurred_at >= %s "
                f"AND occurred_at < %s RETURNING {cols}) "
                f"INSERT INTO {name} ({cols}) SELECT {cols} FROM moved",
                [low, high],
            )
            _run(
                f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
                [low, high],
            )
        else:
            _run(
                f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s) "
                f"WITH (fillfactor = {FILLFACTOR})",
                [low, high],
            )
    return name


def ensure_months(first: date, last: date, table: str = TABLE) -> list[str]:
    """Create the monthly partitions from ``first``'s month to ``last``'s that do not exist."""
    if not is_partitioned(table):
        return []
    existing = {p.first for p in partitions(table) if p.first is not None}
    created = []
    month = month_of(first)
    while month <= month_of(last):
        if month not in existing:
            created.append(_create_month(month, table))
        month = next_month(month)
    return created


def months_in_default(table: str = TABLE) -> list[date]:
    """The months of the rows that landed in the default partition (backdated or far ahead)."""
    if not is_partitioned(table):
        return []
    rows = _run(
        f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date "
        f"FROM {table}_default ORDER BY 1"
    )
    return [month for (month,) in rows]


def ensure_ahead(today: date, *, ahead: int = MONTHS_AHEAD) -> list[str]:
    """This month's partition and the next ``ahead`` months', and a partition for every month
    that has rows in the default partition (what the daily task runs)."""
    last = month_of(today)
    for _ in range(ahead):
        last = next_month(last)
    created = ensure_months(today, last)
    for month in months_in_default():
        created += ensure_months(month, month)
    return created


def detach_month(month: date, table: str = TABLE) -> str:
    """Detach one month's partition: it stays a plain table, to archive (pg_dump) and drop."""
    name = partition_name(month_of(month), table)
    _run(f"ALTER TABLE {table} DETACH PARTITION {name}")
    return name


# The queue's triggers as they stand after migrations 0003 and 0004 (0003's statement trigger
# on inserts, 0004's body for records set back to pending); the table's fill factor lives on
# each partition instead (pricing.partitions.FILLFACTOR).
QUEUE_TRIGGERS = [
    """
    CREATE OR REPLACE FUNCTION pricing_usage_enqueue_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO pricing_pendingusage (record_id)
        SELECT id FROM inserted WHERE status = 'pending'
        ON CONFLICT (record_id) DO NOTHING;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER pricing_usage_enqueue_inserted AFTER INSERT ON pricing_usagerecord
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION pricing_usage_enqueue_inserted()
    """,
    """
    CREATE OR REPLACE FUNCTION pricing_usage_enqueue_updated() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM pricing_pendingusage WHERE record_id = NEW.id;
        INSERT INTO pricing_pendingusage (record_id) VALUES (NEW.id);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER pricing_usage_enqueue_updated AFTER UPDATE OF status ON pricing_usagerecord
    FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')
    EXECUTE FUNCTION pricing_usage_enqueue_updated()
    """,
]


def install_queue() -> None:
    """The queue's triggers on the (new) table: pending records are queued for rating."""
    for statement in QUEUE_TRIGGERS:
        _run(statement)


# --- Conversion ---------------------------------------------------------------------------------

INDEXES = (
    ("pricing_usage_cust_idx", "(customer_id, occurred_at)"),
    ("pricing_usage_occurred_idx", "(occurred_at)"),
)
FOREIGN_KEYS = (
    ("pricing_usagerecord_customer_id_fk", "customer_id", "groups_customer(id)"),
    ("pricing_usagerecord_created_by_id_fk", "created_by_id", "auth_user(id)"),
)
NEW = f"{TABLE}_new"
OLD = f"{TABLE}_old"
MIRROR = "pricing_usage_mirror"


def _data_months(table: str) -> tuple[date, date] | None:
    [(low, high)] = _run(f"SELECT MIN(occurred_at), MAX(occurred_at) FROM {table}")
    if low is None:
        return None
    return low.astimezone(UTC).date(), high.astimezone(UTC).date()


def _create_partitioned(name: str, like: str, today: date) -> None:
    _run(
        f"CREATE TABLE {name} (LIKE {like} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (occurred_at)"
    )
    _run(f"ALTER TABLE {name} ADD PRIMARY KEY (id, occurred_at)")
    _run(
        f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT WITH (fillfactor = {FILLFACTOR})"
    )
    span = _data_months(like)
    first = min(span[0], today) if span else today
    last = max(span[1], today) if span else today
    ensure_months(first, next_month(next_month(next_month(month_of(last)))), table=name)


def _mirror_sql() -> list[str]:
    """A trigger on the old table that repeats every write on the new one while it fills."""
    cols = columns()
    return [
        f"""
        CREATE OR REPLACE FUNCTION {MIRROR}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                DELETE FROM {NEW} WHERE id = OLD.id AND occurred_at = OLD.occurred_at;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO {NEW} ({cols}) SELECT {cols} FROM (SELECT NEW.*) AS r;
            END IF;
            RETURN NULL;
        END $$
        """,
        f"CREATE TRIGGER {MIRROR} AFTER INSERT OR UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION {MIRROR}()",
    ]


def convert(
    *,
    today: date,
    chunk: int = 50_000,
    live: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Turn the plain usage table into the partitioned layout; returns the rows copied.

    ``live``: other connections may write meanwhile. A trigger repeats their writes on the new
    table, rows are copied in chunks in id order (each chunk share-locks the rows it copies, so
    a concurrent delete or update waits for it, then reaches the new table through the
    trigger), and the swap (renames, indexes' names, the queue's triggers) takes one short
    transaction holding the table's lock. The old table is kept as ``pricing_usagerecord_old``
    until :func:`drop_old`.
    """
    if not applies() or is_partitioned():
        return 0
    with transaction.atomic():
        # What an interrupted conversion left: it starts again from the beginning.
        _run(f"DROP TRIGGER IF EXISTS {MIRROR} ON {TABLE}")
        _run(f"DROP FUNCTION IF EXISTS {MIRROR}()")
        _run(f"DROP TABLE IF EXISTS {NEW} CASCADE")
        _create_partitioned(NEW, TABLE, today)
        if live:
            for statement in _mirror_sql():
                _run(statement)
    # Rows written from here on reach the new table through the trigger: the copy stops at the
    # last id there is now (creating the trigger waited for every write under way).
    [(total, last_id)] = _run(
        f"SELECT COUNT(*), (SELECT id FROM {TABLE} ORDER BY id DESC LIMIT 1) FROM {TABLE}"
    )
    copied, after, cols = 0, None, columns()
    while last_id is not None:
        with transaction.atomic():
            where = "WHERE id <= %s" if after is None else "WHERE id > %s AND id <= %s"
            params = [last_id] if after is None else [after, last_id]
            rows = _run(
                f"WITH batch AS (SELECT * FROM {TABLE} {where} ORDER BY id LIMIT {int(chunk)} "
                f"FOR SHARE), ins AS (INSERT INTO {NEW} ({cols}) SELECT {cols} FROM batch "
                f"ON CONFLICT (id, occurred_at) DO NOTHING) "
                "SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1), COUNT(*) FROM batch",
                params,
            )
        last, count = rows[0]
        if not count:
            break
        copied += count
        after = last
        if progress is not None:
            progress(copied, total)
    with transaction.atomic():
        _run(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        if live:
            _run(f"DROP TRIGGER IF EXISTS {MIRROR} ON {TABLE}")
            _run(f"DROP FUNCTION IF EXISTS {MIRROR}()")
        for trigger in ("pricing_usage_enqueue_inserted", "pricing_usage_enqueue_updated"):
            _run(f"DROP TRIGGER IF EXISTS {trigger} ON {TABLE}")
        for index, _ in (*INDEXES, (f"{TABLE}_pkey", None)):
            _run(f"ALTER INDEX IF EXISTS {index} RENAME TO {index}_old")
        _run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        _run(f"ALTER TABLE {NEW} RENAME TO {TABLE}")
        _run(f"ALTER INDEX {NEW}_pkey RENAME TO {TABLE}_pkey")
        _rename_partitions(NEW, TABLE)
        _add_indexes_and_keys()
        install_queue()
    return copied


def _rename_partitions(old_table: str, new_table: str) -> None:
    for (name,) in _run(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        [new_table],
    ):
        if name.startswith(old_table):
            _run(f"ALTER TABLE {name} RENAME TO {new_table}{name[len(old_table) :]}")


def _add_indexes_and_keys() -> None:
    """The usage table's own indexes and foreign keys, on the table that now bears its name."""
    for index, columns in INDEXES:
        _run(f"CREATE INDEX {index} ON {TABLE} {columns}")
    for name, column, target in FOREIGN_KEYS:
        _run(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES {target} DEFERRABLE INITIALLY DEFERRED"
        )


def drop_old() -> bool:
    """Drop the table a conversion left behind (after checking the new one), if any."""
    if not _run("SELECT to_regclass(%s)", [OLD])[0][0]:
        return False
    _run(f"DROP TABLE {OLD}")
    return True


def unconvert() -> None:
    """Back to one plain table (migration 0013's reverse; small tables only)."""
    if not is_partitioned():
        return
    with transaction.atomic():
        for trigger in ("pricing_usage_enqueue_inserted", "pricing_usage_enqueue_updated"):
            _run(f"DROP TRIGGER IF EXISTS {trigger} ON {TABLE}")
        _run(f"CREATE TABLE {NEW} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cols = columns()
        _run(f"INSERT INTO {NEW} ({cols}) SELECT {cols} FROM {TABLE}")
        _run(f"DROP TABLE {TABLE}")
        _run(f"ALTER TABLE {NEW} RENAME TO {TABLE}")
        _run(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)")
        _run(f"ALTER TABLE {TABLE} SET (fillfactor = {FILLFACTOR})")
        _add_indexes_and_keys()
        install_queue()


def timed(fn: Callable, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started
