"""Issue 21 item 12: panels follow in-page updates (no reload, no stale "never", no "ID: 91")."""

import re

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx


@pytest.mark.django_db(transaction=True)
def test_group_details_and_price_list_history_follow_the_changes(live_server, page):
    factories.user("pm", role=PRICING_MANAGERS)
    group = factories.group("Fresh group")
    factories.customer("Acme Ltd", external_id="C-ACME")
    price_list = factories.price_list("PROMO", name="Promo", items={})
    sign_in(page, live_server, "pm")

    page.goto(f"{live_server.url}/groups/{group.pk}/")
    details = page.locator("#group-details")
    expect(details).to_contain_text("Members changed")
    expect(details.locator("dd").nth(5)).to_have_text("never")
    page.get_by_label("Add a customer").press_sequentially("Acme", delay=20)
    page.locator("#add-results").get_by_role("button", name=re.compile("Acme Ltd")).click()
    wait_for_htmx(page)
    expect(details.locator("dd").nth(5)).not_to_have_text("never")

    page.goto(f"{live_server.url}/pricing/price-lists/{price_list.pk}/")
    history = page.locator("#history")
    expect(history).to_contain_text("Price list: created")
    expect(history).not_to_contain_text("Item SMS")
    page.get_by_label("Item code").fill("SMS")
    page.locator("#items").get_by_role("textbox", name=re.compile(r"^Unit(?! price)")).fill("msg")
    page.get_by_label("Unit price").fill("0.05")
    page.get_by_role("button", name="Add item").click()
    wait_for_htmx(page)
    expect(history).to_contain_text("Item SMS: created")
    expect(history).not_to_contain_text("ID:")
