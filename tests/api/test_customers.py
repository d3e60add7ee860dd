"""Customers over the API, with their groups and group_codes that set memberships."""

import pytest

from groups.models import Customer, Membership
from tests import factories


@pytest.fixture
def groups(db):
    return {
        "vip": factories.group("VIP Customers", code="vip"),
        "standard": factories.group("Standard", code="standard"),
    }


def test_create_customer_with_group_codes_records_the_memberships(groups, support_api, support):
    """POST with group_codes: 201, groups in the response, memberships joined by the caller."""
    response = support_api.post(
        "/api/v1/customers",
        {"name": "Newco", "external_id": "CRM-1", "group_codes": ["VIP", "standard"]},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "CRM-1"
    assert body["is_active"] is True
    assert "group_codes" not in body
    assert [(g["code"], g["name"]) for g in body["groups"]] == [
        ("standard", "Standard"),
        ("vip", "VIP Customers"),
    ]
    memberships = Membership.objects.filter(customer_id=body["id"])
    assert {m.joined_by for m in memberships} == {support}


def test_unknown_group_code_is_a_400_and_creates_nothing(groups, manager_api):
    """Atomic: a customer with an unknown group code is not created at all."""
    response = manager_api.post(
        "/api/v1/customers", {"name": "Newco", "group_codes": ["vip", "no-such-group"]}
    )
    assert response.status_code == 400
    assert "no-such-group" in response.json()["group_codes"][0]
    assert not Customer.objects.filter(name="Newco").exists()
    assert not Membership.objects.exists()


def test_patch_group_codes_replaces_memberships_and_keeps_history(groups, manager_api):
    """Leaving a group closes the period (history), joining opens one."""
    customer = factories.customer()
    factories.membership(groups["vip"], customer)
    response = manager_api.patch(f"/api/v1/customers/{customer.pk}", {"group_codes": ["standard"]})
    assert response.status_code == 200
    assert [g["code"] for g in response.json()["groups"]] == ["standard"]
    vip_period = Membership.objects.get(customer=customer, group=groups["vip"])
    assert vip_period.left_at is not None

    response = manager_api.patch(f"/api/v1/customers/{customer.pk}", {"group_codes": []})
    assert response.json()["groups"] == []


def test_patch_with_a_bad_group_code_changes_nothing(groups, manager_api):
    """The name change and the memberships are one transaction."""
    customer = factories.customer("Before")
    factories.membership(groups["vip"], customer)
    response = manager_api.patch(
        f"/api/v1/customers/{customer.pk}", {"name": "After", "group_codes": ["nope"]}
    )
    assert response.status_code == 400
    customer.refresh_from_db()
    assert customer.name == "Before"
    assert Membership.objects.current().filter(customer=customer).count() == 1


def test_patch_without_group_codes_leaves_memberships_alone(groups, manager_api):
    customer = factories.customer()
    factories.membership(groups["vip"], customer)
    response = manager_api.patch(f"/api/v1/customers/{customer.pk}", {"email": "a@b.example"})
    assert response.status_code == 200
    assert [g["code"] for g in response.json()["groups"]] == ["vip"]


def test_filters_external_id_search_and_group(groups, manager_api):
    """external_id exact, search in name/external ID/email, group by id or code."""
    alpha = factories.customer("Alpha Telecom", external_id="A-1", email="bill@alpha.example")
    factories.customer("Beta Foods", external_id="B-1")
    factories.membership(groups["vip"], alpha)

    def names(params):
        response = manager_api.get("/api/v1/customers", params)
        assert response.status_code == 200
        return [c["name"] for c in response.json()["results"]]

    assert names({"external_id": "B-1"}) == ["Beta Foods"]
    assert names({"search": "alpha.example"}) == ["Alpha Telecom"]
    assert names({"group": "vip"}) == ["Alpha Telecom"]
    assert names({"group": str(groups["vip"].pk)}) == ["Alpha Telecom"]
    assert names({"group": str(groups["standard"].pk)}) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "X", "email": "not-an-email"}, "email"),
        ({"name": "X", "group_codes": "vip"}, "group_codes"),
        ({"name": "X", "group_codes": [None]}, "group_codes"),
        ({"name": "X", "is_active": "maybe"}, "is_active"),
        ({"name": "X", "external_id": "E" * 101}, "external_id"),
    ],
)
def test_invalid_customer_input_is_a_400(manager_api, body, field):
    response = manager_api.post("/api/v1/customers", body)
    assert response.status_code == 400
    assert field in response.json()


def test_duplicate_external_id_is_a_400_naming_the_owner(manager_api):
    factories.customer("Alpha", external_id="A-1")
    response = manager_api.post("/api/v1/customers", {"name": "Other", "external_id": "A-1"})
    assert response.status_code == 400
    assert "Alpha" in response.json()["external_id"][0]


def test_deleting_a_customer_with_usage_archives_it(manager_api):
    """Usage records are history: the customer is archived (200 saying so), not deleted."""
    customer = factories.customer("Alpha")
    factories.usage(customer)
    response = manager_api.delete(f"/api/v1/customers/{customer.pk}")
    assert response.status_code == 200
    assert response.json()["result"] == "archived"
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert Customer.all_objects.get(pk=customer.pk).is_archived


def test_deleting_a_customer_that_rules_target_is_a_409(manager_api):
    """Rules protect a customer: 409 naming them."""
    customer = factories.customer("Alpha")
    factories.rule("ALPHA-ONLY", customer=customer)
    response = manager_api.delete(f"/api/v1/customers/{customer.pk}")
    assert response.status_code == 409
    assert "ALPHA-ONLY" in response.json()["detail"]
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_put_is_not_offered_for_customers(manager_api):
    """Customers change with PATCH only (405 for PUT)."""
    customer = factories.customer()
    response = manager_api.put(f"/api/v1/customers/{customer.pk}", {"name": "X"})
    assert response.status_code == 405


def test_unknown_or_malformed_customer_ids_are_404(manager_api):
    for customer_id in ("00000000-0000-0000-0000-000000000000", "abc"):
        assert manager_api.get(f"/api/v1/customers/{customer_id}").status_code == 404
        assert manager_api.patch(f"/api/v1/customers/{customer_id}", {}).status_code == 404
