"""Simulate rating in Chromium: the result follows the inputs without a page reload."""

import re

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx


def _seed():
    """The worked example (after a factories.user call: it recreates the roles it needs)."""
    from billing.demo import seed_worked_example
    from groups.models import CustomerGroup

    seed_worked_example()
    # A second category so that changing it changes the result.
    wholesale = factories.price_list("WHOLESALE-2026", items={"minute": "0.40"})
    factories.rule("WHOLESALE-BASE", billing_category="wholesale", price_list=wholesale, priority=0)
    return CustomerGroup.objects.get(code="vip")


@pytest.mark.django_db(transaction=True)
def test_type_a_customer_change_category_then_toggle_a_what_if(live_server, page):
    """Search, pick, change the category and tick a what-if group: the result updates in place."""
    factories.user("pm-e2e", role=PRICING_MANAGERS)
    vip = _seed()
    sign_in(page, live_server, "pm-e2e")
    page.goto(f"{live_server.url}/simulate/")
    page.evaluate("window.__sameDocument = true")  # lost if the page reloads

    page.get_by_label("Date and time").fill("2026-03-01T12:00")
    page.get_by_label("Item code").fill("minute")
    page.get_by_label("Customer", exact=True).first.press_sequentially("startup x", delay=30)
    choice = page.get_by_role("radio", name=re.compile("Startup XYZ"))
    expect(choice).to_be_visible()
    choice.check()
    page.get_by_label("Billing category").select_option("retail")
    wait_for_htmx(page)
    result = page.locator("#sim-result")
    expect(result.locator(".sentence").first).to_have_text(
        "Startup XYZ pays 0.80 CZK per minute under rule STARTUP-2026, priority 50, "
        "as a member of Startup Program."
    )
    expect(result.get_by_role("link", name="STARTUP-2026").first).to_be_visible()

    page.get_by_label("Billing category").select_option("wholesale")
    wait_for_htmx(page)
    expect(result.locator(".sentence").first).to_have_text(
        "Startup XYZ pays 0.40 CZK per minute under rule WHOLESALE-BASE, priority 0, "
        "as everyone's default price."
    )
    assert "category=wholesale" in page.url

    page.get_by_label("Billing category").select_option("retail")
    wait_for_htmx(page)
    page.get_by_role("checkbox", name=re.compile("VIP Customers")).check()
    wait_for_htmx(page)
    expect(result.locator("[data-side=what-if] .sentence")).to_have_text(
        "Startup XYZ would pay 0.60 CZK per minute under rule VIP-RETAIL-2026, priority 100, "
        "as a member of VIP Customers."
    )
    expect(result.locator("#difference")).to_contain_text("\u22120.20 CZK")
    assert f"add={vip.pk}" in page.url
    assert page.evaluate("window.__sameDocument === true")

    # The pushed URL reproduces the simulation when opened afresh.
    page.goto(page.url)
    expect(page.locator("[data-side=what-if] .sentence")).to_contain_text("would pay 0.60 CZK")
    expect(page.get_by_role("radio", name=re.compile("Startup XYZ"))).to_be_checked()


@pytest.mark.django_db(transaction=True)
def test_bad_quantity_shows_a_message_beside_the_field(live_server, page, page_watch):
    """A negative quantity is explained next to the input; fixing it brings the result back."""
    page_watch.allow(422)  # the refusal this test provokes
    factories.user("agent-e2e", role=SUPPORT_STAFF)
    _seed()
    sign_in(page, live_server, "agent-e2e")
    from groups.models import Customer

    startup = Customer.objects.get(name="Startup XYZ")
    page.goto(
        f"{live_server.url}/simulate/?customer={startup.pk}&category=retail&item=minute"
        "&at=2026-03-01T12:00"
    )
    expect(page.locator(".sentence").first).to_contain_text("0.80 CZK per minute")
    page.get_by_label("Quantity").fill("-3")
    wait_for_htmx(page)
    expect(page.locator("#id_quantity-errors")).to_have_text("Quantity must be greater than zero.")
    page.get_by_label("Quantity").fill("3")
    wait_for_htmx(page)
    expect(page.locator("#id_quantity-errors")).to_have_text("")
    expect(page.locator(".amount").first).to_have_text("2.40 CZK")


@pytest.mark.django_db(transaction=True)
def test_coverage_grid_changes_item_in_place(live_server, page):
    factories.user("pm-e2e", role=PRICING_MANAGERS)
    _seed()
    sign_in(page, live_server, "pm-e2e")
    page.goto(f"{live_server.url}/simulate/coverage/?date=2026-03-01")
    grid = page.locator("#coverage-grid")
    expect(grid).to_contain_text("VIP-RETAIL-2026")
    expect(grid).to_contain_text("15.00 CZK")  # GB by default
    page.get_by_label("Item for retail").select_option("minute")
    wait_for_htmx(page)
    expect(grid).to_contain_text("0.60 CZK")
    assert "item-retail=minute" in page.url
