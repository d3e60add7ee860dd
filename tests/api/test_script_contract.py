"""The issue's "done when", as an integration script would run it: only HTTP and the issue text.

A pricing manager's integration, holding a token from ``drf_create_token``, creates price lists,
groups, customers and rules, manages membership, rates and stores usage over real HTTP
(``live_server``), and checks the documented status codes for bad input along the way. Nothing
here imports the app's code except to create the users the script signs in as.
"""

import io
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


class Script:
    """A tiny HTTP client: JSON in and out, ``Authorization: Token <key>``."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.token = token

    def __call__(self, method: str, path: str, body=None, *, expect: int):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        payload = json.loads(raw) if raw else None
        assert status == expect, f"{method} {path}: {status} {payload}"
        return payload


def token_for(username: str) -> str:
    out = io.StringIO()
    call_command("drf_create_token", username, stdout=out)
    return out.getvalue().split()[2]  # "Generated token <key> for user <name>"


def test_an_integration_script_gets_the_documented_answers(live_server):
    factories.user("pricing-bot", role=PRICING_MANAGERS)
    factories.user("helpdesk", role=SUPPORT_STAFF)
    factories.user("intern")
    api = Script(f"{live_server.url}/api/v1", token_for("pricing-bot"))
    support = Script(api.base_url, token_for("helpdesk"))
    no_role = Script(api.base_url, token_for("intern"))
    anonymous = Script(api.base_url, None)

    # The schema is OpenAPI 3, and the docs are served.
    schema = anonymous("GET", "/schema", expect=200)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/rate" in schema["paths"]

    # Price lists with nested items; unit_price is a decimal string.
    std = api(
        "POST",
        "/price-lists",
        {
            "name": "Standard 2026",
            "code": "STD-2026",
            "currency": "CZK",
            "items": [
                {"item_code": "minute", "unit": "minute", "unit_price": "1.20"},
                {"item_code": "SMS", "unit": "message", "unit_price": "0.50"},
            ],
        },
        expect=201,
    )
    vip_list = api(
        "POST",
        "/price-lists",
        {
            "name": "VIP 2026",
            "code": "VIP-2026",
            "currency": "CZK",
            "items": [{"item_code": "minute", "unit": "minute", "unit_price": "0.60"}],
        },
        expect=201,
    )
    assert std["items"][0]["unit_price"] in {"0.500000", "0.50"}

    # Groups; a duplicate name in another case names the existing group.
    vip = api("POST", "/groups", {"name": "VIP Customers", "code": "vip"}, expect=201)
    standard = api("POST", "/groups", {"name": "Standard"}, expect=201)
    assert standard["code"] == "standard"
    clash = api("POST", "/groups", {"name": "vip customers"}, expect=400)
    assert "VIP Customers" in clash["name"][0]

    # Customers, tagged with group codes in the same request.
    alpha = api(
        "POST",
        "/customers",
        {"name": "Alpha s.r.o.", "external_id": "CRM-A", "group_codes": ["standard"]},
        expect=201,
    )
    assert [g["code"] for g in alpha["groups"]] == ["standard"]
    beta = api("POST", "/customers", {"name": "Beta a.s.", "external_id": "CRM-B"}, expect=201)

    # Rules.
    rule_body = {
        "name": "Standard retail",
        "code": "STD-RETAIL",
        "billing_category": "retail",
        "price_list_id": std["id"],
        "group_id": standard["id"],
        "priority": 10,
        "valid_from": "2026-01-01",
        "valid_to": None,
        "is_active": True,
    }
    std_rule = api("POST", "/pricing-rules", rule_body, expect=201)
    vip_rule = api(
        "POST",
        "/pricing-rules",
        {**rule_body, "code": "VIP-RETAIL", "price_list_id": vip_list["id"], "group_id": vip["id"]}
        | {"priority": 100, "name": "VIP retail"},
        expect=201,
    )
    both = {**rule_body, "code": "BOTH", "customer_id": beta["id"]}
    assert "customer_id" in api("POST", "/pricing-rules", both, expect=400)
    listed = api("GET", f"/pricing-rules?group_id={vip['id']}&active_on=2026-03-01", expect=200)
    assert [r["code"] for r in listed["results"]] == ["VIP-RETAIL"]

    # Membership: 201 when added, 200 when already a member; listed; counted.
    members = f"/groups/{vip['id']}/customers"
    api("POST", members, {"external_id": "CRM-B"}, expect=201)
    api("POST", members, {"customer_id": beta["id"]}, expect=200)
    page = support("GET", members, expect=200)
    assert set(page) == {"count", "next", "previous", "results"}
    assert [c["id"] for c in page["results"]] == [beta["id"]]
    assert api("GET", f"/groups/{vip['id']}", expect=200)["member_count"] == 1
    assert [g["name"] for g in api("GET", f"/customers/{beta['id']}", expect=200)["groups"]] == [
        "VIP Customers"
    ]

    # Rating (occurred_at defaults to now, after the memberships began): nothing is stored.
    started = datetime.now(UTC).isoformat()
    rated = support(
        "POST",
        "/rate",
        {
            "customer_id": beta["id"],
            "billing_category": "retail",
            "item_code": "minute",
            "quantity": "10",
        },
        expect=200,
    )
    assert (rated["rated"], rated["rule_code"], rated["amount"]) == (True, "VIP-RETAIL", "6.00")
    assert rated["rule_id"] == vip_rule["id"]
    assert [t["rule_code"] for t in rated["trace"]] == ["VIP-RETAIL", "STD-RETAIL"]
    assert [g["code"] for g in rated["groups"]] == ["vip"]
    unrated = support(
        "POST",
        "/rate",
        {"external_id": "CRM-B", "billing_category": "retail", "item_code": "SMS", "quantity": 1},
        expect=200,
    )
    assert (unrated["rated"], unrated["amount"], unrated["unit_price"]) == (False, None, None)
    assert api("GET", "/usage-records", expect=200)["count"] == 0

    # Storing usage: one object or a list; all or nothing.
    one = api(
        "POST",
        "/usage-records",
        {
            "external_id": "CRM-A",
            "billing_category": "retail",
            "item_code": "SMS",
            "quantity": "4",
        },
        expect=201,
    )
    assert (one["status"], one["rule_id"], one["amount"]) == ("rated", std_rule["id"], "2.00")
    batch = [
        {
            "customer_id": beta["id"],
            "billing_category": "retail",
            "item_code": "minute",
            "quantity": q,
        }
        for q in ("1", "2", "3")
    ]
    stored = api("POST", "/usage-records", batch, expect=201)
    assert [r["amount"] for r in stored] == ["0.60", "1.20", "1.80"]
    errors = api("POST", "/usage-records", [*batch, {**batch[0], "quantity": "-1"}], expect=400)
    assert "quantity" in errors["records"]["3"]
    assert api("GET", f"/usage-records?customer={beta['id']}", expect=200)["count"] == 3
    assert api("GET", "/usage-records?status=rated&category=retail", expect=200)["count"] == 4
    since = urllib.parse.quote(started)
    assert api("GET", f"/usage-records?occurred_at_after={since}", expect=200)["count"] == 4
    assert api("GET", f"/usage-records?occurred_at_before={since}", expect=200)["count"] == 0
    api("GET", "/usage-records?occurred_at_after=last-week", expect=400)
    support("POST", "/usage-records", batch, expect=403)

    # Removing a member: 204, then 404; the history keeps the period.
    support("DELETE", f"{members}/{beta['id']}", expect=204)
    support("DELETE", f"{members}/{beta['id']}", expect=404)
    history = api("GET", f"/groups/{vip['id']}/history", expect=200)["results"]
    assert history[0]["customer"]["id"] == beta["id"]
    assert history[0]["left_by"] == "helpdesk"
    assert history[0]["joined_by"] == "pricing-bot"

    # Changing a customer's groups with group_codes.
    changed = support("PATCH", f"/customers/{beta['id']}", {"group_codes": ["vip"]}, expect=200)
    assert [g["code"] for g in changed["groups"]] == ["vip"]

    # Bad input gets the documented status codes.
    unknown = str(uuid.uuid4())
    for path in (f"/groups/{unknown}", "/groups/not-an-id", f"/customers/{unknown}"):
        assert api("GET", path, expect=404) == {"detail": "Not found."}
    api("GET", f"/price-lists/{unknown}/", expect=404)
    api("POST", f"/groups/{unknown}/customers", {"customer_id": beta["id"]}, expect=404)
    api("POST", members, {"customer_id": unknown}, expect=404)
    in_use = api("DELETE", f"/groups/{vip['id']}", expect=409)
    assert "VIP-RETAIL" in in_use["detail"]
    assert "STD-RETAIL" in api("DELETE", f"/price-lists/{std['id']}", expect=409)["detail"]
    bad_price = {"items": [{"item_code": "minute", "unit": "minute", "unit_price": "-0.10"}]}
    api("PATCH", f"/price-lists/{vip_list['id']}", bad_price, expect=400)
    api("PATCH", f"/pricing-rules/{std_rule['id']}", {"valid_to": "2026-13-01"}, expect=400)
    api("PATCH", f"/pricing-rules/{std_rule['id']}", {"priority": "first"}, expect=400)
    for quantity in ("0", "-3", "1e99", "many", None):
        body = {**batch[0], "quantity": quantity}
        assert "quantity" in support("POST", "/rate", body, expect=400)
    support("POST", "/rate", {**batch[0], "occurred_at": "March 1st"}, expect=400)
    support("POST", "/groups", {"name": "Support's own group"}, expect=403)
    support("PATCH", f"/pricing-rules/{std_rule['id']}", {"priority": 1}, expect=403)
    support("DELETE", f"/customers/{alpha['id']}", expect=403)
    no_role("GET", "/groups", expect=403)
    anonymous("GET", "/groups", expect=401)
    anonymous("POST", "/rate", batch[0], expect=401)

    # A failed request changed nothing: the price list still has its price.
    assert api("GET", f"/price-lists/{vip_list['id']}", expect=200)["items"][0]["unit_price"] in {
        "0.600000",
        "0.60",
    }
