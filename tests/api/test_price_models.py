"""Price models and derived lists over the API: the fields, the 400s, the charge shown."""

from decimal import Decimal

import pytest

from pricing import engine
from pricing.models import PriceList, PriceListItem
from tests import factories

TIERS = [
    {"up_to": "100", "unit_price": "2.00"},
    {"up_to": "1000", "unit_price": "1.50"},
    {"up_to": None, "unit_price": "1.00"},
]
DATA = {"item_code": "GB", "unit": "GB", "pricing_mode": "graduated", "tiers": TIERS}
VOICE = {
    "item_code": "second",
    "unit": "second",
    "unit_price": "0.01",
    "first_increment": "60",
    "next_increment": "60",
    "minimum_charge": "1.00",
}
SMS = {
    "item_code": "SMS",
    "unit": "message",
    "pricing_mode": "package",
    "unit_price": "15.00",
    "package_size": "1000",
}


def _create(api, code="STD", items=(DATA, VOICE, SMS), **fields):
    body = {"name": code, "code": code, "currency": "CZK", "items": list(items), **fields}
    return api.post("/api/v1/price-lists", body)


def test_items_carry_their_price_models(manager_api):
    """Graduated tiers, increments with a minimum and packages round-trip; a tiered item's unit
    price defaults to its first tier's."""
    response = _create(manager_api)
    assert response.status_code == 201, response.json()
    items = {i["item_code"]: i for i in response.json()["items"]}
    assert items["GB"]["pricing_mode"] == "graduated"
    assert items["GB"]["unit_price"] == "2.000000"
    assert [(t["up_to"], t["unit_price"]) for t in items["GB"]["tiers"]] == [
        ("100.000000", "2.000000"),
        ("1000.000000", "1.500000"),
        (None, "1.000000"),
    ]
    assert items["second"]["first_increment"] == "60.000000"
    assert items["second"]["minimum_charge"] == "1.000000"
    assert items["SMS"]["package_size"] == "1000.000000"
    stored = PriceListItem.objects.get(item_code="GB").engine_price()
    assert engine.charge(stored, Decimal(150)).amount == Decimal("275.00")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({**DATA, "tiers": [TIERS[1], TIERS[0], TIERS[2]]}, "tiers"),  # out of order
        ({**DATA, "tiers": TIERS[:2]}, "tiers"),  # last tier bounded
        ({**DATA, "tiers": [{"up_to": "10", "unit_price": "-1"}, TIERS[2]]}, "tiers"),
        ({**DATA, "pricing_mode": "volume", "tiers": []}, "tiers"),
        ({**DATA, "pricing_mode": "per_unit", "unit_price": "1"}, "tiers"),
        ({**SMS, "package_size": None}, "package_size"),
        ({**VOICE, "first_increment": None}, "first_increment"),
        ({**VOICE, "next_increment": "0"}, "next_increment"),
        ({**VOICE, "minimum_charge": "-1"}, "minimum_charge"),
        ({**VOICE, "pricing_mode": "tiered"}, "pricing_mode"),
        ({**VOICE, "unit_price": None}, "unit_price"),
    ],
)
def test_bad_price_models_are_a_400_naming_the_field_and_change_nothing(manager_api, item, field):
    price_list = factories.price_list("PL", items={"minute": "1.00"})
    response = manager_api.patch(f"/api/v1/price-lists/{price_list.pk}", {"items": [item]})
    assert response.status_code == 400
    assert field in response.json()["items"]["0"], response.json()
    assert list(price_list.items.values_list("item_code", "unit_price")) == [
        ("minute", Decimal("1.00"))
    ]


def test_out_of_order_tiers_say_which_tier(manager_api):
    response = _create(manager_api, items=[{**DATA, "tiers": [TIERS[1], TIERS[0], TIERS[2]]}])
    assert response.status_code == 400
    assert response.json()["items"]["0"]["tiers"] == [
        engine.prices.TIER_NOT_ASCENDING.format(n=2, prev=1, value="1000")
    ]
    assert not PriceList.objects.exists()


