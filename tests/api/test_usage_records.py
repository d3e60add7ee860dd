"""Usage records over the API: stored and rated at once, all or nothing; filterable lists."""

import json

import pytest

from pricing.models import UsageRecord, UsageStatus
from tests import factories

MARCH_1 = "2026-03-01T12:00:00Z"


def record(**changes):
    body = {
        "external_id": "CUST-0003",
        "billing_category": "retail",
        "item_code": "minute",
        "quantity": "10",
        "occurred_at": MARCH_1,
    }
    body.update(changes)
    return body


def test_one_record_is_stored_with_its_embedded_price(worked_example, manager_api, manager):
    """POST one object: 201 with the stored record, rated by STARTUP-2026."""
    response = manager_api.post("/api/v1/usage-records", record())
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "rated"
    assert (body["rule_code"], body["price_list_code"]) == ("STARTUP-2026", "STARTUP-RETAIL-2026")
    assert (body["unit_price"], body["amount"], body["currency"]) == ("0.800000", "8.00", "CZK")
    stored = UsageRecord.objects.get(pk=body["id"])
    assert stored.created_by == manager
    assert stored.customer == worked_example["startup"]


def test_a_list_is_stored_and_returned_in_order(worked_example, manager_api):
    """POST a list: 201 with a list in the same order, each with its own outcome."""
    rows = [
        record(item_code="minute"),
        record(item_code="SMS", customer_id=str(worked_example["startup"].pk)),
        record(item_code="fax"),
    ]
    response = manager_api.post("/api/v1/usage-records", rows)
    assert response.status_code == 201
    body = response.json()
    assert [(r["item_code"], r["status"], r["rule_code"]) for r in body] == [
        ("minute", "rated", "STARTUP-2026"),
        ("SMS", "rated", "STD-2026"),
        ("fax", "unrated", ""),
    ]
    assert body[2]["amount"] is None
    assert "fax" in body[2]["unrated_reason"]
    assert UsageRecord.objects.count() == 3


def test_one_bad_record_in_a_list_stores_nothing(worked_example, manager_api):
    """Errors are reported by index; the good records are not stored either."""
    rows = [record(), record(quantity="-5"), record(), record(external_id="NOBODY")]
    response = manager_api.post("/api/v1/usage-records", rows)
    assert response.status_code == 400
    errors = response.json()["records"]
    assert set(errors) == {"1", "3"}
    assert "quantity" in errors["1"]
    assert "external_id" in errors["3"]
    assert not UsageRecord.objects.exists()


def test_a_bad_single_record_gets_field_errors(worked_example, manager_api):
    response = manager_api.post("/api/v1/usage-records", record(quantity="lots"))
    assert response.status_code == 400
    assert "quantity" in response.json()


@pytest.mark.parametrize(
    "body",
    [[], "text", 42, None, [1, 2], [None]],
    ids=["empty", "str", "int", "null", "ints", "nulls"],
)
def test_bodies_that_are_not_records_are_a_400(manager_api, body):
    response = manager_api.client.post(
        "/api/v1/usage-records", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert not UsageRecord.objects.exists()


def test_more_than_ten_thousand_records_is_a_400(worked_example, manager_api):
    response = manager_api.post("/api/v1/usage-records", [record()] * 10_001)
    assert response.status_code == 400
    assert "10000" in response.json()["non_field_errors"][0]
    assert not UsageRecord.objects.exists()


def test_an_amount_too_large_to_store_is_a_400_and_stores_nothing(manager_api):
    """999,999,999 units at 999,999,999 each: valid inputs, but the amount cannot be stored."""
    customer = factories.customer(external_id="BIG")
    factories.rule(price_list=factories.price_list(items={"minute": "999999999"}))
    rows = [
        record(external_id="BIG", quantity="1"),
        record(external_id="BIG", quantity="999999999"),
    ]
    response = manager_api.post("/api/v1/usage-records", rows)
    assert response.status_code == 400
    assert "quantity" in response.json()["records"]["1"]
    assert not UsageRecord.objects.filter(customer=customer).exists()


def test_list_filters_customer_status_category_and_time_range(manager_api):
    """customer (id or external ID), status, category, occurred_at_after/_before."""
    from datetime import UTC, datetime

    alpha = factories.customer(external_id="A-1")
    beta = factories.customer(external_id="B-1")
    factories.usage(alpha, occurred_at=datetime(2026, 1, 5, tzinfo=UTC), status=UsageStatus.PENDING)
    factories.usage(alpha, occurred_at=datetime(2026, 2, 5, tzinfo=UTC), billing_category="iot")
    factories.usage(beta, occurred_at=datetime(2026, 3, 5, tzinfo=UTC), status=UsageStatus.UNRATED)

    def count(params):
        response = manager_api.get("/api/v1/usage-records", params)
        assert response.status_code == 200, response.json()
        return response.json()["count"]

    assert count({}) == 3
    assert count({"customer": str(alpha.pk)}) == 2
    assert count({"customer": "B-1"}) == 1
    assert count({"status": "unrated"}) == 1
    assert count({"category": "iot"}) == 1
    assert count({"occurred_at_after": "2026-02-01T00:00:00Z"}) == 2
    assert count({"occurred_at_after": "2026-02-01", "occurred_at_before": "2026-03-01"}) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"occurred_at_after": "last week"},
        {"occurred_at_before": "2026-13-01"},
        {"occurred_at_after": "0001-01-01T00:00:00+05:00"},
    ],
)
def test_bad_usage_filters_are_a_400(manager_api, params):
    assert manager_api.get("/api/v1/usage-records", params).status_code == 400


def test_time_filters_accept_any_iso_offset(manager_api):
    """ISO 8601 allows offsets PostgreSQL refuses (+18:33); they are converted to UTC first."""
    factories.usage(factories.customer())
    params = {"occurred_at_after": "2026-02-28T23:00:00+18:33"}
    response = manager_api.get("/api/v1/usage-records", params)
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_usage_records_are_newest_first_and_paginated(manager_api):
    from datetime import UTC, datetime

    customer = factories.customer()
    for day in range(1, 6):
        factories.usage(customer, occurred_at=datetime(2026, 1, day, tzinfo=UTC))
    body = manager_api.get("/api/v1/usage-records", {"page_size": 2, "page": 2}).json()
    assert body["count"] == 5
    assert [r["occurred_at"][:10] for r in body["results"]] == ["2026-01-03", "2026-01-02"]
    assert body["next"]
    assert body["previous"]
