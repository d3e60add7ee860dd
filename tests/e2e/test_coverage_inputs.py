"""Issue 21 item 8: the coverage grid's date waits for a whole date, and its page links work."""

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx


@pytest.mark.django_db(transaction=True)
def test_typing_a_date_asks_once_for_the_whole_date_and_next_groups_works(live_server, page):
    """Typed digit by digit, the date used to be submitted at every digit (``date=0002-11-27``
    answered 422). Now only the finished date is asked for; "Next" keeps the inputs and opens
    page 2 (it pointed at ``??page=2``)."""
    factories.user("pm", role=PRICING_MANAGERS)
    from billing.demo import seed_worked_example

    seed_worked_example()
    for n in range(12):
        factories.group(f"Bulk group {n:02d}")
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/simulate/coverage/?date=2026-03-01")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/simulate/coverage/" in r.url else None)

    page.locator("#id_date").click()
    for key in ("ArrowLeft", "ArrowLeft"):  # to the month segment (en-US: mm/dd/yyyy)
        page.keyboard.press(key)
    page.keyboard.type("11272026", delay=60)
    page.wait_for_timeout(1200)
    wait_for_htmx(page)
    assert len(asked) == 1, asked
    assert "date=2026-11-27" in asked[0]
    expect(page.locator("#coverage-grid")).to_contain_text("On 2026-11-27")

    next_link = page.get_by_role("navigation", name="Group pages").get_by_role("link", name="Next")
    href = next_link.get_attribute("href")
    assert href.startswith("?date=2026-11-27")
    assert "??" not in href
    next_link.click()
    wait_for_htmx(page)
    expect(page.locator("#coverage-grid")).to_contain_text("groups 11\N{EN DASH}")
    assert "page=2" in page.url
    shoot(page, "coverage-page-2")
