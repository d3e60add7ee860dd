"""Price list items leave the same history whichever way they are written (issue 22, item 7).

The API replaced all items of a list in bulk, so its writes left no history and the price
list's page then said an item had been deleted when it had been changed. Each test writes
through one surface (the API, the pages, the admin) and reads the history back.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from pricing.models import PriceList, PriceListItem
from tests import factories
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def item_records(price_list: PriceList) -> list[tuple[str, str, str, str]]:
    """(action, item code, unit price, user) of every item history record, oldest first."""
    records = PriceListItem.history.filter(price_list_id=price_list.pk).order_by(
        "history_date", "history_id"
    )
    return [
        (
            r.history_type,
            r.item_code,
            f"{r.unit_price:.2f}",
            r.history_user.username if r.history_user else "",
        )
        for r in records
    ]


def page_history(client, price_list: PriceList) -> list[tuple[str, str, list]]:
    """What the price list's page says happened to its items, oldest first."""
    response = client.get(reverse("pricing:price_list_detail", args=[price_list.pk]))
    entries = [e for e in response.context["history"] if e.subject.startswith("Item ")]
    return [
        (e.action, e.subject, [(c.label, c.old, c.new) for c in e.changes])
        for e in reversed(entries)
    ]


def test_items_written_through_the_api_leave_history(manager, manager_client):
    api = Api(manager)
    created = api.post(
        "/api/v1/price-lists",
        {
            "name": "Retail",
            "code": "RETAIL",
            "currency": "EUR",
            "items": [
                {"item_code": "minute", "unit": "minute", "unit_price": "1.00"},
                {"item_code": "SMS", "unit": "message", "unit_price": "0.50"},
            ],
        },
    )
    assert created.status_code == 201
    price_list = PriceList.objects.get(code="RETAIL")
    minute_id = price_list.items.get(item_code="minute").pk
    response = api.patch(
        f"/api/v1/price-lists/{price_list.pk}",
        {
            "items": [
                {"item_code": "minute", "unit": "minute", "unit_price": "1.20"},
                {"item_code": "GB", "unit": "GB", "unit_price": "5.00"},
            ]
        },
    )
    assert response.status_code == 200
    # The changed item is the same item, changed; the dropped one deleted; the new one created.
    assert price_list.items.get(item_code="minute").pk == minute_id
    assert item_records(price_list) == [
        ("+", "minute", "1.00", "pm"),
        ("+", "SMS", "0.50", "pm"),
        ("-", "SMS", "0.50", "pm"),
        ("~", "minute", "1.20", "pm"),
        ("+", "GB", "5.00", "pm"),
    ]
    history = page_history(manager_client, price_list)
    assert ("Changed", "Item minute", [("Unit price", "1.00", "1.20")]) in history
    assert [action for action, subject, _ in history if subject == "Item minute"] == [
        "Created",
        "Changed",
    ]
    # Sending the same items again changes nothing and records nothing.
    before = len(item_records(price_list))
    body = {"items": [{"item_code": "minute", "unit": "minute", "unit_price": "1.2"}]}
    api.patch(f"/api/v1/price-lists/{price_list.pk}", {**body})
    assert [r[0:2] for r in item_records(price_list)[before:]] == [("-", "GB")]


def test_items_written_through_the_pages_leave_the_same_history(manager_client):
    price_list = factories.price_list("RETAIL", items={})
    url = reverse("pricing:price_list_item_add", args=[price_list.pk])
    manager_client.post(
        url, {"new-item_code": "minute", "new-unit": "minute", "new-unit_price": "1.00"}
    )
    item = price_list.items.get()
    prefix = f"item-{item.pk}"
    manager_client.post(
        reverse("pricing:price_list_item_edit", args=[price_list.pk, item.pk]),
        {
            f"{prefix}-item_code": "minute",
            f"{prefix}-unit": "minute",
            f"{prefix}-unit_price": "1.2",
        },
    )
    manager_client.post(reverse("pricing:price_list_item_delete", args=[price_list.pk, item.pk]))
    assert item_records(price_list) == [
        ("+", "minute", "1.00", "pm"),
        ("~", "minute", "1.20", "pm"),
        ("-", "minute", "1.20", "pm"),
    ]
    assert [(a, s) for a, s, _ in page_history(manager_client, price_list)] == [
        ("Created", "Item minute"),
        ("Changed", "Item minute"),
        ("Deleted", "Item minute"),
    ]


def test_items_written_through_the_admin_leave_the_same_history(superuser_client):
    price_list = factories.price_list("RETAIL", items={"minute": "1.00"})
    item = price_list.items.get()
    PriceListItem.history.filter(price_list_id=price_list.pk).update(history_user=None)
    url = reverse("admin:pricing_pricelist_change", args=[price_list.pk])
    base = {
        "name": price_list.name,
        "code": price_list.code,
        "currency": price_list.currency,
        "description": "",
        "factor": "1",
        "surcharge": "0",
        "rounding": "2",
        "items-INITIAL_FORMS": "1",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
        "items-0-id": str(item.pk),
        "items-0-price_list": str(price_list.pk),
        "items-0-item_code": "minute",
        "items-0-unit": "minute",
    }
    response = superuser_client.post(
        url,
        {
            **base,
            "items-TOTAL_FORMS": "2",
            "items-0-unit_price": "1.20",
            "items-1-price_list": str(price_list.pk),
            "items-1-item_code": "GB",
            "items-1-unit": "GB",
            "items-1-unit_price": "5",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    superuser_client.post(
        url,
        {**base, "items-TOTAL_FORMS": "1", "items-0-unit_price": "1.20", "items-0-DELETE": "on"},
    )
    assert item_records(price_list)[1:] == [
        ("~", "minute", "1.20", "root"),
        ("+", "GB", "5.00", "root"),
        ("-", "minute", "1.20", "root"),
    ]
    assert price_list.items.get().unit_price == Decimal("5")
