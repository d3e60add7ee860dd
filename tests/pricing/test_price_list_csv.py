"""Price list CSV: export with tiers, import with a dry-run preview, errors by line, atomic."""

import csv
import io
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pricing.models import PriceListItem
from tests import factories

HEADER = "item_code,unit,pricing_mode,unit_price,tiers,package_size,first_increment,next_increment,minimum_charge\n"  # noqa: E501
GOOD = (
    HEADER
    + "GB,GB,graduated,,100:2.00|1000:1.50|:1.00,,,,\n"
    + "second,second,per_unit,0.02,,,60,60,1.50\n"
    + "SMS,message,package,15,,1000,,,\n"
    + "minute,minute,per_unit,0.90,,,,,\n"
)


def _import(client, price_list, text, **extra):
    upload = SimpleUploadedFile("items.csv", text.encode(), content_type="text/csv")
    url = reverse("pricing:price_list_import", args=[price_list.pk])
    return client.post(url, {"file": upload, "version": price_list.version, **extra})


def _apply(client, price_list, response):
    url = reverse("pricing:price_list_import", args=[price_list.pk])
    context = response.context
    data = {"csv_text": context["csv_text"], "version": context["version"], "apply": "1"}
    if context["replace"]:
        data["replace"] = "on"
    return client.post(url, data)


def test_the_dry_run_shows_what_would_change_and_writes_nothing(manager_client):
    price_list = factories.price_list("STD", items={"minute": "1.00", "fax": "3.00"})
    response = _import(manager_client, price_list, GOOD)
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary == {"add": 3, "change": 1, "remove": 0, "same": 0, "keep": 1}  # fax kept
    page = response.content.decode()
    assert "tiers 100:2|1000:1.5|:1" in page
    assert set(price_list.items.values_list("item_code", flat=True)) == {"minute", "fax"}


def test_applying_writes_every_price_model_and_keeps_other_items(manager_client):
    price_list = factories.price_list("STD", items={"minute": "1.00", "fax": "3.00"})
    response = _apply(manager_client, price_list, _import(manager_client, price_list, GOOD))
    assert response.status_code == 302
    items = {i.item_code: i for i in price_list.items.all()}
    assert set(items) == {"GB", "second", "SMS", "minute", "fax"}
    assert items["GB"].pricing_mode == "graduated"
    assert items["GB"].unit_price == Decimal(2)
    assert items["second"].first_increment == Decimal(60)
    assert items["SMS"].package_size == Decimal(1000)
    assert items["minute"].unit_price == Decimal("0.90")


def test_replace_removes_items_the_file_does_not_list(manager_client):
    price_list = factories.price_list("STD", items={"fax": "3.00"})
    preview = _import(manager_client, price_list, GOOD, replace="on")
    assert preview.context["summary"]["remove"] == 1
    _apply(manager_client, price_list, preview)
    assert not price_list.items.filter(item_code="fax").exists()


def test_export_then_import_round_trips_tiers(manager_client, support_client):
    source = factories.price_list("SRC", items={})
    _apply(manager_client, source, _import(manager_client, source, GOOD))
    exported = support_client.get(reverse("pricing:price_list_export", args=[source.pk]))
    text = b"".join(exported.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["item_code"]: r["tiers"] for r in rows}["GB"] == "100:2|1000:1.5|:1"
    target = factories.price_list("DST", items={})
    preview = _import(manager_client, target, text)
    _apply(manager_client, target, preview)

    # The same prices as the engine reads them (tiers written "2" or "2.00" alike).
    def prices(price_list):
        return [(i.item_code, i.engine_price()) for i in price_list.items.order_by("item_code")]

    assert prices(target) == prices(source)


def test_every_error_of_every_line_in_line_order_and_nothing_written(manager_client):
    price_list = factories.price_list("STD", items={"minute": "1.00"})
    bad = (
        HEADER
        + "GB,GB,graduated,,1000:2|100:1.5|:1,,,,\n"  # tiers out of order
        + "minute,minute,tiered,1e3,,,,,\n"  # a bad mode and an exponent
        + "SMS,message,package,15,,,,,\n"  # no package size
        + "gb,GB,per_unit,1,,,,,\n"  # the same code as line 2, in another case
    )
    response = _import(manager_client, price_list, bad)
    assert response.status_code == 422
    errors = dict(response.context["plan"].errors)
    assert list(errors) == [2, 3, 4, 5]
    assert any("tier 1's (1000)" in e for e in errors[2])
    assert len(errors[3]) == 2
    assert any(e.startswith("package_size:") for e in errors[4])
    assert any("line 2" in e for e in errors[5])
    assert list(price_list.items.values_list("item_code", "unit_price")) == [
        ("minute", Decimal("1.00"))
    ]


def test_a_list_changed_since_the_preview_is_not_imported(manager_client):
    price_list = factories.price_list("STD", items={"minute": "1.00"})
    preview = _import(manager_client, price_list, GOOD)
    PriceListItem.objects.filter(price_list=price_list).update(unit_price=Decimal(5))
    from pricing import services

    services.price_list_items_changed(price_list=price_list)
    response = _apply(manager_client, price_list, preview)
    assert response.status_code == 409
    assert "Nothing was imported" in response.content.decode()
    assert price_list.items.count() == 1


def test_support_staff_export_but_cannot_import(support_client):
    price_list = factories.price_list("STD")
    assert (
        support_client.get(reverse("pricing:price_list_export", args=[price_list.pk])).status_code
        == 200
    )
    assert _import(support_client, price_list, GOOD).status_code == 403
