"""Issue 21 item 3: highlights show. Bootstrap 5.3 paints table cells from its own variables,
so a custom ``background-color`` on a cell computed to white; the contextual classes do not.
"""

import re

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import background, shoot, sign_in, wait_for_htmx

# Bootstrap 5.3.9's table-danger, table-warning and table-success backgrounds.
DANGER = "rgb(248, 215, 218)"
WARNING = "rgb(255, 243, 205)"
SUCCESS = "rgb(209, 231, 221)"


def _seed():
    from billing.demo import seed_worked_example

    seed_worked_example()
    wholesale = factories.group("Wholesale partners")
    everyone = factories.price_list("W-ALL", items={"minute": "0.40"})
    partner = factories.price_list("W-PARTNERS", items={"minute": "0.30"})
    factories.rule("W-BASE", billing_category="wholesale", price_list=everyone, priority=10)
    factories.rule(
        "W-PARTNER", billing_category="wholesale", price_list=partner, group=wholesale, priority=10
    )
    factories.rule("R-ONLY", billing_category="roaming", group=wholesale, priority=5)
    factories.group("Nobody yet")


@pytest.mark.django_db(transaction=True)
def test_coverage_grid_group_list_and_trace_paint_their_highlights(live_server, page):
    factories.user("pm", role=PRICING_MANAGERS)
    _seed()
    sign_in(page, live_server, "pm")

    page.goto(f"{live_server.url}/simulate/coverage/?date=2026-03-01")
    tie = page.locator("td", has_text="Tie-break over")
    expect(tie).to_have_count(1)
    assert background(tie) == WARNING
    uncovered = page.locator("td", has_text="No rule").first
    assert background(uncovered) == DANGER
    assert background(page.locator("td", has_text="W-BASE").first) not in (WARNING, DANGER)
    # The legend shows the same colours.
    assert background(page.get_by_text("Yellow", exact=True)) == WARNING
    assert background(page.get_by_text("Red", exact=True)) == DANGER
    shoot(page, "coverage")

    page.goto(f"{live_server.url}/groups/?q=nobody")
    row = page.get_by_role("row", name=re.compile("Nobody yet"))
    cells = row.locator("td.text-end")
    assert background(cells.nth(0)) == WARNING  # no member
    assert background(cells.nth(1)) == WARNING  # no rule

    page.goto(
        f"{live_server.url}/simulate/?customer=&category=retail&item=minute&at=2026-03-01T12:00"
    )
    page.get_by_label("Customer", exact=True).first.press_sequentially("Tech Corp", delay=20)
    page.get_by_role("radio", name=re.compile("Tech Corp")).check()
    wait_for_htmx(page)
    won = page.locator("#sim-result tr.table-success").first
    expect(won).to_be_visible()
    assert background(won.locator("td").first) == SUCCESS
