"""The README's walkthrough, "run a promotion for last week", step by step in Chromium."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from groups.models import Customer, CustomerGroup, Membership
from pricing.clock import billing_today
from pricing.models import PricingRule, UsageRecord
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx


@pytest.mark.django_db(transaction=True)
def test_run_a_promotion_for_last_week(live_server, page):
    from billing.demo import seed_worked_example

    factories.user("manager", role=PRICING_MANAGERS)
    seed_worked_example()
    today = billing_today()
    monday = today - timedelta(days=today.weekday() + 7)
    sunday = monday + timedelta(days=6)
    wednesday, thursday = monday + timedelta(days=2), monday + timedelta(days=3)
    sign_in(page, live_server, "manager")

    # 1. A price list.
    page.goto(f"{live_server.url}/pricing/price-lists/new/")
    page.get_by_label("Name").fill("Black Friday")
    page.get_by_label("Code").fill("BLACK-FRIDAY")
    page.get_by_label("Currency").select_option("CZK")
    page.get_by_role("button", name="Create price list").click()
    page.wait_for_url(re.compile(r"/pricing/price-lists/[0-9a-f-]{36}/$"))
    page.get_by_label("Item code").fill("minute")
    page.locator("#items").get_by_role("textbox", name=re.compile(r"^Unit(?! price)")).fill(
        "minute"
    )
    page.get_by_label("Unit price").fill("0.40")
    page.get_by_role("button", name="Add item").click()
    wait_for_htmx(page)
    expect(page.locator("#items")).to_contain_text("minute")

    # 2. A group, planned to expire last Sunday.
    page.goto(f"{live_server.url}/groups/new/")
    page.get_by_label("Name").fill("Black Friday")
    page.get_by_label("Planned expiry").fill(sunday.isoformat())
    page.get_by_role("button", name="Create group").click()
    page.wait_for_url(re.compile(r"/groups/[0-9a-f-]{36}/$"))
    group = CustomerGroup.objects.get(name="Black Friday")

    # 3. Its members since last Monday, in bulk.
    page.get_by_role("link", name="Bulk add, remove or sync…").click()
    wait_for_htmx(page)
    page.get_by_label("External IDs").fill("CUST-0002, CUST-0003")
    page.locator("#bulk-panel").get_by_label("Member since").fill(f"{monday.isoformat()}T00:00")
    page.get_by_role("button", name="Preview").click()
    wait_for_htmx(page)
    preview = page.locator("#bulk-panel")
    expect(preview.locator("[data-count=to-add]")).to_have_text("2")
    expect(preview).to_contain_text(f"Member since {monday.isoformat()} 00:00")
    preview.get_by_role("button", name=re.compile("Apply")).click()
    wait_for_htmx(page)
    expect(page.locator("#bulk-result")).to_contain_text("added 2")
    expect(page.locator("#history")).to_contain_text("backdated")
    periods = Membership.objects.filter(group=group)
    assert {m.customer.external_id for m in periods} == {"CUST-0002", "CUST-0003"}
    assert all(m.is_backdated for m in periods)

    # 4. The rule: the form opens with the group chosen and warns about the window.
    wait_for_htmx(page)
    page.locator("#group-rules").get_by_role("link", name="Create a rule").click()
    page.wait_for_url(re.compile(r"/pricing/rules/new/\?group="))
    expect(page.get_by_label("Black Friday", exact=False).first).to_be_checked()
    page.get_by_label("Name").fill("Black Friday retail")
    page.get_by_label("Code").fill("BLACK-FRIDAY")
    page.get_by_label("Billing category").fill("retail")
    page.get_by_label("Price list").select_option(label="Black Friday (CZK)")
    page.get_by_label("Priority").fill("200")
    page.get_by_label("Valid from").fill(monday.isoformat())
    page.get_by_label("Valid to").fill(sunday.isoformat())
    page.get_by_label("Valid to").blur()
    wait_for_htmx(page)
    warnings = page.locator("#rule-form-warnings")
    expect(warnings).to_contain_text("is already past")
    expect(warnings).to_contain_text(
        f"2 customers were members of “Black Friday” at some time from {monday} to {sunday}."
    )
    shoot(page, "walkthrough-rule-form")
    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url(re.compile(r"/pricing/rules/[0-9a-f-]{36}/$"))
    expect(page.locator("#messages")).to_contain_text("2 customers were members")
    assert PricingRule.objects.get(code="BLACK-FRIDAY").group_id == group.pk

    # 5. Check it.
    tech = Customer.objects.get(external_id="CUST-0002")
    page.goto(
        f"{live_server.url}/simulate/?customer={tech.pk}&category=retail&item=minute"
        f"&quantity=1&at={wednesday.isoformat()}T12:00"
    )
    expect(page.locator("[data-side=actual] .sentence")).to_have_text(
        "Tech Corp pays 0.40 CZK per minute under rule BLACK-FRIDAY, priority 200, "
        "as a member of Black Friday."
    )
    first = page.locator("section.trace[data-side=actual] tbody tr").first
    expect(first).to_contain_text("BLACK-FRIDAY")

    # 6. Rate last week's late usage.
    csv = (
        "external_id,category,item,quantity,occurred_at\n"
        f"CUST-0002,retail,minute,100,{wednesday.isoformat()}T12:00:00\n"
        f"CUST-0003,retail,minute,60,{thursday.isoformat()}T09:30:00\n"
    )
    page.goto(f"{live_server.url}/usage/")
    page.get_by_label("CSV file", exact=True).set_input_files(
        {"name": "black-friday.csv", "mimeType": "text/csv", "buffer": csv.encode()}
    )
    page.get_by_role("button", name="Upload and rate").click()
    page.wait_for_url(f"{live_server.url}/usage/batches/*/")
    page.locator("#batch-progress").get_by_text("Rated 2 of 2 (100%)").wait_for(timeout=20_000)
    wait_for_htmx(page)
    amounts = sorted(
        (r.rule_code, str(r.amount)) for r in UsageRecord.objects.filter(status="rated")
    )
    assert amounts == [("BLACK-FRIDAY", "24.00"), ("BLACK-FRIDAY", "40.00")]

    # 7. Clean up from the audit; the ended rule is not offered for disabling yet.
    page.goto(f"{live_server.url}/audit/?finding=past_expiry")
    wait_for_htmx(page)
    row = page.locator("#audit-panel tr", has_text="Black Friday")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="End promotion").click()
    wait_for_htmx(page)
    expect(page.locator("#toasts")).to_contain_text("Ended “Black Friday”: removed 2 members")
    assert not Membership.objects.current().filter(group=group).exists()
    page.goto(f"{live_server.url}/audit/?finding=never_applies")
    wait_for_htmx(page)
    ended = page.locator("#audit-panel tr", has_text="BLACK-FRIDAY")
    expect(ended).to_contain_text("late usage of its window still needs it")
    expect(ended.get_by_role("button", name=re.compile("Disable"))).to_have_count(0)
