"""POST /rate with {"records": [...]}: up to 1,000 records answered in order, each with its own
result or errors, in a fixed number of queries; ?trace=0 leaves the trace out."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing.api import MAX_RATE_RECORDS
from tests import factories
from tests.api.conftest import Api

MARCH_1 = "2026-03-01T12:00:00Z"


def record(customer, item_code="minute", **extra) -> dict:
    return {
        "customer_id": str(customer.pk),
        "billing_category": "retail",
        "item_code": item_code,
        "quantity": "1",
        "occurred_at": MARCH_1,
        **extra,
    }


def test_each_record_is_answered_in_order_as_one_record_would_be(worked_example, support_api):
    people = [worked_example[name] for name in ("startup", "end_customer", "tech_corp")]
    records = [record(person, quantity=str(n + 1)) for n, person in enumerate(people)]

    response = support_api.post("/api/v1/rate", {"records": records})

    assert response.status_code == 200
    answers = response.json()
    assert [a["customer"]["id"] for a in answers] == [str(p.pk) for p in people]
    for one, answer in zip(records, answers, strict=True):
        alone = support_api.post("/api/v1/rate", one).json()
        assert answer == alone


def test_one_bad_record_does_not_fail_the_others(worked_example, support_api):
    good = record(worked_example["startup"])
    records = [
        good,
        {**good, "quantity": "-1"},
        {**good, "customer_id": "00000000-0000-0000-0000-000000000000"},
        {"billing_category": "retail"},
        "not an object",
        good,
    ]

    response = support_api.post("/api/v1/rate", {"records": records})

    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == len(records)
    assert answers[0]["rule_code"] == answers[5]["rule_code"] == "STARTUP-2026"
    assert answers[1] == {"errors": {"quantity": ["Quantity must be greater than zero."]}}
    assert answers[2] == {"errors": {"customer_id": ["No customer with this id."]}}
    assert set(answers[3]["errors"]) >= {"item_code", "quantity"}
    assert "non_field_errors" in answers[4]["errors"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"records": []}, "non-empty list"),
        ({"records": {"customer_id": "x"}}, "non-empty list"),
        ({"records": [{}] * (MAX_RATE_RECORDS + 1)}, f"At most {MAX_RATE_RECORDS} records"),
    ],
)
def test_a_list_that_cannot_be_rated_is_a_400(worked_example, support_api, body, message):
    response = support_api.post("/api/v1/rate", body)
    assert response.status_code == 400
    assert message in response.json()["records"][0]


def test_trace_zero_leaves_the_trace_out_and_nothing_else(worked_example, support_api):
    one = record(worked_example["startup"])
    full = support_api.post("/api/v1/rate", one).json()
    priced = support_api.post("/api/v1/rate?trace=0", one).json()
    many = support_api.post("/api/v1/rate?trace=0", {"records": [one, one]}).json()
    assert "trace" in full
    assert "trace" not in priced
    assert priced == {k: v for k, v in full.items() if k != "trace"}
    assert many == [priced, priced]


@pytest.mark.parametrize("customers", [2, 30])
def test_a_list_costs_the_same_queries_whatever_its_customers_and_records(
    worked_example, superuser, customers
):
    """Token + customers by id + rules' stamp + memberships of all of them = 4, after the rule
    book is loaded, for 2 or 30 customers and 4 or 60 records."""
    group = worked_example["vip"]
    people = [factories.customer() for _ in range(customers)]
    for person in people[::2]:
        factories.membership(group, person)
    records = [record(p, quantity=str(n + 1)) for p in people for n in range(2)]
    api = Api(superuser)
    api.post("/api/v1/rate", {"records": records[:1]})  # loads the rule book
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/rate?trace=0", {"records": records})
    assert response.status_code == 200
    assert len(response.json()) == len(records)
    assert len(queries) == 4, [q["sql"][:80] for q in queries]


def test_only_the_periods_that_can_hold_the_records_are_read(worked_example, support_api):
    """A customer's old periods are not loaded to rate this month's records; the answer is the
    same (``MembershipQuerySet.during`` is property-tested against the engine)."""
    from datetime import UTC, datetime

    from pricing.selectors import memberships_of

    group, person = worked_example["vip"], factories.customer()
    for year in range(2015, 2025):  # ten years of joining and leaving
        factories.membership(
            group,
            person,
            joined_at=datetime(year, 1, 1, tzinfo=UTC),
            left_at=datetime(year, 6, 1, tzinfo=UTC),
        )
    current = factories.membership(group, person, joined_at=datetime(2026, 2, 1, tzinfo=UTC))
    march = datetime(2026, 3, 1, 12, tzinfo=UTC)

    periods = memberships_of([person.pk], [march])[person.pk]
    assert [period.joined_at for period, _ in periods] == [current.joined_at]
    assert len(memberships_of([person.pk])[person.pk]) == 11  # without instants: every period

    answers = support_api.post("/api/v1/rate", {"records": [record(person)] * 2}).json()
    assert [g["code"] for g in answers[0]["groups"]] == [group.code]
    assert answers[0] == answers[1] == support_api.post("/api/v1/rate", record(person)).json()
