"""Support staff manage a group's members in Chromium without a page reload."""

import re

import pytest
from playwright.sync_api import expect

from billing.roles import SUPPORT_STAFF
from groups.models import CustomerGroup, Membership
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx


def _vip_page(page, live_server):
    """Seed the worked example, sign in as support staff and open "VIP Customers"."""
    from billing.demo import seed_worked_example

    factories.user("agent", role=SUPPORT_STAFF)  # first: recreates the roles the seed needs
    seed_worked_example()
    vip = CustomerGroup.objects.get(code="vip")
    sign_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/groups/{vip.pk}/")
    # A full page load would drop this flag; swaps keep it.
    page.evaluate("window.__sameDocument = true")
    return vip


@pytest.mark.django_db(transaction=True)
def test_support_adds_startup_to_vip_then_removes_and_undoes(live_server, page):
    """Typing shows results, a click adds, the count changes in place; remove, then undo."""
    vip = _vip_page(page, live_server)
    count = page.locator("#member-count")
    expect(count).to_have_text("12")

    page.get_by_label("Add a customer").press_sequentially("Startup", delay=30)
    result = page.locator("#add-results").get_by_role("button", name=re.compile("Startup XYZ"))
    expect(result).to_be_visible()
    result.click()
    wait_for_htmx(page)
    expect(count).to_have_text("13")
    expect(page.locator("#member-table")).to_contain_text("Startup XYZ")
    expect(page.get_by_label("Add a customer")).to_be_focused()
    assert Membership.objects.current().filter(group=vip, customer__name="Startup XYZ").exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove Startup XYZ").click()
    wait_for_htmx(page)
    expect(count).to_have_text("12")
    expect(page.locator("#members")).to_contain_text("Removed “Startup XYZ”")
    assert not Membership.objects.current().filter(group=vip, customer__name="Startup XYZ").exists()

    page.get_by_role("button", name="Undo").click()
    wait_for_htmx(page)
    expect(count).to_have_text("13")
    assert Membership.objects.current().filter(group=vip, customer__name="Startup XYZ").exists()
    # The history shows both periods, and nothing reloaded the page.
    expect(page.locator("#history")).to_contain_text("by agent")
    assert page.evaluate("window.__sameDocument") is True


@pytest.mark.django_db(transaction=True)
def test_enter_in_the_add_box_adds_the_customer_with_that_external_id(live_server, page):
    """Pressing Enter after typing an external ID adds that customer."""
    vip = _vip_page(page, live_server)
    box = page.get_by_label("Add a customer")
    box.fill("CUST-0002")
    box.press("Enter")
    wait_for_htmx(page)
    expect(page.locator("#member-count")).to_have_text("13")
    expect(page.locator("#member-table")).to_contain_text("Tech Corp")
    assert Membership.objects.current().filter(group=vip, customer__name="Tech Corp").exists()


@pytest.mark.django_db(transaction=True)
def test_bulk_paste_with_one_unknown_id_previews_and_applies(live_server, page):
    """Pasting three IDs, one unknown, previews 2 to add and the unknown ID, then applies."""
    vip = _vip_page(page, live_server)
    page.get_by_role("link", name="Bulk add, remove or sync…").click()
    wait_for_htmx(page)
    page.get_by_label("External IDs").fill("CUST-0002\nCUST-0003, NOPE-404")
    page.get_by_role("button", name="Preview").click()
    wait_for_htmx(page)
    counts = page.locator("#bulk-counts")
    expect(counts.locator("[data-count=to-add]")).to_have_text("2")
    expect(counts.locator("[data-count=unknown]")).to_have_text("1")
    expect(page.locator("#bulk-unknown")).to_have_text("NOPE-404")
    assert Membership.objects.current().filter(group=vip).count() == 12  # a dry run

    page.get_by_role("button", name="Apply: add 2").click()
    wait_for_htmx(page)
    expect(page.locator("#bulk-result")).to_contain_text("added 2")
    expect(page.locator("#member-count")).to_have_text("14")
    assert Membership.objects.current().filter(group=vip).count() == 14
    assert page.evaluate("window.__sameDocument") is True
