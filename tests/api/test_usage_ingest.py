"""Bulk ingestion through POST /usage-records: CSV bodies, counts-and-ids answers, a fixed number
of queries whatever the number of records, and Idempotency-Key (a retry stores nothing twice)."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing.models import IdempotentRequest, UsageRecord, UsageStatus
from tests import factories
from tests.api.conftest import Api
from tests.concurrency import at_once

URL = "/api/v1/usage-records"
HEADER = "customer,billing_category,item_code,quantity,occurred_at\n"


def csv_body(*lines: str) -> str:
    return HEADER + "".join(f"{line}\n" for line in lines)


def post_csv(api: Api, text: str, **headers):
    return api.client.post(URL, text, content_type="text/csv", **headers)


def record(customer, quantity="1", item_code="minute") -> dict:
    return {
        "customer_id": str(customer.pk),
        "billing_category": "retail",
        "item_code": item_code,
        "quantity": quantity,
        "occurred_at": "2026-03-01T12:00:00Z",
    }


def test_csv_is_stored_and_rated_and_answered_with_counts_and_ids(worked_example, manager_api):
    startup = worked_example["startup"]
    text = csv_body(
        f"{startup.pk},retail,minute,2,2026-03-01T12:00:00Z",
        f"{startup.external_id},retail,minute,3.5,2026-03-01T13:00:00+01:00",
        f"{startup.pk},retail,fax,1,2026-03-01T14:00:00Z",  # no rule prices a fax
    )

    response = post_csv(manager_api, text)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["stored"], body["rated"], body["unrated"]) == (3, 2, 1)
    stored = {str(r.pk): r for r in UsageRecord.objects.all()}
    assert set(body["ids"]) == set(stored)
    first, second, third = (stored[i] for i in body["ids"])  # in the file's order
    assert first.quantity == 2
    assert second.quantity == 3.5
    assert third.status == UsageStatus.UNRATED
    assert first.status == UsageStatus.RATED
    assert str(first.amount) == "1.60"  # STARTUP-2026: 0.80 a minute


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer,quantity\nX,1\n", "missing: category, item, occurred_at"),
        (csv_body("a,retail,minute,1"), "Line 2: expected 5 values, found 4."),
        ("\n\n", "first line must name the columns"),
    ],
)
def test_csv_that_is_not_a_table_of_records_is_a_400(manager_api, text, message):
    response = post_csv(manager_api, text)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not UsageRecord.objects.exists()


def test_csv_not_utf8_is_a_400(manager_api):
    response = manager_api.client.post(URL, "é".encode("latin-1"), content_type="text/csv")
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


def test_csv_record_errors_are_reported_by_index_and_nothing_is_stored(worked_example, manager_api):
    startup = worked_example["startup"]
    text = csv_body(
        f"{startup.pk},retail,minute,2,2026-03-01T12:00:00Z",
        f"{startup.pk},retail,minute,-2,2026-03-01T12:00:00Z",
        "NOBODY,retail,minute,1,2026-03-01T12:00:00Z",
    )
    response = post_csv(manager_api, text)
    assert response.status_code == 400
    errors = response.json()["records"]
    assert set(errors) == {"1", "2"}
    assert "quantity" in errors["1"]
    assert "external_id" in errors["2"]
    assert not UsageRecord.objects.exists()


def test_prefer_minimal_answers_counts_and_ids_for_json(worked_example, manager_api):
    records = [record(worked_example["startup"], quantity=str(n + 1)) for n in range(3)]
    response = manager_api.client.post(
        URL, records, content_type="application/json", HTTP_PREFER="return=minimal"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["stored"] == 3
    quantities = [UsageRecord.objects.get(pk=i).quantity for i in body["ids"]]
    assert quantities == [1, 2, 3]


def test_ingestion_queries_do_not_grow_with_records(worked_example, superuser):
    """Token, customers, the rule book's check, memberships, the insert (one statement per
    2,000 records) and the transaction: 8 queries for 10 records and for 600."""
    api = Api(superuser)
    people = [worked_example[name] for name in ("startup", "end_customer", "tech_corp")]
    api.post(URL, [record(people[0])])  # loads the rule book
    counts = []
    for count in (10, 600):
        records = [record(people[n % 3], quantity=str(n + 1)) for n in range(count)]
        with CaptureQueriesContext(connection) as queries:
            response = api.client.post(
                URL, records, content_type="application/json", HTTP_PREFER="return=minimal"
            )
        assert response.status_code == 201
        assert response.json()["stored"] == count
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8, counts


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_a_retry_with_the_same_key_stores_nothing_and_gets_the_first_answer(
    worked_example, manager_api
):
    records = [record(worked_example["startup"], quantity=str(n + 1)) for n in range(3)]
    key = str(uuid.uuid4())

    def send():
        return manager_api.client.post(
            URL, records, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )

    first, again = send(), send()

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert UsageRecord.objects.count() == 3


def test_the_same_key_with_another_body_is_a_422(worked_example, manager_api):
    key = "retry-42"
    startup = worked_example["startup"]
    first = post_csv(
        manager_api,
        csv_body(f"{startup.pk},retail,minute,1,2026-03-01T12:00:00Z"),
        HTTP_IDEMPOTENCY_KEY=key,
    )
    other = post_csv(
        manager_api,
        csv_body(f"{startup.pk},retail,minute,9,2026-03-01T12:00:00Z"),
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert first.status_code == 201
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]
    assert UsageRecord.objects.count() == 1


def test_a_failed_request_does_not_use_up_its_key(worked_example, manager_api):
    key = "fix-and-retry"
    bad = record(worked_example["startup"], quantity="-1")
    response = manager_api.client.post(
        URL, [bad], content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert not IdempotentRequest.objects.exists()
    good = record(worked_example["startup"])
    response = manager_api.client.post(
        URL, [good], content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 201
    assert UsageRecord.objects.count() == 1


def test_keys_belong_to_their_user(worked_example, manager_api, superuser_api):
    body = [record(worked_example["startup"])]
    for api in (manager_api, superuser_api):
        response = api.client.post(
            URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="shared"
        )
        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
    assert UsageRecord.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
def test_a_malformed_key_is_a_400(worked_example, manager_api, key):
    response = manager_api.client.post(
        URL,
        [record(worked_example["startup"])],
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not UsageRecord.objects.exists()


def test_old_keys_are_pruned(worked_example, manager_api):
    from datetime import timedelta

    from django.utils import timezone

    from pricing import idempotency

    manager_api.client.post(
        URL,
        [record(worked_example["startup"])],
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="old",
    )
    assert idempotency.prune() == 0
    assert idempotency.prune(now=timezone.now() + timedelta(hours=25)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_key_at_once_store_once(manager):
    """The second waits on the key's unique index, then answers what the first stored."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    factories.rule(priority=0)
    customer = factories.customer()
    body = [record(customer, quantity=str(n + 1)) for n in range(50)]

    def send():
        response = Api(manager).client.post(
            URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="race"
        )
        return response.status_code, response.json()

    results, errors = at_once(send, send)

    assert not errors
    assert [status for status, _ in results] == [201, 201]
    assert results[0][1] == results[1][1]
    assert UsageRecord.objects.count() == 50
