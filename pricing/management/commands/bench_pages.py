"""``python manage.py bench_pages [--scale N] [--groups G] [--runs R]``: page render benchmark.

Seeds the scaled data set when it is not there yet (``billing.demo.seed_scale(N)``: N customers,
N/100 groups, N/20 rules, 10 memberships per customer; ``--groups`` spreads the same memberships
over G groups instead), then renders the main list pages through ``django.test.Client`` as a
superuser and prints the median render time and the query count of each. Pages that do not exist
yet print "n/a". Paths starting with ``hx:`` are sent as htmx requests: the audit's summary
counts that its page loads after the first response are measured that way, one by one.

Figures are wall-clock times of the whole request (middleware, view, template) in this process;
run it on an otherwise idle machine, with ``DJANGO_DEBUG=1`` and a file database, e.g.::

    DJANGO_DEBUG=1 DATABASE_URL=sqlite:////tmp/bench.sqlite3 python manage.py migrate
    DJANGO_DEBUG=1 DATABASE_URL=sqlite:////tmp/bench.sqlite3 \\
        python manage.py bench_pages --scale 100000 --groups 10000
"""

import statistics
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve

from billing.demo import seed_scale
from groups.models import Customer, CustomerGroup, Membership
from pricing.models import PricingRule

BENCH_USER = "bench-admin"
HTMX = "hx:"  # a path starting with it is requested as htmx (HX-Request: true)
MARKER_CODE = "scale-00001"  # the first group seed_scale creates; its presence means "seeded"
_FIRST = ("Acme", "Blue", "Nova", "Orbit", "Pixel", "Quantum", "River", "Summit", "Terra", "Vector")
_SECOND = ("Telecom", "Systems", "Labs", "Networks", "Media", "Logistics", "Foods", "Cloud")


class Command(BaseCommand):
    help = (
        "Seed the scaled data set if missing, then print render time (median) and query count "
        "of /groups/, /groups/<largest>/, /customers/, /audit/ (and its deferred counts) and "
        "/simulate/."
    )

    pages = (
        ("/groups/", "groups list"),
        ("/groups/{largest}/", "largest group"),
        ("/customers/", "customers list"),
        ("/customers/?q=acme", "customer search"),
        ("/audit/", "audit"),
        # The audit's deferred summary counts, which the page fetches with htmx once shown.
        (f"{HTMX}/audit/?count=no_group", "audit: customers in no group (count)"),
        (f"{HTMX}/audit/?count=tie", "audit: ties (count)"),
        ("/audit/?finding=tie", "audit: the ties list"),
        ("/audit/?finding=no_group", "audit: the customers-in-no-group list"),
        ("/simulate/", "simulate"),
        ("/simulate/?customer={member}&category=retail", "a simulation for a group member"),
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", type=int, default=100_000, metavar="N", help="customers (default 100000)"
        )
        parser.add_argument(
            "--groups",
            type=int,
            default=None,
            metavar="G",
            help="groups to spread the memberships over (default N/100, as seed_scale)",
        )
        parser.add_argument(
            "--runs", type=int, default=5, metavar="R", help="timed renders per page (median)"
        )
        parser.add_argument(
            "--show-queries",
            action="store_true",
            help="also print each page's queries, slowest first, from the counted run",
        )
        parser.add_argument(
            "--page",
            action="append",
            default=None,
            metavar="PATH",
            help="benchmark only this path (repeatable), e.g. --page /audit/?finding=tie; "
            f"prefix {HTMX} to send it as an htmx request",
        )

    def handle(
        self, *args, scale: int, groups: int | None, runs: int, page, show_queries: bool, **options
    ) -> None:
        if scale < 1 or runs < 1 or (groups is not None and groups < 1):
            self.stderr.write("--scale, --groups and --runs must be positive.")
            raise SystemExit(2)
        self._seed(scale, groups)
        self._describe_data()
        client = Client()
        client.force_login(self._bench_user())
        largest = self._largest_group_id()
        member = self._member_of(largest)
        paths = page or [path for path, _ in self.pages]
        self.stdout.write(f"\n{'page':<46} {'median ms':>10} {'min ms':>8} {'queries':>8}")
        for template in paths:
            path = template.format(largest=largest, member=member)
            self.stdout.write(self._bench(client, path, runs, show_queries))

    # --- data ----------------------------------------------------------------------------------

    def _seed(self, scale: int, groups: int | None) -> None:
        if CustomerGroup.objects.filter(code=MARKER_CODE).exists():
            self.stdout.write("Scaled data already present; not seeding (use a fresh database).")
            return
        default_groups = max(10, scale // 100)
        self.stdout.write(
            f"Seeding {scale} customers, {groups or default_groups} groups, "
            f"{max(20, scale // 20)} rules, {10 * scale} memberships ..."
        )
        started = time.perf_counter()
        created = seed_scale(scale, n_groups=groups).created
        took = time.perf_counter() - started
        summary = ", ".join(f"{n} {what}" for what, n in created.items())
        self.stdout.write(f"Seeded {summary} in {took:.0f} s.")
        # Fresh statistics (and, on PostgreSQL, the visibility map that index-only scans need)
        # as autovacuum would provide on a live database some minutes later.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")

    def _describe_data(self) -> None:
        counts = {
            "customers": Customer.objects.count(),
            "groups": CustomerGroup.objects.count(),
            "memberships": Membership.objects.count(),
            "current memberships": Membership.objects.current().count(),
            "rules": PricingRule.objects.count(),
        }
        self.stdout.write(
            f"Database: {connection.vendor}; "
            + ", ".join(f"{n:,} {what}" for what, n in counts.items())
        )

    def _bench_user(self):
        User = get_user_model()
        user = User.objects.filter(username=BENCH_USER).first()
        if user is None:
            user = User.objects.create_superuser(BENCH_USER, password=None)
        return user

    def _largest_group_id(self):
        row = (
            Membership.objects.current()
            .order_by()
            .values("group")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .first()
        )
        return row["group"] if row else None

    def _member_of(self, group_id) -> str:
        """A customer of the group (the first by id), for the simulation page."""
        member = (
            Membership.objects.current()
            .filter(group_id=group_id)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .first()
        )
        return "" if member is None else str(member)

    # --- measuring -----------------------------------------------------------------------------

    def _bench(self, client: Client, path: str, runs: int, show_queries: bool = False) -> str:
        label = path
        headers = {"HTTP_HOST": "localhost"}  # the default "testserver" is not in ALLOWED_HOSTS
        if path.startswith(HTMX):
            path = path.removeprefix(HTMX)
            headers["HTTP_HX_REQUEST"] = "true"
        try:
            resolve(path.split("?", 1)[0])
        except Resolver404:
            return f"{label:<46} {'n/a':>10}"
        response = client.get(path, secure=True, **headers)  # warm-up
        if response.status_code == 404:
            return f"{label:<46} {'n/a':>10}"
        if response.status_code != 200:
            return f"{label:<46} {'HTTP ' + str(response.status_code):>10}"
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(path, secure=True, **headers)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as captured:
            client.get(path, secure=True, **headers)
        line = (
            f"{label:<46} {statistics.median(timings):>10.0f} {min(timings):>8.0f} "
            f"{len(captured.captured_queries):>8}"
        )
        if show_queries:
            slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
            line += "".join(
                f"\n    {float(q['time']) * 1000:8.1f} ms  {q['sql'][:110]}" for q in slowest
            )
        return line
