"""The group list in Chromium: search as you type, state in the URL, Back, create."""

import re

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx


@pytest.mark.django_db(transaction=True)
def test_search_and_sort_live_in_the_url_and_back_restores_them(live_server, page):
    """Typing narrows the list, a header sorts, Back returns to the previous state whole."""
    from billing.demo import seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)
    seed_worked_example()
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/groups/")
    rows = page.locator("#group-rows tbody tr")
    expect(rows).to_have_count(4)

    page.get_by_label("Search groups").press_sequentially("s", delay=30)
    wait_for_htmx(page)
    expect(page).to_have_url(re.compile(r"q=s"))
    page.get_by_role("link", name="Members").click()
    wait_for_htmx(page)
    expect(page).to_have_url(re.compile(r"sort=members"))
    expect(rows.first).to_contain_text("Summer Promo 2026")  # 0 members first

    page.go_back()
    wait_for_htmx(page)
    expect(page).not_to_have_url(re.compile(r"sort="))
    expect(page.get_by_label("Search groups")).to_have_value("s")
    expect(page.locator("nav.navbar")).to_have_count(1)  # the whole page, not a fragment


@pytest.mark.django_db(transaction=True)
def test_duplicate_name_is_refused_in_place_with_a_link(live_server, page, page_watch):
    """Creating “vip customers” shows the error under the name with a link to the group."""
    page_watch.allow(422)  # the refusal this test provokes
    from billing.demo import seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)
    seed_worked_example()
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/groups/")
    page.get_by_text("Create a group").click()
    page.get_by_label("Name").fill("vip customers")
    page.get_by_label("Description").fill("typed text")
    page.get_by_role("button", name="Create group").click()
    wait_for_htmx(page)
    expect(page.locator("#group-create-form")).to_contain_text("already exists")
    expect(page.get_by_label("Description")).to_have_value("typed text")
    expect(page.get_by_label("Name")).to_be_focused()
    page.get_by_role("link", name="Open “VIP Customers”").click()
    expect(page.get_by_role("heading", name=re.compile("VIP Customers"))).to_be_visible()
