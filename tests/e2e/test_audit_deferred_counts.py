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

    # Counts in flight at once, as htmx sees them (its own request events).
    page.add_init_script(
        """
        window.countsInFlight = 0; window.mostCountsInFlight = 0; window.countsDone = 0;
        const isCount = (e) => (e.detail.requestConfig.path || "").includes("count=");
        document.addEventListener("htmx:beforeSend", (e) => {
          if (!isCount(e)) return;
          window.countsInFlight += 1;
          window.mostCountsInFlight = Math.max(window.mostCountsInFlight, window.countsInFlight);
        });
        document.addEventListener("htmx:afterRequest", (e) => {
          if (!isCount(e)) return;
          window.countsInFlight -= 1;
          window.countsDone += 1;
        });
        """
    )
    page.goto(f"{live_server.url}/audit/")
    # Each placeholder fetches its count once htmx has loaded; the assertion waits for it.
    expect(page.locator("#count-tie")).to_have_text("2")
    expect(page.locator("#count-no_group")).to_have_text("1")
    expect(page.locator("#count-hidden")).to_have_text("0")
    expect(page.locator("#count-shadowed")).to_have_text("0")
    wait_for_htmx(page)
    # One after another (hx-sync): an open audit page never holds every server worker at once.
    assert page.evaluate("[window.countsDone, window.mostCountsInFlight]") == [4, 1]
    page.get_by_role("navigation", name="Findings").get_by_role("link", name="Ties").click()
    wait_for_htmx(page)
    assert "TIE-A" in page.locator("#audit-panel").inner_text()
