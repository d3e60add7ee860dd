"""Price lists (with nested items) and pricing rules over the API."""

from decimal import Decimal

import pytest

from pricing.models import PriceList, PriceListItem, PricingRule
from tests import factories

ITEMS = [
    {"item_code": "minute", "unit": "minute", "unit_price": "0.80"},
    {"item_code": "GB", "unit": "GB", "unit_price": 18},
]


# --- Price lists ------------------------------------------------------------------------------


def test_create_price_list_with_items_returns_decimal_strings(manager_api):
    """Items come back sorted by code, unit_price as a decimal string."""
    response = manager_api.post(
        "/api/v1/price-lists",
        {"name": "Startup 2027", "code": "STARTUP-2027", "currency": "czk", "items": ITEMS},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["currency"] == "CZK"
    plain = {
        "pricing_mode": "per_unit",
        "tiers": [],
        "package_size": None,
        "first_increment": None,
        "next_increment": None,
        "minimum_charge": None,
    }
    assert body["items"] == [
        {"item_code": "GB", "unit": "GB", "unit_price": "18.000000", **plain},
        {"item_code": "minute", "unit": "minute", "unit_price": "0.800000", **plain},
    ]


def test_patch_items_replaces_all_items_and_put_without_items_keeps_them(manager_api):
    price_list = factories.price_list("PL", items={"minute": "1.00", "SMS": "0.50"})
    url = f"/api/v1/price-lists/{price_list.pk}"

    response = manager_api.patch(url, {"items": [ITEMS[0]]})
    assert response.status_code == 200
    assert [i["item_code"] for i in response.json()["items"]] == ["minute"]

    response = manager_api.put(url, {"name": "Renamed", "code": "PL", "currency": "EUR"})
    assert response.status_code == 200
    assert response.json()["currency"] == "EUR"
    assert [i["item_code"] for i in response.json()["items"]] == ["minute"]


@pytest.mark.parametrize(
    "item",
    [
        {"item_code": "minute", "unit": "minute", "unit_price": "-1"},
        {"item_code": "minute", "unit": "minute", "unit_price": "1e20"},
        {"item_code": "minute", "unit": "minute", "unit_price": "1000000000"},
        {"item_code": "minute", "unit": "minute", "unit_price": "0.1234567"},
        {"item_code": "minute", "unit": "minute", "unit_price": "abc"},
        {"item_code": "minute", "unit": "minute", "unit_price": "NaN"},
        {"item_code": "minute", "unit": "minute", "unit_price": "Infinity"},
        {"item_code": "minute", "unit": "minute", "unit_price": True},
        {"item_code": "minute", "unit": "minute", "unit_price": None},
        {"item_code": "has space", "unit": "minute", "unit_price": "1"},
        {"item_code": "minute", "unit": "", "unit_price": "1"},
        {"unit": "minute", "unit_price": "1"},
        "minute",
    ],
)
def test_bad_items_are_a_400_and_change_nothing(manager_api, item):
    """Negative, huge, over-precise, non-numeric prices and bad codes: 400, items untouched."""
    price_list = factories.price_list("PL", items={"minute": "1.00"})
    response = manager_api.patch(f"/api/v1/price-lists/{price_list.pk}", {"items": [item]})
    assert response.status_code == 400
    assert "items" in response.json()
    assert PriceListItem.objects.get(price_list=price_list).unit_price == Decimal("1.00")


def test_duplicate_items_are_a_400_and_the_list_is_not_created(manager_api):
    response = manager_api.post(
        "/api/v1/price-lists",
        {"name": "Dup", "code": "DUP", "currency": "CZK", "items": [ITEMS[0], ITEMS[0]]},
    )
    assert response.status_code == 400
    assert "more than once" in response.json()["items"][0]
    assert not PriceList.objects.filter(code="DUP").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "code": "X", "currency": "XYZ"}, "currency"),
        ({"name": "X", "code": "X", "currency": "EURO"}, "currency"),
        ({"name": "X", "code": "has space", "currency": "EUR"}, "code"),
        ({"name": "X", "currency": "EUR"}, "code"),
        ({"name": "X", "code": "X", "currency": "EUR", "items": {"minute": 1}}, "items"),
    ],
)
def test_invalid_price_list_input_is_a_400(manager_api, body, field):
    response = manager_api.post("/api/v1/price-lists", body)
    assert response.status_code == 400
    assert field in response.json()


def test_duplicate_price_list_code_is_a_400(manager_api):
    factories.price_list("BASE")
    response = manager_api.post(
        "/api/v1/price-lists", {"name": "Other", "code": "base", "currency": "EUR"}
    )
    assert response.status_code == 400
    assert "code" in response.json()


def test_deleting_a_price_list_used_by_rules_is_a_409_naming_them(manager_api):
    rule = factories.rule("STD-2026")
    response = manager_api.delete(f"/api/v1/price-lists/{rule.price_list_id}")
    assert response.status_code == 409
    assert "STD-2026" in response.json()["detail"]
    assert PriceList.objects.filter(pk=rule.price_list_id).exists()


def test_deleting_an_unused_price_list_removes_its_items(manager_api):
    price_list = factories.price_list()
    assert manager_api.delete(f"/api/v1/price-lists/{price_list.pk}").status_code == 204
    assert not PriceListItem.objects.exists()


