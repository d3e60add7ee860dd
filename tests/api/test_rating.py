"""POST /rate: the engine over HTTP, on the worked example; nothing is stored."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.models import Membership
from pricing.models import UsageRecord
from tests import factories
from tests.api.conftest import Api

MARCH_1 = "2026-03-01T12:00:00Z"


def rate(api, customer, item_code="minute", **extra):
    body = {
        "customer_id": str(customer.pk),
        "billing_category": "retail",
        "item_code": item_code,
        "quantity": "1",
        "occurred_at": MARCH_1,
        **extra,
    }
    return api.post("/api/v1/rate", body)


def test_startup_minute_is_priced_by_the_startup_rule(worked_example, support_api):
    """Startup XYZ, retail minute on 2026-03-01: STARTUP-2026 at 0.80 CZK, with the trace."""
    response = rate(support_api, worked_example["startup"])
    assert response.status_code == 200
    body = response.json()
    assert body["rated"] is True
    assert body["rule_code"] == "STARTUP-2026"
    assert body["currency"] == "CZK"
    assert body["unit_price"] == "0.800000"
    assert body["amount"] == "0.80"
    assert "STARTUP-2026" in body["reason"]
    assert [g["code"] for g in body["groups"]] == ["standard", "startup-program"]
    assert [(t["rule_code"], t["outcome"]) for t in body["trace"]] == [
        ("SUMMER-2026", "not yet valid"),
        ("VIP-RETAIL-2026", "not a member"),
        ("STARTUP-2026", "won"),
        ("STD-2026", "outranked"),
        ("BASE-RETAIL", "outranked"),
    ]
    assert [t["priority"] for t in body["trace"]] == [120, 100, 50, 10, 0]
    winner = next(t for t in body["trace"] if t["outcome"] == "won")
    assert winner["rule_id"] == body["rule_id"]


def test_the_trace_is_written_as_its_documented_serializer_writes_it(worked_example, support_api):
    """The trace is written without a serializer per entry; the output is what the schema's
    TraceEntrySerializer gives for the same entries."""
    from pricing.api import TraceEntrySerializer
    from pricing.selectors import evaluate

    factories.rule(customer=worked_example["tech_corp"], priority=70)  # "other customer"
    body = rate(support_api, worked_example["startup"], item_code="SMS").json()
    evaluation = evaluate(
        customer=worked_example["startup"],
        billing_category="retail",
        item_code="SMS",
        quantity=Decimal(1),
        occurred_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    expected = TraceEntrySerializer(
        [
            {
                "rule_id": e.rule.id,
                "rule_code": e.rule.code,
                "priority": e.rule.priority,
                "outcome": e.outcome.value,
                "reason": e.reason,
            }
            for e in evaluation.result.trace
        ],
        many=True,
    ).data
    assert body["trace"] == [dict(entry) for entry in expected]
    assert len(body["trace"]) == 6


def test_startup_sms_falls_back_to_the_standard_rule(worked_example, support_api):
    """The startup list has no SMS price, so STD-2026 prices it (0.50 CZK)."""
    body = rate(support_api, worked_example["startup"], item_code="SMS", quantity="3").json()
    assert body["rule_code"] == "STD-2026"
    assert body["unit_price"] == "0.500000"
    assert body["amount"] == "1.50"
    startup = next(t for t in body["trace"] if t["rule_code"] == "STARTUP-2026")
    assert startup["outcome"] == "no price for item"


@pytest.mark.parametrize(
    ("customer", "rule_code", "unit_price"),
    [("end_customer", "VIP-RETAIL-2026", "0.600000"), ("tech_corp", "STD-2026", "1.200000")],
)
def test_each_segment_gets_its_rule(worked_example, manager_api, customer, rule_code, unit_price):
    body = rate(manager_api, worked_example[customer]).json()
    assert (body["rule_code"], body["unit_price"]) == (rule_code, unit_price)


def test_rate_by_external_id(worked_example, support_api):
    body = support_api.post(
        "/api/v1/rate",
        {
            "external_id": "CUST-0003",
            "billing_category": "retail",
            "item_code": "GB",
            "quantity": "2.5",
            "occurred_at": MARCH_1,
        },
    ).json()
    assert (body["rule_code"], body["amount"]) == ("STARTUP-2026", "45.00")


def test_unrated_answer_has_nulls_and_a_reason(worked_example, support_api):
    """No rule prices the item: rated false, prices null, a reason a person can read out."""
    body = rate(support_api, worked_example["startup"], item_code="fax").json()
    assert body["rated"] is False
    for field in ("rule_id", "rule_code", "price_list_id", "currency", "unit_price", "amount"):
        assert body[field] is None
    assert "fax" in body["reason"]


def test_rating_stores_nothing(worked_example, support_api):
    memberships = Membership.objects.count()
    rate(support_api, worked_example["startup"])
    assert not UsageRecord.objects.exists()
    assert Membership.objects.count() == memberships


def test_occurred_at_defaults_to_now(worked_example, support_api):
    body = support_api.post(
        "/api/v1/rate",
        {
            "external_id": "CUST-0003",
            "billing_category": "retail",
            "item_code": "minute",
            "quantity": 1,
        },
    ).json()
    occurred = datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - occurred).total_seconds()) < 60


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "1e30"}, "quantity"),
        ({"quantity": "12345678901234567890"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": None}, "quantity"),
        ({"quantity": [1]}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-02-30T10:00:00Z"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
        ({"occurred_at": 1767225600}, "occurred_at"),
        ({"billing_category": "Retail!"}, "billing_category"),
        ({"billing_category": ""}, "billing_category"),
        ({"item_code": "two words"}, "item_code"),
        ({"customer_id": "nope"}, "customer_id"),
        ({"customer_id": None}, "customer_id"),
        ({"customer_id": ...}, "customer_id"),
    ],
)
def test_bad_rate_input_is_a_400(support_api, changes, field):
    """Absurd quantities, bad dates, unknown customers: 400 on the field, never 500."""
    body = {
        "customer_id": str(factories.customer().pk),
        "billing_category": "retail",
        "item_code": "minute",
        "quantity": "1",
        "occurred_at": MARCH_1,
        **changes,
    }
    body = {key: value for key, value in body.items() if value is not ...}
    response = support_api.post("/api/v1/rate", body)
    assert response.status_code == 400
    assert field in response.json(), response.json()


@pytest.mark.parametrize("rules", [1, 40])
def test_rate_runs_three_queries_of_its_own_whatever_the_number_of_rules(
    worked_example, superuser, rules
):
    """Token lookup + customer + rules' stamp + memberships = 4, with 5 or 45 rules.

    The first rating after the rules changed also loads them and their prices (two more). A
    superuser needs no permission queries; other roles add two (their permissions, loaded once
    per request by Django's ModelBackend).
    """
    for _ in range(rules):
        factories.rule(group=factories.group())
    api = Api(superuser)
    with CaptureQueriesContext(connection) as queries:
        response = rate(api, worked_example["startup"])
    assert response.status_code == 200
    assert len(queries) == 6
    with CaptureQueriesContext(connection) as queries:
        response = rate(api, worked_example["startup"])
    assert response.status_code == 200
    assert len(queries) == 4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_id": "00000000-0000-0000-0000-000000000000"}, "No customer with this id."),
        ({"customer_id": ..., "external_id": "NOBODY"}, "No customer with this external ID."),
    ],
)
def test_rating_a_customer_that_does_not_exist_is_a_404(support_api, changes, message):
    """A well-formed id or external ID that names nobody: 404 saying so, as for paths."""
    body = {"billing_category": "retail", "item_code": "minute", "quantity": "1", **changes}
    body = {key: value for key, value in body.items() if value is not ...}
    response = support_api.post("/api/v1/rate", body)
    assert response.status_code == 404
    assert response.json() == {"detail": message}


def test_customer_id_and_external_id_must_name_the_same_customer(support_api):
    """Both may be sent; when they name different customers the request is a 400."""
    alpha = factories.customer(external_id="A-1")
    factories.customer(external_id="B-1")
    body = {"billing_category": "retail", "item_code": "minute", "quantity": "1"}
    same = support_api.post(
        "/api/v1/rate", {**body, "customer_id": str(alpha.pk), "external_id": "A-1"}
    )
    assert same.status_code == 200
    other = support_api.post(
        "/api/v1/rate", {**body, "customer_id": str(alpha.pk), "external_id": "B-1"}
    )
    assert other.status_code == 400
    assert "external_id" in other.json()