def test_a_derived_list_shows_its_base_factor_and_depth(manager_api):
    base = factories.price_list("STD", items={"minute": "0.50"})
    response = _create(
        manager_api,
        "PROMO",
        items=(),
        base_price_list_id=str(base.pk),
        factor="0.80",
        surcharge="0.01",
        rounding=3,
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["base_price_list_id"] == str(base.pk)
    assert (body["factor"], body["surcharge"], body["rounding"]) == ("0.800000", "0.010000", 3)
    assert body["depth"] == 1
    deeper = _create(manager_api, "DEEPER", items=(), base_price_list_id=body["id"])
    assert deeper.json()["depth"] == 2
    listed = {
        p["code"]: p["depth"] for p in manager_api.get("/api/v1/price-lists").json()["results"]
    }
    assert listed == {"STD": 0, "PROMO": 1, "DEEPER": 2}


def test_bad_derivations_are_a_400_naming_the_field_and_change_nothing(manager_api):
    """A cycle, another currency, a negative factor or surcharge: 400, the list unchanged."""
    base = factories.price_list("STD")
    promo = factories.price_list("PROMO", base_price_list=base, factor=Decimal("0.8"))
    euro = factories.price_list("EURO", currency="EUR")
    url = f"/api/v1/price-lists/{base.pk}"

    cycle = manager_api.patch(url, {"base_price_list_id": str(promo.pk)})
    assert cycle.status_code == 400
    assert "circle" in cycle.json()["base_price_list_id"][0]

    other = manager_api.patch(url, {"base_price_list_id": str(euro.pk)})
    assert other.status_code == 400
    assert "EUR" in other.json()["base_price_list_id"][0]

    for field in ("factor", "surcharge"):
        negative = manager_api.patch(f"/api/v1/price-lists/{promo.pk}", {field: "-0.5"})
        assert negative.status_code == 400
        assert "cannot be negative" in negative.json()[field][0]

    base.refresh_from_db()
    promo.refresh_from_db()
    assert base.base_price_list_id is None
    assert (promo.factor, promo.surcharge) == (Decimal("0.8"), Decimal(0))


@pytest.fixture
def priced(db, manager_api):
    """A customer, the standard list (graduated data, 60/60 voice) and a promotion list
    derived from it at 0.80 that a higher rule uses for the customer."""
    customer = factories.customer()
    standard = PriceList.objects.get(pk=_create(manager_api).json()["id"])
    promo = factories.price_list("PROMO", items={}, base_price_list=standard, factor=Decimal("0.8"))
    factories.rule("STD-RULE", price_list=standard, priority=10)
    factories.rule("PROMO-RULE", price_list=promo, priority=20, customer=customer)
    return customer


def test_rate_returns_the_billed_quantity_breakdown_and_provenance(priced, support_api):
    body = {
        "customer_id": str(priced.pk),
        "billing_category": "retail",
        "item_code": "second",
        "quantity": "61",
        "occurred_at": "2026-03-01T12:00:00Z",
    }
    response = support_api.post("/api/v1/rate", body)
    assert response.status_code == 200
    result = response.json()
    assert result["rule_code"] == "PROMO-RULE"
    assert result["billed_quantity"] == "120.000000"
    assert result["amount"] == "1.20"  # 120 x 0.01 (0.01 x 0.80 = 0.008, rounded to 0.01)
    assert result["price_breakdown"]["billed_quantity"] == "120"
    assert result["price_source"] == "derived: 0.80 x STD second 0.01"
    assert result["price_provenance"] == [
        {
            "base_price_list_code": "STD",
            "factor": "0.8",
            "surcharge": "0",
            "rounding": 2,
            "base_unit_price": "0.01",
        }
    ]


def test_stored_records_return_the_engines_billed_quantity_and_breakdown(priced, manager_api):
    rows = [
        {"customer_id": str(priced.pk), "billing_category": "retail", "item_code": code,
         "quantity": quantity, "occurred_at": "2026-03-01T12:00:00Z"}
        for code, quantity in [("GB", "150"), ("SMS", "2500"), ("second", "30")]
    ]  # fmt: skip
    response = manager_api.post("/api/v1/usage-records", rows)
    assert response.status_code == 201, response.json()
    promo = engine.ListSpec("PROMO", {}, factor=Decimal("0.8"))
    prices = {
        item.item_code: engine.derive(item.engine_price(), promo, "STD")
        for item in PriceListItem.objects.filter(price_list__code="STD")
    }
    for row, record in zip(rows, response.json(), strict=True):
        expected = engine.charge(prices[row["item_code"]], Decimal(row["quantity"]))
        assert record["amount"] == str(expected.amount)
        assert Decimal(record["billed_quantity"]) == expected.billed_quantity
        assert record["price_breakdown"] == expected.breakdown()
        fetched = manager_api.get(f"/api/v1/usage-records/{record['id']}").json()
        assert fetched["price_breakdown"] == expected.breakdown()


def test_plain_records_show_a_per_unit_breakdown(manager_api):
    customer = factories.customer()
    factories.rule(price_list=factories.price_list(items={"minute": "0.50"}))
    body = {
        "customer_id": str(customer.pk),
        "billing_category": "retail",
        "item_code": "minute",
        "quantity": "3",
        "occurred_at": "2026-03-01T12:00:00Z",
    }
    record = manager_api.post("/api/v1/usage-records", body).json()
    assert record["billed_quantity"] == "3.000000"
    assert record["price_breakdown"]["steps"] == [
        {"label": "per unit", "quantity": "3", "unit_price": "0.5", "amount": "1.5"}
    ]
