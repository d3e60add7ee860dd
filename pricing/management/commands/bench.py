"""``python manage.py bench``: batch rating throughput against the database's own floor.

Seeds a reproducible data set (``billing.demo.seed_scale``: ``--scale`` customers, one group per
100, one rule per 20, ten memberships each; ``billing.demo.seed_usage``: ``--records`` usage
records), then in one run:

1. **Floor**: one plain pass that reads every usage record and writes one column
   (``UPDATE pricing_usagerecord SET amount = quantity``), timed, then undone.
2. **Batch**: ``rate_usage`` in a child process (so its peak memory is its own), from all records
   pending to none; records per second, the ratio to the floor, peak resident memory.
3. **Single record**: ``pricing.selectors.evaluate`` on random stored records, and
   ``POST /api/v1/rate`` through the test client (n/a when that URL does not resolve); p50, p99
   and queries per call.
4. **Pages**: ``bench_pages`` on the same data (render time and query count of ``/groups/``,
   the 100,000-member group, ``/customers/``, ``/audit/``, ``/simulate/``); ``--skip-pages``
   leaves them out.

Between phases the table is vacuumed and (PostgreSQL, if allowed) a checkpoint is forced, so
each timed pass starts from the same state. Run on an otherwise idle machine::

    createdb -h 127.0.0.1 -U postgres bench_batch
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_batch DJANGO_DEBUG=1
    python manage.py migrate && python manage.py bench --records 1000000

"""

import contextlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve
from rest_framework.authtoken.models import Token

from billing.demo import seed_scale, seed_usage
from groups.models import Customer
from pricing.models import PendingUsage, UsageRecord, UsageStatus
from pricing.selectors import evaluate

from . import _bench_paths as paths

TABLE = UsageRecord._meta.db_table
RESET = (
    f"UPDATE {TABLE} SET status = 'pending', rule_id = NULL, rule_code = '', "
    "price_list_id = NULL, price_list_code = '', unit_price = NULL, amount = NULL, "
    "currency = '', rated_at = NULL, unrated_reason = '' WHERE status <> 'pending'"
)


