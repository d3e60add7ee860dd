"""Groups over the API: CRUD, filters, membership (idempotent add, remove, history)."""

import pytest

from groups.models import CustomerGroup, Membership
from tests import factories

GROUP_FIELDS = {
    "id",
    "name",
    "code",
    "description",
    "expires_on",
    "version",
    "member_count",
    "created_at",
    "updated_at",
}


def test_create_group_returns_the_documented_fields(manager_api):
    """POST /groups: 201 with the group, its code derived from the name and no members yet."""
    response = manager_api.post(
        "/api/v1/groups", {"name": "Summer Promo 2027", "expires_on": "2027-08-31"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == GROUP_FIELDS
    assert body["code"] == "summer-promo-2027"
    assert body["member_count"] == 0
    assert body["expires_on"] == "2027-08-31"
    assert CustomerGroup.objects.filter(pk=body["id"], name="Summer Promo 2027").exists()


def test_paths_work_with_and_without_trailing_slash(manager_api):
    """/groups and /groups/, /groups/{id} and /groups/{id}/ are the same resource."""
    group = factories.group("Gold")
    for path in ("/api/v1/groups", "/api/v1/groups/"):
        assert manager_api.get(path).json()["count"] == 1
    for path in (f"/api/v1/groups/{group.pk}", f"/api/v1/groups/{group.pk}/"):
        assert manager_api.get(path).json()["name"] == "Gold"
    assert manager_api.post("/api/v1/groups/", {"name": "Silver"}).status_code == 201


def test_duplicate_name_in_another_case_is_a_400_naming_the_existing_group(manager_api):
    """A case-insensitive duplicate name is refused with a message naming the existing group."""
    factories.group("VIP Customers", code="vip")
    response = manager_api.post("/api/v1/groups", {"name": "vip customers"})
    assert response.status_code == 400
    assert "VIP Customers" in response.json()["name"][0]
    assert CustomerGroup.objects.count() == 1


def test_duplicate_code_is_a_400_on_the_code(manager_api):
    """Codes are unique in any case; the message names the group using it."""
    factories.group("VIP Customers", code="vip")
    response = manager_api.post("/api/v1/groups", {"name": "Other", "code": "VIP"})
    assert response.status_code == 400
    assert "VIP Customers" in response.json()["code"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": ["a list"]}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Ok", "code": "not a slug!"}, "code"),
        ({"name": "Ok", "expires_on": "31/12/2026"}, "expires_on"),
        ({"name": "Ok", "expires_on": "2026-02-30"}, "expires_on"),
        ({"name": "Ok", "expires_on": 20261231}, "expires_on"),
    ],
)
def test_invalid_group_input_is_a_400_on_the_field(manager_api, body, field):
    """Missing, blank, wrongly typed or oversized values: 400 with {field: [messages]}."""
    response = manager_api.post("/api/v1/groups", body)
    assert response.status_code == 400
    assert isinstance(response.json()[field], list)
    assert not CustomerGroup.objects.exists()


def test_a_body_that_is_not_a_json_object_is_a_400(manager_api):
    """A list, a string or malformed JSON is a 400, never a 500."""
    assert manager_api.post("/api/v1/groups", ["Gold"]).status_code == 400
    assert manager_api.post("/api/v1/groups", "Gold").status_code == 400
    response = manager_api.client.post(
        "/api/v1/groups", "{not json", content_type="application/json"
    )
    assert response.status_code == 400


def test_filters_search_code_and_empty(manager_api):
    """search matches name/code/description, code is exact (any case), empty splits by members."""
    gold = factories.group("Gold", code="gold", description="Top spenders")
    factories.group("Silver", code="silver")
    factories.membership(gold, factories.customer())

    def names(params):
        response = manager_api.get("/api/v1/groups", params)
        assert response.status_code == 200
        return [g["name"] for g in response.json()["results"]]

    assert names({"search": "spender"}) == ["Gold"]
    assert names({"search": "SIL"}) == ["Silver"]
    assert names({"code": "GOLD"}) == ["Gold"]
    assert names({"empty": "true"}) == ["Silver"]
    assert names({"empty": "false"}) == ["Gold"]


