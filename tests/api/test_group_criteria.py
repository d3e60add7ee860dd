"""Criteria groups over the API: set, read, preview, refresh; customer attributes."""

import pytest

from background.models import Work
from groups.criteria.models import GroupCriteria
from groups.models import Customer, Membership
from tests import factories

CZ = {"kind": "attribute", "field": "country", "op": "equals", "value": "cz"}


@pytest.fixture
def group(db):
    g = factories.group("VIP", code="vip")
    for n in range(3):
        factories.customer(f"CZ {n}", country="CZ")
    member = factories.customer("DE member", country="DE", external_id="DE-1")
    factories.membership(g, member)
    return g


def path(group, tail="") -> str:
    return f"/api/v1/groups/{group.pk}/criteria{tail}"


def test_put_then_get_criteria(group, manager_api):
    response = manager_api.put(path(group), {"conditions": [CZ], "minimum_stay_days": 30})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["conditions"] == [{**CZ, "value": "CZ"}]
    assert body["version"] == 1
    assert body["descriptions"] == ["country equals CZ"]
    again = manager_api.get(path(group)).json()
    assert again["minimum_stay_days"] == 30
    stale = manager_api.put(path(group), {"conditions": [], "version": 0})
    assert stale.status_code == 400
    assert GroupCriteria.objects.get().version == 1


def test_get_without_criteria_is_404(group, support_api):
    assert support_api.get(path(group)).status_code == 404


def test_invalid_criteria_are_a_400_with_messages_and_store_nothing(group, manager_api):
    response = manager_api.put(
        path(group),
        {
            "conditions": [
                {
                    "kind": "usage",
                    "measure": "amount",
                    "window": "previous_month",
                    "op": "gt",
                    "threshold": "1",
                }
            ],
            "never_include": ["NOPE"],
        },
    )
    assert response.status_code == 400
    text = str(response.json())
    assert "Condition 1: an amount needs the ISO 4217 currency" in text
    assert "Unknown customers" in text
    assert not GroupCriteria.objects.exists()


def test_preview_names_who_would_join_and_leave(group, support_api):
    response = support_api.post(path(group, "/preview"), {"conditions": [CZ]})
    assert response.status_code == 200
    assert response.json() == {
        "joining": 3,
        "leaving": 1,
        "held_by_minimum_stay": 0,
        "members_after": 3,
        "joining_names": ["CZ 0", "CZ 1", "CZ 2"],
        "leaving_names": ["DE member"],
    }


def test_refresh_starts_work_and_support_may_not_set_criteria(
    group, manager_api, support_api, run_queue
):
    assert support_api.put(path(group), {"conditions": [CZ]}).status_code == 403
    assert support_api.post(path(group, "/refresh")).status_code == 400  # no criteria yet
    manager_api.put(path(group), {"conditions": [CZ], "always_include": ["DE-1"]})
    response = support_api.post(path(group, "/refresh"))
    assert response.status_code == 202
    assert Work.objects.filter(pk=response.json()["work_id"]).exists()
    run_queue()
    assert Membership.objects.current().filter(group=group).count() == 4
    history = support_api.get(f"/api/v1/groups/{group.pk}/history").json()["results"]
    joins = [p for p in history if p["joined_by_criteria_version"] == 1]
    assert len(joins) == 3  # DE member stays: always included


def test_anonymous_and_roleless_are_refused(group, anonymous_api, nobody_api):
    assert anonymous_api.get(path(group)).status_code == 401
    assert nobody_api.post(path(group, "/preview"), {"conditions": []}).status_code == 403


def test_customer_attributes_in_the_api(db, support_api):
    response = support_api.post(
        "/api/v1/customers",
        {
            "name": "Attr Co",
            "country": "cz",
            "segment": "enterprise",
            "signed_up_on": "2025-02-01",
            "attributes": {"industry": "telecom"},
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["country"], body["segment"], body["signed_up_on"]) == (
        "CZ",
        "enterprise",
        "2025-02-01",
    )
    assert body["attributes"] == {"industry": "telecom"}
    bad = support_api.patch(f"/api/v1/customers/{body['id']}", {"attributes": {"Bad Key": "x"}})
    assert bad.status_code == 400
    assert "not a usable attribute name" in str(bad.json())
    bad_country = support_api.patch(f"/api/v1/customers/{body['id']}", {"country": "C1"})
    assert bad_country.status_code == 400
    assert Customer.objects.get(pk=body["id"]).attributes == {"industry": "telecom"}