class Command(BaseCommand):
    help = "Benchmark batch rating (vs. the database floor) and single-record rating."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", type=int, default=100_000, help="customers to seed")
        parser.add_argument("--records", type=int, default=1_000_000, help="usage records")
        parser.add_argument("--chunk-size", type=int, default=20_000)
        parser.add_argument("--workers", type=int, help="rate_usage --workers (its default)")
        parser.add_argument("--samples", type=int, default=300, help="single-record calls")
        parser.add_argument("--skip-floor", action="store_true")
        parser.add_argument("--skip-batch", action="store_true")
        parser.add_argument(
            "--skip-pages", action="store_true", help="do not run bench_pages on the same data"
        )

    def handle(self, *args, **options) -> None:
        self.rows: list[tuple[str, str]] = []
        self.note(f"database: {connection.vendor} {self._server_version()}")
        self._seed(options["scale"], options["records"])
        count = UsageRecord.objects.count()
        floor = None
        if not options["skip_floor"]:
            floor = self._floor(count)
        if not options["skip_batch"]:
            self._batch(count, floor, options)
        self._single(options["samples"])
        self._print(options)
        if not options["skip_pages"]:
            # The pages at the same scale, on the same data (bench_pages seeds nothing here).
            self.stdout.write("")
            call_command("bench_pages", scale=options["scale"], stdout=self.stdout)

    # --- helpers ------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.stderr.write(text)

    def row(self, name: str, value: str) -> None:
        self.rows.append((name, value))

    @staticmethod
    def _server_version() -> str:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW server_version")
            else:
                cursor.execute("SELECT sqlite_version()")
            return cursor.fetchone()[0]

    def _settle(self) -> None:
        """Same starting state for every timed pass: dead rows vacuumed, a fresh checkpoint."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"VACUUM ANALYZE {TABLE}")
                with contextlib.suppress(DatabaseError):  # needs superuser; fine without
                    cursor.execute("CHECKPOINT")
            else:
                cursor.execute("ANALYZE")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _seed(self, scale: int, records: int) -> None:
        started = time.perf_counter()
        report = seed_scale(scale)
        if report.created:
            self.note(f"seeded {report.created} in {time.perf_counter() - started:.0f} s")
        if UsageRecord.objects.count() != records:
            self.note(f"replacing usage records with {records:,} reproducible ones…")
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {PendingUsage._meta.db_table}")
                cursor.execute(f"DELETE FROM {TABLE}")
            started = time.perf_counter()
            seed_usage(records)
            self.note(f"seeded {records:,} usage records in {time.perf_counter() - started:.0f} s")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(RESET)
        self._settle()
        self.row("customers / groups / memberships", self._sizes())
        self.row("usage records (all pending)", f"{records:,}")

    @staticmethod
    def _sizes() -> str:
        from groups.models import CustomerGroup, Membership
        from pricing.models import PricingRule

        return (
            f"{Customer.objects.count():,} / {CustomerGroup.objects.count():,} / "
            f"{Membership.objects.count():,} (rules {PricingRule.objects.count():,})"
        )

    def _floor(self, count: int) -> float:
        self.note("floor: one UPDATE of every record…")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET amount = quantity")
        seconds = time.perf_counter() - started
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET amount = NULL")
        self._settle()
        self.row(
            "floor: UPDATE … SET amount = quantity",
            f"{seconds:.1f} s = {count / seconds:,.0f} records/s",
        )
        return seconds

    def _batch(self, count: int, floor: float | None, options: dict) -> None:
        self.note("batch: rate_usage in a child process…")
        command = [
            sys.executable,
            "manage.py",
            "rate_usage",
            "--json",
            "--chunk-size",
            str(options["chunk_size"]),
        ]
        if options["workers"]:
            command += ["--workers", str(options["workers"])]
        started = time.perf_counter()
        done = subprocess.run(
            command,
            cwd=settings.BASE_DIR,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        pending = UsageRecord.objects.filter(status=UsageStatus.PENDING).count()
        seconds = figures["seconds"]
        rate = figures["rated"] / seconds if seconds else 0
        self.row(
            f"batch rating ({figures['workers']} worker(s), chunks of {figures['chunk_size']:,})",
            f"{figures['rated']:,} records in {seconds:.1f} s = {rate:,.0f} records/s "
            f"({wall:.1f} s with interpreter start-up)",
        )
        if floor:
            self.row("batch / floor", f"{seconds / floor:.2f}x")
        # Parent plus every worker (ru_maxrss of children is the largest one's peak; pages the
        # forked workers share with the parent are counted in each).
        worker = figures["worker_peak_rss_bytes"]
        total = figures["peak_rss_bytes"] + (figures["workers"] if worker else 0) * worker
        shape = f" (largest worker {worker / 2**20:,.0f} MiB)" if worker else ""
        self.row("batch peak memory (all its processes)", f"{total / 2**20:,.0f} MiB{shape}")
        self.row("left pending after the batch", f"{pending:,} (of {count:,})")

    def _single(self, samples: int) -> None:
        self.note("single-record rating…")
        rng = random.Random(2026)
        ids = list(UsageRecord.objects.values_list("pk", flat=True)[:50_000])
        picked = rng.sample(ids, min(samples, len(ids)))
        records = list(UsageRecord.objects.filter(pk__in=picked).select_related("customer"))
        if not records:
            self.row("single rating", "n/a (no usage records)")
            return
        calls = [
            {
                "customer": r.customer,
                "billing_category": r.billing_category,
                "item_code": r.item_code,
                "quantity": r.quantity,
                "occurred_at": r.occurred_at,
            }
            for r in records
        ]
        for call in calls[:10]:  # warm caches and connections
            evaluate(**call)
        times, queries = [], []
        for call in calls:
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                evaluate(**call)
                times.append(time.perf_counter() - started)
            queries.append(len(captured))
        self.row("single rating via evaluate()", _latency(times, queries))
        self._api(calls)

    def _api(self, calls: list[dict]) -> None:
        try:
            resolve("/api/v1/rate")
        except Resolver404:
            self.row("single rating via POST /api/v1/rate", "n/a (URL does not resolve)")
            return
        User = get_user_model()
        user, _ = User.objects.get_or_create(
            username="bench", defaults={"is_superuser": True, "is_staff": True}
        )
        # Signed in as an integration is: with a token (one query; a session costs two).
        token, _ = Token.objects.get_or_create(user=user)
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token.key}")
        payloads = [
            {
                "customer_id": str(call["customer"].pk),
                "billing_category": call["billing_category"],
                "item_code": call["item_code"],
                "quantity": str(call["quantity"]),
                "occurred_at": call["occurred_at"].isoformat(),
            }
            for call in calls
        ]
        for payload in payloads[:10]:
            client.post("/api/v1/rate", payload, content_type="application/json")
        times, queries, statuses = [], [], set()
        for payload in payloads:
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.post("/api/v1/rate", payload, content_type="application/json")
                times.append(time.perf_counter() - started)
            statuses.add(response.status_code)
            queries.append(len(captured))
        if statuses != {200}:
            self.row("single rating via POST /api/v1/rate", f"n/a (status {sorted(statuses)})")
            return
        self.row("single rating via POST /api/v1/rate", _latency(times, queries))
        self.note("rate ?trace=0, 1,000-record calls, ingestion…")
        self.row("single rating via POST /api/v1/rate?trace=0", paths.single(client, payloads))
        self.row("POST /api/v1/rate?trace=0, 1,000 records a call", paths.many(client, payloads))
        for name, value in paths.ingestion(client, calls, payloads):
            self.row(name, value)

    def _print(self, options: dict) -> None:
        machine = (
            f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
        )
        self.row("machine", machine)
        self.row("bench process peak memory", f"{_rss_mib():,.0f} MiB")
        width = max(len(name) for name, _ in self.rows)
        self.stdout.write(f"{'measure':<{width}} | value")
        self.stdout.write(f"{'-' * width}-+-{'-' * 40}")
        for name, value in self.rows:
            self.stdout.write(f"{name:<{width}} | {value}")


def _latency(times: list[float], queries: list[int]) -> str:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return (
        f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
        f"{statistics.median(queries):.0f} queries per call (n={len(times)})"
    )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
