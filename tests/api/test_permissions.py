"""Who may do what over the API: the same roles as the pages, as one table.

Anonymous requests get 401 and users without a role 403 on every endpoint. Support staff read
everything, rate, and manage customers (but not delete them) and memberships; only pricing
managers and superusers change groups, price lists and rules, delete customers and store usage.
"""

import pytest

READ, SUPPORT, MANAGER = "everyone with a role", "support staff and up", "managers only"

# (method, path, body, status on success, who may). Paths and bodies name the objects of the
# ``world`` fixture in braces.
CASES = [
    ("GET", "groups", None, 200, READ),
    ("POST", "groups", {"name": "Platinum"}, 201, MANAGER),
    ("GET", "groups/{group}", None, 200, READ),
    ("PATCH", "groups/{group}", {"description": "Top tier"}, 200, MANAGER),
    ("PUT", "groups/{group}", {"name": "Gold 2"}, 200, MANAGER),
    ("DELETE", "groups/{spare_group}", None, 204, MANAGER),
    ("GET", "groups/{group}/customers", None, 200, READ),
    ("POST", "groups/{group}/customers", {"customer_id": "{spare_customer}"}, 201, SUPPORT),
    ("DELETE", "groups/{group}/customers/{member}", None, 204, SUPPORT),
    ("GET", "groups/{group}/history", None, 200, READ),
    ("GET", "customers", None, 200, READ),
    ("POST", "customers", {"name": "Newco", "group_codes": ["gold"]}, 201, SUPPORT),
    ("GET", "customers/{member}", None, 200, READ),
    ("PATCH", "customers/{member}", {"email": "billing@member.example"}, 200, SUPPORT),
    ("DELETE", "customers/{spare_customer}", None, 204, MANAGER),
    ("GET", "price-lists", None, 200, READ),
    ("POST", "price-lists", {"name": "New", "code": "NEW", "currency": "EUR"}, 201, MANAGER),
    ("GET", "price-lists/{price_list}", None, 200, READ),
    ("PATCH", "price-lists/{price_list}", {"name": "Renamed"}, 200, MANAGER),
    (
        "PUT",
        "price-lists/{price_list}",
        {"name": "Renamed", "code": "REN", "currency": "CZK", "items": []},
        200,
        MANAGER,
    ),
    ("DELETE", "price-lists/{spare_price_list}", None, 204, MANAGER),
    ("GET", "pricing-rules", None, 200, READ),
    (
        "POST",
        "pricing-rules",
        {
            "name": "New rule",
            "code": "NEW-RULE",
            "billing_category": "retail",
            "price_list_id": "{price_list}",
            "group_id": "{group}",
        },
        201,
        MANAGER,
    ),
    ("GET", "pricing-rules/{rule}", None, 200, READ),
    ("PATCH", "pricing-rules/{rule}", {"priority": 99}, 200, MANAGER),
    (
        "PUT",
        "pricing-rules/{rule}",
        {
            "name": "Gold retail",
            "code": "GOLD-RETAIL",
            "billing_category": "retail",
            "price_list_id": "{price_list}",
            "customer_id": "{member}",
        },
        200,
        MANAGER,
    ),
    ("DELETE", "pricing-rules/{rule}", None, 204, MANAGER),
    (
        "POST",
        "rate",
        {
            "customer_id": "{member}",
            "billing_category": "retail",
            "item_code": "minute",
            "quantity": "2",
        },
        200,
        SUPPORT,
    ),
    ("GET", "usage-records", None, 200, READ),
    ("GET", "usage-records/{usage}", None, 200, READ),
    (
        "POST",
        "usage-records",
        {
            "external_id": "M-1",
            "billing_category": "retail",
            "item_code": "minute",
            "quantity": "2",
        },
        201,
        MANAGER,
    ),
    # Webhook endpoints: pricing managers only, reading included (they carry their secret).
    ("GET", "webhook-endpoints", None, 200, MANAGER),
    (
        "POST",
        "webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks/r", "event_types": ["rule.changed"]},
        201,
        MANAGER,
    ),
    ("GET", "webhook-endpoints/{endpoint}", None, 200, MANAGER),
    ("PATCH", "webhook-endpoints/{endpoint}", {"is_active": False}, 200, MANAGER),
    (
        "PUT",
        "webhook-endpoints/{endpoint}",
        {"url": "http://127.0.0.1:9/hooks/new", "event_types": ["price_list.changed"]},
        200,
        MANAGER,
    ),
    ("DELETE", "webhook-endpoints/{endpoint}", None, 204, MANAGER),
    ("POST", "webhook-endpoints/{endpoint}/test", None, 202, MANAGER),
    ("GET", "webhook-endpoints/{endpoint}/deliveries", None, 200, MANAGER),
    ("GET", "changesets", None, 200, READ),
    ("POST", "changesets", {"title": "Next prices"}, 201, MANAGER),
    ("GET", "changesets/{changeset}", None, 200, READ),
    (
        "POST",
        "changesets/{changeset}/changes",
        {"kind": "rule", "action": "disable", "target_id": "{rule}"},
        201,
        MANAGER,
    ),
    ("POST", "changesets/{changeset}/submit", None, 200, MANAGER),
    ("POST", "changesets/{changeset}/publish", None, 200, MANAGER),
]

ROLES = ["anonymous", "nobody", "support", "manager", "superuser"]


def expected_status(role: str, success: int, who: str) -> int:
    if role == "anonymous":
        return 401
    if role == "nobody" or (role == "support" and who == MANAGER):
        return 403
    return success


def _fill(value, ids: dict[str, str]):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "success", "who"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
def test_permission_matrix(request, world, role, method, path, body, success, who):
    """Each role gets exactly the documented status for every endpoint and method."""
    api = request.getfixturevalue(f"{role}_api")
    ids = {name: str(obj.pk) for name, obj in world.items()}
    response = api.call(method, "/api/v1/" + _fill(path, ids), _fill(body, ids))
    assert response.status_code == expected_status(role, success, who), response.content[:300]
    if response.status_code != 204:
        assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("role", ROLES)
def test_api_root_lists_the_collections_for_any_signed_in_user(request, db, role):
    """/api/v1/ links every collection; only anonymous callers are refused (401)."""
    response = request.getfixturevalue(f"{role}_api").get("/api/v1/")
    assert response.status_code == (401 if role == "anonymous" else 200)
    if role != "anonymous":
        assert set(response.json()) == {
            "groups",
            "customers",
            "price-lists",
            "pricing-rules",
            "usage-records",
            "webhook-endpoints",
            "changesets",
        }


def test_anonymous_gets_401_with_a_token_challenge(anonymous_api):
    """401 (not 403) with WWW-Authenticate: Token, so clients know to send a token."""
    response = anonymous_api.get("/api/v1/groups")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_refused_with_401(db):
    """An unknown token is not treated as anonymous: 401 with a message saying so."""
    from django.test import Client

    response = Client(HTTP_AUTHORIZATION="Token not-a-real-token").get("/api/v1/groups")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_support_needs_membership_rights_to_set_group_codes(world, support):
    """Setting group_codes changes memberships: allowed for support, which holds those rights."""
    from tests.api.conftest import Api

    response = Api(support).patch(
        f"/api/v1/customers/{world['spare_customer'].pk}", {"group_codes": ["gold"]}
    )
    assert response.status_code == 200
    assert [g["code"] for g in response.json()["groups"]] == ["gold"]
