"""Numbers are written plainly and names read as they are shown (issue 22, item 10).

One strict decimal reading (``pricing.decimals``) for forms, the admin, the API and CSV; one
OpenAPI pattern that does not admit ``""``, ``-`` or ``.``; one description limit for pages and
the API; names, codes and external IDs without invisible or direction-changing characters.
"""

import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from groups import services as group_services
from groups.models import Customer, CustomerGroup
from groups.validation import DESCRIPTION_MAX_LENGTH
from pricing import decimals
from pricing.decimals import parse_decimal
from pricing.models import PriceList, PriceListItem, PricingRule, UsageRecord
from tests import factories
from tests.api.conftest import Api

REFUSED = [
    ("1_000", decimals.NO_SEPARATORS),
    ("1 000", decimals.NO_SEPARATORS),
    ("\uff11\uff10", decimals.ASCII_DIGITS),  # full-width 10
    ("\u0661\u0660", decimals.ASCII_DIGITS),  # Arabic-Indic 10
    ("1e3", decimals.NO_EXPONENT),
    ("2.5E-2", decimals.NO_EXPONENT),
    ("1,5", decimals.USE_A_DOT),
    ("", decimals.NOT_A_NUMBER),
    ("-", decimals.NOT_A_NUMBER),
    (".", decimals.NOT_A_NUMBER),
    ("NaN", decimals.NOT_A_NUMBER),
    ("Infinity", decimals.NOT_A_NUMBER),
    ("0x10", decimals.NOT_A_NUMBER),
]
INVISIBLE = ["Evil\u202eCorp", "A\u200bB", "Zero\u200dJoin", "\ufeffBOM", "Bell\x07char"]


@pytest.mark.parametrize(
    ("text", "value"),
    [("1500", "1500"), ("0.25", "0.25"), ("12.", "12"), (".5", "0.5"), (" 3 ", "3"), ("-1", "-1")],
)
def test_plain_decimals_are_read(text, value):
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_other_ways_of_writing_numbers_are_refused_with_a_hint(text, message):
    with pytest.raises(decimals.NotADecimal) as error:
        parse_decimal(text)
    assert str(error.value) == message


# --- Every surface uses it --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "message"), REFUSED[:7])
def test_the_price_list_page_refuses_them_beside_the_field(manager_client, text, message):
    price_list = factories.price_list(items={})
    response = manager_client.post(
        reverse("pricing:price_list_item_add", args=[price_list.pk]),
        {"new-item_code": "GB", "new-unit": "GB", "new-unit_price": text},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not price_list.items.exists()


@pytest.mark.django_db
def test_the_admin_refuses_them(superuser_client):
    item = PriceListItem.objects.get(price_list=factories.price_list(items={"minute": "1"}))
    response = superuser_client.post(
        reverse("admin:pricing_pricelistitem_change", args=[item.pk]),
        {
            "price_list": str(item.price_list_id),
            "item_code": "minute",
            "unit": "minute",
            "unit_price": "1e3",
        },
    )
    assert response.status_code == 200
    assert decimals.NO_EXPONENT in response.content.decode()
    item.refresh_from_db()
    assert item.unit_price == Decimal("1")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ['"1e3"', "1e3", "2.5E-2", '"1_000"', '"\\uff11\\uff10"', '"1,5"', '"-"', '""', '"."']
)
def test_the_api_refuses_them_as_prices_and_quantities(manager, value):
    """Strings as well as JSON numbers: ``1e3`` written as a number is refused too."""
    client = Api(manager).client
    factories.customer(external_id="C-1")

    def post(path: str, template: str):
        body = template.replace("VALUE", value)
        return client.post(path, body, content_type="application/json")

    response = post(
        "/api/v1/price-lists",
        '{"name": "New", "code": "NEW", "currency": "EUR", "items": '
        '[{"item_code": "minute", "unit": "minute", "unit_price": VALUE}]}',
    )
    assert response.status_code == 400
    assert "unit_price" in response.json()["items"]["0"]
    record = (
        '{"external_id": "C-1", "billing_category": "retail", "item_code": "minute", '
        '"quantity": VALUE}'
    )
    for path in ("/api/v1/usage-records", "/api/v1/rate"):
        response = post(path, record)
        assert response.status_code == 400
        assert "quantity" in response.json()
    assert not PriceList.objects.exists()
    assert not UsageRecord.objects.exists()


