"""The pictures in Chromium: each chart draws (SVG bars) with its numbers a click away, on the
group, customer and usage pages and in the impact preview, at 1440 and 390 px."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.roles import PRICING_MANAGERS
from groups.models import Customer, CustomerGroup, Membership
from pricing import services
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx


def _seed():
    from billing.demo import seed_worked_example

    seed_worked_example()
    vip = CustomerGroup.objects.get(code="vip")
    now = timezone.now()
    for n in range(8):  # members who joined over the last months
        Membership.objects.create(
            group=vip,
            customer=factories.customer(f"Joiner {n}", external_id=f"J-{n}"),
            joined_at=now - timedelta(days=30 * n + 3),
        )
    tech = Customer.objects.get(name="Tech Corp")
    startup = Customer.objects.get(name="Startup XYZ")
    services.usage_records_create(
        records=[
            {
                "customer": customer,
                "billing_category": "retail",
                "item_code": item,
                "quantity": Decimal(10 + n),
                "occurred_at": now - timedelta(days=n, hours=1),
            }
            for n in range(20)
            for customer, item in ((tech, "minute"), (startup, "minute"), (startup, "fax"))
        ]
    )
    return vip, tech


def _chart_drawn(page, scope: str) -> None:
    chart = page.locator(f"{scope} figure.chart").first
    expect(chart.locator("svg rect").first).to_be_visible()
    chart.locator("summary").click()
    expect(chart.locator("table")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_charts_draw_on_every_page_that_has_one(live_server, page):
    factories.user("pm", role=PRICING_MANAGERS)
    vip, tech = _seed()
    sign_in(page, live_server, "pm")
    page.set_viewport_size({"width": 1440, "height": 900})

    page.goto(f"{live_server.url}/groups/{vip.pk}/")
    wait_for_htmx(page)
    _chart_drawn(page, "#members-chart")
    shoot(page, "group-page")

    page.goto(f"{live_server.url}/customers/{tech.pk}/")
    wait_for_htmx(page)
    _chart_drawn(page, "#customer-paid")
    shoot(page, "customer-page")

    page.goto(f"{live_server.url}/usage/")
    wait_for_htmx(page)
    _chart_drawn(page, "#usage-charts")
    expect(page.locator("#usage-charts figure")).to_have_count(2)  # CZK, and unrated
    shoot(page, "usage-page")

    page.goto(f"{live_server.url}/usage/impact/")
    rule = page.get_by_label("Rule code")
    rule.fill("STARTUP-2026")
    rule.blur()  # change: the draft fills with the rule's values
    wait_for_htmx(page)
    expect(page.get_by_text("Now: 50")).to_be_visible()
    start = (timezone.localdate() - timedelta(days=29)).isoformat()
    page.get_by_label("From", exact=True).fill(start)
    page.get_by_label("Priority").fill("5")
    page.get_by_role("button", name="Preview the impact").click()
    wait_for_htmx(page)
    expect(page.locator("#impact-results")).to_be_visible()
    _chart_drawn(page, "#impact-charts")
    expect(page.locator("#impact-charts figure")).to_have_count(2)
    shoot(page, "impact-preview")
