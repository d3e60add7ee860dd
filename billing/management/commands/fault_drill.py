"""``python manage.py fault_drill``: take PostgreSQL away twice while gunicorn serves requests.

Readers (signed-in pages, a signed-in CSV export and an API list) and a writer (batches of usage
records over the API) run against gunicorn on 127.0.0.1 through two outages:

1. a **restart** (a few seconds: requests wait in the connection pool and are answered after);
2. a **long outage**: the database is stopped for longer than the pool timeout, then started.
   Requests then time out waiting for a connection, including while the session of a signed-in
   page loads in middleware, before any view runs.

The drill passes when every answer is a success or a clean 503 (never a 500, a dropped
connection or an export cut short without saying so), requests succeed again after each outage
without restarting the app, and every stored batch is whole.
"""

import http.client
import json
import os
import shlex
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from rest_framework.authtoken.models import Token

from billing.demo import seed_worked_example
from groups.csvfile import EXPORT_INCOMPLETE
from groups.models import Customer
from pricing.models import UsageRecord

from ._server import gunicorn, session_cookie_for

DEFAULT_CLUSTER = "pg_ctlcluster --skip-systemctl-redirect {version} main {action}"
SUCCESS = (200, 201)
CLEAN = (*SUCCESS, 503)
DROPPED = 0  # no answer, or a body cut without the export's "incomplete" line
CUT_AND_SAID_SO = -1  # an export cut by the outage whose last line says it is incomplete
LONG_OUTAGE_MARGIN = 5.0  # seconds beyond the pool timeout


@dataclass(frozen=True)
class Outage:
    """One way the database goes away: commands run in order, ``hold`` seconds between them."""

    name: str
    commands: tuple[str, ...]
    hold: float = 0.0


@dataclass(frozen=True)
class Window:
    """When an outage ran, in seconds since the drill started."""

    name: str
    started: float
    ended: float


def pool_timeout() -> float:
    """How long a request waits for a pooled connection before giving up (seconds)."""
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
    return float(pool.get("timeout", 30.0) if isinstance(pool, dict) else 30.0)


def outages(*, version: str, restart: str, stop: str, start: str, hold: float) -> list[Outage]:
    """The drill's outages: a restart, then (unless ``hold`` is 0) a stop held for ``hold`` s."""
    restart = restart or DEFAULT_CLUSTER.format(version=version, action="restart")
    planned = [Outage("restart", (restart,))]
    if hold > 0:
        stop = stop or DEFAULT_CLUSTER.format(version=version, action="stop")
        start = start or DEFAULT_CLUSTER.format(version=version, action="start")
        planned.append(Outage("long outage", (stop, start), hold=hold))
    return planned


