"""``python manage.py bench_criteria``: refreshing a criteria group over a large data set.

Seeds ``--scale`` customers (``billing.demo.seed_scale``, idempotent), gives half of them a
country, and adds ``--records`` rated usage records over the last 60 days (PostgreSQL: one
``INSERT ... SELECT``; other databases: bulk inserts). Then, for a group whose criteria combine
the three kinds (rated retail amount over the previous calendar month, country, not a member of
another group), it times and prints:

1. the preview (who would join and leave);
2. the first refresh (everybody who qualifies joins);
3. a second refresh (nothing changes: the idempotence check);
4. a raised threshold (a new version) and its refresh (members leave).

Each line gives the seconds, the joins and leaves, and the queries made. Run on an idle machine::

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_criteria DJANGO_DEBUG=1
    python manage.py migrate && python manage.py bench_criteria
"""

import random
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.demo import refresh_planner_statistics, seed_scale
from groups.criteria import refresh
from groups.criteria.models import GroupCriteria
from groups.criteria.services import criteria_save
from groups.models import Customer, CustomerGroup, Membership
from pricing.models import UsageRecord, UsageStatus

GROUP_CODE = "bench-criteria"
MARK = "bench-criteria"  # rule_code of the generated records, so they are generated once


def conditions(threshold: str) -> list[dict]:
    return [
        {
            "kind": "usage",
            "measure": "amount",
            "currency": "CZK",
            "category": "retail",
            "window": "previous_month",
            "op": "gt",
            "threshold": threshold,
        },
        {"kind": "attribute", "field": "country", "op": "in", "value": ["CZ", "SK"]},
        {"kind": "group", "op": "not_in", "group": "scale-00002"},
    ]


class Command(BaseCommand):
    help = "Benchmark refreshing a criteria group (100,000 customers, 1,000,000 rated records)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", type=int, default=100_000, help="customers to seed")
        parser.add_argument("--records", type=int, default=1_000_000, help="rated records")
        parser.add_argument("--threshold", default="30", help="CZK over the previous month")
        parser.add_argument(
            "--show-queries", action="store_true", help="print each step's slowest queries"
        )

    def handle(self, *args, scale: int, records: int, threshold: str, **options) -> None:
        self.show_queries = options["show_queries"]
        self.stdout.write(f"database: {connection.vendor}")
        started = time.perf_counter()
        seed_scale(scale)
        self._countries()
        made = self._records(records)
        refresh_planner_statistics()
        self.stdout.write(
            f"seeded in {time.perf_counter() - started:.1f} s: "
            f"{Customer.objects.count():,} customers, {made:,} rated records generated, "
            f"{UsageRecord.objects.filter(rule_code=MARK).count():,} in all"
        )
        group = self._group()
        spec = refresh.Spec(
            conditions=criteria_save(
                group=group, conditions=conditions(threshold), enabled=True
            ).conditions
        )
        self._timed("preview", lambda: refresh.preview(group, spec).as_dict())
        criteria = GroupCriteria.objects.get(group=group)
        self._timed("refresh 1 (joins)", lambda: refresh.refresh(criteria))
        self._timed("refresh 2 (no change)", lambda: refresh.refresh(criteria))
        raised = str(Decimal(threshold) * 2)
        criteria = criteria_save(group=group, conditions=conditions(raised), enabled=True)
        self._timed(f"refresh 3 (threshold {raised}: leaves)", lambda: refresh.refresh(criteria))
        members = Membership.objects.current().filter(group=group).count()
        self.stdout.write(f"members now: {members:,}")

    def _timed(self, label: str, run) -> None:
        with CaptureQueriesContext(connection) as queries:
            begin = time.perf_counter()
            result = run()
            took = time.perf_counter() - begin
        shown = {k: result[k] for k in ("joined", "left", "joining", "leaving") if k in result}
        self.stdout.write(f"{label:<34} {took:7.2f} s  {len(queries):3d} queries  {shown}")
        if self.show_queries:
            slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:4]
            for query in slowest:
                self.stdout.write(f"    {float(query['time']):6.2f} s  {query['sql'][:150]}")

    def _countries(self) -> None:
        """Half the generated customers in CZ or SK, the rest in DE (once)."""
        scaled = Customer.objects.filter(external_id__startswith="S", country="")
        with transaction.atomic():
            for country, digit in (("CZ", "1"), ("SK", "3"), ("DE", "")):
                chosen = scaled.filter(external_id__endswith=digit) if digit else scaled
                chosen.update(country=country)
            scaled.filter(external_id__regex=r"[05]$").update(country="CZ")

    def _group(self) -> CustomerGroup:
        group = CustomerGroup.objects.filter(code=GROUP_CODE).first()
        if group is None:
            return CustomerGroup.objects.create(name="Bench criteria", code=GROUP_CODE)
        # A fresh start: the timed refreshes begin from an empty group.
        Membership.objects.filter(group=group).delete()
        GroupCriteria.objects.filter(group=group).delete()
        return group

    def _records(self, count: int) -> int:
        """Rated records over the last 60 days (90% in CZK, a quarter retail), generated once."""
        have = UsageRecord.objects.filter(rule_code=MARK).count()
        missing = max(0, count - have)
        if not missing:
            return 0
        now = timezone.now()
        if connection.vendor == "postgresql":
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    WITH c AS (SELECT array_agg(id) AS ids, count(*) AS n FROM groups_customer
                               WHERE external_id LIKE 'S%%')
                    INSERT INTO {UsageRecord._meta.db_table}
                        (id, customer_id, billing_category, item_code, quantity, occurred_at,
                         status, rule_code, price_list_code, unit_price, amount, currency,
                         rated_at, unrated_reason, created_at)
                    SELECT gen_random_uuid(), c.ids[1 + floor(random() * c.n)::int],
                           (ARRAY['retail','wholesale','roaming','iot'])[1 + (g %% 4)],
                           'minute', 10, %s - random() * interval '60 days', 'rated', %s, 'BENCH',
                           1, round((random() * 100)::numeric, 2),
                           CASE WHEN g %% 10 = 0 THEN 'EUR' ELSE 'CZK' END, %s, '', %s
                    FROM c, generate_series(1, %s) AS g
                    """,
                    [now, MARK, now, now, missing],
                )
            return missing
        rng = random.Random(2026)
        ids = list(
            Customer.objects.filter(external_id__startswith="S").values_list("pk", flat=True)
        )
        categories = ["retail", "wholesale", "roaming", "iot"]
        for base in range(0, missing, 20_000):
            rows = [
                UsageRecord(
                    id=uuid.uuid4(),
                    customer_id=rng.choice(ids),
                    billing_category=categories[n % 4],
                    item_code="minute",
                    quantity=Decimal(10),
                    occurred_at=now - timedelta(seconds=rng.randint(0, 60 * 86400)),
                    status=UsageStatus.RATED,
                    rule_code=MARK,
                    price_list_code="BENCH",
                    unit_price=Decimal(1),
                    amount=Decimal(rng.randint(0, 10_000)) / 100,
                    currency="EUR" if n % 10 == 0 else "CZK",
                    rated_at=now,
                )
                for n in range(base, min(base + 20_000, missing))
            ]
            with transaction.atomic():
                UsageRecord.objects.bulk_create(rows)
        return missing
