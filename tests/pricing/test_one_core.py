"""The five disagreements between surfaces that the one rating core removed (issue 15).

Each test failed before the core: the engine and the surface that restated its rule gave two
answers to "which price?".
"""

import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from groups import services as group_services
from pricing import batch, engine, services
from pricing.clock import billing_today
from pricing.models import PricingRule, RuleStatus, UsageRecord, UsageStatus
from pricing.selectors import engine_rules, evaluate
from tests import factories
from tests.api.conftest import Api


@pytest.fixture
def manager_api(manager) -> Api:
    return Api(manager)


def _groups_in_id_order():
    """Two groups whose ids sort the old, wrong way round (OLD's group first)."""
    return factories.group(id=uuid.UUID(int=1)), factories.group(id=uuid.UUID(int=2))


def test_rule_lists_are_in_the_engines_order(db):
    """Equal priority, both group rules: the later valid_from is tried first everywhere."""
    group_a, group_b = _groups_in_id_order()
    # The ids decide nothing: OLD's group and customer ids sort first on purpose.
    factories.rule("OLD", priority=5, group=group_a, valid_from=date(2026, 1, 1))
    factories.rule("NEW", priority=5, group=group_b, valid_from=date(2026, 6, 1))
    factories.rule("b-lower", priority=5, valid_from=date(2026, 6, 1))
    factories.rule("B-upper", priority=5, valid_from=date(2026, 6, 1))
    book = engine.RuleBook(engine_rules())
    engine_order = [rule.code for rule in book.rules_for("retail")]
    assert engine_order == ["NEW", "OLD", "B-upper", "b-lower"]
    listed = list(PricingRule.objects.in_evaluation_order().values_list("code", flat=True))
    assert listed == engine_order


def test_the_rule_list_page_shows_the_engines_order(manager_client):
    group_a, group_b = _groups_in_id_order()
    factories.rule("OLD", priority=5, group=group_a, valid_from=date(2026, 1, 1))
    factories.rule("NEW", priority=5, group=group_b, valid_from=date(2026, 6, 1))
    html = manager_client.get(reverse("pricing:rule_list")).content.decode()
    assert html.index("NEW") < html.index("OLD")


# 23:30 UTC on 3 December is already 4 December in Prague (UTC+1).
LATE_EVENING_UTC = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)


@pytest.fixture
def days_apart(settings, monkeypatch):
    """The server's zone (UTC) and the billing zone (Prague) are on different days."""
    settings.TIME_ZONE = "UTC"
    settings.BILLING_TIME_ZONE = "Europe/Prague"
    monkeypatch.setattr(timezone, "now", lambda: LATE_EVENING_UTC)
    return date(2026, 12, 4)


def test_a_rules_status_is_judged_on_the_billing_day(days_apart, manager_api):
    """A rule that ended on 3 December is expired on the billing day (4 December) everywhere."""
    rule = factories.rule("ENDED", valid_to=date(2026, 12, 3))
    assert billing_today() == days_apart
    assert rule.status == RuleStatus.EXPIRED == rule.status_on(billing_today())
    assert manager_api.get(f"/api/v1/pricing-rules/{rule.pk}").json()["status"] == "expired"


def test_the_dashboards_active_count_matches_the_list_it_links_to(days_apart, manager_client):
    factories.rule("ENDED", valid_to=date(2026, 12, 3))
    factories.rule("STARTS", valid_from=date(2026, 12, 4))
    factories.rule("ALWAYS")
    dashboard = manager_client.get(reverse("dashboard"))
    assert dashboard.context["counts"]["active_rules"] == 2
    listed = manager_client.get(reverse("pricing:rule_list"), {"status": "active"})
    assert [rule.code for rule in listed.context["page"].object_list] == ["STARTS", "ALWAYS"]


def test_batch_rating_names_a_renamed_group_in_new_reasons(db):
    """The batch caches see group edits: a rename reaches the next run's unrated reasons."""
    customer = factories.customer("Acme")  # not a member: the reason names the group to join
    group = factories.group("Gold")
    factories.rule(group=group)
    factories.usage(customer)
    call_command("rate_usage", stdout=io.StringIO(), stderr=io.StringIO())
    assert "Gold" in UsageRecord.objects.get().unrated_reason
    group_services.group_update(group=group, name="Platinum")
    second = factories.usage(customer)
    call_command("rate_usage", stdout=io.StringIO(), stderr=io.StringIO())
    second.refresh_from_db()
    assert "Platinum" in second.unrated_reason
    assert "Gold" not in second.unrated_reason


