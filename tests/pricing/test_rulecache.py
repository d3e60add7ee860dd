"""The process's cached rule book: reused while nothing changes, rebuilt as soon as anything does.

``pricing.selectors.evaluate`` reads its rules from :mod:`pricing.rulecache`; every write through
the services must show in the very next rating, on this connection as in other processes.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from groups import services as group_services
from pricing import invalidation, rulecache
from pricing import services as pricing_services
from pricing.engine import Outcome
from pricing.models import PriceList, PricingRule
from pricing.selectors import evaluate
from tests import factories

MARCH = datetime(2026, 3, 1, 12, tzinfo=UTC)
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def rate(customer, *, item: str = "minute", at: datetime = MARCH, quantity: str = "10"):
    return evaluate(
        customer=customer,
        billing_category="retail",
        item_code=item,
        quantity=Decimal(quantity),
        occurred_at=at,
    ).result


def soon() -> datetime:
    """An instant after anything a service does now (memberships close at ``now``)."""
    return timezone.now() + timedelta(minutes=1)


def rule(code: str) -> PricingRule:
    return PricingRule.objects.get(code=code)


def test_a_warm_rating_takes_two_queries_and_a_change_two_more(
    worked_example, django_assert_num_queries
):
    """Stamp + memberships once the book is cached; after a rule changes, rules + prices too."""
    startup = worked_example["startup"]
    rate(startup)
    with django_assert_num_queries(2):
        rate(startup)
    pricing_services.rule_update(rule=rule("STD-2026"), priority=11)
    with django_assert_num_queries(4):
        rate(startup)
    with django_assert_num_queries(2):
        rate(startup)


def test_a_priority_change_through_the_service_changes_the_winner(worked_example):
    startup = worked_example["startup"]
    assert rate(startup).rule.code == "STARTUP-2026"
    pricing_services.rule_update(rule=rule("STD-2026"), priority=60)
    assert rate(startup).rule.code == "STD-2026"


def test_disabling_and_deleting_rules_through_the_services_is_seen(worked_example):
    startup = worked_example["startup"]
    pricing_services.rule_disable(rule=rule("STARTUP-2026"))
    assert rate(startup).rule.code == "STD-2026"
    pricing_services.rule_delete(rule=rule("STD-2026"))
    assert rate(startup).rule.code == "BASE-RETAIL"
    pricing_services.rule_enable(rule=rule("STARTUP-2026"))
    assert rate(startup).rule.code == "STARTUP-2026"


def test_membership_add_and_remove_change_the_answer(worked_example):
    """Memberships are read per rating, never cached."""
    tech_corp, vip = worked_example["tech_corp"], worked_example["vip"]
    assert rate(tech_corp, at=soon()).rule.code == "STD-2026"
    group_services.membership_add(group=vip, customer=tech_corp, at=JAN_1)
    assert rate(tech_corp, at=soon()).rule.code == "VIP-RETAIL-2026"
    group_services.membership_remove(group=vip, customer=tech_corp)
    assert rate(tech_corp, at=soon()).rule.code == "STD-2026"


def test_price_list_item_edits_through_the_services_change_the_price(worked_example):
    startup = worked_example["startup"]
    startup_list = PriceList.objects.get(code="STARTUP-RETAIL-2026")
    item = startup_list.items.get(item_code="minute")
    assert rate(startup).amount == Decimal("8.00")

    pricing_services.price_list_item_save(
        price_list=startup_list, item=item, item_code="minute", unit="minute", unit_price="0.75"
    )
    assert rate(startup).amount == Decimal("7.50")

    pricing_services.price_list_item_delete(item=startup_list.items.get(item_code="minute"))
    result = rate(startup)
    assert result.rule.code == "STD-2026"  # the startup list no longer prices minutes

    pricing_services.price_list_update(
        price_list=startup_list,
        items=[{"item_code": "minute", "unit": "minute", "unit_price": Decimal("0.70")}],
    )
    assert (rate(startup).rule.code, rate(startup).amount) == ("STARTUP-2026", Decimal("7.00"))


def test_a_group_rename_shows_in_the_trace(worked_example):
    """Reasons name the groups the customer is not a member of: a rename must reach them."""
    startup, vip = worked_example["startup"], worked_example["vip"]
    entry = next(e for e in rate(startup).trace if e.rule.code == "VIP-RETAIL-2026")
    assert entry.outcome == Outcome.NOT_A_MEMBER
    assert "VIP Customers" in entry.reason
    group_services.group_update(group=vip, name="Very Important")
    entry = next(e for e in rate(startup).trace if e.rule.code == "VIP-RETAIL-2026")
    assert "Very Important" in entry.reason


def _customer_rule(worked_example) -> PricingRule:
    return factories.rule(
        "DEAL", customer=worked_example["tech_corp"], priority=5, billing_category="retail"
    )


WRITES: dict[str, Callable] = {
    "rule priority": lambda ex: pricing_services.rule_update(rule=rule("STD-2026"), priority=9),
    "rule disabled": lambda ex: pricing_services.rule_disable(rule=rule("STD-2026")),
    "rule deleted": lambda ex: pricing_services.rule_delete(rule=rule("STD-2026")),
    "rule created": lambda ex: pricing_services.rule_create(
        code="NEW",
        name="New",
        billing_category="retail",
        price_list=PriceList.objects.get(code="BASE-RETAIL"),
        priority=3,
    ),
    "price list code": lambda ex: pricing_services.price_list_update(
        price_list=PriceList.objects.get(code="BASE-RETAIL"), code="BASE-2"
    ),
    "price list items replaced": lambda ex: pricing_services.price_list_update(
        price_list=PriceList.objects.get(code="BASE-RETAIL"),
        items=[{"item_code": "minute", "unit": "minute", "unit_price": Decimal("9")}],
    ),
    "item saved": lambda ex: pricing_services.price_list_item_save(
        price_list=PriceList.objects.get(code="BASE-RETAIL"),
        item_code="fax",
        unit="page",
        unit_price=Decimal("1"),
    ),
    "item deleted": lambda ex: pricing_services.price_list_item_delete(
        item=PriceList.objects.get(code="BASE-RETAIL").items.first()
    ),
    "group renamed": lambda ex: group_services.group_update(group=ex["vip"], name="VIP 2"),
    "targeted customer renamed": lambda ex: group_services.customer_update(
        customer=ex["tech_corp"], name="Tech Corp 2"
    ),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_the_stamp_moves_on_every_service_write(worked_example, write):
    """What another process sees: the stamp alone (no signal) detects each kind of change."""
    _customer_rule(worked_example)
    before = invalidation.stamp()
    write(worked_example)
    after = invalidation.stamp()
    assert (after.rules, after.members) != (before.rules, before.members)


def test_a_customer_rename_reaches_the_reasons_of_its_deal(worked_example):
    _customer_rule(worked_example)
    startup = worked_example["startup"]
    entry = next(e for e in rate(startup).trace if e.rule.code == "DEAL")
    assert entry.reason == "Applies only to customer Tech Corp."
    group_services.customer_update(customer=worked_example["tech_corp"], name="Tech Corp 2")
    entry = next(e for e in rate(startup).trace if e.rule.code == "DEAL")
    assert entry.reason == "Applies only to customer Tech Corp 2."


def test_a_book_is_kept_per_database(worked_example, monkeypatch, django_assert_num_queries):
    """A book built on one database is never served for another behind the same alias."""
    startup = worked_example["startup"]
    rate(startup)
    monkeypatch.setitem(connection.settings_dict, "NAME", "another-database")
    with django_assert_num_queries(4):
        rate(startup)


def test_a_book_is_kept_per_billing_time_zone(worked_example, settings, django_assert_num_queries):

    startup = worked_example["startup"]
    rate(startup)
    settings.BILLING_TIME_ZONE = "Pacific/Kiritimati"
    with django_assert_num_queries(4):
        result = rate(startup, at=datetime(2026, 2, 28, 23, tzinfo=UTC))
    assert result.day.isoformat() == "2026-03-01"


def test_a_book_built_inside_a_rolled_back_transaction_is_not_served_after_it(worked_example):
    startup = worked_example["startup"]
    with transaction.atomic():
        pricing_services.rule_update(rule=rule("STD-2026"), priority=60)
        assert rate(startup).rule.code == "STD-2026"  # the writing connection sees its change
        transaction.set_rollback(True)
    assert rate(startup).rule.code == "STARTUP-2026"


def test_bulk_inserted_rules_are_seen_without_history_or_signals(worked_example):
    """Bulk inserts (the demo seed) write no history and send no signal: ``created_at`` shows
    them."""
    startup = worked_example["startup"]
    rate(startup)
    PricingRule.objects.bulk_create(
        [
            PricingRule(
                code="BULK",
                name="Bulk",
                billing_category="retail",
                price_list=PriceList.objects.get(code="BASE-RETAIL"),
                priority=500,
                valid_from=date(2026, 1, 1),
            )
        ]
    )
    assert rate(startup).rule.code == "BULK"


def test_after_a_queryset_update_clear_makes_the_change_seen(worked_example):
    """``QuerySet.update`` bypasses the services and the stamp (the documented blind spot)."""
    startup = worked_example["startup"]
    rate(startup)
    PricingRule.objects.filter(code="STD-2026").update(priority=60)
    rulecache.clear()
    assert rate(startup).rule.code == "STD-2026"
