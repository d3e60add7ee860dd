"""The pages hardening added or changed, in Chromium: a stale save refused, the password change,
archiving a group, a customer's audit trail. Screenshots go to /tmp/shots-harden/."""

from pathlib import Path

import pytest

from billing.roles import PRICING_MANAGERS
from groups import services as group_services
from pricing import services
from pricing.models import PricingRule
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx

SHOTS = Path("/tmp/shots-harden")
WIDTHS = {"wide": 1440, "narrow": 390}


def shoot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


@pytest.mark.django_db(transaction=True)
def test_a_stale_rule_save_shows_what_changed_and_saving_again_applies(
    live_server, page, page_watch
):
    page_watch.allow(409)  # the refused save
    manager = factories.user("pm", role=PRICING_MANAGERS)
    alice = factories.user("alice", role=PRICING_MANAGERS)
    rule = factories.rule("VIP-RETAIL", name="VIP retail", priority=10)
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/pricing/rules/{rule.pk}/edit/")
    page.get_by_label("Name").fill("VIP retail 2027")
    services.rule_update(rule=PricingRule.objects.get(pk=rule.pk), priority=20, by=alice)

    page.get_by_role("button", name="Save rule").click()  # not "Save to changeset"
    wait_for_htmx(page)
    alert = page.locator("#stale-edit")
    alert.wait_for()
    assert "was changed by alice at" in alert.inner_text()
    assert "Priority: 10 → 20" in alert.inner_text()
    assert page.get_by_label("Name").input_value() == "VIP retail 2027"
    shoot(page, "rule-stale-save")

    page.get_by_role("button", name="Save rule").click()  # not "Save to changeset"
    page.wait_for_url(f"{live_server.url}/pricing/rules/{rule.pk}/")
    rule.refresh_from_db()
    assert (rule.name, rule.priority) == ("VIP retail 2027", 10)
    assert rule.history.latest().history_user == manager


@pytest.mark.django_db(transaction=True)
def test_a_user_changes_their_password_with_the_keyboard(live_server, page):
    factories.user("someone")
    sign_in(page, live_server, "someone")
    page.get_by_role("link", name="Change password").click()
    page.wait_for_url(f"{live_server.url}/accounts/password/")
    page.keyboard.type("secret-pass-123")  # the old password field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type("a-much-better-pass-42")
    page.keyboard.press("Tab")
    page.keyboard.type("a-different-one-42")
    page.keyboard.press("Enter")
    page.locator("#id_new_password2-error").wait_for()
    shoot(page, "password-change-error")
    page.get_by_label("Old password").fill("secret-pass-123")
    page.get_by_label("New password", exact=True).fill("a-much-better-pass-42")
    page.get_by_label("New password confirmation").fill("a-much-better-pass-42")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "Your password was changed" in page.get_by_role("status").first.inner_text()


@pytest.mark.django_db(transaction=True)
def test_a_group_with_members_is_archived_and_stays_in_its_customers_history(live_server, page):
    manager = factories.user("pm", role=PRICING_MANAGERS)
    group = factories.group("Summer Promo 2025", code="summer-2025")
    customer = factories.customer("Tech Corp", external_id="CUST-0002")
    group_services.membership_add(group=group, customer=customer, by=manager)
    group_services.customer_update(customer=customer, email="billing@tech.example", by=manager)
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/groups/{group.pk}/delete/")
    assert page.get_by_role("heading", name="Archive the group “Summer Promo 2025”?").is_visible()
    shoot(page, "group-archive-confirm")
    page.get_by_role("button", name="Archive group").click()
    page.wait_for_url(f"{live_server.url}/groups/")
    assert "Archived the group “Summer Promo 2025”" in page.get_by_role("status").first.inner_text()

    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    wait_for_htmx(page)
    history = page.locator("#customer-history")
    assert "Summer Promo 2025 archived" in history.inner_text()
    audit = page.get_by_role("region", name="Changes to this customer")
    assert "Email" in audit.inner_text()
    shoot(page, "customer-audit-and-archived-group")
