"""``python manage.py bench_tasks``: rate a backlog through the background workers of each
backend and print the figures.

For each backend (the database, and RQ on Redis when it answers): every usage record is set back
to pending, ``run_worker --processes N`` starts N workers of that backend on a queue of its own,
``rate_usage --enqueue`` hands the backlog to them (split into parts by queue range), and the
clock stops when nothing is pending and every part is finished. Nothing is asserted: the lead
runs it at 1,000,000 records; the test suite runs it at a few hundred.

    python manage.py bench_tasks --records 1000000 --workers 2
    python manage.py bench_tasks --records 5000 --backends db
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from background.models import Work, WorkState
from billing.demo import seed_scale, seed_usage
from pricing import batch
from pricing.management.commands.bench import RESET, TABLE
from pricing.models import PendingUsage, UsageRecord, UsageStatus
from pricing.services import BACKLOG_KEY

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def database_url() -> str:
    """This process's database as a URL, for the worker processes."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise CommandError("Worker processes cannot share an in-memory SQLite database.")
        return f"sqlite:///{name}"
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def redis_answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Rate a backlog with N workers through each background backend and print figures."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--records", type=int, default=1_000_000)
        parser.add_argument("--scale", type=int, default=100_000, help="customers to seed")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--backends", default="db,rq", help="db, rq or both (db,rq)")
        parser.add_argument(
            "--part-size",
            type=int,
            help="records per part (default: a quarter of a worker's share)",
        )
        parser.add_argument("--timeout", type=float, default=3600, help="seconds per backend")

    def handle(self, *args, **options) -> None:
        records, workers = options["records"], max(1, options["workers"])
        part = options["part_size"] or max(1_000, records // (4 * workers))
        self._seed(options["scale"], records)
        rows = []
        for backend in [b.strip() for b in options["backends"].split(",") if b.strip()]:
            if backend not in ("db", "rq"):
                raise CommandError(f"Unknown backend {backend!r}: use db or rq.")
            if backend == "rq" and not redis_answers(settings.REDIS_URL):
                self.stderr.write(f"rq: skipped, Redis does not answer at {settings.REDIS_URL}")
                continue
            rows.append(self._run(backend, records, workers, part, options["timeout"]))
        self.stdout.write(
            f"{'backend':8} {'workers':>7} {'records':>10} {'parts':>5} {'seconds':>8} "
            f"{'records/s':>10} {'first start':>11}"
        )
        for row in rows:
            self.stdout.write(
                f"{row['backend']:8} {row['workers']:>7} {row['records']:>10,} "
                f"{row['parts']:>5} {row['seconds']:>8.2f} {row['rate']:>10,.0f} "
                f"{row['latency']:>10.2f}s"
            )

    def _seed(self, scale: int, records: int) -> None:
        seed_scale(scale)
        if UsageRecord.objects.count() != records:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {PendingUsage._meta.db_table}")
                cursor.execute(f"DELETE FROM {TABLE}")
            seed_usage(records)

    def _environment(self, backend: str, queue: str, part: int) -> dict:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "billing.settings",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE": "0",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "RATECARD_TASKS_BACKEND": backend,
            "RATECARD_WORK_QUEUE": queue,
            "RATECARD_RATING_PART_SIZE": str(part),
            "RATECARD_WORK_HEARTBEAT_SECONDS": "2",
        }
        return env

    def _run(self, backend: str, records: int, workers: int, part: int, timeout: float) -> dict:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(RESET)
        Work.objects.filter(dedupe_key__startswith=BACKLOG_KEY).delete()
        queue = f"bench-{os.getpid()}-{backend}"
        env = self._environment(backend, queue, part)
        pool = subprocess.Popen(
            [
                sys.executable,
                MANAGE,
                "run_worker",
                "--processes",
                str(workers),
                "--no-scheduler",
                "--queue",
                queue,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # the workers log every task
            start_new_session=True,
        )
        try:
            time.sleep(1.5)  # the workers start (Python and Django) before the clock does
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, MANAGE, "rate_usage", "--enqueue"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            first = None
            while True:
                if (
                    first is None
                    and Work.objects.filter(
                        dedupe_key__startswith=BACKLOG_KEY, started_at__isnull=False
                    ).exists()
                ):
                    first = time.perf_counter() - started
                active = Work.objects.active().filter(dedupe_key__startswith=BACKLOG_KEY)
                if not active.exists() and not batch.pending_count():
                    break
                if time.perf_counter() - started > timeout:
                    raise CommandError(f"{backend}: not finished after {timeout:.0f} s")
                time.sleep(0.2)
            seconds = time.perf_counter() - started
        finally:
            os.killpg(pool.pid, signal.SIGTERM)
            try:
                pool.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(pool.pid, signal.SIGKILL)
        failed = Work.objects.filter(dedupe_key__startswith=BACKLOG_KEY, state=WorkState.FAILED)
        if failed.exists():
            raise CommandError(f"{backend}: {failed.first().error}")
        parts = Work.objects.filter(dedupe_key__startswith=BACKLOG_KEY).exclude(parent=None)
        done = UsageRecord.objects.exclude(status=UsageStatus.PENDING).count()
        return {
            "backend": backend,
            "workers": workers,
            "records": done,
            "parts": parts.count() or 1,
            "seconds": seconds,
            "rate": done / seconds if seconds else 0.0,
            "latency": first or 0.0,
        }
