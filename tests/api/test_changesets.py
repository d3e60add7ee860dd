"""The changesets API: the same workflow and permissions as the pages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.roles import PRICING_MANAGERS
from pricing import services
from pricing.models import Changeset, ChangesetState, PricingRule
from tests import factories
from tests.api.conftest import Api

BASE = "/api/v1/changesets"


@pytest.fixture
def rule(db):
    return factories.rule("API-RULE", priority=10)


@pytest.fixture
def reviewer_api(db) -> Api:
    return Api(factories.user("reviewer", role=PRICING_MANAGERS))


def _draft(api, rule, priority=300) -> str:
    response = api.post(BASE, {"title": "Raise API-RULE"})
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = api.post(
        f"{BASE}/{pk}/changes",
        {
            "kind": "rule",
            "action": "update",
            "target_id": str(rule.pk),
            "fields": {"priority": priority},
        },
    )
    assert response.status_code == 201, response.json()
    return pk


def test_the_whole_workflow_over_the_api(manager_api, reviewer_api, rule):
    """Draft, field diff, submit, approval by another manager, publish: the rule changes only
    at the publish."""
    pk = _draft(manager_api, rule)
    detail = manager_api.get(f"{BASE}/{pk}").json()
    [change] = detail["changes"]
    assert change["fields"] == [
        {"name": "priority", "label": "Priority", "old": "10", "new": "300"}
    ]
    assert manager_api.post(f"{BASE}/{pk}/submit").status_code == 200
    own = manager_api.post(f"{BASE}/{pk}/approve", {"comment": ""})
    assert own.status_code == 400
    assert "another pricing manager" in str(own.json())
    approved = reviewer_api.post(f"{BASE}/{pk}/approve", {"comment": "fine"})
    assert approved.json()["state"] == "approved"
    assert approved.json()["reviewed_by"] == "reviewer"
    assert PricingRule.objects.get(pk=rule.pk).priority == 10
    published = reviewer_api.post(f"{BASE}/{pk}/publish")
    assert published.status_code == 200
    assert published.json()["state"] == "published"
    assert PricingRule.objects.get(pk=rule.pk).priority == 300
    rolled = manager_api.post(f"{BASE}/{pk}/rollback")
    assert rolled.status_code == 201
    body = rolled.json()
    assert body["state"] == "draft"
    assert body["rollback_of_id"] == pk
    assert body["changes"][0]["fields"][0]["new"] == "10"


def test_support_staff_can_read_but_not_write(support_api, manager_api, rule):
    pk = _draft(manager_api, rule)
    assert support_api.get(BASE).status_code == 200
    assert support_api.get(f"{BASE}/{pk}").status_code == 200
    assert support_api.post(BASE, {"title": "x"}).status_code == 403
    for verb in ("submit", "approve", "reject", "publish", "rollback", "withdraw"):
        assert support_api.post(f"{BASE}/{pk}/{verb}", {"comment": "x"}).status_code == 403, verb
    assert Changeset.objects.get(pk=pk).state == ChangesetState.DRAFT


def test_a_wrong_state_is_a_400_with_the_reason(manager_api, reviewer_api, rule):
    pk = _draft(manager_api, rule)
    response = reviewer_api.post(f"{BASE}/{pk}/approve", {})
    assert response.status_code == 400
    assert "is draft: it cannot be approved (only when submitted for review)" in str(
        response.json()
    )


def test_a_conflicting_publish_is_a_409_listing_the_conflicts(manager_api, manager, rule):
    pk = _draft(manager_api, rule)
    services.rule_update(rule=rule, by=manager, name="Moved meanwhile")
    response = manager_api.post(f"{BASE}/{pk}/publish")
    assert response.status_code == 409
    [conflict] = response.json()["conflicts"]
    assert conflict["who"] == manager.username
    assert conflict["fields"] == ["Name"]
    assert PricingRule.objects.get(pk=rule.pk).priority == 10


def test_invalid_change_fields_are_400_by_field(manager_api, rule):
    pk = manager_api.post(BASE, {"title": "Bad"}).json()["id"]
    response = manager_api.post(
        f"{BASE}/{pk}/changes",
        {"kind": "rule", "action": "update", "target_id": str(rule.pk), "fields": {"priority": -1}},
    )
    assert response.status_code == 400
    assert "priority" in response.json()["fields"]
    missing = manager_api.post(f"{BASE}/{pk}/changes", {"kind": "rule", "action": "delete"})
    assert missing.status_code == 400
    assert "target_id" in missing.json()


def test_scheduling_over_the_api(manager_api, rule):
    pk = _draft(manager_api, rule)
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    response = manager_api.post(f"{BASE}/{pk}/schedule", {"at": at.isoformat()})
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "scheduled"
    past = manager_api.post(f"{BASE}/{pk}/schedule", {"at": "2020-01-01T00:00:00"})
    assert past.status_code == 400
    assert manager_api.post(f"{BASE}/{pk}/unschedule").json()["state"] == "draft"


def test_changesets_are_in_the_schema(client):
    schema = client.get("/api/v1/schema").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/changesets",
        "/api/v1/changesets/{id}/publish",
        "/api/v1/changesets/{id}/changes",
    ):
        assert path in paths, path
    assert "409" in paths["/api/v1/changesets/{id}/publish"]["post"]["responses"]


def test_the_list_and_a_changeset_cost_the_same_queries_whatever_their_size(
    manager_api, manager, django_assert_max_num_queries
):
    from pricing.changesets import publish as pub
    from pricing.changesets import services as cs

    rules = [factories.rule() for _ in range(5)]
    first = cs.changeset_create(title="first", by=manager)
    cs.change_rule(changeset=first, action="update", rule=rules[0], by=manager, priority=1)
    with django_assert_max_num_queries(20) as few:
        manager_api.get(BASE)
    with django_assert_max_num_queries(20) as one:
        manager_api.get(f"{BASE}/{first.pk}")
    for n, rule in enumerate(rules[1:], start=1):
        cs.change_rule(changeset=first, action="update", rule=rule, by=manager, priority=n)
        other = cs.changeset_create(title=f"other {n}", by=manager)
        cs.change_rule(changeset=other, action="disable", rule=rule, by=manager)
        pub.changeset_publish(changeset=other, by=manager)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(manager_api.get(BASE).json()["results"]) == 5
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(manager_api.get(f"{BASE}/{first.pk}").json()["changes"]) == 5


def test_the_price_book_as_of_an_instant_over_the_api(support_api, manager, rule):
    """Support staff ask what a customer paid then: the price before a published change."""
    from pricing.changesets import publish as pub
    from pricing.changesets import services as cs

    customer = factories.customer("Asked", external_id="ASK-1")
    before = timezone.now()
    changeset = cs.changeset_create(title="Up", by=manager)
    cs.change_price_list(
        changeset=changeset,
        action="update",
        price_list=rule.price_list,
        by=manager,
        items=[{"item_code": "minute", "unit": "minute", "unit_price": "4"}],
    )
    pub.changeset_publish(changeset=changeset, by=manager)
    then = support_api.get("/api/v1/price-book", {"at": before.isoformat(), "external_id": "ASK-1"})
    assert then.status_code == 200, then.json()
    [price] = then.json()["customer_prices"]
    assert (price["rule_code"], price["unit_price"], price["currency"]) == (
        "API-RULE",
        "1.00",
        "CZK",
    )
    now = support_api.get("/api/v1/price-book", {"customer_id": str(customer.pk)}).json()
    assert now["customer_prices"][0]["unit_price"] == "4.00"
    assert now["rules"][0]["prices"] == [
        {"item_code": "minute", "unit_price": "4.00", "mode": "per_unit"}
    ]
    assert support_api.get("/api/v1/price-book", {"external_id": "nobody"}).status_code == 400
    assert support_api.get("/api/v1/price-book", {"at": "yesterday"}).status_code == 400
