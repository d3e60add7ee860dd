"""In Chromium: a manager turns a group into a criteria group (rows added with htmx), previews
who joins and leaves, saves, refreshes with progress, and the history names the criteria; the
audit lists a group expiring soon."""

from datetime import timedelta

import pytest

from billing.roles import PRICING_MANAGERS
from groups.models import Customer, CustomerGroup, Membership
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx
from tests.workers import DB, drain


@pytest.fixture
def world(transactional_db):
    from billing.demo import seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)
    seed_worked_example()
    Customer.objects.filter(external_id__in=["CUST-0002", "CUST-0003"]).update(country="CZ")


@pytest.mark.django_db(transaction=True)
def test_a_manager_defines_previews_saves_and_refreshes_criteria(live_server, page, world):
    group = CustomerGroup.objects.get(code="standard")
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    card = page.locator("#group-criteria")
    card.get_by_text("Define criteria").click()
    card.get_by_role("button", name="Customer attribute").click()
    row = card.locator(".criteria-row").first
    row.wait_for()
    wait_for_htmx(page)
    row.get_by_label("Attribute", exact=True).select_option("country")
    row.get_by_label("Comparison").select_option("equals")
    row.get_by_label("Value(s)").fill("cz")
    card.get_by_role("button", name="Rated usage").click()
    wait_for_htmx(page)
    assert card.locator(".criteria-row").count() == 2
    card.locator(".criteria-row").nth(1).get_by_label("Remove").check()
    card.get_by_role("button", name="Who would join and leave?").click()
    preview = page.locator("#criteria-preview")
    preview.wait_for()
    wait_for_htmx(page)
    text = preview.inner_text()
    assert "would join" in text
    assert "Leaving:" in text  # standard members outside CZ
    shoot(page, "criteria-preview")
    page.locator("#group-criteria").get_by_role("button", name="Save criteria").click()
    page.locator("#criteria-conditions").get_by_text("country equals CZ").wait_for()
    wait_for_htmx(page)
    page.get_by_role("button", name="Refresh members now").click()
    page.locator(".work-status").get_by_text("Refreshing the members of Standard").wait_for()
    shoot(page, "criteria-refresh-queued")
    page.goto("about:blank")
    drain(DB)
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    history = page.locator("#history")
    history.get_by_text("criteria v1").first.wait_for()
    wait_for_htmx(page)
    members = set(
        Membership.objects.current().filter(group=group).values_list("customer__country", flat=True)
    )
    assert members == {"CZ"}
    shoot(page, "criteria-group-page")


@pytest.mark.django_db(transaction=True)
def test_the_audit_lists_a_group_expiring_soon(live_server, page, world):
    from pricing.clock import billing_today

    promo = CustomerGroup.objects.get(code="summer-promo-2026")
    promo.expires_on = billing_today() + timedelta(days=3)
    promo.save()
    factories.membership(promo, Customer.objects.get(external_id="CUST-0002"))
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/audit/?finding=expiring_soon")
    row = page.get_by_role("row", name="Summer Promo 2026")
    row.wait_for()
    assert "Stop applying" in row.inner_text() or "no rule stops applying" in row.inner_text()
    shoot(page, "audit-expiring-soon")


@pytest.mark.django_db(transaction=True)
def test_adding_by_hand_to_a_criteria_group_warns_about_the_next_refresh(live_server, page, world):
    import re

    from playwright.sync_api import expect

    from groups.criteria.services import criteria_save

    group = CustomerGroup.objects.get(code="standard")
    criteria_save(
        group=group,
        conditions=[{"kind": "attribute", "field": "country", "op": "equals", "value": "CZ"}],
    )
    factories.customer("Newcomer Ltd", country="DE")
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    page.get_by_label("Add a customer").press_sequentially("Newcomer", delay=30)
    result = page.locator("#add-results").get_by_role("button", name=re.compile("Newcomer Ltd"))
    expect(result).to_be_visible()
    result.click()
    wait_for_htmx(page)
    toasts = page.locator("#toasts")
    expect(toasts).to_contain_text("Added “Newcomer Ltd” to “Standard”")
    expect(toasts).to_contain_text("keeps its members by its criteria")
    shoot(page, "criteria-manual-add-warning", widths=(1440,))