@pytest.mark.django_db
def test_the_api_reads_json_numbers_exactly(manager):
    body = {
        "name": "New",
        "code": "NEW",
        "currency": "EUR",
        "items": [{"item_code": "minute", "unit": "minute", "unit_price": 0.1}],
    }
    response = Api(manager).post("/api/v1/price-lists", body)
    assert response.status_code == 201
    assert response.json()["items"][0]["unit_price"] == "0.100000"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("quantity", "reason"),
    [("1e3", decimals.NO_EXPONENT), ("1,5", decimals.USE_A_DOT), ("1_000", decimals.NO_SEPARATORS)],
)
def test_the_csv_upload_refuses_them_naming_the_line(manager_client, quantity, reason):
    factories.customer(external_id="C-1")
    text = "customer;category;item;quantity;occurred_at\n"
    text += f"C-1;retail;minute;{quantity};2026-03-01T10:00:00Z\n"
    upload = SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv")
    response = manager_client.post(reverse("pricing:usage_upload"), {"file": upload})
    assert response.status_code == 422
    assert response.context["upload_errors"] == [f"Line 2: quantity “{quantity}”: {reason}"]


@pytest.mark.django_db
def test_the_openapi_decimal_patterns_do_not_admit_empty_minus_or_dot(client):
    schema = client.get("/api/v1/schema").json()["components"]["schemas"]
    patterns = {
        "unit_price": schema["PriceListItemRequest"]["properties"]["unit_price"]["pattern"],
        "quantity": schema["UsageInputRequest"]["properties"]["quantity"]["pattern"],
    }
    for name, pattern in patterns.items():
        for text in ("", "-", ".", "-.", "1e3", "1_000", "1,5"):
            assert not re.search(pattern, text), (name, text)
        for text in ("12.50", "0.000001", "999999999.999999", ".5"):
            assert re.search(pattern, text), (name, text)
    assert not re.search(patterns["unit_price"], "-1")  # a price cannot be negative


# --- One description limit --------------------------------------------------------------------


@pytest.mark.django_db
def test_group_descriptions_have_one_limit_in_pages_and_the_api(manager_client, manager):
    too_long = "x" * (DESCRIPTION_MAX_LENGTH + 1)
    page = manager_client.post(
        reverse("groups:group_create"), {"name": "Long", "description": too_long}
    )
    assert page.status_code == 422
    assert "Keep the description to 5000 characters (it has 5001)." in page.content.decode()
    api = Api(manager).post("/api/v1/groups", {"name": "Long", "description": too_long})
    assert api.status_code == 400
    assert api.json()["description"] == ["Keep the description to 5000 characters (it has 5001)."]
    assert not CustomerGroup.objects.exists()
    exact = "x" * DESCRIPTION_MAX_LENGTH
    assert (
        Api(manager).post("/api/v1/groups", {"name": "A", "description": exact}).status_code == 201
    )
    page = manager_client.post(reverse("groups:group_create"), {"name": "B", "description": exact})
    assert page.status_code == 302


@pytest.mark.django_db
def test_rule_and_price_list_descriptions_have_the_same_limit_in_the_api(manager):
    too_long = "x" * (DESCRIPTION_MAX_LENGTH + 1)
    rule = factories.rule()
    api = Api(manager)
    assert (
        api.patch(f"/api/v1/pricing-rules/{rule.pk}", {"description": too_long}).status_code == 400
    )
    response = api.patch(f"/api/v1/price-lists/{rule.price_list_id}", {"description": too_long})
    assert response.status_code == 400


# --- Visible text -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("text", INVISIBLE)
def test_the_api_refuses_invisible_characters_in_names_and_external_ids(manager, text):
    api = Api(manager)
    response = api.post("/api/v1/customers", {"name": text})
    assert "invisible or direction-changing" in response.json()["name"][0]
    response = api.post("/api/v1/customers", {"name": "Fine", "external_id": text})
    assert "invisible or direction-changing" in response.json()["external_id"][0]
    assert api.post("/api/v1/groups", {"name": text}).status_code == 400
    assert (
        api.post("/api/v1/price-lists", {"name": text, "code": "X", "currency": "EUR"}).status_code
        == 400
    )
    assert not Customer.objects.exists()
    assert not CustomerGroup.objects.exists()


@pytest.mark.django_db
def test_pages_refuse_invisible_characters_beside_the_field(manager_client):
    response = manager_client.post(reverse("groups:group_create"), {"name": "VIP\u202e"})
    assert response.status_code == 422
    assert "U+202E" in " ".join(response.context["form"].errors["name"])
    price_list = factories.price_list()
    response = manager_client.post(
        reverse("pricing:rule_create"),
        {
            "name": "Rule\u200b",
            "code": "R-1",
            "billing_category": "retail",
            "price_list": str(price_list.pk),
            "target_kind": "everyone",
            "priority": "1",
            "valid_from": "2026-01-01",
        },
    )
    assert response.status_code == 422
    assert "U+200B" in " ".join(response.context["form"].errors["name"])
    assert not PricingRule.objects.exists()


@pytest.mark.django_db
def test_a_customer_import_refuses_invisible_characters_on_the_line():
    raw = "name,external_id\nGood,G-1\nSpoof,G\u200b-1\n".encode()
    plan = group_services.customer_import_plan(raw=raw)
    assert len(plan.errors) == 1
    assert plan.errors[0].startswith("Line 3: external ID:")
    assert "U+200B" in plan.errors[0]