def run_outage(
    outage: Outage,
    *,
    started: float,
    run: Callable = subprocess.run,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Window:
    """Run an outage's commands (holding between them) and say when it ran."""
    begin = clock() - started
    for index, command in enumerate(outage.commands):
        if index:
            sleep(outage.hold)
        run(shlex.split(command), check=True, timeout=60)
    return Window(outage.name, begin, clock() - started)


def judge(
    timeline: Sequence[tuple[float, str, int]],
    windows: Sequence[Window],
    *,
    stored: int,
    batch: int,
    settle: float = 2.0,
) -> list[str]:
    """The drill's verdict: a list of problems, empty when it passed.

    Every answer must be a success, a 503, or an export that says it is incomplete; each stream
    must answer successfully again after each outage (its last answers before the next outage,
    or the end, all successes); usage records are stored in whole batches only.
    """
    problems = []
    bad = Counter(status for _, _, status in timeline if status not in (*CLEAN, CUT_AND_SAID_SO))
    if bad:
        labels = {DROPPED: "dropped"}
        shown = {labels.get(status, status): n for status, n in bad.items()}
        problems.append(f"{sum(bad.values())} answers were neither success nor 503: {shown}")
    for index, window in enumerate(windows):
        until = windows[index + 1].started if index + 1 < len(windows) else float("inf")
        for stream in sorted({name for _, name, _ in timeline}):
            after = [
                status
                for at, name, status in timeline
                if name == stream and window.ended + settle < at < until
            ]
            if not after or any(status not in SUCCESS for status in after[-5:]):
                problems.append(f"{stream} did not recover after the {window.name}")
    if stored % batch:
        problems.append(f"{stored} records stored: a batch was half-written")
    return problems


class Command(BaseCommand):
    help = "Restart and stop PostgreSQL under load; check requests fail cleanly and recover."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--restart-at", type=float, default=4.0, help="seconds in")
        parser.add_argument(
            "--settle", type=float, default=6.0, help="seconds of normal service between outages"
        )
        parser.add_argument(
            "--long-outage",
            type=float,
            default=None,
            help="seconds the database stays stopped (default: the pool timeout + 5; 0 skips)",
        )
        parser.add_argument("--restart-command", default="", help="restarts the database")
        parser.add_argument("--stop-command", default="", help="stops the database")
        parser.add_argument("--start-command", default="", help="starts the database")
        parser.add_argument("--batch", type=int, default=200, help="usage records per POST")

    def handle(self, *args, restart_at, settle, long_outage, batch, **options):
        if connection.vendor != "postgresql":
            raise CommandError("The fault drill needs DATABASE_URL pointing at PostgreSQL.")
        hold = pool_timeout() + LONG_OUTAGE_MARGIN if long_outage is None else long_outage
        needed = [options["restart_command"]]
        if hold > 0:
            needed += [options["stop_command"], options["start_command"]]
        planned = outages(
            version="" if all(needed) else _pg_version(),
            restart=options["restart_command"],
            stop=options["stop_command"],
            start=options["start_command"],
            hold=hold,
        )
        seed_worked_example()
        token, _ = Token.objects.get_or_create(
            user=get_user_model().objects.get(username="manager")
        )
        cookie = session_cookie_for("manager")
        customer = Customer.objects.get(external_id="CUST-0003")
        before = UsageRecord.objects.count()

        timeline: list[tuple[float, str, int]] = []
        lock = threading.Lock()
        finished = threading.Event()
        started = time.monotonic()
        records = [
            {
                "customer_id": str(customer.pk),
                "billing_category": "retail",
                "item_code": "minute",
                "quantity": "1.5",
                "occurred_at": datetime(2026, 3, 1, 12, tzinfo=UTC).isoformat(),
            }
        ] * batch
        payload = json.dumps(records).encode()

        def loop(name: str, method: str, path: str, headers: dict, body: bytes | None = None):
            while not finished.is_set():
                status = _request(base, method, path, headers, body)
                with lock:
                    timeline.append((time.monotonic() - started, name, status))
                time.sleep(0.05)

        windows: list[Window] = []
        with gunicorn(workers=2, threads=4) as base:
            api = {"Authorization": f"Token {token.key}", "Content-Type": "application/json"}
            signed_in = {"Cookie": cookie}
            streams = [
                ("page", "GET", "/groups/", signed_in),
                ("dashboard", "GET", "/", signed_in),
                ("export", "GET", "/usage/export.csv", signed_in),
                ("api", "GET", "/api/v1/groups", api),
                ("write", "POST", "/api/v1/usage-records", api, payload),
            ]
            threads = [threading.Thread(target=loop, args=stream) for stream in streams]
            for thread in threads:
                thread.start()
            try:
                time.sleep(restart_at)
                for outage in planned:
                    self.stdout.write(
                        f"{time.monotonic() - started:5.1f} s  {outage.name}: "
                        + " … ".join(outage.commands)
                        + (f" (held {outage.hold:.0f} s)" if outage.hold else "")
                    )
                    windows.append(run_outage(outage, started=started))
                    self.stdout.write(f"{time.monotonic() - started:5.1f} s  database is back")
                    time.sleep(settle)
            finally:
                finished.set()
                for thread in threads:
                    thread.join()

        connection.close()
        stored = UsageRecord.objects.count() - before
        self._report(timeline, windows, stored, batch)
        problems = judge(timeline, windows, stored=stored, batch=batch)
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(self.style.SUCCESS("Fault drill passed."))

    def _report(self, timeline, windows: list[Window], stored: int, batch: int) -> None:
        labels = {DROPPED: "dropped", CUT_AND_SAID_SO: "cut+said"}
        counts = Counter((name, status) for _, name, status in timeline)
        self.stdout.write(f"{'stream':<9} {'status':>8} {'count':>6}")
        for (name, status), n in sorted(counts.items()):
            self.stdout.write(f"{name:<9} {labels.get(status, str(status)):>8} {n:>6}")
        for window in windows:
            during = Counter(s for t, _, s in timeline if window.started <= t <= window.ended + 1)
            self.stdout.write(
                f"{window.name}: {window.ended - window.started:.1f} s, "
                f"answers in it: {dict(during)}"
            )
        self.stdout.write(f"usage records stored: {stored} (batches of {batch})")


def _pg_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        raise CommandError(
            "No PostgreSQL cluster under /etc/postgresql; pass --restart-command, "
            "--stop-command and --start-command."
        )
    return versions[-1]


def _request(base: str, method: str, path: str, headers: dict, body: bytes | None) -> int:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        try:
            response.read()
        except http.client.IncompleteRead as cut:
            # A stream cut mid-way is acceptable only when its last line says so.
            return CUT_AND_SAID_SO if EXPORT_INCOMPLETE.encode() in cut.partial else DROPPED
        return response.status
    except (OSError, http.client.HTTPException):
        return DROPPED
    finally:
        conn.close()