def test_member_count_counts_current_members_only(manager_api):
    """member_count ignores memberships that ended."""
    group = factories.group()
    factories.membership(group, factories.customer())
    factories.membership(group, factories.customer(), left_at=factories.JAN_1)
    assert manager_api.get(f"/api/v1/groups/{group.pk}").json()["member_count"] == 1


def test_patch_changes_only_what_is_sent_and_put_clears_what_is_left_out(manager_api):
    """PATCH keeps other fields; PUT replaces the group, clearing description and expiry."""
    group = factories.group("Gold", code="gold", description="Top", expires_on="2026-12-31")
    response = manager_api.patch(f"/api/v1/groups/{group.pk}", {"name": "Gold Plus"})
    assert response.status_code == 200
    assert response.json()["description"] == "Top"
    assert response.json()["code"] == "gold"

    response = manager_api.put(f"/api/v1/groups/{group.pk}", {"name": "Gold Plus"})
    assert response.status_code == 200
    assert response.json()["description"] == ""
    assert response.json()["expires_on"] is None
    assert response.json()["code"] == "gold"


def test_deleting_a_group_used_by_rules_is_a_409_naming_the_rules(manager_api):
    """409 with the rules' codes; the group is still there."""
    group = factories.group("Gold")
    factories.rule("GOLD-RETAIL", group=group)
    response = manager_api.delete(f"/api/v1/groups/{group.pk}")
    assert response.status_code == 409
    assert "GOLD-RETAIL" in response.json()["detail"]
    assert CustomerGroup.objects.filter(pk=group.pk).exists()


def test_deleting_a_group_that_never_had_a_member_is_a_204(manager_api):
    group = factories.group()
    assert manager_api.delete(f"/api/v1/groups/{group.pk}").status_code == 204
    assert not CustomerGroup.all_objects.filter(pk=group.pk).exists()


def test_deleting_a_group_with_membership_history_archives_it(manager_api):
    """The API says what happened: 200 with result "archived", and the group is gone from it."""
    group = factories.group()
    factories.membership(group, factories.customer())
    response = manager_api.delete(f"/api/v1/groups/{group.pk}")
    assert response.status_code == 200
    assert response.json()["result"] == "archived"
    assert manager_api.get(f"/api/v1/groups/{group.pk}").status_code == 404
    assert CustomerGroup.all_objects.get(pk=group.pk).is_archived


