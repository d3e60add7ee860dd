"""Issue 21 item 5: messages never outlive their action nor cover a heading.

Messages of htmx actions are toasts that replace each other (an action with nothing to say
clears the last one) and good news fades; a full page shows its messages in the flow, and the
next page no longer has them.
"""

import re

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from groups.models import CustomerGroup
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx


@pytest.mark.django_db(transaction=True)
def test_added_does_not_stay_once_removed_and_banners_do_not_cover_headings(live_server, page):
    from billing.demo import seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)
    seed_worked_example()
    vip = CustomerGroup.objects.get(code="vip")
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/groups/{vip.pk}/")

    page.get_by_label("Add a customer").press_sequentially("Startup", delay=30)
    page.locator("#add-results").get_by_role("button", name=re.compile("Startup XYZ")).click()
    wait_for_htmx(page)
    added = page.locator("#toasts").get_by_text("Added “Startup XYZ” to “VIP Customers”.")
    expect(added).to_be_visible()
    # Good news fades by itself after a few seconds.
    animation = added.evaluate(
        "e => { const s = getComputedStyle(e.closest('.alert')); "
        "return [s.animationName, s.animationDelay]; }"
    )
    assert animation == ["ratecard-fade", "6s"]
    shoot(page, "toast-added")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove Startup XYZ").click()
    wait_for_htmx(page)
    expect(page.locator("#members")).to_contain_text("Removed “Startup XYZ” from this group.")
    expect(page.get_by_text("Added “Startup XYZ”")).to_have_count(0)

    # A full page's message sits in the flow above the heading, and the next page drops it.
    page.goto(f"{live_server.url}/groups/new/")
    page.get_by_label("Name").fill("Winter promo")
    page.get_by_role("button", name="Create group").click()
    page.wait_for_url(re.compile(r"/groups/[0-9a-f-]{36}/$"))
    created = page.locator("#messages").get_by_text("Created the group “Winter promo”.")
    expect(created).to_be_visible()
    assert page.locator("#messages").evaluate("e => getComputedStyle(e).position") == "static"
    heading = page.get_by_role("heading", name=re.compile("Winter promo"))
    message_box = created.bounding_box()
    heading_box = heading.bounding_box()
    assert message_box["y"] + message_box["height"] <= heading_box["y"]
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    page.wait_for_url("**/groups/")
    expect(page.get_by_text("Created the group")).to_have_count(0)
