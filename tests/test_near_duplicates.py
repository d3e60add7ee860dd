"""Issue 21 item 9 (the near-duplicates that are this brief's): group names that differ only in
spaces, and item codes that differ only in case within one price list, are refused."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from groups import services as group_services
from groups.models import CustomerGroup
from pricing import services as pricing_services
from pricing.models import PriceListItem
from tests import factories

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_group_names_are_stored_with_their_whitespace_normalised():
    group = group_services.group_create(name="  Summer \t Promo\n 2026 ")
    assert group.name == "Summer Promo 2026"


@pytest.mark.parametrize("typed", ["Summer  Promo", " summer promo", "SUMMER\tPROMO"])
def test_a_name_differing_only_in_spaces_or_case_is_refused(typed):
    group_services.group_create(name="Summer Promo")
    with pytest.raises(ValidationError) as caught:
        group_services.group_create(name=typed)
    assert "already exists (as “Summer Promo”)" in caught.value.message_dict["name"][0]
    other = group_services.group_create(name="Winter Promo")
    with pytest.raises(ValidationError):
        group_services.group_update(group=other, name=typed)
    assert CustomerGroup.objects.count() == 2


def test_the_group_form_refuses_it_beside_the_name(manager_client):
    group_services.group_create(name="Summer Promo")
    response = manager_client.post(
        reverse("groups:group_create"), {"name": "Summer   Promo", "code": ""}, **HX
    )
    assert response.status_code == 422
    assert "A group named “Summer Promo” already exists" in response.content.decode()


def test_item_codes_differing_only_in_case_are_refused_with_a_clear_message():
    price_list = factories.price_list("STD", items={"SMS": "0.05"})
    with pytest.raises(ValidationError) as caught:
        pricing_services.price_list_item_save(
            price_list=price_list, item_code="sms", unit="message", unit_price=Decimal("0.04")
        )
    assert caught.value.message_dict["item_code"] == [
        pricing_services.ITEM_TAKEN_OTHER_CASE.format(code="SMS")
    ]
    # Another list may price "sms": the rule is per list.
    other = factories.price_list("OTHER", items={})
    pricing_services.price_list_item_save(
        price_list=other, item_code="sms", unit="message", unit_price=Decimal("0.04")
    )
    # Changing an item's own case is no clash with itself.
    item = price_list.items.get()
    pricing_services.price_list_item_save(
        price_list=price_list, item=item, item_code="Sms", unit="message", unit_price=Decimal("1")
    )


def test_a_whole_list_of_items_refuses_codes_differing_only_in_case():
    with pytest.raises(ValidationError) as caught:
        pricing_services.price_list_create(
            name="Retail",
            code="RETAIL",
            currency="CZK",
            items=[
                {"item_code": "SMS", "unit": "message", "unit_price": Decimal("1")},
                {"item_code": "sms", "unit": "message", "unit_price": Decimal("2")},
            ],
        )
    assert (
        pricing_services.DUPLICATE_ITEM_OTHER_CASE.format(item_code="sms", first="SMS")
        in (caught.value.message_dict["items"])
    )


def test_the_database_refuses_them_too():
    price_list = factories.price_list("STD", items={"SMS": "0.05"})
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceListItem.objects.create(
            price_list=price_list, item_code="sms", unit="message", unit_price=Decimal("1")
        )


def test_the_item_form_shows_it_beside_the_code(manager_client):
    price_list = factories.price_list("STD", items={"SMS": "0.05"})
    response = manager_client.post(
        reverse("pricing:price_list_item_add", args=[price_list.pk]),
        {"new-item_code": "sms", "new-unit": "message", "new-unit_price": "0.04"},
        **HX,
    )
    assert response.status_code == 422
    body = response.content.decode()
    error = body.split('id="id_new-item_code-error"', 1)[1].split("</div>", 1)[0]
    assert "already prices “SMS”" in error
