"""``python manage.py run_worker``: the background workers of this host, and the scheduler.

Starts ``--processes`` worker processes of the configured backend (``db_worker`` for the
database backend, an RQ worker for ``RATECARD_TASKS_BACKEND=rq``), restarts any that exits, and
runs the periodic schedule (``background.schedule``) in this process about once a second. Run one
per host; the schedule's slots make each periodic job run once across all of them.

    python manage.py run_worker                   # 2 processes and the scheduler
    python manage.py run_worker --processes 4
    python manage.py run_worker --no-scheduler    # workers only
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from background.schedule import Scheduler

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
RESTART_PAUSE = 2.0  # seconds before a worker that exited is started again


def worker_command(queue: str) -> list[str]:
    """The command line of one worker process for the configured backend."""
    if settings.RATECARD_TASKS_BACKEND == "rq":
        # SimpleWorker runs each job in the worker process itself: no fork of a process holding
        # a database connection pool (whose threads a fork would not carry over).
        return [
            sys.executable,
            MANAGE,
            "rqworker",
            queue,
            "--worker-class",
            "rq.worker.SimpleWorker",
            # django-tasks-rq's job class runs a Django task (django.tasks) as an RQ job.
            "--job-class",
            "django_tasks_rq.Job",
            # Moves deferred jobs (a changeset scheduled for an instant) to the queue when due;
            # RQ lets one scheduler per queue run, whichever worker holds its lock.
            "--with-scheduler",
        ]
    return [
        sys.executable,
        MANAGE,
        "db_worker",
        "--queue-name",
        queue,
        "--interval",
        "0.5",
        "--no-reload",
    ]


class Command(BaseCommand):
    help = "Run this host's background workers and the periodic schedule."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=int, default=2, help="worker processes (2)")
        parser.add_argument(
            "--no-scheduler", action="store_true", help="do not run the periodic schedule here"
        )
        parser.add_argument(
            "--queue", default=settings.RATECARD_WORK_QUEUE, help="queue name (%(default)s)"
        )

    def handle(self, *args, **options) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        command = worker_command(options["queue"])
        count = max(1, options["processes"])
        workers: list[subprocess.Popen | None] = [None] * count
        exited_at = [0.0] * count
        scheduler = None if options["no_scheduler"] else Scheduler()
        self.stdout.write(
            f"Background workers: {count} x {settings.RATECARD_TASKS_BACKEND} backend, "
            f"queue {options['queue']!r}, scheduler {'on' if scheduler else 'off'}."
        )
        try:
            while not self.stopping:
                for n, process in enumerate(workers):
                    if process is not None and process.poll() is None:
                        continue
                    if process is not None:
                        self.stderr.write(f"worker {n} exited ({process.returncode}); restarting")
                        workers[n] = None
                        exited_at[n] = time.monotonic()
                    if time.monotonic() - exited_at[n] >= RESTART_PAUSE:
                        workers[n] = subprocess.Popen(command)
                if scheduler is not None:
                    close_old_connections()
                    scheduler.run_due()
                time.sleep(1)
        finally:
            for process in workers:
                if process is not None and process.poll() is None:
                    process.terminate()
            for process in workers:
                if process is not None:
                    try:
                        process.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        process.kill()

    def _stop(self, signum, frame) -> None:
        self.stopping = True
