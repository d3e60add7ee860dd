"""A pricing manager cleans up from the audit page in Chromium."""

from datetime import timedelta

import pytest
from django.utils import timezone

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
