"""``python manage.py rate_usage``: rate every pending usage record, with a progress bar.

Safe to run twice and to run twice at once: each chunk is rated in its own transaction and only
rows still pending are written, so nothing is rated twice; an interrupted run leaves the records
it did not reach pending, and the next run picks them up. A large backlog on PostgreSQL (50,000
records and a tenth of the table or more) is rated by sweeping the table in block ranges, worker
processes taking turns; otherwise chunks come from the queue of pending records (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, an ``IMMEDIATE`` transaction on SQLite). See ``pricing.batch``.

    python manage.py rate_usage                  # everything pending
    python manage.py rate_usage --limit 100000   # at most this many
    python manage.py rate_usage --batch 8f3c...  # one upload only
    python manage.py rate_usage --json           # one JSON line (used by ``bench``)
    python manage.py rate_usage --enqueue        # hand it to the background workers instead
"""

import contextlib
import json
import resource
import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from pricing import batch, services

BAR_WIDTH = 30


def peak_rss_bytes(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident memory of this process, or of its largest worker process with
    ``RUSAGE_CHILDREN`` (0 without workers).

    For this process, Linux's ``VmHWM``: ``ru_maxrss`` survives ``exec``, so a command started by
    a large process (``bench`` after seeding) would report its parent's peak as its own. Forked
    workers report ``ru_maxrss`` (KiB on Linux), which counts the pages they share with us.
    """
    if who == resource.RUSAGE_SELF:
        with contextlib.suppress(OSError, StopIteration, ValueError):
            with open("/proc/self/status") as status:
                line = next(line for line in status if line.startswith("VmHWM:"))
            return int(line.split()[1]) * 1024
    return resource.getrusage(who).ru_maxrss * 1024


class Command(BaseCommand):
    help = "Rate pending usage records in chunks (resumable, never rates a record twice)."
    # Run from a scheduler many times a day: the system checks (URLs, the API schema's views)
    # cost 0.3 s of a 1 s start-up each time and belong to deploys (`manage.py check --deploy`).
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=batch.DEFAULT_CHUNK_SIZE,
            help="records per transaction (default %(default)s)",
        )
        parser.add_argument("--limit", type=int, help="rate at most this many records")
        parser.add_argument(
            "--workers",
            type=int,
            help="processes, each with its own connection (default 2 on PostgreSQL, 1 on SQLite)",
        )
        parser.add_argument("--batch", help="rate only the records of this upload")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument(
            "--json", action="store_true", help="print one JSON line with the figures"
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="start background work that the workers (run_worker) rate, and return",
        )

    def handle(self, *args, **options) -> None:
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        workers = options["workers"] or (2 if connection.vendor == "postgresql" else 1)
        key = options["batch"]
        if key is not None and not batch.is_batch_key(key):
            raise CommandError(f"{key!r} is not an upload key (16 hex digits).")
        if options["enqueue"]:
            self._enqueue(key)
            return
        scope = batch.Scope(batch.batch_id_range(key) if key else None)
        backlog = batch.pending_count(scope)
        total = backlog if options["limit"] is None else min(backlog, options["limit"])
        quiet = options["quiet"] or options["json"]
        if not total and not options["json"]:
            self.stdout.write("Nothing to rate: no pending usage records.")
            return
        started = time.perf_counter()
        bar = None if quiet else ProgressBar(self.stderr._out, total, started)
        rated = services.usage_rate_pending(
            chunk_size=options["chunk_size"],
            limit=options["limit"],
            progress=bar.update if bar else None,
            workers=workers,
            batch_key=key,
            backlog=backlog,
        )
        seconds = time.perf_counter() - started
        if bar:
            bar.finish(rated)
        rate = rated / seconds if seconds else 0.0
        if options["json"]:
            figures = {
                "rated": rated,
                "seconds": round(seconds, 3),
                "records_per_second": round(rate),
                "peak_rss_bytes": peak_rss_bytes(),
                "worker_peak_rss_bytes": peak_rss_bytes(resource.RUSAGE_CHILDREN),
                "workers": workers,
                "chunk_size": options["chunk_size"],
            }
            self.stdout.write(json.dumps(figures))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Rated {rated:,} usage records in {seconds:.1f} s ({rate:,.0f} records/s)."
            )
        )

    def _enqueue(self, key: str | None) -> None:
        """Start the rating as background work (one upload, or the whole backlog)."""
        from pricing.models import Upload

        upload = Upload.objects.filter(batch_key=key).first() if key else None
        if key and upload is None:
            raise CommandError(f"No upload record has the key {key}.")
        if upload is not None:
            services.upload_refresh_counts(upload=upload)
            work = services.upload_rate(upload=upload) if upload.pending else None
        else:
            work = services.usage_rate_backlog_start()
        if work is None:
            self.stdout.write("Nothing to rate: no pending usage records.")
            return
        self.stdout.write(
            self.style.SUCCESS(f"Queued “{work.title}” (work {work.pk}); see /work/{work.pk}/.")
        )


class ProgressBar:
    """A one-line bar redrawn in place on a terminal, a line per 10% otherwise (logs, CI)."""

    def __init__(self, stream, total: int, started: float) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.started = started
        self.tty = getattr(stream, "isatty", lambda: False)()
        self.last_tenth = -1

    def update(self, done: int) -> None:
        share = min(done / self.total, 1.0)
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed else 0.0
        eta = (self.total - done) / rate if rate else 0.0
        filled = int(share * BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} "
            f"{done:,}/{self.total:,} · {rate:,.0f} records/s · ETA {eta:,.0f} s"
        )
        if self.tty:
            self.stream.write(f"\r{line}")
            self.stream.flush()
            return
        tenth = int(share * 10)
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            self.stream.write(line + "\n")
            self.stream.flush()

    def finish(self, done: int) -> None:
        self.update(done)
        if self.tty:
            self.stream.write("\n")
        (self.stream or sys.stderr).flush()
