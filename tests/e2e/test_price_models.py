"""In Chromium: an item's tier rows added and removed in place with the engine's live preview,
a derived price list's chain and provenance, a CSV import's dry run, the winner's arithmetic
in the simulation, and an upload's per-day charts. Screenshots under RATECARD_SHOTS."""

from decimal import Decimal

import pytest

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx

CSV = (
    "item_code,unit,pricing_mode,unit_price,tiers,package_size,first_increment,next_increment,"
    "minimum_charge\n"
    "data,GB,graduated,,10:25.00|100:20.00|:15.00,,,,\n"
    "second,second,per_unit,0.02,,,60,60,1.50\n"
    "SMS,message,package,15,,1000,,,\n"
)


@pytest.fixture
def lists(transactional_db):
    from billing.demo import seed_price_models, seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)
    seed_worked_example()
    seed_price_models()
    from pricing.models import PriceList

    return {pl.code: pl for pl in PriceList.objects.all()}


@pytest.mark.django_db(transaction=True)
def test_tier_rows_change_in_place_and_the_preview_follows(live_server, page, lists):
    sign_in(page, live_server, "pm")
    standard = lists["STD-RETAIL-2026"]
    page.goto(f"{live_server.url}/pricing/price-lists/{standard.pk}/")
    page.get_by_role("link", name="Add an item with its price model").click()
    page.locator("#id_item_code").fill("MB")
    page.locator("#id_unit").fill("MB")
    page.get_by_label("Pricing mode").select_option("graduated")
    wait_for_htmx(page)
    rows = page.locator("#tier-rows tr")
    assert rows.count() == 2  # a tiered mode starts with two rows
    page.get_by_label("Tier 1 up to").fill("100")
    page.get_by_label("Tier 1 price per unit").fill("2.00")
    page.get_by_label("Tier 2 price per unit").fill("1.50")
    page.get_by_role("button", name="Add a tier").click()
    wait_for_htmx(page)
    assert rows.count() == 3
    page.get_by_label("Tier 2 up to").fill("1000")
    page.get_by_label("Tier 3 price per unit").fill("1.00")
    page.get_by_label("Preview quantity").fill("150")
    preview = page.locator("#preview-total")
    preview.get_by_text("150 MB cost 275.00 CZK").wait_for()
    assert "tier 2: 50 x 1.5 = 75" in page.locator("#preview").inner_text()
    shoot(page, "item-price-tiers")
    page.get_by_role("button", name="Remove tier 3").click()
    wait_for_htmx(page)
    assert rows.count() == 2
    page.get_by_label("Tier 2 up to").fill("")
    page.locator("#preview-total").get_by_text("150 MB cost 275.00 CZK").wait_for()
    page.get_by_role("button", name="Add item").click()
    page.wait_for_url(f"{live_server.url}/pricing/price-lists/{standard.pk}/*")
    row = page.locator("tr", has_text="MB")
    assert "graduated tiers from 2 CZK" in row.first.inner_text()


@pytest.mark.django_db(transaction=True)
def test_a_derived_list_shows_its_chain_and_where_prices_come_from(live_server, page, lists):
    from pricing.models import PriceList

    summer = lists["SUMMER-PROMO-2026"]
    PriceList.objects.create(
        code="FLASH-SALE", name="Flash sale", currency="CZK", base_price_list=summer,
        factor=Decimal("0.5"),
    )  # fmt: skip
    flash = PriceList.objects.get(code="FLASH-SALE")
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/pricing/price-lists/{summer.pk}/")
    derivation = page.locator("#derivation")
    assert "depth 1" in derivation.inner_text()
    inherited = page.locator("#inherited")
    inherited.get_by_text("derived: 0.80 x STD-RETAIL-2026 minute 1.20").wait_for()
    shoot(page, "price-list-derived")
    page.goto(f"{live_server.url}/pricing/price-lists/{flash.pk}/")
    assert "depth 2" in page.locator("#derivation").inner_text()
    chain = page.locator("#derivation ol").inner_text()
    assert chain.index("FLASH-SALE") < chain.index("SUMMER-PROMO-2026") < chain.index("STD")
    page.locator("#derivation").get_by_role("link", name="SUMMER-PROMO-2026").click()
    page.wait_for_url(f"{live_server.url}/pricing/price-lists/{summer.pk}/")


@pytest.mark.django_db(transaction=True)
def test_a_csv_import_is_previewed_before_it_is_applied(live_server, page, lists):
    target = factories.price_list("IMPORTED", name="Imported", items={"minute": "1.00"})
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/pricing/price-lists/{target.pk}/")
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": "items.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
    )
    page.get_by_role("button", name="Preview the import").click()
    summary = page.locator("#import-summary")
    summary.wait_for()
    assert "add 3, change 0 and remove 0" in summary.inner_text()
    assert target.items.count() == 1  # a dry run
    shoot(page, "price-list-import-dry-run")
    page.get_by_role("button", name="Apply the import").click()
    page.wait_for_url(f"{live_server.url}/pricing/price-lists/{target.pk}/")
    assert target.items.count() == 4
    assert "per block of 1000" in page.locator("#items").inner_text()
    shoot(page, "price-list-after-import")


@pytest.mark.django_db(transaction=True)
def test_the_simulation_shows_the_winners_arithmetic(live_server, page, lists):
    from groups.models import Customer

    tech = Customer.objects.get(name="Tech Corp")
    sign_in(page, live_server, "pm")
    page.goto(
        f"{live_server.url}/simulate/?customer={tech.pk}&category=retail&item=second"
        "&at=2026-03-01T12:00&quantity=61"
    )
    arithmetic = page.locator(".arithmetic").first
    arithmetic.wait_for()
    text = arithmetic.inner_text()
    assert "billed quantity 120 (quantity 61)" in text
    assert "per unit: 120 x 0.02 = 2.4" in text
    shoot(page, "simulate-arithmetic")
