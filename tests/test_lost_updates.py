"""No lost updates (issue 22, item 5).

Two editors load a rule, both save: the second used to revert the first's priority silently.
Pages carry the version they edited and refuse a stale save (409) with a message saying what
changed and who changed it, keeping the editor's input; saving again then applies it. The API
answers with an ``ETag`` and refuses a write whose ``If-Match`` is stale (412), for rules,
price lists (with their items) and groups.
"""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from billing.roles import PRICING_MANAGERS
from groups import services as group_services
from groups.models import CustomerGroup
from pricing import services
from pricing.models import PriceList, PricingRule
from tests import factories
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice():
    return factories.user("alice", role=PRICING_MANAGERS)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rule_form(client, rule) -> dict:
    """The edit form's fields as the browser would post them back, untouched."""
    form = client.get(reverse("pricing:rule_update", args=[rule.pk])).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else str(v.pk) if hasattr(v, "pk") else v) for k, v in data.items()}
    data["is_active"] = "on" if data["is_active"] else ""
    return {k: str(v) if not isinstance(v, str) else v for k, v in data.items()}


# --- Pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_stale_rule_save_is_refused_showing_what_changed(manager, alice, htmx):
    rule = factories.rule("VIP-RETAIL", priority=10)
    mine, theirs = _client(manager), _client(alice)
    my_form = _rule_form(mine, rule)
    their_form = _rule_form(theirs, rule)
    assert my_form["version"] == their_form["version"] == "1"

    response = theirs.post(
        reverse("pricing:rule_update", args=[rule.pk]), {**their_form, "priority": "20"}
    )
    assert response.status_code == 302

    url = reverse("pricing:rule_update", args=[rule.pk])
    headers = HX if htmx else {}
    stale = mine.post(url, {**my_form, "name": "VIP retail 2027"}, **headers)
    assert stale.status_code == 409
    html = stale.content.decode()
    assert "was changed by alice at" in html
    assert "Priority: 10 → <strong>20</strong>" in html
    assert 'value="VIP retail 2027"' in html  # what I typed is kept
    rule.refresh_from_db()
    assert (rule.priority, rule.name) == (20, my_form["name"])  # nothing of mine was saved
    assert 'name="version" value="2"' in html

    # Having seen it, saving again applies my version of the rule.
    again = mine.post(url, {**my_form, "name": "VIP retail 2027", "version": "2"}, **headers)
    assert again.status_code in (200, 302)
    rule.refresh_from_db()
    assert (rule.priority, rule.name, rule.version) == (10, "VIP retail 2027", 3)


def test_disabling_a_rule_meanwhile_makes_an_open_edit_stale(manager, alice):
    rule = factories.rule("STD", priority=10)
    mine = _client(manager)
    my_form = _rule_form(mine, rule)
    services.rule_disable(rule=rule, by=alice)
    response = mine.post(reverse("pricing:rule_update", args=[rule.pk]), my_form)
    assert response.status_code == 409
    assert "Active: yes → <strong>no</strong>" in response.content.decode()
    rule.refresh_from_db()
    assert not rule.is_active


def test_a_stale_price_list_save_is_refused_but_new_items_are_no_conflict(manager, alice):
    price_list = factories.price_list("RETAIL", name="Retail")
    mine = _client(manager)
    url = reverse("pricing:price_list_update", args=[price_list.pk])
    form = mine.get(url).context["form"]
    loaded = {name: form[name].value() for name in form.fields}
    # Someone adds an item: the list's own fields did not change, so my edit goes through.
    services.price_list_item_save(
        price_list=price_list, item_code="GB", unit="GB", unit_price=Decimal(5), by=alice
    )
    response = mine.post(url, {**loaded, "description": "EU retail"})
    assert response.status_code == 302
    price_list.refresh_from_db()
    assert price_list.description == "EU retail"
    # Someone renames it after I loaded the form again: my next save is refused.
    form = mine.get(url).context["form"]
    loaded = {name: form[name].value() for name in form.fields}
    services.price_list_update(
        price_list=PriceList.objects.get(pk=price_list.pk), name="Retail EU", by=alice
    )
    response = mine.post(url, {**loaded, "description": "changed again"}, **HX)
    assert response.status_code == 409
    assert "Name: Retail → <strong>Retail EU</strong>" in response.content.decode()
    price_list.refresh_from_db()
    assert price_list.description == "EU retail"


