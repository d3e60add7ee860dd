"""``bench``'s phases for the paths an integration calls one event or one batch at a time.

- ``POST /api/v1/rate?trace=0``, one record per call: p50, p99, queries per call.
- ``POST /api/v1/rate?trace=0`` with ``{"records": [...]}`` of 1,000: records per second.
- ``POST /api/v1/usage-records`` with 10,000 records (``Prefer: return=minimal``): stored and
  rated, records per second; beside it the floor, the same rows written unrated by ``COPY``
  (PostgreSQL) or one ``INSERT ... SELECT FROM json_each`` per 5,000 (SQLite), which is
  ``pricing.batch.uploads.insert_pending``, the upload path's storage step.

Every call goes through the whole Django stack in this process (``django.test.Client``): no
network, one process. ``loadtest --target rate`` measures the same endpoint under gunicorn.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pricing.batch.sql import db_key
from pricing.batch.uploads import insert_pending
from pricing.models import PendingUsage, UsageRecord, uuid7

RATE_MANY = 1_000
INGEST = 10_000
JSON = "application/json"


def _percentiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[98]


def single(client: Client, payloads: list[dict]) -> str:
    for payload in payloads[:10]:  # warm caches and the connection
        client.post("/api/v1/rate?trace=0", payload, content_type=JSON)
    times, queries = [], []
    for payload in payloads:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.post("/api/v1/rate?trace=0", payload, content_type=JSON)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:300]
        queries.append(len(captured))
    p50, p99 = _percentiles(times)
    return (
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"{statistics.median(queries):.0f} queries per call (n={len(times)})"
    )


def _per_second(count: int, times: list[float]) -> str:
    """Records per second at the median call, with the range over the calls."""
    return (
        f"{count / statistics.median(times):,.0f} records/s "
        f"(range {count / max(times):,.0f} to {count / min(times):,.0f}"
    )


def _spread(payloads: list[dict], count: int) -> list[dict]:
    """``count`` records cycling through the sampled ones (their customers, items, instants)."""
    return [payloads[n % len(payloads)] for n in range(count)]


def many(client: Client, payloads: list[dict], calls: int = 5) -> str:
    body = {"records": _spread(payloads, RATE_MANY)}
    client.post("/api/v1/rate?trace=0", body, content_type=JSON)  # warm
    times, queries = [], []
    for _ in range(calls):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.post("/api/v1/rate?trace=0", body, content_type=JSON)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:300]
        queries.append(len(captured))
    return (
        f"{_per_second(RATE_MANY, times)}; "
        f"{statistics.median(queries):.0f} queries per call of {RATE_MANY:,}, n={calls})"
    )


def _forget(ids: list) -> None:
    with transaction.atomic():
        PendingUsage.objects.filter(record_id__in=ids).delete()
        UsageRecord.objects.filter(pk__in=ids).delete()


def ingestion(client: Client, calls: list[dict], payloads: list[dict], repeat: int = 3) -> list:
    """Rows for the table: ingestion with rating, the unrated floor, their ratio."""
    records = _spread(payloads, INGEST)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.post(
            "/api/v1/usage-records", records, content_type=JSON, HTTP_PREFER="return=minimal"
        )
        times.append(time.perf_counter() - started)
        assert response.status_code == 201, response.content[:300]
        _forget(response.json()["ids"])
    floors = []
    at = timezone.now()
    rows = [
        (
            db_key(call["customer"].pk),
            call["billing_category"],
            call["item_code"],
            call["quantity"],
            call["occurred_at"],
        )
        for call in _spread(calls, INGEST)
    ]
    for _ in range(repeat):
        fresh = [(uuid7(), *row) for row in rows]
        started = time.perf_counter()
        with transaction.atomic():
            insert_pending(fresh, created_by_id=None, at=at)
        floors.append(time.perf_counter() - started)
        _forget([row[0] for row in fresh])
    ingest, floor = statistics.median(times), statistics.median(floors)
    store = "COPY" if connection.vendor == "postgresql" else "INSERT … json_each"
    return [
        (
            f"POST /api/v1/usage-records ({INGEST:,} per call, rated)",
            f"{_per_second(INGEST, times)}, n={repeat})",
        ),
        (
            f"floor: {store} of the same rows, unrated",
            f"{_per_second(INGEST, floors)}, n={repeat})",
        ),
        ("ingestion / floor", f"{ingest / floor:.2f}x"),
    ]
