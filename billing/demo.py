"""Demo and benchmark data: the worked example operators know, and a reproducible large set.

Both are idempotent: the worked example is looked up by its codes before anything is created,
and the scaled set by its external IDs (``S0000001`` ...), so running a seed twice changes nothing.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as Role
from django.db import connection, transaction
from django.utils import timezone

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from groups import services as group_services
from groups.models import Customer, CustomerGroup, Membership
from pricing import batch
from pricing.models import PriceList, PriceListItem, PricingRule, uuid7

DEMO_USERS = (
    # user name, password, role (None = superuser)
    ("manager", "ratecard-manager", PRICING_MANAGERS),
    ("support", "ratecard-support", SUPPORT_STAFF),
    ("admin", "ratecard-admin", None),
)

GROUPS = (
    ("VIP Customers", "vip", "Customers with monthly revenue above 500,000 CZK.", None),
    ("Standard", "standard", "Every paying customer on the standard tariff.", None),
    ("Startup Program", "startup-program", "Young companies in the startup programme.", None),
    ("Summer Promo 2026", "summer-promo-2026", "Cheaper data for the summer.", date(2026, 8, 31)),
)

PRICE_LISTS = (
    # code, name, currency, items (code, unit, price)
    (
        "BASE-RETAIL",
        "Base retail",
        "CZK",
        [("minute", "minute", "1.50"), ("SMS", "message", "0.60"), ("GB", "GB", "30.00")],
    ),
    (
        "STD-RETAIL-2026",
        "Standard retail 2026",
        "CZK",
        [("minute", "minute", "1.20"), ("SMS", "message", "0.50"), ("GB", "GB", "25.00")],
    ),
    (
        "STARTUP-RETAIL-2026",
        "Startup retail 2026",
        "CZK",
        # No SMS price: startups fall back to the standard list for messages.
        [("minute", "minute", "0.80"), ("GB", "GB", "18.00")],
    ),
    (
        "VIP-RETAIL-2026",
        "VIP retail 2026",
        "CZK",
        [("minute", "minute", "0.60"), ("SMS", "message", "0.30"), ("GB", "GB", "15.00")],
    ),
    ("SUMMER-PROMO-2026", "Summer promo 2026", "CZK", [("GB", "GB", "10.00")]),
)

# Price models beyond a unit price (issue 17), added to the lists above by item code: the
# standard list's graduated data plan and its voice billed 60/60 with a minimum charge.
PRICE_MODELS = {
    "STD-RETAIL-2026": [
        {
            "item_code": "data",
            "unit": "GB",
            "unit_price": Decimal("25.00"),
            "pricing_mode": "graduated",
            "tiers": [
                {"up_to": "10", "unit_price": "25.00"},
                {"up_to": "100", "unit_price": "20.00"},
                {"up_to": None, "unit_price": "15.00"},
            ],
        },
        {
            "item_code": "second",
            "unit": "second",
            "unit_price": Decimal("0.02"),
            "first_increment": Decimal(60),
            "next_increment": Decimal(60),
            "minimum_charge": Decimal("1.50"),
        },
    ],
}
# Derived lists: list code -> (base list code, factor, name). The summer promotion is 20% off
# the standard list; its own GB price overrides the derived one.
DERIVED_LISTS = {
    "SUMMER-PROMO-2026": ("STD-RETAIL-2026", Decimal("0.80"), "Summer Promo 2026"),
}

RULES = (
    # code, name, category, price list, group code, priority, valid_from, valid_to
    ("BASE-RETAIL", "Everyone: base retail", "retail", "BASE-RETAIL", None, 0, "2026-01-01", None),
    (
        "STD-2026",
        "Standard retail 2026",
        "retail",
        "STD-RETAIL-2026",
        "standard",
        10,
        "2026-01-01",
        "2026-12-31",
    ),
    (
        "STARTUP-2026",
        "Startup programme 2026",
        "retail",
        "STARTUP-RETAIL-2026",
        "startup-program",
        50,
        "2026-01-01",
        "2026-12-31",
    ),
    (
        "VIP-RETAIL-2026",
        "VIP customers: retail pricing 2026",
        "retail",
        "VIP-RETAIL-2026",
        "vip",
        100,
        "2026-01-01",
        None,
    ),
    (
        "SUMMER-2026",
        "Summer promo 2026: cheaper data",
        "retail",
        "SUMMER-PROMO-2026",
        "summer-promo-2026",
        120,
        "2026-06-01",
        "2026-08-31",
    ),
)

CUSTOMERS = (
    ("End Customer Ltd", "CUST-0001", "billing@endcustomer.example", ["vip"]),
    ("Tech Corp", "CUST-0002", "accounts@techcorp.example", ["standard"]),
    ("Startup XYZ", "CUST-0003", "hello@startupxyz.example", ["standard", "startup-program"]),
)

_FIRST = ("Acme", "Blue", "Nova", "Orbit", "Pixel", "Quantum", "River", "Summit", "Terra", "Vector")
_SECOND = ("Telecom", "Systems", "Labs", "Networks", "Media", "Logistics", "Foods", "Cloud")


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    users: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n


@transaction.atomic
def seed_worked_example() -> SeedReport:
    """The three segments, their rules and a few dozen customers; safe to run again."""
    report = SeedReport()
    User = get_user_model()
    for username, password, role in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, is_staff=role is None, is_superuser=role is None)
            user.set_password(password)
            user.save()
            report.add("users")
        if role is not None:
            user.groups.add(Role.objects.get(name=role))
        report.users.append((username, password, role or "superuser"))

    groups: dict[str, CustomerGroup] = {}
    for name, code, description, expires_on in GROUPS:
        group = CustomerGroup.objects.filter(code=code).first()
        if group is None:
            group = group_services.group_create(
                name=name, code=code, description=description, expires_on=expires_on
            )
            report.add("groups")
        groups[code] = group

    price_lists: dict[str, PriceList] = {}
    for code, name, currency, items in PRICE_LISTS:
        price_list = PriceList.objects.filter(code=code).first()
        if price_list is None:
            price_list = PriceList.objects.create(code=code, name=name, currency=currency)
            PriceListItem.objects.bulk_create(
                PriceListItem(price_list=price_list, item_code=i, unit=u, unit_price=Decimal(p))
                for i, u, p in items
            )
            report.add("price lists")
        price_lists[code] = price_list

    for code, name, category, list_code, group_code, priority, start, end in RULES:
        if not PricingRule.objects.filter(code=code).exists():
            PricingRule.objects.create(
                code=code,
                name=name,
                billing_category=category,
                price_list=price_lists[list_code],
                group=groups[group_code] if group_code else None,
                priority=priority,
                valid_from=date.fromisoformat(start),
                valid_to=date.fromisoformat(end) if end else None,
            )
            report.add("rules")

    joined = datetime(2026, 1, 1, tzinfo=UTC)
    people = list(CUSTOMERS)
    for n in range(4, 46):
        name = f"{_FIRST[n % len(_FIRST)]} {_SECOND[n % len(_SECOND)]} {n}"
        tags = [["standard"], ["vip"], ["standard", "startup-program"], []][n % 4]
        people.append((name, f"CUST-{n:04d}", f"billing{n}@example.com", tags))
    for name, external_id, email, codes in people:
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            customer = Customer.objects.create(name=name, external_id=external_id, email=email)
            report.add("customers")
            for code in codes:
                group_services.membership_add(group=groups[code], customer=customer, at=joined)
                report.add("memberships")
    return report


@transaction.atomic
def seed_price_models() -> SeedReport:
    """The demo's price models on top of the worked example (``seed_demo`` adds them; the
    tests' worked example keeps plain prices): the items of :data:`PRICE_MODELS` and the
    derived lists of :data:`DERIVED_LISTS`, each added once (by code)."""
    report = SeedReport()
    price_lists = {pl.code: pl for pl in PriceList.objects.filter(code__in=_PRICE_MODEL_LISTS)}
    for list_code, items in PRICE_MODELS.items():
        price_list = price_lists[list_code]
        present = set(price_list.items.values_list("item_code", flat=True))
        for item in items:
            if item["item_code"] not in present:
                model = PriceListItem(price_list=price_list, **item)
                model.full_clean(exclude=["price_list"])
                model.save()
                report.add("items with price models")
    for list_code, (base_code, factor, name) in DERIVED_LISTS.items():
        price_list = price_lists[list_code]
        if price_list.base_price_list_id is None:
            price_list.base_price_list = price_lists[base_code]
            price_list.factor = factor
            price_list.name = name
            price_list.save(update_fields=["base_price_list", "factor", "name"])
            report.add("derived lists")
    return report


_PRICE_MODEL_LISTS = {*PRICE_MODELS, *DERIVED_LISTS, *(b for b, _, _ in DERIVED_LISTS.values())}


def _scale_price_model(models: random.Random) -> dict:
    """An item's price model for the benchmark data: about half plain per-unit prices, the rest
    graduated, volume or package prices, some with 60/60 increments or a minimum charge."""
    mode = models.choice(["per_unit", "per_unit", "per_unit", "graduated", "volume", "package"])
    fields: dict = {"pricing_mode": mode}
    if mode in ("graduated", "volume"):
        fields["tiers"] = [
            {"up_to": "10", "unit_price": "0.50"},
            {"up_to": "100", "unit_price": "0.40"},
            {"up_to": None, "unit_price": "0.25"},
        ]
    elif mode == "package":
        fields["package_size"] = Decimal(models.choice([10, 100, 1000]))
    if models.random() < 0.2:
        fields["first_increment"] = fields["next_increment"] = Decimal(60)
    if models.random() < 0.2:
        fields["minimum_charge"] = Decimal("0.10")
    return fields


def _first_tier_prices(lists: list[PriceList]) -> None:
    """A tiered item's unit price is its first tier's (what the pages show)."""
    PriceListItem.objects.filter(
        price_list__in=lists, pricing_mode__in=["graduated", "volume"]
    ).update(unit_price=Decimal("0.50"))


def seed_scale(
    n_customers: int, *, usage: int = 0, seed: int = 2026, n_groups: int | None = None
) -> SeedReport:
    """A reproducible large data set in the benchmark's proportions.

    Per 100 customers: 1 group, 5 rules and 1,000 memberships (10 per customer), so 100,000
    customers give 1,000 groups, 5,000 rules and 1,000,000 memberships; the first group holds
    every customer. ``n_groups`` spreads
    the same memberships over another number of groups (the audit benchmark's 10,000).
    ``usage`` pending records are added for rating benchmarks. Rows are bulk-inserted in chunks.
    """
    report = SeedReport()
    rng = random.Random(seed)
    n_groups = n_groups or max(10, n_customers // 100)
    n_rules = max(20, n_customers // 20)
    if CustomerGroup.objects.filter(code="scale-00001").exists():
        return report  # already seeded at this or another scale

    with transaction.atomic():
        now = timezone.now()
        groups = [
            CustomerGroup(
                name=f"Scale group {g:05d}",
                code=f"scale-{g:05d}",
                description="Generated for benchmarks.",
                created_at=now - timedelta(days=400),
            )
            for g in range(1, n_groups + 1)
        ]
        CustomerGroup.objects.bulk_create(groups, batch_size=2000)
        report.add("groups", len(groups))
        lists = []
        for p in range(1, 21):
            lists.append(PriceList(code=f"SCALE-{p:02d}", name=f"Scale list {p}", currency="EUR"))
        # A mix of price models (issue 17), drawn from their own generator so the rest of the
        # data set stays what it was: lists 17-20 are derived from lists 1-4 at 0.90.
        models = random.Random(seed + 17)
        for p, pl in enumerate(lists[16:]):
            pl.base_price_list, pl.factor = lists[p], Decimal("0.9")
        PriceList.objects.bulk_create(lists)
        PriceListItem.objects.bulk_create(
            PriceListItem(
                price_list=pl,
                item_code=item,
                unit=item,
                unit_price=Decimal(rng.randint(1, 500)) / 100,
                **_scale_price_model(models),
            )
            for pl in lists
            for item in ("minute", "SMS", "GB", "unit")
            if rng.random() > 0.1 or item == "minute"
        )
        _first_tier_prices(lists)
        categories = ["retail", "wholesale", "roaming", "iot"]
        rules = []
        for r in range(1, n_rules + 1):
            target = rng.random()
            rules.append(
                PricingRule(
                    code=f"SCALE-R{r:05d}",
                    name=f"Scale rule {r}",
                    billing_category=categories[r % len(categories)],
                    price_list=lists[r % len(lists)],
                    group=groups[rng.randrange(n_groups)] if target < 0.95 else None,
                    priority=rng.randint(0, 200),
                    valid_from=date(2026, 1, 1) - timedelta(days=rng.randint(0, 365)),
                    valid_to=None if rng.random() < 0.7 else date(2026, 12, 31),
                    is_active=rng.random() > 0.05,
                )
            )
        PricingRule.objects.bulk_create(rules, batch_size=2000)
        report.add("rules", len(rules))

    chunk = 5000
    start_joined = datetime(2025, 1, 1, tzinfo=UTC)
    for base in range(0, n_customers, chunk):
        with transaction.atomic():
            customers = [
                Customer(
                    name=f"{_FIRST[i % 10]} {_SECOND[i % 8]} {i + 1}",
                    external_id=f"S{i + 1:07d}",
                    email=f"c{i + 1}@scale.example",
                )
                for i in range(base, min(base + chunk, n_customers))
            ]
            Customer.objects.bulk_create(customers, batch_size=chunk)
            memberships = []
            for customer in customers:
                # The first group holds every customer (the benchmark's 100,000-member group);
                # the other nine memberships are spread over the rest.
                for g in [0, *rng.sample(range(1, n_groups), min(9, n_groups - 1))]:
                    joined = start_joined + timedelta(minutes=rng.randint(0, 500_000))
                    left = None
                    if g and rng.random() < 0.1:
                        left = joined + timedelta(days=rng.randint(1, 200))
                    memberships.append(
                        Membership(
                            group=groups[g], customer=customer, joined_at=joined, left_at=left
                        )
                    )
            Membership.objects.bulk_create(memberships, batch_size=chunk)
            report.add("customers", len(customers))
            report.add("memberships", len(memberships))

    if usage:
        seed_usage(usage, seed=seed, report=report)
    refresh_planner_statistics()
    return report


def refresh_planner_statistics() -> None:
    """Let the query planner see the bulk-loaded rows (and PostgreSQL its visibility map).

    Without it, counts and joins on freshly loaded tables run as if the tables were empty.
    """
    if connection.vendor == "postgresql":
        # VACUUM cannot run inside a transaction (a test's, say); ANALYZE can.
        statement = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            cursor.execute(statement)
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def seed_usage(count: int, *, seed: int = 2026, report: SeedReport | None = None) -> SeedReport:
    """Add ``count`` pending usage records for the scaled customers.

    Stored through the upload path's bulk insert (COPY on PostgreSQL), in chunks, so a million
    records take seconds rather than minutes; the database queues them for rating.
    """
    report = report or SeedReport()
    rng = random.Random(seed + 1)
    customer_keys = [
        batch.db_key(pk)
        for pk in Customer.objects.filter(external_id__startswith="S").values_list("pk", flat=True)
    ]
    if not customer_keys:
        return report
    categories = ["retail", "wholesale", "roaming", "iot"]
    items = ["minute", "SMS", "GB", "unit"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    chunk = 50_000
    now = timezone.now()
    for base in range(0, count, chunk):
        size = min(chunk, count - base)
        rows = (
            (
                uuid7(),
                rng.choice(customer_keys),
                rng.choice(categories),
                rng.choice(items),
                Decimal(rng.randint(1, 10_000)) / 100,
                start + timedelta(seconds=rng.randint(0, 300 * 86400)),
            )
            for _ in range(size)
        )
        with transaction.atomic():
            batch.insert_pending(rows, created_by_id=None, at=now)
        report.add("usage records", size)
    refresh_planner_statistics()
    return report
