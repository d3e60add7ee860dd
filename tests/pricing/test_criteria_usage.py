"""Criteria over rated usage (pricing's condition kind), the schedule of refreshes and expiry
in the billing time zone, and rating by instant unaffected by later joins and leaves."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from background.models import Work
from groups.criteria import refresh
from groups.criteria.conditions import validate_conditions
from groups.criteria.services import criteria_save
from groups.models import Membership
from pricing import criteria as pricing_criteria
from pricing.models import UsageStatus
from pricing.services import usage_records_create
from tests import factories as f

PRAGUE = ZoneInfo("Europe/Prague")
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def rated(customer, amount, *, at, currency="CZK", category="retail", item="minute", qty="1"):
    return f.usage(
        customer,
        status=UsageStatus.RATED,
        amount=Decimal(amount),
        unit_price=Decimal(amount),
        currency=currency,
        billing_category=category,
        item_code=item,
        quantity=Decimal(qty),
        occurred_at=at,
        rated_at=at,
    )


def who(group, conditions, now=NOW) -> set[str]:
    spec = refresh.Spec(conditions=validate_conditions(conditions))
    return set(refresh.should_be_members(group, spec, now).values_list("name", flat=True))


def usage(**fields) -> dict:
    return {"kind": "usage", "op": "gt", "window": "previous_month", **fields}


@pytest.fixture
def prague(settings):
    settings.BILLING_TIME_ZONE = "Europe/Prague"


def test_amount_over_previous_month_counts_the_month_in_the_billing_zone(db, prague):
    """February in Prague is [Jan 31 23:00 UTC, Feb 28 23:00 UTC); other currencies, other
    categories and unrated records do not count."""
    big, edge, late, other = (f.customer(n) for n in ("Big", "Edge", "Late", "Other"))
    rated(big, "600", at=datetime(2026, 2, 10, tzinfo=UTC))
    rated(edge, "600", at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC))  # Feb 1 00:00 Prague
    rated(late, "600", at=datetime(2026, 2, 28, 23, 0, tzinfo=UTC))  # Mar 1 00:00 Prague
    rated(other, "600", at=datetime(2026, 2, 10, tzinfo=UTC), currency="EUR")
    rated(other, "600", at=datetime(2026, 2, 10, tzinfo=UTC), category="wholesale")
    f.usage(other, occurred_at=datetime(2026, 2, 10, tzinfo=UTC), quantity=Decimal(900))
    g = f.group("VIP")
    condition = usage(measure="amount", currency="CZK", category="retail", threshold="500")
    assert who(g, [condition]) == {"Big", "Edge"}


def test_amounts_are_totalled_per_customer(db):
    two, one = f.customer("Two records"), f.customer("One record")
    rated(two, "300", at=datetime(2026, 2, 3, tzinfo=UTC))
    rated(two, "300", at=datetime(2026, 2, 4, tzinfo=UTC))
    rated(one, "300", at=datetime(2026, 2, 4, tzinfo=UTC))
    g = f.group("VIP")
    assert who(g, [usage(measure="amount", currency="CZK", threshold="500")]) == {"Two records"}
    assert who(g, [usage(measure="amount", currency="CZK", op="gte", threshold="600")]) == {
        "Two records"
    }


def test_quantity_of_an_item_over_the_last_days(db):
    """The last 7 days are the 7 whole billing days before today."""
    heavy, old, sms = (f.customer(n) for n in ("Heavy", "Old", "SMS only"))
    rated(heavy, "1", at=NOW - timedelta(days=2), qty="120")
    rated(heavy, "1", at=NOW.replace(hour=1), qty="500", item="sms")  # today: not counted
    rated(old, "1", at=datetime(2026, 3, 2, 23, tzinfo=UTC), qty="500")  # before Mar 3
    rated(sms, "1", at=NOW - timedelta(days=2), qty="500", item="sms")
    g = f.group("Heavy users")
    condition = usage(
        measure="quantity", item="minute", window="last_days", days=7, threshold="100"
    )
    assert who(g, [condition]) == {"Heavy"}
    assert pricing_criteria.usage_window(
        criteria_save(group=g, conditions=[condition]).conditions[0], NOW
    ) == (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))


def test_below_a_threshold_includes_customers_without_usage(db):
    small, _none, big = f.customer("Small"), f.customer("No usage"), f.customer("Big")
    rated(small, "10", at=datetime(2026, 2, 5, tzinfo=UTC))
    rated(big, "1000", at=datetime(2026, 2, 5, tzinfo=UTC))
    g = f.group("Low spenders")
    assert who(g, [usage(measure="amount", currency="CZK", op="lt", threshold="100")]) == {
        "Small",
        "No usage",
    }
    assert who(g, [usage(measure="amount", currency="CZK", op="lte", threshold="0")]) == {
        "No usage"
    }
    assert who(g, [usage(measure="amount", currency="CZK", op="lt", threshold="0")]) == set()


def test_spend_tier_refresh_joins_and_leaves_month_by_month(db):
    """Qualifying on February's spend joins in March; not qualifying on March's leaves in April;
    the refresh query count does not depend on the number of customers."""
    customers = [f.customer(f"C{n}") for n in range(5)]
    for c in customers[:3]:
        rated(c, "700", at=datetime(2026, 2, 10, tzinfo=UTC))
    rated(customers[0], "700", at=datetime(2026, 3, 12, tzinfo=UTC))
    g = f.group("VIP")
    criteria = criteria_save(
        group=g,
        enabled=True,
        conditions=[usage(measure="amount", currency="CZK", threshold="500")],
    )
    assert refresh.refresh(criteria, now=NOW)["joined"] == 3
    april = datetime(2026, 4, 2, tzinfo=UTC)
    result = refresh.refresh(criteria, now=april)
    assert (result["joined"], result["left"], result["version"]) == (0, 2, 1)
    assert result["summary"] == "VIP: 0 joined, 2 left (criteria v1)."
    assert set(
        Membership.objects.current().filter(group=g).values_list("customer__name", flat=True)
    ) == {"C0"}


def test_refresh_query_count_does_not_grow(db, django_assert_max_num_queries):
    g = f.group("VIP")
    criteria = criteria_save(
        group=g,
        enabled=True,
        conditions=[
            usage(measure="amount", currency="CZK", threshold="5"),
            {"kind": "attribute", "field": "country", "op": "in", "value": ["CZ", "SK"]},
        ],
    )
    for n in range(40):
        rated(f.customer(f"C{n}", country="CZ"), "10", at=datetime(2026, 2, 10, tzinfo=UTC))
    with django_assert_max_num_queries(14):
        assert refresh.refresh(criteria, now=NOW)["joined"] == 40


def test_past_records_keep_rating_by_instant_after_a_criteria_join(db):
    """A refresh joins at its own instant: usage before it rates without the group's rule,
    usage after it with it, and stored prices of earlier records never change."""
    now = timezone.now()
    joined_at = now - timedelta(days=1)
    customer = f.customer("Spender", country="CZ")
    f.rule(
        "BASE",
        price_list=f.price_list(items={"minute": "1.00"}),
        priority=1,
        valid_from=date(2020, 1, 1),
    )
    g = f.group("VIP")
    f.rule(
        "VIP",
        group=g,
        price_list=f.price_list(items={"minute": "0.50"}),
        priority=100,
        valid_from=date(2020, 1, 1),
    )
    before = usage_records_create(
        records=[
            {
                "customer": customer,
                "billing_category": "retail",
                "item_code": "minute",
                "quantity": Decimal(10),
                "occurred_at": joined_at - timedelta(days=1),
            }
        ]
    )[0]
    assert before.rule_code == "BASE"
    criteria = criteria_save(
        group=g,
        enabled=True,
        conditions=[{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
    )
    refresh.refresh(criteria, now=joined_at)
    late_past, after = usage_records_create(
        records=[
            {
                "customer": customer,
                "billing_category": "retail",
                "item_code": "minute",
                "quantity": Decimal(10),
                "occurred_at": joined_at - timedelta(hours=1),
            },
            {
                "customer": customer,
                "billing_category": "retail",
                "item_code": "minute",
                "quantity": Decimal(10),
                "occurred_at": joined_at + timedelta(hours=1),
            },
        ]
    )
    assert (late_past.rule_code, late_past.amount) == ("BASE", Decimal("10.00"))
    assert (after.rule_code, after.amount) == ("VIP", Decimal("5.00"))
    before.refresh_from_db()
    assert (before.rule_code, before.amount) == ("BASE", Decimal("10.00"))


def test_expiry_ends_memberships_at_the_end_of_the_day_in_the_billing_zone(db, prague):
    """expires_on 1 March in Prague ends at 23:00 UTC: nothing ends a minute before; from then
    on every open membership ends at that instant, recorded as expiry, once."""
    g = f.group("Promo", expires_on=date(2026, 3, 1))
    kept = f.group("Later promo", expires_on=date(2026, 3, 2))
    a, b = f.customer("A"), f.customer("B")
    f.membership(g, a)
    f.membership(g, b)
    f.membership(kept, a)
    end = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert end.astimezone(PRAGUE).hour == 0
    assert pricing_criteria.expire_groups(end - timedelta(minutes=1)) == 0
    assert pricing_criteria.expire_groups(end) == 2
    ended = Membership.objects.filter(group=g)
    assert {(m.left_at, m.left_reason) for m in ended} == {(end, "expiry")}
    assert Membership.objects.current().filter(group=kept).count() == 1
    assert pricing_criteria.expire_groups(end + timedelta(hours=5)) == 0


def test_daily_refresh_starts_each_enabled_group_once_a_billing_day(
    db, prague, django_capture_on_commit_callbacks
):
    enabled, disabled = f.group("On"), f.group("Off")
    criteria_save(group=enabled, enabled=True, conditions=[])
    criteria_save(group=disabled, enabled=False, conditions=[])
    f.customer("Anyone")
    with django_capture_on_commit_callbacks(execute=False):
        assert pricing_criteria.refresh_due() == 1
    work = Work.objects.get()
    assert work.params == {"group_id": str(enabled.pk)}
    refresh.refresh(enabled.criteria)
    assert pricing_criteria.refresh_due() == 0
