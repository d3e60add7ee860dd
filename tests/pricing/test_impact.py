"""Impact preview: per-customer and total changes of a draft, and nothing saved."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing import impact, services
from pricing.models import PricingRule, UsageRecord
from tests import factories

MARCH_1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
WINDOW = {"start": date(2026, 2, 1), "end": date(2026, 3, 31)}


def _record(customer, item="minute", quantity="10", at=MARCH_1):
    [record] = services.usage_records_create(
        records=[
            {
                "customer": customer,
                "billing_category": "retail",
                "item_code": item,
                "quantity": Decimal(quantity),
                "occurred_at": at,
            }
        ]
    )
    return record


def _draft(rule: PricingRule, **changes) -> impact.RuleDraft:
    fields = {
        "priority": rule.priority,
        "valid_from": rule.valid_from,
        "valid_to": rule.valid_to,
        "is_active": rule.is_active,
        "price_list": rule.price_list,
        "group": rule.group,
        "customer": rule.customer,
    }
    fields.update(changes)
    return impact.RuleDraft(rule=rule, **fields)


@pytest.fixture
def usage(worked_example):
    """Startup XYZ pays the startup price (8.00), Tech Corp the standard one (12.00)."""
    _record(worked_example["startup"])
    _record(worked_example["tech_corp"])
    _record(worked_example["tech_corp"], at=datetime(2025, 12, 1, tzinfo=UTC))  # outside
    return worked_example


def _by_name(report) -> dict[str, tuple]:
    return {
        row.customer.name: (row.currency, row.records, row.changed, row.before, row.after)
        for row in report.customers
    }


def test_lowering_a_rules_priority_shows_who_pays_more(usage):
    """The startup rule drops below the standard one: Startup XYZ pays 4.00 more, nobody else."""
    startup = PricingRule.objects.get(code="STARTUP-2026")
    report = impact.impact_preview(**WINDOW, rule=_draft(startup, priority=5))
    assert (report.records, report.changed, report.customers_affected) == (2, 1, 1)
    assert _by_name(report) == {
        "Startup XYZ": ("CZK", 1, 1, Decimal("8.00"), Decimal("12.00")),
    }
    [total] = report.totals
    assert (total.currency, total.before, total.after, total.delta) == (
        "CZK",
        Decimal("20.00"),
        Decimal("24.00"),
        Decimal("4.00"),
    )


def test_disabling_the_everyone_rule_leaves_records_unpriced(usage):
    """Tech Corp keeps STD; a customer with no group would lose its price."""
    nobody = factories.customer(name="Lonely Ltd")
    _record(nobody)
    base = PricingRule.objects.get(code="BASE-RETAIL")
    report = impact.impact_preview(**WINDOW, rule=_draft(base, is_active=False))
    assert report.became_unrated == 1
    assert _by_name(report) == {"Lonely Ltd": ("CZK", 1, 1, Decimal("15.00"), Decimal("0.00"))}


def test_a_price_list_in_another_currency_moves_amounts_between_totals(usage):
    eur = factories.price_list(currency="EUR", items={"minute": "0.05"})
    standard = PricingRule.objects.get(code="STD-2026")
    report = impact.impact_preview(**WINDOW, rule=_draft(standard, price_list=eur))
    totals = {t.currency: (t.before, t.after) for t in report.totals}
    assert totals == {
        "CZK": (Decimal("20.00"), Decimal("8.00")),
        "EUR": (Decimal("0.00"), Decimal("0.50")),
    }


def test_adding_and_removing_group_members(usage):
    """Tech Corp joins VIP (6.00 instead of 12.00); Startup XYZ leaves the programme (12.00)."""
    report = impact.impact_preview(
        **WINDOW,
        membership=impact.MembershipDraft(group=usage["vip"], add=[usage["tech_corp"]], remove=[]),
    )
    assert _by_name(report) == {"Tech Corp": ("CZK", 1, 1, Decimal("12.00"), Decimal("6.00"))}
    report = impact.impact_preview(
        **WINDOW,
        membership=impact.MembershipDraft(
            group=usage["startup_program"], add=[], remove=[usage["startup"]]
        ),
    )
    assert _by_name(report) == {"Startup XYZ": ("CZK", 1, 1, Decimal("8.00"), Decimal("12.00"))}


def test_retargeting_a_rule_to_one_customer(usage):
    vip = PricingRule.objects.get(code="VIP-RETAIL-2026")
    report = impact.impact_preview(
        **WINDOW, rule=_draft(vip, group=None, customer=usage["startup"])
    )
    # End Customer Ltd has no record in the window; Startup XYZ gets the VIP price.
    assert _by_name(report) == {"Startup XYZ": ("CZK", 1, 1, Decimal("8.00"), Decimal("6.00"))}


def test_a_preview_saves_nothing(usage):
    before = list(UsageRecord.objects.values_list("pk", "amount", "rule_code", "rated_at"))
    startup = PricingRule.objects.get(code="STARTUP-2026")
    impact.impact_preview(**WINDOW, rule=_draft(startup, priority=1, is_active=False))
    assert list(UsageRecord.objects.values_list("pk", "amount", "rule_code", "rated_at")) == before
    startup.refresh_from_db()
    assert (startup.priority, startup.is_active) == (50, True)


def test_windows_too_large_are_refused(usage, monkeypatch):
    monkeypatch.setattr(impact, "IMPACT_MAX_RECORDS", 1)
    startup = PricingRule.objects.get(code="STARTUP-2026")
    with pytest.raises(ValidationError) as caught:
        impact.impact_preview(**WINDOW, rule=_draft(startup, priority=5))
    assert caught.value.messages == [impact.WINDOW_TOO_LARGE.format(count=2, limit=1)]


def test_a_preview_needs_a_change(db):
    with pytest.raises(ValidationError) as caught:
        impact.impact_preview(**WINDOW)
    assert caught.value.messages == [impact.NOTHING_TO_PREVIEW]


def _preview_queries(n: int, worked_example) -> int:
    for _ in range(n):
        _record(worked_example["startup"])
    startup = PricingRule.objects.get(code="STARTUP-2026")
    with CaptureQueriesContext(connection) as queries:
        impact.impact_preview(**WINDOW, rule=_draft(startup, priority=5))
    UsageRecord.objects.all().delete()
    return len(queries)


def test_preview_queries_do_not_grow_with_the_records(worked_example):
    assert _preview_queries(2, worked_example) == _preview_queries(40, worked_example)


# --- The page ---------------------------------------------------------------------------------


def test_support_staff_cannot_preview(support_client):
    assert support_client.get("/usage/impact/").status_code == 403


def test_a_rule_link_prefills_the_draft(manager_client, worked_example):
    rule = PricingRule.objects.get(code="STARTUP-2026")
    response = manager_client.get(f"/usage/impact/?rule={rule.pk}")
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["rule"] == "STARTUP-2026"
    assert form.initial["priority"] == 50
    assert form.initial["target"] == "group"
    assert form.initial["target_group"] == "startup-program"
    html = response.content.decode()
    assert 'value="STARTUP-2026"' in html
    # Browser date pickers only take ISO values.
    assert 'name="valid_from" value="2026-01-01"' in html


def test_the_page_shows_totals_and_customers(manager_client, usage):
    response = manager_client.get(
        "/usage/impact/",
        {"start": "2026-02-01", "end": "2026-03-31", "rule": "STARTUP-2026", "priority": "5"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>1</strong> would change" in html
    assert "Startup XYZ" in html
    assert "4.00" in html


def test_membership_drafts_by_external_id(manager_client, usage):
    response = manager_client.get(
        "/usage/impact/",
        {"start": "2026-02-01", "end": "2026-03-31", "group": "vip", "add": "CUST-0002"},
    )
    assert response.status_code == 200
    assert response.context["report"].customers[0].delta == Decimal("-6.00")


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"rule": "NOPE"}, "rule", "No rule has the code “NOPE”."),
        ({"group": "vip", "add": "CUST-0002, GHOST"}, "add", "GHOST"),
        ({"group": "vip"}, "add", "List the customers"),
        ({"rule": "STD-2026", "target": "group"}, "target_group", "Name the group"),
        ({"rule": "STD-2026", "valid_to": "2025-01-01"}, "valid_to", "on or after"),
    ],
)
def test_form_errors_show_next_to_their_fields(manager_client, usage, params, field, message):
    response = manager_client.get(
        "/usage/impact/", {"start": "2026-02-01", "end": "2026-03-31", **params}
    )
    assert response.status_code == 422
    assert message in " ".join(response.context["form"].errors[field])
    assert response.context["report"] is None


def test_an_empty_draft_is_refused(manager_client, usage):
    response = manager_client.get("/usage/impact/", {"start": "2026-02-01", "end": "2026-03-31"})
    assert response.status_code == 422
    assert "Describe a change" in response.content.decode()
