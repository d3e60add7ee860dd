"""``python manage.py fault_drill``: restart PostgreSQL while gunicorn serves requests.

Readers (a page and an API list) and a writer (batches of usage records over the API) run
against gunicorn on 127.0.0.1 while the database is restarted. The drill passes when every
answer is a success or a clean 503 (never a 500 or a dropped connection), requests succeed
again after the restart without restarting the app, and every stored batch is whole.
"""

import http.client
import json
import os
import shlex
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from rest_framework.authtoken.models import Token

from billing.demo import seed_worked_example
from groups.models import Customer
from pricing.models import UsageRecord

from ._server import gunicorn, session_cookie_for

DEFAULT_RESTART = "pg_ctlcluster --skip-systemctl-redirect {version} main restart"


class Command(BaseCommand):
    help = "Restart PostgreSQL under load and check that requests fail cleanly and recover."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--duration", type=int, default=20, help="seconds in all (max 120)")
        parser.add_argument("--restart-at", type=float, default=4.0, help="seconds in")
        parser.add_argument(
            "--restart-command",
            default="",
            help="shell command that restarts the database (default: pg_ctlcluster restart)",
        )
        parser.add_argument("--batch", type=int, default=200, help="usage records per POST")

    def handle(
        self, *args, duration: int, restart_at: float, restart_command: str, batch: int, **o
    ):
        if connection.vendor != "postgresql":
            raise CommandError("The fault drill needs DATABASE_URL pointing at PostgreSQL.")
        duration = max(5, min(duration, 120))
        seed_worked_example()
        token, _ = Token.objects.get_or_create(
            user=get_user_model().objects.get(username="manager")
        )
        cookie = session_cookie_for("manager")
        customer = Customer.objects.get(external_id="CUST-0003")
        before = UsageRecord.objects.count()
        restart = restart_command or DEFAULT_RESTART.format(version=_pg_version())

        timeline: list[tuple[float, str, int]] = []
        lock = threading.Lock()
        started = time.monotonic()
        stop = started + duration
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
            while time.monotonic() < stop:
                status = _request(base, method, path, headers, body)
                with lock:
                    timeline.append((time.monotonic() - started, name, status))
                time.sleep(0.05)

        with gunicorn(workers=2, threads=4) as base:
            api = {"Authorization": f"Token {token.key}", "Content-Type": "application/json"}
            threads = [
                threading.Thread(target=loop, args=("page", "GET", "/groups/", {"Cookie": cookie})),
                threading.Thread(target=loop, args=("api", "GET", "/api/v1/groups", api)),
                threading.Thread(
                    target=loop,
                    args=(
                        "write",
                        "POST",
                        "/api/v1/usage-records",
                        api,
                        payload,
                    ),
                ),
            ]
            for thread in threads:
                thread.start()
            time.sleep(restart_at)
            self.stdout.write(f"{time.monotonic() - started:5.1f} s  restarting: {restart}")
            restart_started = time.monotonic() - started
            subprocess.run(shlex.split(restart), check=True, timeout=60)
            restart_done = time.monotonic() - started
            self.stdout.write(f"{restart_done:5.1f} s  database is back")
            for thread in threads:
                thread.join()

        connection.close()
        stored = UsageRecord.objects.count() - before
        counts = Counter((name, status) for _, name, status in timeline)
        self.stdout.write(f"{'stream':<6} {'status':>6} {'count':>6}")
        for (name, status), n in sorted(counts.items()):
            label = "conn" if status == 0 else str(status)
            self.stdout.write(f"{name:<6} {label:>6} {n:>6}")
        during = [s for t, _, s in timeline if restart_started <= t <= restart_done + 1]
        after = [s for t, _, s in timeline if t > restart_done + 2]
        bad = [s for _, _, s in timeline if s not in (200, 201, 503)]
        self.stdout.write(
            f"outage window: {restart_done - restart_started:.1f} s, answers in it: "
            f"{dict(Counter(during))}; after it: {dict(Counter(after))}"
        )
        self.stdout.write(f"usage records stored: {stored} (batches of {batch})")
        problems = []
        if bad:
            problems.append(f"{len(bad)} answers were neither success nor 503: {Counter(bad)}")
        if not after or any(s not in (200, 201) for s in after[-10:]):
            problems.append("requests did not recover after the restart")
        if stored % batch:
            problems.append(f"{stored} records stored: a batch was half-written")
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(self.style.SUCCESS("Fault drill passed."))


def _pg_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"))
    if not versions:
        raise CommandError("No PostgreSQL cluster under /etc/postgresql; pass --restart-command.")
    return versions[-1]


def _request(base: str, method: str, path: str, headers: dict, body: bytes | None) -> int:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()
