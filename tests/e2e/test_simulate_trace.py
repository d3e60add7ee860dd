"""Issue 21 item 7: a long trace leads with the winner, folds other groups' rules, and keeps
"Why" readable on a wide screen and on a phone."""

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import SHOTS, shoot, sign_in


def _seed():
    """30 retail rules: 25 for other groups rank above the winner (as the issue saw: row 24)."""
    from billing.demo import seed_worked_example

    seed_worked_example()
    for n in range(25):
        factories.rule(
            f"PROMO-{n:02d}", billing_category="retail", group=factories.group(), priority=200 + n
        )


@pytest.mark.django_db(transaction=True)
def test_the_winner_leads_and_why_stays_readable(live_server, page):
    factories.user("pm", role=PRICING_MANAGERS)
    _seed()
    from groups.models import Customer

    startup = Customer.objects.get(name="Startup XYZ")
    sign_in(page, live_server, "pm")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(
        f"{live_server.url}/simulate/?customer={startup.pk}&category=retail&item=minute"
        "&quantity=1&at=2026-03-01T12:00"
    )
    trace = page.locator("section.trace[data-side=actual]")
    first = trace.locator("table").first.locator("tbody tr").first
    expect(first).to_contain_text("STARTUP-2026")
    expect(first).to_have_class("table-success")
    folded = trace.locator("details[data-folded=groups]")
    expect(folded.locator("summary")).to_have_text("27 rules for groups Startup XYZ is not in")
    expect(folded.locator("tbody tr").first).to_be_hidden()
    why = first.locator("td[data-label=Why]")
    assert why.bounding_box()["width"] >= 300
    shoot(page, "simulate-trace", widths=(1440,))

    page.set_viewport_size({"width": 390, "height": 844})
    box = why.bounding_box()
    assert why.evaluate("e => getComputedStyle(e).display") == "block"
    assert box["width"] >= 250  # the whole width of the phone, not a sliver
    trace.screenshot(path=f"{SHOTS}/simulate-trace-section-390.png", caret="initial")
    folded.locator("summary").click()
    expect(folded.locator("tbody tr").first).to_be_visible()
    shoot(page, "simulate-trace", widths=(390,))