@pytest.mark.parametrize("group_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "1"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("GET", "/customers"),
        ("POST", "/customers"),
        ("GET", "/history"),
        ("DELETE", "/customers/00000000-0000-0000-0000-000000000000"),
    ],
)
def test_unknown_or_malformed_group_ids_are_json_404s(manager_api, group_id, method, suffix):
    """Unknown and malformed ids: 404 with a JSON detail, never 500."""
    response = manager_api.call(method, f"/api/v1/groups/{group_id}{suffix}", {"name": "X"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unknown_api_urls_are_json_404s(manager_api):
    for path in ("/api/v1/nothing-here", "/api/v1/groups/a.b", "/api/v2/groups"):
        response = manager_api.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


# --- Membership -------------------------------------------------------------------------------


def test_adding_a_member_is_201_then_200_and_one_membership(support_api, support):
    """POST /groups/{id}/customers is idempotent: 201 added, 200 already a member."""
    group = factories.group()
    customer = factories.customer()
    url = f"/api/v1/groups/{group.pk}/customers"

    first = support_api.post(url, {"customer_id": str(customer.pk)})
    assert first.status_code == 201
    assert first.json()["customer"]["id"] == str(customer.pk)
    assert first.json()["joined_by"] == support.username
    assert first.json()["left_at"] is None

    again = support_api.post(url, {"customer_id": str(customer.pk)})
    assert again.status_code == 200
    assert again.json()["joined_at"] == first.json()["joined_at"]
    assert Membership.objects.filter(group=group, customer=customer).count() == 1


def test_adding_a_member_by_external_id(manager_api):
    group = factories.group()
    customer = factories.customer(external_id="CRM-42")
    response = manager_api.post(f"/api/v1/groups/{group.pk}/customers", {"external_id": "CRM-42"})
    assert response.status_code == 201
    assert Membership.objects.current().filter(group=group, customer=customer).exists()


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({}, "customer_id", 400),
        ({"customer_id": "00000000-0000-0000-0000-000000000000"}, "customer_id", 404),
        ({"customer_id": "not-a-uuid"}, "customer_id", 400),
        ({"customer_id": 12}, "customer_id", 404),  # DRF reads an integer as a UUID
        ({"external_id": "NOBODY"}, "external_id", 404),
        ({"external_id": ""}, "external_id", 400),
    ],
)
def test_adding_an_unknown_or_missing_customer_is_refused(manager_api, body, field, status):
    """A customer that does not exist is a 404, a malformed or missing one a 400 on its field;
    either way no membership is made."""
    group = factories.group()
    response = manager_api.post(f"/api/v1/groups/{group.pk}/customers", body)
    assert response.status_code == status
    if status == 404:
        assert "No customer with this" in response.json()["detail"]
    else:
        assert field in response.json()
    assert not Membership.objects.exists()


def test_listing_members_returns_customer_objects_with_their_groups(manager_api):
    """GET /groups/{id}/customers: current members only, as customer objects, paginated."""
    group = factories.group("Gold", code="gold")
    other = factories.group("Silver", code="silver")
    current = factories.customer("Alpha")
    factories.membership(group, current)
    factories.membership(other, current)
    factories.membership(group, factories.customer("Gone"), left_at=factories.JAN_1)

    body = manager_api.get(f"/api/v1/groups/{group.pk}/customers").json()
    assert body["count"] == 1
    (member,) = body["results"]
    assert member["name"] == "Alpha"
    assert [g["code"] for g in member["groups"]] == ["gold", "silver"]


def test_removing_a_member_is_204_then_404_and_history_keeps_the_period(support_api, support):
    """DELETE /groups/{gid}/customers/{cid}: 204, then 404 (not a member); history shows both."""
    group = factories.group()
    customer = factories.customer()
    factories.membership(group, customer)
    url = f"/api/v1/groups/{group.pk}/customers/{customer.pk}"

    assert support_api.delete(url).status_code == 204
    response = support_api.delete(url)
    assert response.status_code == 404
    assert "not a current member" in response.json()["detail"]

    history = support_api.get(f"/api/v1/groups/{group.pk}/history").json()
    (period,) = history["results"]
    assert period["customer"]["id"] == str(customer.pk)
    assert period["left_at"] is not None
    assert period["left_by"] == support.username
    assert period["joined_by"] is None


def test_removing_an_unknown_or_malformed_customer_is_a_404(manager_api):
    group = factories.group()
    for customer_id in ("00000000-0000-0000-0000-000000000000", "nope"):
        response = manager_api.delete(f"/api/v1/groups/{group.pk}/customers/{customer_id}")
        assert response.status_code == 404


def test_history_lists_periods_newest_first(manager_api, manager):
    """Rejoining opens a new period; history returns every period, newest first."""
    group = factories.group()
    customer = factories.customer()
    url = f"/api/v1/groups/{group.pk}/customers"
    manager_api.post(url, {"customer_id": str(customer.pk)})
    manager_api.delete(f"{url}/{customer.pk}")
    manager_api.post(url, {"customer_id": str(customer.pk)})

    periods = manager_api.get(f"/api/v1/groups/{group.pk}/history").json()["results"]
    assert len(periods) == 2
    assert periods[0]["left_at"] is None
    assert periods[1]["left_at"] is not None
    assert {p["joined_by"] for p in periods} == {manager.username}