def test_price_list_filters(manager_api):
    factories.price_list("BASE-CZK", name="Base", currency="CZK")
    factories.price_list("EU-EUR", name="Europe", currency="EUR")
    codes = lambda params: [  # noqa: E731
        p["code"] for p in manager_api.get("/api/v1/price-lists", params).json()["results"]
    ]
    assert codes({"currency": "eur"}) == ["EU-EUR"]
    assert codes({"search": "base"}) == ["BASE-CZK"]
    assert codes({"code": "eu-eur"}) == ["EU-EUR"]


# --- Rules ------------------------------------------------------------------------------------


@pytest.fixture
def targets(db):
    return {
        "price_list": factories.price_list("PL"),
        "group": factories.group("Gold", code="gold"),
        "customer": factories.customer("Alpha"),
    }


def rule_body(targets, **changes):
    body = {
        "name": "Gold retail",
        "code": "GOLD-RETAIL",
        "billing_category": "retail",
        "price_list_id": str(targets["price_list"].pk),
        "group_id": str(targets["group"].pk),
        "priority": 100,
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def test_create_rule_returns_the_documented_fields(targets, manager_api):
    response = manager_api.post("/api/v1/pricing-rules", rule_body(targets))
    assert response.status_code == 201
    body = response.json()
    for field in (
        "name",
        "code",
        "billing_category",
        "price_list_id",
        "group_id",
        "customer_id",
        "priority",
        "valid_from",
        "valid_to",
        "is_active",
    ):
        assert field in body
    assert body["group_id"] == str(targets["group"].pk)
    assert body["customer_id"] is None
    assert body["is_active"] is True
    assert PricingRule.objects.get(pk=body["id"]).group == targets["group"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"customer_id": "{customer}"}, "customer_id"),
        ({"price_list_id": "00000000-0000-0000-0000-000000000000"}, "price_list_id"),
        ({"price_list_id": "not-a-uuid"}, "price_list_id"),
        ({"price_list_id": ...}, "price_list_id"),
        ({"group_id": 42}, "group_id"),
        ({"valid_to": "2025-12-31"}, "valid_to"),
        ({"valid_from": "yesterday"}, "valid_from"),
        ({"priority": -1}, "priority"),
        ({"priority": 10**12}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"priority": 1.5}, "priority"),
        ({"billing_category": "Retail EU"}, "billing_category"),
        ({"code": "has space"}, "code"),
        ({"is_active": "perhaps"}, "is_active"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_rules_are_a_400_on_the_api_field(targets, manager_api, changes, field):
    """Errors name the API's fields (price_list_id, customer_id), never 500."""
    changes = {
        key: value.format(customer=targets["customer"].pk) if isinstance(value, str) else value
        for key, value in changes.items()
    }
    response = manager_api.post("/api/v1/pricing-rules", rule_body(targets, **changes))
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not PricingRule.objects.exists()


def test_duplicate_rule_code_is_a_400(targets, manager_api):
    factories.rule("GOLD-RETAIL")
    response = manager_api.post("/api/v1/pricing-rules", rule_body(targets, code="gold-retail"))
    assert response.status_code == 400
    assert "code" in response.json()


def test_put_replaces_the_target(targets, manager_api):
    """PUT with customer_id and no group_id moves the rule from the group to the customer."""
    rule = factories.rule("R", group=targets["group"])
    body = rule_body(targets, group_id=..., customer_id=str(targets["customer"].pk), code="R")
    response = manager_api.put(f"/api/v1/pricing-rules/{rule.pk}", body)
    assert response.status_code == 200
    assert response.json()["group_id"] is None
    assert response.json()["customer_id"] == str(targets["customer"].pk)


def test_patch_can_clear_a_target_with_null(targets, manager_api):
    rule = factories.rule("R", group=targets["group"])
    response = manager_api.patch(f"/api/v1/pricing-rules/{rule.pk}", {"group_id": None})
    assert response.status_code == 200
    assert response.json()["group_id"] is None


def test_rule_filters(targets, manager_api):
    """group_id, customer_id, billing_category and active_on (a date)."""
    from datetime import date

    factories.rule("G", group=targets["group"])
    factories.rule("C", customer=targets["customer"], billing_category="wholesale")
    factories.rule("OLD", valid_from=date(2025, 1, 1), valid_to=date(2025, 12, 31))
    factories.rule("OFF", is_active=False)

    def codes(params):
        response = manager_api.get("/api/v1/pricing-rules", params)
        assert response.status_code == 200
        return sorted(r["code"] for r in response.json()["results"])

    assert codes({"group_id": str(targets["group"].pk)}) == ["G"]
    assert codes({"customer_id": str(targets["customer"].pk)}) == ["C"]
    assert codes({"billing_category": "wholesale"}) == ["C"]
    assert codes({"active_on": "2025-06-01"}) == ["OLD"]
    assert codes({"active_on": "2026-06-01"}) == ["C", "G"]


@pytest.mark.parametrize(
    "params",
    [{"active_on": "not-a-date"}, {"active_on": "2026-02-30"}, {"group_id": "nope"}],
)
def test_bad_rule_filters_are_a_400(manager_api, params):
    response = manager_api.get("/api/v1/pricing-rules", params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


def test_rule_delete_is_a_204(manager_api):
    rule = factories.rule()
    assert manager_api.delete(f"/api/v1/pricing-rules/{rule.pk}").status_code == 204
    assert not PricingRule.objects.exists()
