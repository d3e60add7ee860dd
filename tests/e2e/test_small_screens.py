"""Issue 21, "Also": at 390 px the navigation folds behind a button, no page is wider than the
screen (wide tables scroll inside their box, the key column held), and the focus ring shows on
the dark bar."""

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx

PAGES = [
    ("dashboard", "/"),
    ("groups", "/groups/"),
    ("customers", "/customers/"),
    ("rules", "/pricing/rules/"),
    ("price-lists", "/pricing/price-lists/"),
    ("audit", "/audit/?finding=unused"),
    ("usage", "/usage/"),
    ("coverage", "/simulate/coverage/?date=2026-03-01"),
]


@pytest.mark.django_db(transaction=True)
def test_pages_fit_a_phone_and_the_menu_unfolds(live_server, page):
    from billing.demo import seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)
    seed_worked_example()
    sign_in(page, live_server, "pm")
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in PAGES:
        page.goto(f"{live_server.url}{path}")
        wait_for_htmx(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
        shoot(page, f"phone-{name}", widths=(390,))

    page.goto(f"{live_server.url}/groups/")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(page.get_by_role("link", name="Customers", exact=True)).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("link", name="Customers", exact=True)).to_be_visible()
    # The key column of a wide table stays put while the table scrolls.
    first_cell = page.locator(".table-responsive table tbody tr").first.locator(":scope > *").first
    assert first_cell.evaluate("e => getComputedStyle(e).position") == "sticky"
    # htmx is told not to inject its indicator <style> (the CSP would refuse it: a console
    # error on every page), and nothing else writes one.
    assert page.evaluate("document.querySelectorAll('style').length") == 0


@pytest.mark.django_db(transaction=True)
def test_keyboard_focus_is_visible_on_the_dark_bar(live_server, page):
    factories.user("pm", role=PRICING_MANAGERS)
    sign_in(page, live_server, "pm")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/groups/")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement); "
        "return [document.activeElement.textContent.trim(), s.outlineStyle, s.outlineColor]; }"
    )
    assert focused == ["Ratecard", "solid", "rgb(255, 255, 255)"]
