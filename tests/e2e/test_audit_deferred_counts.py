"""The audit's costly summary counts fill in after the page shows, in Chromium."""

import pytest
from playwright.sync_api import expect

from billing.roles import SUPPORT_STAFF
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx


@pytest.mark.django_db(transaction=True)
def test_the_costly_counts_fill_in_after_the_page(live_server, page):
    """Ties, hidden and shadowed rules and customers in no group are counted after the page
    shows; their badges then hold the numbers and open their lists."""
    factories.user("agent", role=SUPPORT_STAFF)
    group = factories.group("Members")
    factories.membership(group, factories.customer())
    factories.rule("TIE-A", group=group, priority=5)
    factories.rule("TIE-B", group=group, priority=5)
    factories.customer("Lonely Ltd")
    sign_in(page, live_server, "agent")

    page.goto(f"{live_server.url}/audit/")
    # Each placeholder fetches its count once htmx has loaded; the assertion waits for it.
    expect(page.locator("#count-tie")).to_have_text("2")
    expect(page.locator("#count-no_group")).to_have_text("1")
    expect(page.locator("#count-hidden")).to_have_text("0")
    expect(page.locator("#count-shadowed")).to_have_text("0")
    wait_for_htmx(page)
    page.get_by_role("navigation", name="Findings").get_by_role("link", name="Ties").click()
    wait_for_htmx(page)
    assert "TIE-A" in page.locator("#audit-panel").inner_text()
