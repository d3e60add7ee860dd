"""Per-database plumbing of batch rating: table names, raw-SQL keys, and PostgreSQL's fast path.

Rows are read as plain tuples, never model instances; customers and groups are keyed by the
text the database returns for a UUID in raw SQL (:func:`db_key`). On PostgreSQL the hot
statements run through psycopg directly (:func:`pg_run`: server-side binding, binary results);
SQLite goes through Django's cursor and these helpers turn its values into what the ORM would
give.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from django.db import connection
from django.db.models.expressions import Col

from groups.models import Membership
from pricing.models import PendingUsage, UsageRecord

USAGE_TABLE = UsageRecord._meta.db_table
QUEUE_TABLE = PendingUsage._meta.db_table
MEMBERSHIP_TABLE = Membership._meta.db_table

# A pending record as rating reads it: (handle, customer_key, category, item, quantity,
# occurred_at, billing day). The handle is stable for the transaction (``ctid`` / ``rowid``), so
# the write-back needs no index lookup.
Row = tuple

# For this transaction only: nested loops by primary key and ctid (the planner cannot know that
# a few thousand ctids beat a scan of the table), no JIT for plans run once, and a commit that
# does not wait for its WAL flush. A crash may forget the last chunks committed, queue deletions
# included: their records are pending again and the next run rates them (never twice).
PG_PLAN = (
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),"
    " set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true),"
    " set_config('synchronous_commit', 'off', true)"
)


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


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes; the ORM makes them aware the same way."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def text_uuids(cursor) -> None:
    """Have psycopg return uuid columns as text on this cursor (cheap to hash, see db_key)."""
    from psycopg.types.string import TextLoader

    cursor.cursor.adapters.register_loader("uuid", TextLoader)


def pg_run(sql: str, params=None, *, fetch: bool = True):
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


def pg_array(values: Iterable[str], *, quote: bool = False) -> str:
    """An array literal built in one join (values must need no escaping beyond quotes)."""
    if quote:
        return '{"' + '","'.join(values) + '"}' if values else "{}"
    return "{" + ",".join(values) + "}"


def sqlite_quantity_converter() -> Callable:
    """The ORM's own converter for ``quantity`` on SQLite (15 significant digits, quantized)."""
    field_ = UsageRecord._meta.get_field("quantity")
    column = Col(USAGE_TABLE, field_)
    convert = connection.ops.get_decimalfield_converter(column)
    return lambda value: convert(value, column, connection)