def test_a_stale_item_edit_is_refused_in_its_row(manager, alice):
    price_list = factories.price_list(items={"minute": "1.00"})
    item = price_list.items.get()
    mine = _client(manager)
    url = reverse("pricing:price_list_item_edit", args=[price_list.pk, item.pk])
    row = mine.get(url, **HX).context["edit_form"]
    loaded = {row.add_prefix(name): row[name].value() for name in row.fields}
    services.price_list_item_save(
        price_list=price_list,
        item=item,
        item_code="minute",
        unit="minute",
        unit_price=Decimal("1.50"),
        by=alice,
    )
    prefix = row.add_prefix
    response = mine.post(url, {**loaded, prefix("unit_price"): "0.90"}, **HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Unit price: 1.00 → <strong>1.50</strong>" in html
    item.refresh_from_db()
    assert item.unit_price == Decimal("1.50")
    again = mine.post(url, {**loaded, prefix("unit_price"): "0.90", prefix("version"): "2"}, **HX)
    assert again.status_code == 200
    item.refresh_from_db()
    assert item.unit_price == Decimal("0.90")


def test_a_stale_group_edit_is_refused_showing_what_changed(manager, alice):
    group = factories.group("Gold", code="gold")
    mine = _client(manager)
    url = reverse("groups:group_edit", args=[group.pk])
    form = mine.get(url, **HX).context["form"]
    loaded = {name: form[name].value() or "" for name in form.fields}
    group_services.group_update(
        group=CustomerGroup.objects.get(pk=group.pk), description="Top tier", by=alice
    )
    response = mine.post(url, {**loaded, "name": "Gold 2027"}, **HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Description: — → <strong>Top tier</strong>" in html
    group.refresh_from_db()
    assert group.name == "Gold"


# --- The API ----------------------------------------------------------------------------------


def test_the_api_refuses_a_stale_if_match_with_412(manager):
    rule = factories.rule("R-1", priority=10)
    api = Api(manager)
    url = f"/api/v1/pricing-rules/{rule.pk}"
    read = api.get(url)
    assert read["ETag"] == '"1"'
    assert read.json()["version"] == 1
    first = api.client.patch(
        url, {"priority": 20}, content_type="application/json", HTTP_IF_MATCH='"1"'
    )
    assert first.status_code == 200
    assert first["ETag"] == '"2"'
    stale = api.client.patch(
        url, {"priority": 5}, content_type="application/json", HTTP_IF_MATCH='"1"'
    )
    assert stale.status_code == 412
    assert stale["ETag"] == '"2"'
    assert "after you opened it" in stale.json()["detail"]
    rule.refresh_from_db()
    assert rule.priority == 20
    for if_match, status in (('"1", "2"', 200), ("*", 200), ("3", 412), ('W/"4"', 412)):
        response = api.client.patch(
            url, {"priority": 30}, content_type="application/json", HTTP_IF_MATCH=if_match
        )
        assert response.status_code == status, if_match
    assert api.patch(url, {"priority": 40}).status_code == 200  # If-Match is optional


def test_a_price_lists_etag_covers_its_items(manager, manager_client):
    price_list = factories.price_list(items={"minute": "1.00"})
    api = Api(manager)
    url = f"/api/v1/price-lists/{price_list.pk}"
    etag = api.get(url)["ETag"]
    item = price_list.items.get()
    manager_client.post(
        reverse("pricing:price_list_item_edit", args=[price_list.pk, item.pk]),
        {
            f"item-{item.pk}-item_code": "minute",
            f"item-{item.pk}-unit": "minute",
            f"item-{item.pk}-unit_price": "2",
        },
    )
    assert api.get(url)["ETag"] != etag
    response = api.client.put(
        url,
        {"name": "X", "code": "X", "currency": "CZK", "items": []},
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    )
    assert response.status_code == 412
    assert PriceList.objects.get(pk=price_list.pk).items.count() == 1


def test_an_item_changed_in_the_admin_is_a_new_version_of_its_list(superuser_client):
    price_list = factories.price_list(items={"minute": "1.00"})
    item = price_list.items.get()
    response = superuser_client.post(
        reverse("admin:pricing_pricelistitem_change", args=[item.pk]),
        {
            "price_list": str(price_list.pk),
            "item_code": "minute",
            "unit": "min",
            "unit_price": "1",
            "pricing_mode": "per_unit",
        },
    )
    assert response.status_code == 302
    assert PriceList.objects.get(pk=price_list.pk).version == price_list.version + 1


def test_a_stale_delete_is_refused_with_412(manager):
    group = factories.group()
    api = Api(manager)
    group_services.group_update(group=group, description="changed")
    response = api.client.delete(f"/api/v1/groups/{group.pk}", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    assert CustomerGroup.objects.filter(pk=group.pk).exists()
    rule = factories.rule()
    response = api.client.delete(f"/api/v1/pricing-rules/{rule.pk}", HTTP_IF_MATCH='"1"')
    assert response.status_code == 204
    assert not PricingRule.objects.filter(pk=rule.pk).exists()


def test_etag_and_if_match_are_documented(client):
    schema = client.get("/api/v1/schema").json()
    for path in ("/api/v1/groups/{id}", "/api/v1/price-lists/{id}", "/api/v1/pricing-rules/{id}"):
        operations = schema["paths"][path]
        assert "ETag" in operations["get"]["responses"]["200"]["headers"]
        for method in ("put", "patch", "delete"):
            names = {p["name"] for p in operations[method].get("parameters", [])}
            assert "If-Match" in names, (path, method)
            assert "412" in operations[method]["responses"], (path, method)
