"""A pricing manager writes a rule in Chromium: live validation in place, then saving it."""

import re

import pytest

from billing.roles import PRICING_MANAGERS
from pricing.models import PricingRule
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx

DATES_ERROR = "Valid to must be on or after valid from."
RULE_PAGE = re.compile(r"/pricing/rules/[0-9a-f-]{36}/$")


@pytest.mark.django_db(transaction=True)
def test_manager_sees_a_bad_date_range_in_place_fixes_it_and_saves(live_server, page):
    """valid_to before valid_from shows its error next to the field without a reload; once
    fixed, the error goes, the typing is all still there, and saving opens the new rule."""
    factories.user("pm", role=PRICING_MANAGERS)
    group = factories.group("VIP Customers")
    factories.price_list("VIP-RETAIL-2026", name="VIP retail 2026", items={"minute": "0.60"})
    sign_in(page, live_server, "pm")

    page.goto(f"{live_server.url}/pricing/rules/new/")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.get_by_label("Name").fill("VIP summer retail")
    page.get_by_label("Code").fill("VIP-SUMMER")
    page.get_by_label("Billing category").fill("retail")
    page.get_by_label("Price list").select_option(label="VIP retail 2026 (CZK)")
    page.get_by_label("A group").check()
    page.get_by_label("Group", exact=True).press_sequentially("VIP")
    page.get_by_label("VIP Customers").check()
    page.get_by_label("Priority").fill("120")
    page.get_by_label("Valid from").fill("2026-06-01")
    page.get_by_label("Valid to").fill("2026-05-01")
    page.get_by_label("Valid to").blur()
    wait_for_htmx(page)

    error = page.locator("#id_valid_to-error")
    error.get_by_text(DATES_ERROR).wait_for()
    assert page.get_by_label("Name").input_value() == "VIP summer retail"
    assert page.evaluate("window.sameDocument") is True
    # Fields not reached yet are not scolded while typing.
    assert page.locator("#id_description-error").inner_text() == ""

    page.get_by_label("Valid to").fill("2026-08-31")
    page.get_by_label("Valid to").blur()
    wait_for_htmx(page)
    assert error.inner_text() == ""
    assert page.evaluate("window.sameDocument") is True

    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url(RULE_PAGE)
    assert page.get_by_text("Rule “VIP-SUMMER” created.").is_visible()
    rule = PricingRule.objects.get(code="VIP-SUMMER")
    assert (rule.group_id, str(rule.valid_to), rule.priority) == (group.pk, "2026-08-31", 120)


@pytest.mark.django_db(transaction=True)
def test_submitting_a_bad_range_swaps_the_form_with_focus_on_the_error(
    live_server, page, page_watch
):
    """Submitting skips nothing: the form comes back in place, focus on the first error."""
    page_watch.allow(422)  # the refusal this test provokes
    factories.user("pm", role=PRICING_MANAGERS)
    factories.price_list("BASE", name="Base", items={"minute": "1"})
    sign_in(page, live_server, "pm")

    page.goto(f"{live_server.url}/pricing/rules/new/")
    page.evaluate("window.sameDocument = true")
    page.get_by_label("Name").fill("Everyone")
    page.get_by_label("Code").fill("EVERYONE")
    page.get_by_label("Billing category").fill("retail")
    page.get_by_label("Price list").select_option(label="Base (CZK)")
    page.get_by_label("Valid from").fill("2026-06-01")
    page.get_by_label("Valid to").fill("2026-05-01")
    page.get_by_role("button", name="Create rule").click()
    wait_for_htmx(page)

    page.locator("#id_valid_to-error").get_by_text(DATES_ERROR).wait_for()
    assert page.evaluate("document.activeElement.id") == "id_valid_to"
    assert page.evaluate("window.sameDocument") is True
    assert page.get_by_label("Code").input_value() == "EVERYONE"
    assert not PricingRule.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_manager_picks_a_customer_by_typing(live_server, page):
    """Search-as-you-type lists matching customers; the one chosen is saved as the target."""
    factories.user("pm", role=PRICING_MANAGERS)
    startup = factories.customer("Startup XYZ", external_id="CUST-0003")
    factories.customer("Tech Corp", external_id="CUST-0002")
    factories.price_list("BASE", name="Base", items={"minute": "1"})
    sign_in(page, live_server, "pm")

    page.goto(f"{live_server.url}/pricing/rules/new/")
    page.get_by_label("Name").fill("Startup deal")
    page.get_by_label("Code").fill("STARTUP-DEAL")
    page.get_by_label("Billing category").fill("retail")
    page.get_by_label("Price list").select_option(label="Base (CZK)")
    assert not page.get_by_label("Customer", exact=True).is_visible()  # target: everyone
    page.get_by_label("One customer").check()
    page.get_by_label("Customer", exact=True).press_sequentially("startup")
    page.get_by_label("Startup XYZ").wait_for()
    wait_for_htmx(page)
    assert page.get_by_text("Tech Corp").count() == 0
    page.get_by_label("Startup XYZ").check()
    wait_for_htmx(page)
    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url(RULE_PAGE)
    assert PricingRule.objects.get().customer_id == startup.pk
