"""Price models on the simulation, the coverage grid, a customer's prices and the impact
preview: each prices as the engine does, and shows the arithmetic and where a price came from."""

import html as htmllib
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pricing import engine, impact, services
from pricing.models import PriceListItem, PricingRule
from tests import factories

MARCH_1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
TIERS = [{"up_to": "100", "unit_price": "2"}, {"up_to": None, "unit_price": "1.5"}]


@pytest.fixture
def plans(db):
    """STD: graduated GB, 60/60 seconds with a minimum; PROMO derived from it at 0.80, used by
    a rule for the promotion group; a customer in that group."""
    standard = factories.price_list("STD", items={})
    PriceListItem.objects.create(
        price_list=standard, item_code="GB", unit="GB", unit_price=Decimal(2),
        pricing_mode="graduated", tiers=TIERS,
    )  # fmt: skip
    PriceListItem.objects.create(
        price_list=standard, item_code="second", unit="second", unit_price=Decimal("0.01"),
        first_increment=Decimal(60), next_increment=Decimal(60), minimum_charge=Decimal(1),
    )  # fmt: skip
    promo = factories.price_list("PROMO", items={}, base_price_list=standard, factor=Decimal("0.8"))
    group = factories.group("promo")
    customer = factories.customer(name="Acme")
    factories.membership(group, customer, joined_at=datetime(2025, 1, 1, tzinfo=UTC))
    factories.rule("STD-RULE", price_list=standard, priority=10)
    promo_rule = factories.rule("PROMO-RULE", price_list=promo, priority=20, group=group)
    prices = {
        item.item_code: engine.derive(
            item.engine_price(), engine.ListSpec("PROMO", {}, factor=Decimal("0.8")), "STD"
        )
        for item in standard.items.all()
    }
    return {"customer": customer, "group": group, "promo_rule": promo_rule, "prices": prices}


def test_the_simulation_shows_the_winners_arithmetic_and_the_price_source(manager_client, plans):
    response = manager_client.get(
        "/simulate/",
        {"customer": str(plans["customer"].pk), "category": "retail", "item": "GB",
         "at": "2026-03-01T12:00", "quantity": "150"},
    )  # fmt: skip
    page = htmllib.unescape(response.content.decode())
    expected = engine.charge(plans["prices"]["GB"], Decimal(150))
    assert expected.amount == Decimal("220.00")  # 100 x 1.60 + 50 x 1.20
    assert f"How PROMO-RULE works out {expected.amount} CZK" in page
    for step in expected.steps:
        assert f"<li>{step}</li>" in page
    assert "derived: 0.80 x STD GB 2.00" in page


def test_the_coverage_grid_and_customer_prices_describe_price_models(manager_client, plans):
    grid = manager_client.get("/simulate/coverage/", {"date": "2026-03-01", "item-retail": "GB"})
    page = htmllib.unescape(grid.content.decode())
    assert "graduated tiers from 1.6 CZK · derived: 0.80 x STD GB 2.00" in page
    # Coverage prices one unit: the engine's amount for quantity 1 of the winning price.
    cell = next(
        c for row in grid.context["grid"].rows for c in row.cells
        if c.result.rated and c.result.rule.code == "PROMO-RULE"
    )  # fmt: skip
    assert cell.result.amount == engine.charge(plans["prices"]["GB"], Decimal(1)).amount


def test_the_impact_preview_prices_with_the_new_modes(plans):
    """Moving the promotion below the standard rule: every record's before and after are the
    engine's amounts for the two prices (graduated tiers, increments and minimum charges)."""
    customer = plans["customer"]
    quantities = {"GB": ["50", "150", "1000"], "second": ["1", "61", "600"]}
    records = [
        {"customer": customer, "billing_category": "retail", "item_code": code,
         "quantity": Decimal(q), "occurred_at": MARCH_1}
        for code, qs in quantities.items() for q in qs
    ]  # fmt: skip
    services.usage_records_create(records=records)
    rule = plans["promo_rule"]
    draft = impact.RuleDraft(
        rule=rule, priority=5, valid_from=rule.valid_from, valid_to=rule.valid_to,
        is_active=True, price_list=rule.price_list, group=rule.group, customer=None,
    )  # fmt: skip
    report = impact.impact_preview(start=date(2026, 3, 1), end=date(2026, 3, 31), rule=draft)
    standard = {
        item.item_code: item.engine_price()
        for item in PriceListItem.objects.filter(price_list__code="STD")
    }
    before = sum(
        engine.charge(plans["prices"][r["item_code"]], r["quantity"]).amount for r in records
    )
    after = sum(engine.charge(standard[r["item_code"]], r["quantity"]).amount for r in records)
    [total] = report.totals
    assert (total.before, total.after) == (before, after)
    assert PricingRule.objects.get(pk=rule.pk).priority == 20
