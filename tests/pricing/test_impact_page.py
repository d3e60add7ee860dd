"""Issue 21 item 11 and the pictures: the impact preview's pickers, the current values beside
the draft, "preview the impact of this edit" from the rule form, thousands separators, and the
charts of the change per group and of its spread over customers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from pricing import services
from pricing.models import PricingRule

pytestmark = pytest.mark.django_db
MARCH_1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
WINDOW = {"start": "2026-02-01", "end": "2026-03-31"}


def _records(customer, count=1, quantity="10"):
    services.usage_records_create(
        records=[
            {
                "customer": customer,
                "billing_category": "retail",
                "item_code": "minute",
                "quantity": Decimal(quantity),
                "occurred_at": MARCH_1 + timedelta(minutes=n),
            }
            for n in range(count)
        ]
    )


def test_pickers_search_rules_groups_and_customers_by_name(manager_client, worked_example):
    url = reverse("pricing:usage_impact_options", args=["rule"])
    body = manager_client.get(url, {"rule": "startup"}).content.decode()
    assert '<option value="STARTUP-2026" label="Startup programme 2026 · retail' in body
    body = manager_client.get(
        reverse("pricing:usage_impact_options", args=["group"]), {"group": "VIP"}
    ).content.decode()
    assert '<option value="vip" label="VIP Customers">' in body
    body = manager_client.get(
        reverse("pricing:usage_impact_options", args=["target_customer"]),
        {"target_customer": "tech"},
    ).content.decode()
    assert '<option value="CUST-0002" label="Tech Corp">' in body
    assert (
        manager_client.get(reverse("pricing:usage_impact_options", args=["nonsense"])).status_code
        == 404
    )
    page = manager_client.get(reverse("pricing:usage_impact")).content.decode()
    assert 'list="impact-rule-options"' in page
    assert '<datalist id="impact-rule-options"' in page


def test_picking_a_rule_fills_the_draft_and_shows_the_current_values(
    manager_client, worked_example
):
    response = manager_client.get(
        reverse("pricing:usage_impact"),
        {**WINDOW, "rule": "startup-2026", "refresh": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response.context["report"] is None  # the preview waits for the button
    html = response.content.decode()
    assert 'name="priority" value="50"' in html
    assert "Now: <strong>50</strong>" in html
    assert "Now: <strong>STARTUP-RETAIL-2026</strong>" in html
    assert "Now: <strong>startup-program</strong>" in html


def test_preview_this_edit_opens_the_draft_in_the_impact_preview(manager_client, worked_example):
    rule = PricingRule.objects.get(code="STARTUP-2026")
    edit = manager_client.get(reverse("pricing:rule_update", args=[rule.pk])).content.decode()
    button = reverse("pricing:rule_impact", args=[rule.pk])
    assert f'formaction="{button}"' in edit
    assert "Preview the impact of this edit" in edit
    data = {
        "name": rule.name,
        "code": rule.code,
        "billing_category": "retail",
        "price_list": str(rule.price_list_id),
        "target_kind": "group",
        "group": str(rule.group_id),
        "priority": "5",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "is_active": "on",
    }
    response = manager_client.get(button, data, HTTP_HX_REQUEST="true")
    target = urlsplit(response["HX-Redirect"])
    assert target.path == reverse("pricing:usage_impact")
    query = parse_qs(target.query)
    assert query["rule"] == ["STARTUP-2026"]
    assert query["priority"] == ["5"]
    assert query["target"] == ["group"]
    assert query["target_group"] == ["startup-program"]
    # Nothing was saved: the draft is only in the address.
    rule.refresh_from_db()
    assert rule.priority == 50
    preview = manager_client.get(response["HX-Redirect"])
    assert preview.status_code == 200
    assert preview.context["report"] is not None


def test_numbers_have_thousands_separators_and_charts_show_the_change(
    manager_client, worked_example
):
    _records(worked_example["startup"], count=1200)
    _records(worked_example["tech_corp"], count=3, quantity="20000")
    response = manager_client.get(
        reverse("pricing:usage_impact"), {**WINDOW, "rule": "STARTUP-2026", "priority": "5"}
    )
    html = response.content.decode()
    assert "1,203 records re-rated" in html
    assert "<strong>1,200</strong> would change" in html
    assert "9,600.00" in html  # 1,200 records x 10 minutes x 0.80 CZK
    charts = response.context["charts"]
    titles = [chart.title for chart in charts]
    assert titles == [
        "Change per group, CZK (members' current groups)",
        "How the change is spread over customers, CZK",
    ]
    per_group = {row[0]: row[1] for row in charts[0].rows}
    # Startup XYZ is in Standard and Startup Program: its change counts in both.
    assert per_group == {"Standard": "4,800.00", "Startup Program": "4,800.00"}
    assert charts[1].rows == [["4,800.00", "1"]]
    assert '<figure class="chart mb-3"' in html
    assert html.count('class="chart-s0"') == 3  # two group bars and one histogram bar