QUANTITY = Decimal("770019740.624715")
UNIT_PRICE = Decimal("896370.282898")
EXACT = Decimal("690222812740820.37")


def test_amounts_are_exact_when_computed_and_stored(db):
    """Batch rating, the engine and storage agree to the cent on a 15-digit amount."""
    customer = factories.customer()
    factories.rule(price_list=factories.price_list(items={"minute": str(UNIT_PRICE)}))
    record = factories.usage(customer, quantity=QUANTITY)
    assert engine.round_amount(UNIT_PRICE, QUANTITY) == EXACT
    assert (
        evaluate(
            customer=customer,
            billing_category="retail",
            item_code="minute",
            quantity=QUANTITY,
            occurred_at=record.occurred_at,
        ).result.amount
        == EXACT
    )
    services.usage_rate_pending()
    record.refresh_from_db()
    assert (record.status, record.amount) == (UsageStatus.RATED, EXACT)


def test_an_amount_posted_through_the_api_reads_back_exactly(manager_api):
    factories.customer(external_id="BIG")
    factories.rule(price_list=factories.price_list(items={"minute": "99999999.999999"}))
    posted = manager_api.post(
        "/api/v1/usage-records",
        {
            "external_id": "BIG",
            "billing_category": "retail",
            "item_code": "minute",
            "quantity": "123456.789012",
            "occurred_at": "2026-03-01T12:00:00Z",
        },
    )
    assert posted.status_code == 201, posted.content
    assert posted.json()["amount"] == "12345678901199.88"
    record = UsageRecord.objects.get()
    assert record.amount == Decimal("12345678901199.88")
    listed = manager_api.get(f"/api/v1/usage-records/{record.pk}").json()
    assert listed["amount"] == "12345678901199.88"
    assert UsageRecord.objects.filter(amount__gt=Decimal("12345678901199.87")).count() == 1


def test_an_amount_larger_than_storable_is_unrated_with_the_engines_reason(db):
    customer = factories.customer()
    factories.rule("HUGE", price_list=factories.price_list(items={"minute": "999999999"}))
    record = factories.usage(customer, quantity=Decimal("999999999"))
    result = evaluate(
        customer=customer,
        billing_category="retail",
        item_code="minute",
        quantity=record.quantity,
        occurred_at=record.occurred_at,
    ).result
    assert (result.rated, result.too_large) == (False, True)
    services.usage_rate_pending()
    record.refresh_from_db()
    assert record.status == UsageStatus.UNRATED
    assert record.unrated_reason == result.reason
    assert "HUGE" in record.unrated_reason
    assert "split the record" in record.unrated_reason


@override_settings(BILLING_TIME_ZONE="Europe/Prague")
def test_an_instant_without_an_offset_is_the_billing_zones_on_every_surface(manager_api):
    """2026-12-03T23:30 without an offset is the 3rd in Prague for the API as for the upload."""
    factories.customer(external_id="C-1")
    # Only the 4 December rule exists: the 3rd is unrated, the 4th is rated.
    factories.rule("DEC-4", valid_from=date(2026, 12, 4))
    body = {
        "external_id": "C-1",
        "billing_category": "retail",
        "item_code": "minute",
        "quantity": "1",
        "occurred_at": "2026-12-03T23:30:00",
    }
    rated = manager_api.post("/api/v1/rate", body).json()
    assert rated["rated"] is False
    assert "2026-12-03" in rated["reason"]
    text = "customer,category,item,quantity,occurred_at\nC-1,retail,minute,1,2026-12-03T23:30:00\n"
    upload = services.usage_upload(file=io.BytesIO(text.encode()))
    services.usage_rate_pending(batch_key=upload.batch_key)
    [stored] = batch.batch_records(upload.batch_key)
    assert stored.status == UsageStatus.UNRATED, (stored.rule_code, stored.occurred_at)
    assert "2026-12-03" in stored.unrated_reason
    assert stored.occurred_at == datetime(2026, 12, 3, 22, 30, tzinfo=UTC)
