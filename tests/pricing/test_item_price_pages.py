"""The item price model page (tier rows in place, the engine's live preview) and the price
list page's derivation chain and provenance."""

from decimal import Decimal

import pytest
from django.urls import reverse

from pricing import engine
from pricing.models import PriceListItem
from tests import factories

HX = {"HTTP_HX_REQUEST": "true"}

GRADUATED = {
    "item_code": "GB",
    "unit": "GB",
    "pricing_mode": "graduated",
    "tier_up_to": ["100", "1000", ""],
    "tier_unit_price": ["2.00", "1.50", "1.00"],
    "preview_quantity": "150",
}


def _url(name, price_list, *args):
    return reverse(f"pricing:{name}", args=[price_list.pk, *args])


def test_the_form_shows_an_items_stored_tiers_as_rows(manager_client):
    price_list = factories.price_list("STD", items={})
    item = PriceListItem.objects.create(
        price_list=price_list,
        item_code="GB",
        unit="GB",
        unit_price=Decimal(2),
        pricing_mode="graduated",
        tiers=[{"up_to": "100", "unit_price": "2"}, {"up_to": None, "unit_price": "1.5"}],
    )
    page = manager_client.get(_url("item_price_edit", price_list, item.pk)).content.decode()
    assert page.count('name="tier_up_to"') == 2
    assert 'value="100"' in page
    assert 'value="1.5"' in page
    # The first preview is the engine's for 100 units: all in tier 1.
    assert "100 GB cost <strong>200.00 CZK</strong>" in page


def test_tier_rows_are_added_and_removed_in_place(manager_client):
    price_list = factories.price_list("STD", items={})
    url = _url("item_price_tiers", price_list)
    added = manager_client.post(url, {**GRADUATED, "add_tier": "1"}, **HX).content.decode()
    assert added.count('name="tier_up_to"') == 4
    assert 'id="preview"' in added
    assert 'hx-swap-oob="outerHTML"' in added
    removed = manager_client.post(url, {**GRADUATED, "remove_tier": "1"}, **HX).content.decode()
    assert removed.count('name="tier_up_to"') == 2
    assert 'value="1000"' not in removed
    assert not PriceListItem.objects.exists()


def test_the_preview_is_the_engines_charge(manager_client):
    price_list = factories.price_list("STD", items={})
    response = manager_client.post(_url("item_price_preview", price_list), GRADUATED, **HX)
    page = response.content.decode()
    price = engine.ItemPrice(
        Decimal(2),
        engine.Mode.GRADUATED,
        (
            engine.Tier(Decimal(100), Decimal(2)),
            engine.Tier(Decimal(1000), Decimal("1.5")),
            engine.Tier(None, Decimal(1)),
        ),
    )
    expected = engine.charge(price, Decimal(150))
    assert f"150 GB cost <strong>{expected.amount} CZK</strong>" in page
    for step in expected.steps:
        assert str(step) in page


def test_the_preview_says_what_is_missing_instead_of_pricing(manager_client):
    price_list = factories.price_list("STD", items={})
    data = {**GRADUATED, "tier_up_to": ["1000", "100", ""]}
    page = manager_client.post(_url("item_price_preview", price_list), data, **HX)
    assert "Tier 2: its upper bound must be greater than tier 1" in page.content.decode()


