"""Support staff work on customers in Chromium: search, groups in place, CSV import."""

import re

import pytest
from playwright.sync_api import expect

from billing.roles import SUPPORT_STAFF
from groups.models import Customer, Membership
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx
from tests.workers import DB, drain


def _signed_in_with_demo_data(page, live_server) -> None:
    from billing.demo import seed_worked_example

    factories.user("agent", role=SUPPORT_STAFF)  # first: recreates the roles the seed needs
    seed_worked_example()
    sign_in(page, live_server, "agent")


@pytest.mark.django_db(transaction=True)
def test_search_as_you_type_narrows_the_list_and_keeps_the_url(live_server, page):
    """Typing filters the table without a reload; the URL carries the search."""
    _signed_in_with_demo_data(page, live_server)
    page.goto(f"{live_server.url}/customers/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Search customers").press_sequentially("startup", delay=30)
    wait_for_htmx(page)
    rows = page.locator("#customer-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Startup XYZ")
    expect(page).to_have_url(re.compile(r"/customers/\?(.*&)?q=startup(&|$)"))
    assert page.evaluate("window.__sameDocument") is True


@pytest.mark.django_db(transaction=True)
def test_customer_joins_a_group_by_enter_then_leaves_and_undoes(live_server, page):
    """On the customer page: Enter adds the group typed, Remove asks, Undo re-adds."""
    _signed_in_with_demo_data(page, live_server)
    startup = Customer.objects.get(name="Startup XYZ")
    page.goto(f"{live_server.url}/customers/{startup.pk}/")
    page.evaluate("window.__sameDocument = true")
    count = page.locator("#group-count")
    expect(count).to_have_text("2")

    box = page.get_by_label("Add to a group")
    box.press_sequentially("VIP", delay=30)
    expect(page.locator("#group-results")).to_contain_text("VIP Customers")
    box.press("Enter")
    wait_for_htmx(page)
    expect(count).to_have_text("3")
    expect(page.get_by_label("Add to a group")).to_be_focused()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove from VIP Customers").click()
    wait_for_htmx(page)
    expect(count).to_have_text("2")
    page.get_by_role("button", name="Undo").click()
    wait_for_htmx(page)
    expect(count).to_have_text("3")
    assert Membership.objects.current().filter(customer=startup, group__code="vip").exists()
    assert Membership.objects.filter(customer=startup, group__code="vip").count() == 2
    assert page.evaluate("window.__sameDocument") is True


@pytest.mark.django_db(transaction=True)
def test_csv_import_previews_then_imports(live_server, page, tmp_path):
    """Uploading a CSV shows the dry run; confirming starts the import as background work,
    whose progress replaces the preview; once a worker ran it, the panel links the list."""
    _signed_in_with_demo_data(page, live_server)
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(
        "name,external_id,email,group_codes\n"
        "Migrated Co,MIG-1,ops@migrated.example,vip standard\n"
        "Tech Corp,CUST-0002,accounts@techcorp.example,vip\n"
    )
    page.goto(f"{live_server.url}/customers/import/")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Preview import").click()
    wait_for_htmx(page)
    counts = page.locator("#import-counts")
    expect(counts).to_contain_text("1 customers will be created")
    expect(counts).to_contain_text("3 group memberships will be added")
    assert not Customer.objects.filter(external_id="MIG-1").exists()

    page.get_by_role("button", name="Import 2 rows").click()
    panel = page.locator("#import-panel .work-status")
    expect(panel).to_contain_text("Importing customers from customers.csv (2 rows)")
    wait_for_htmx(page)
    url = page.url
    page.goto("about:blank")  # nothing polls while the worker runs on the shared connection
    drain(DB)
    page.goto(url)
    from background.models import Work

    page.goto(f"{live_server.url}/work/{Work.objects.get().pk}/")
    expect(page.locator(".work-status")).to_contain_text("1 customers created")
    page.get_by_role("link", name="Open the customers").click()
    page.wait_for_url(f"{live_server.url}/customers/")
    migrated = Customer.objects.get(external_id="MIG-1")
    assert set(migrated.current_groups().values_list("code", flat=True)) == {"vip", "standard"}
