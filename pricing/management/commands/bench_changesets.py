"""``python manage.py bench_changesets``: how long a large changeset takes to draft, to
preview (the impact gate) and to publish, and the price book as of an instant.

Everything it creates (a price list, ``--rules`` rules, ``--records`` usage records over the last
30 days, the changeset) is made inside one transaction that is rolled back at the end, so it
can run against any database. Nothing is asserted; it prints the figures.

    python manage.py bench_changesets --rules 500 --records 100000
"""

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from groups.models import Customer
from pricing.changesets import impact
from pricing.changesets import publish as publishing
from pricing.changesets import services as changesets
from pricing.changesets.asof import price_book_as_of
from pricing.clock import billing_today
from pricing.models import PriceList, PriceListItem, PricingRule, UsageRecord


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time drafting, the impact gate and publishing of a large changeset (rolled back)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rules", type=int, default=200)
        parser.add_argument("--records", type=int, default=20_000)
        parser.add_argument("--customers", type=int, default=100)

    def handle(self, *args, rules: int, records: int, customers: int, **options) -> None:
        try:
            with transaction.atomic():
                self._run(rules, records, customers)
                raise _Rollback
        except _Rollback:
            self.stdout.write("(everything created was rolled back)")

    def _time(self, label: str, call):
        start = time.perf_counter()
        result = call()
        self.stdout.write(f"{label}: {time.perf_counter() - start:.2f} s")
        return result

    def _run(self, n_rules: int, n_records: int, n_customers: int) -> None:
        tag = uuid.uuid4().hex[:6]
        price_list = PriceList.objects.create(code=f"BENCH-{tag}", name="Bench", currency="CZK")
        PriceListItem.objects.create(  # .create() writes their history records too
            price_list=price_list, item_code="minute", unit="minute", unit_price=Decimal("1")
        )
        category = f"bench-{tag}"
        rules = bulk_create_with_history(
            [
                PricingRule(
                    code=f"B-{tag}-{n}",
                    name=f"Bench {n}",
                    billing_category=category,
                    price_list=price_list,
                    priority=n,
                    valid_from=billing_today() - timedelta(days=60),
                )
                for n in range(n_rules)
            ],
            PricingRule,
        )
        people = Customer.objects.bulk_create(
            Customer(name=f"Bench {tag} {n}", external_id=f"B-{tag}-{n}")
            for n in range(n_customers)
        )
        start = datetime.combine(billing_today() - timedelta(days=29), datetime.min.time(), UTC)
        step = timedelta(days=29) / max(n_records, 1)
        UsageRecord.objects.bulk_create(
            (
                UsageRecord(
                    customer=people[n % len(people)],
                    billing_category=category,
                    item_code="minute",
                    quantity=Decimal("1"),
                    occurred_at=start + step * n,
                )
                for n in range(n_records)
            ),
            batch_size=5000,
        )
        self.stdout.write(f"{n_rules} rules, {n_records} records, {n_customers} customers")
        changeset = changesets.changeset_create(title=f"Bench {tag}")

        def draft():
            for rule in rules:
                changesets.change_rule(
                    changeset=changeset, action="update", rule=rule, priority=rule.priority + 1
                )
            changesets.change_price_list(
                changeset=changeset,
                action="update",
                price_list=price_list,
                items=[{"item_code": "minute", "unit": "minute", "unit_price": "1.10"}],
            )

        self._time(f"draft {n_rules + 1} changes", draft)
        begin, end = impact.default_window()
        data = self._time(
            "impact gate (re-rate the window twice, findings)",
            lambda: impact.compute(changeset, begin, end),
        )
        report = data["report"]
        self.stdout.write(
            f"  {report['records']} records re-rated, {report['changed']} changed, "
            f"{len(data['findings'])} new findings"
        )
        before = timezone.now()
        self._time(
            f"publish {n_rules + 1} changes in one transaction",
            lambda: publishing.changeset_publish(changeset=changeset),
        )
        book = self._time(
            "price book as of before the publication", lambda: price_book_as_of(before)
        )
        self.stdout.write(f"  {len(book.rules)} rules in force then")
