"""``python manage.py loadtest``: sustained requests per second against gunicorn on loopback.

Runs wrk (Debian package ``wrk``) for a bounded time against the simulate page and a group page
as the demo ``manager`` user (``--target pages``, the default), or against ``POST
/api/v1/rate?trace=0`` with one record per request and a token (``--target rate``), then prints
requests per second, latency and the error rate.
Without wrk, a bounded Python client does the same with threads (slower, noted in the output).
"""

import http.client
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from statistics import quantiles
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token

from billing.demo import seed_worked_example
from groups.models import Customer, CustomerGroup

from ._server import gunicorn, session_cookie_for

User = get_user_model()


class Command(BaseCommand):
    help = "Load-test the simulate page and a group page through gunicorn on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--duration", type=int, default=15, help="seconds per target (max 120)")
        parser.add_argument("--connections", type=int, default=16)
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--threads", type=int, default=4, help="threads per worker")
        parser.add_argument(
            "--target",
            choices=["pages", "rate"],
            default="pages",
            help="the simulate and group pages, or POST /api/v1/rate?trace=0",
        )

    def handle(self, *args, duration: int, connections: int, workers: int, threads: int, **opts):
        duration = max(1, min(duration, 120))
        seed_worked_example()
        customer = Customer.objects.get(external_id="CUST-0003")
        group = CustomerGroup.objects.get(code="vip")
        if opts["target"] == "rate":
            token, _ = Token.objects.get_or_create(user=User.objects.get(username="manager"))
            auth = f"Token {token.key}"
            body = json.dumps(
                {
                    "customer_id": str(customer.pk),
                    "billing_category": "retail",
                    "item_code": "minute",
                    "quantity": "10",
                    "occurred_at": "2026-03-01T12:00:00+01:00",
                }
            )
            targets = {"rate trace=0": Target("/api/v1/rate?trace=0", auth, body)}
        else:
            cookie = session_cookie_for("manager")
            targets = {
                "simulate": Target(
                    f"/simulate/?customer={customer.pk}&category=retail&item=minute"
                    "&quantity=10&at=2026-03-01T12:00",
                    cookie=cookie,
                ),
                "group page": Target(f"/groups/{group.pk}/", cookie=cookie),
            }
        tool = "wrk" if shutil.which("wrk") else "python client"
        self.stdout.write(
            f"Load test: {duration} s per target, {connections} connections, gunicorn "
            f"{workers} workers x {threads} threads, client: {tool}"
        )
        rows = []
        with gunicorn(workers=workers, threads=threads) as base:
            for name, target in targets.items():
                _warm(base, target, 4 * workers)
                run = _wrk if tool == "wrk" else _python_client
                rows.append((name, *run(base, target, duration, connections)))
        self.stdout.write(
            f"{'target':<12} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        )
        for name, total, rps, p50, p99, errors in rows:
            rate = f"{100 * errors / total:.2f}%" if total else "n/a"
            self.stdout.write(
                f"{name:<12} {total:>9} {rps:>8.1f} {p50:>8.1f} {p99:>8.1f} {rate:>7}"
            )


@dataclass(frozen=True)
class Target:
    """A GET with a session cookie, or a JSON POST with an ``Authorization`` header."""

    path: str
    authorization: str = ""
    body: str = ""
    cookie: str = ""

    def headers(self) -> dict[str, str]:
        if self.body:
            return {"Authorization": self.authorization, "Content-Type": "application/json"}
        return {"Cookie": self.cookie}


def _warm(base: str, target: Target, requests: int) -> None:
    """Each worker loads the app and its caches before the clock starts."""
    parts = urlsplit(base + target.path)
    for _ in range(requests):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        method = "POST" if target.body else "GET"
        conn.request(method, target.path, body=target.body or None, headers=target.headers())
        conn.getresponse().read()
        conn.close()


def _wrk(base: str, target: Target, duration: int, connections: int):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in target.headers().items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if target.body:
            script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(target.body)}\n')
            script.flush()
            command += ["-s", script.name]
        out = subprocess.run(
            [*command, base + target.path],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 30,
        ).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return total, rps, _ms(out, "50%"), _ms(out, "99%"), errors


def _ms(out: str, label: str) -> float:
    match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _python_client(base: str, target: Target, duration: int, connections: int):
    parts = urlsplit(base + target.path)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                method = "POST" if target.body else "GET"
                conn.request(method, path, body=target.body or None, headers=target.headers())
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except OSError:
                ok = False
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                errors[0] += not ok

    pool = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    cuts = quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return len(latencies), len(latencies) / duration, cuts[49], cuts[98], errors[0]
