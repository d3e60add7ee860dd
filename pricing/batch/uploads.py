"""Uploads: the records of one CSV file, stored pending in one pass, and read back for its page.

An upload has no table of its own: its records get ids that share one 64-bit prefix (a UUIDv8
layout), so "the records of an upload" is a primary-key range scan and line numbers survive in
the low bits.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Max, Min, Sum

from pricing.batch.sql import USAGE_TABLE, db_key
from pricing.models import UsageRecord, UsageStatus

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


# Every column of a usage record, in the order insert_records writes them.
RECORD_COLUMNS = (
    "id",
    "customer_id",
    "billing_category",
    "item_code",
    "quantity",
    "occurred_at",
    "status",
    "rule_id",
    "rule_code",
    "price_list_id",
    "price_list_code",
    "unit_price",
    "billed_quantity",
    "price_terms_id",  # the breakdown is worked out from these terms when shown
    "amount",
    "currency",
    "rated_at",
    "unrated_reason",
    "created_at",
    "created_by_id",
)
_AMOUNT = UsageRecord._meta.get_field("amount")


def _values(record: UsageRecord) -> tuple:
    return tuple(getattr(record, column) for column in RECORD_COLUMNS)


def insert_records(records: Sequence[UsageRecord]) -> int:
    """Insert unsaved records as they are (rated or not): :func:`insert_rows` of their values."""
    return insert_rows([_values(record) for record in records])


def insert_rows(rows: Sequence[tuple]) -> int:
    """Insert usage records given as rows of their column values in ``RECORD_COLUMNS`` order,
    set-based: ``COPY`` on PostgreSQL, one ``INSERT ... SELECT FROM json_each`` per 5,000 on
    SQLite.

    The storage step of ``POST /api/v1/usage-records``: ``bulk_create`` compiles an
    ``INSERT`` of 20 placeholders per record, which cost more than rating them. Values go
    through the driver's own adaptation (PostgreSQL) or the fields' (SQLite: exact cents for
    amounts, the database's form of UUIDs and instants), so what is read back is what the model
    would have stored.
    """
    columns = ", ".join(RECORD_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {USAGE_TABLE} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return len(rows)
        ops = connection.ops
        instant = ops.adapt_datetimefield_value
        cents = _AMOUNT.get_db_prep_value
        sql = (
            f"INSERT INTO {USAGE_TABLE} ({columns}) SELECT "
            + ", ".join(f"json_extract(value, '$[{n}]')" for n in range(len(RECORD_COLUMNS)))
            + " FROM json_each(%s)"
        )
        for start in range(0, len(rows), 5000):
            values = [
                (
                    pk.hex,
                    db_key(customer),
                    category,
                    item,
                    _text(quantity),
                    instant(occurred_at),
                    status,
                    db_key(rule),
                    rule_code,
                    db_key(price_list),
                    list_code,
                    _text(unit_price),
                    _text(billed),
                    db_key(terms),
                    cents(amount, connection),
                    currency,
                    instant(rated_at),
                    reason,
                    instant(created_at),
                    created_by,
                )
                for (
                    pk,
                    customer,
                    category,
                    item,
                    quantity,
                    occurred_at,
                    status,
                    rule,
                    rule_code,
                    price_list,
                    list_code,
                    unit_price,
                    billed,
                    terms,
                    amount,
                    currency,
                    rated_at,
                    reason,
                    created_at,
                    created_by,
                ) in rows[start : start + 5000]
            ]
            cursor.execute(sql, [json.dumps(values)])
    return len(rows)


def _text(value) -> str | None:
    return None if value is None else str(value)


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