def test_saving_a_graduated_item_with_increments_and_a_minimum(manager_client):
    price_list = factories.price_list("STD", items={})
    data = {**GRADUATED, "first_increment": "1", "next_increment": "1", "minimum_charge": "5"}
    response = manager_client.post(_url("item_price_new", price_list), data)
    assert response.status_code == 302
    item = PriceListItem.objects.get(price_list=price_list)
    assert item.pricing_mode == "graduated"
    assert item.unit_price == Decimal(2)  # the first tier's
    assert [t["up_to"] for t in item.tiers] == ["100", "1000", None]
    assert (item.first_increment, item.minimum_charge) == (Decimal(1), Decimal(5))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tier_up_to": ["1000", "100", ""]}, "must be greater than tier 1"),
        ({"tier_up_to": ["100", "1000", "2000"]}, "The last tier must have no upper bound"),
        ({"tier_unit_price": ["2", "x", "1"]}, "Tier 2"),
        ({"pricing_mode": "package", "unit_price": "15"}, "package size"),
    ],
)
def test_bad_price_models_are_refused_with_messages_and_nothing_saved(
    manager_client, change, message
):
    price_list = factories.price_list("STD", items={"minute": "1.00"})
    item = price_list.items.get()
    data = {**GRADUATED, "item_code": "minute", "unit": "minute", "version": "1", **change}
    response = manager_client.post(_url("item_price_edit", price_list, item.pk), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    item.refresh_from_db()
    assert (item.pricing_mode, item.unit_price) == ("per_unit", Decimal("1.00"))


def test_without_javascript_add_a_tier_shows_the_form_again_and_saves_nothing(manager_client):
    price_list = factories.price_list("STD", items={})
    response = manager_client.post(
        _url("item_price_new", price_list), {**GRADUATED, "add_tier": "1"}
    )
    assert response.status_code == 200
    assert response.content.decode().count('name="tier_up_to"') == 4
    assert not PriceListItem.objects.exists()


def test_support_staff_cannot_open_or_post_the_price_model_form(support_client):
    price_list = factories.price_list("STD")
    item = price_list.items.get()
    assert support_client.get(_url("item_price_edit", price_list, item.pk)).status_code == 403
    assert support_client.post(_url("item_price_preview", price_list), GRADUATED).status_code == 403


def test_a_derived_list_shows_its_chain_depth_and_where_each_price_comes_from(manager_client):
    standard = factories.price_list("STD-RETAIL-2026", name="Standard", items={"minute": "0.50"})
    PriceListItem.objects.create(
        price_list=standard, item_code="SMS", unit="message", unit_price=Decimal(15),
        pricing_mode="package", package_size=Decimal(1000),
    )  # fmt: skip
    promo = factories.price_list(
        "SUMMER", name="Summer", items={}, base_price_list=standard, factor=Decimal("0.8")
    )
    flash = factories.price_list(
        "FLASH", name="Flash", items={"minute": "0.10"}, base_price_list=promo
    )
    page = manager_client.get(reverse("pricing:price_list_detail", args=[flash.pk])).content
    page = page.decode()
    assert "depth 2" in page
    assert page.index("<code>FLASH</code>") < page.index("<code>SUMMER</code>")
    assert page.index("<code>SUMMER</code>") < page.index("<code>STD-RETAIL-2026</code>")
    # minute is FLASH's own; SMS comes down the chain, and says from where.
    assert "derived: 1.00 x SUMMER SMS 12.00" in page
    summer = manager_client.get(reverse("pricing:price_list_detail", args=[promo.pk]))
    text = summer.content.decode()
    assert "derived: 0.80 x STD-RETAIL-2026 minute 0.50" in text
    assert "12 CZK per block of 1000" in text


def test_the_price_list_page_costs_the_same_queries_with_a_deeper_chain(
    manager_client, django_assert_max_num_queries
):
    base = factories.price_list("BASE", items={"minute": "1", "SMS": "2"})
    lists = [base]
    for n in range(6):
        lists.append(factories.price_list(f"L{n}", items={}, base_price_list=lists[-1]))
    with django_assert_max_num_queries(20) as shallow:
        manager_client.get(reverse("pricing:price_list_detail", args=[lists[1].pk]))
    with django_assert_max_num_queries(len(shallow.captured_queries)):
        manager_client.get(reverse("pricing:price_list_detail", args=[lists[-1].pk]))


def test_the_price_list_form_sets_and_clears_the_base(manager_client):
    standard = factories.price_list("STD")
    response = manager_client.post(
        reverse("pricing:price_list_create"),
        {"name": "Promo", "code": "PROMO", "currency": "CZK", "base_price_list": standard.pk,
         "factor": "0.80", "surcharge": "", "rounding": ""},
    )  # fmt: skip
    assert response.status_code == 302
    promo = standard.derived_lists.get()
    assert (promo.factor, promo.surcharge, promo.rounding) == (Decimal("0.8"), 0, 2)
    cycle = manager_client.post(
        reverse("pricing:price_list_update", args=[standard.pk]),
        {"name": "STD", "code": "STD", "currency": "CZK", "base_price_list": promo.pk,
         "version": standard.version},
    )  # fmt: skip
    assert cycle.status_code == 422
    assert "circle" in cycle.content.decode()
    negative = manager_client.post(
        reverse("pricing:price_list_update", args=[promo.pk]),
        {"name": "Promo", "code": "PROMO", "currency": "CZK", "base_price_list": standard.pk,
         "factor": "-1", "version": promo.version},
    )  # fmt: skip
    assert negative.status_code == 422
    assert "The factor cannot be negative." in negative.content.decode()


def test_items_priced_beyond_a_unit_price_are_edited_on_their_price_model_page(manager_client):
    """The inline row editor knows only a unit price: a package item offers its price model page
    instead, a plain item both."""
    price_list = factories.price_list("STD", items={"minute": "1.00"})
    sms = PriceListItem.objects.create(
        price_list=price_list, item_code="SMS", unit="message", unit_price=Decimal(15),
        pricing_mode="package", package_size=Decimal(1000),
    )  # fmt: skip
    minute = price_list.items.get(item_code="minute")
    page = manager_client.get(reverse("pricing:price_list_detail", args=[price_list.pk]))
    html = page.content.decode()
    assert reverse("pricing:price_list_item_edit", args=[price_list.pk, sms.pk]) not in html
    assert reverse("pricing:item_price_edit", args=[price_list.pk, sms.pk]) in html
    assert reverse("pricing:price_list_item_edit", args=[price_list.pk, minute.pk]) in html
