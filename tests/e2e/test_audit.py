"""A pricing manager cleans up from the audit page in Chromium."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from groups.models import CustomerGroup
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx


@pytest.mark.django_db(transaction=True)
def test_manager_deletes_an_empty_group_from_the_audit(live_server, page):
    """Tick an empty group, confirm, and it disappears from the list and the database."""
    factories.user("manager", role=PRICING_MANAGERS)
    doomed = factories.group("Winter Promo 2025")
    kept = factories.group("Spring Promo 2026")
    sign_in(page, live_server, "manager")

    page.goto(f"{live_server.url}/audit/")
    assert page.get_by_role("heading", name="Audit", exact=True).is_visible()
    assert page.locator("#count-empty").inner_text() == "2"
    page.get_by_label("Select Winter Promo 2025").check()
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Delete selected groups").click()
    wait_for_htmx(page)

    assert len(dialogs) == 1
    assert dialogs[0].startswith("Delete the selected groups?")
    assert page.get_by_role("status").filter(has_text="Removed 1 group").is_visible()
    panel = page.locator("#audit-panel")
    assert "Winter Promo 2025" not in panel.inner_text()
    assert "Spring Promo 2026" in panel.inner_text()
    assert page.locator("#count-empty").inner_text() == "1"
    assert not CustomerGroup.objects.filter(pk=doomed.pk).exists()
    assert CustomerGroup.objects.filter(pk=kept.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_tabs_and_filters_swap_the_list_and_keep_the_url(live_server, page):
    """Opening a finding and searching swap only the list; the URL follows for sharing."""
    factories.user("agent", role=SUPPORT_STAFF)
    factories.group("Old VIP", created_at=timezone.now() - timedelta(days=300))
    factories.group("Old Standard", created_at=timezone.now() - timedelta(days=300))
    sign_in(page, live_server, "agent")

    page.goto(f"{live_server.url}/audit/")
    page.get_by_role("navigation", name="Findings").get_by_role(
        "link", name="Review overdue"
    ).click()
    wait_for_htmx(page)
    assert "finding=review_overdue" in page.url
    page.get_by_role("searchbox", name="Search").fill("vip")
    page.wait_for_url("**q=vip**")
    wait_for_htmx(page)
    panel = page.locator("#audit-panel")
    assert "Old VIP" in panel.inner_text()
    assert "Old Standard" not in panel.inner_text()
    # Support staff can mark a review done, without a confirmation.
    page.get_by_role("button", name="Mark reviewed Old VIP").click()
    wait_for_htmx(page)
    assert page.get_by_role("status").filter(has_text="Marked “Old VIP” reviewed.").is_visible()
    assert "Old VIP" not in page.locator("#audit-panel").inner_text()


@pytest.mark.django_db(transaction=True)
def test_back_after_switching_tabs_restores_the_whole_page(live_server, page):
    """Issue 21 item 2: Back after switching findings showed a bare fragment (no navigation,
    no heading). A history restore gets the whole page, and so does Back from another page."""
    factories.user("agent", role=SUPPORT_STAFF)
    factories.group("Old VIP", created_at=timezone.now() - timedelta(days=300))
    sign_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/audit/")
    findings = page.get_by_role("navigation", name="Findings")
    findings.get_by_role("link", name="Unused groups").click()
    wait_for_htmx(page)
    findings.get_by_role("link", name="Review overdue").click()
    wait_for_htmx(page)
    assert "finding=review_overdue" in page.url

    page.go_back()
    page.wait_for_url("**finding=unused")
    wait_for_htmx(page)
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("heading", name="Unused groups")).to_be_visible()
    wait_for_htmx(page)  # the deferred counts: one request at a time on SQLite's shared connection

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    page.wait_for_url("**/groups/")
    page.go_back()
    page.wait_for_url("**finding=unused")
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_blocked_groups_are_named_not_offered_and_a_delete_returns_to_the_audit(live_server, page):
    """Issue 21 item 10: no checkbox for an empty group that a rule targets (its rule is
    named instead), and a group deleted from the audit's list brings you back to that list."""
    factories.user("manager", role=PRICING_MANAGERS)
    targeted = factories.group("Still targeted")
    factories.rule("KEEP-ME", group=targeted)
    factories.group("Leftover")
    sign_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/audit/?finding=empty")
    wait_for_htmx(page)
    row = page.locator("#audit-panel tr", has_text="Still targeted")
    expect(row.get_by_role("checkbox")).to_have_count(0)
    expect(row).to_contain_text("Kept, rules target it: KEEP-ME")

    page.goto(f"{live_server.url}/audit/?finding=unused")
    wait_for_htmx(page)
    page.locator("#audit-panel tr", has_text="Leftover").get_by_role(
        "link", name="Delete… Leftover"
    ).click()
    page.get_by_role("button", name="Delete group").click()
    page.wait_for_url(f"{live_server.url}/audit/?finding=unused")
    expect(page.locator("#messages")).to_contain_text("Deleted the group “Leftover”")
    assert not CustomerGroup.objects.filter(name="Leftover").exists()
