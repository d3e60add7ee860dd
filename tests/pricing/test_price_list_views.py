"""Price list pages: the list, a list's page with its items edited in place, create/edit/delete.

Every page and action is tried as a pricing manager, as support staff (reads only, 403 on
writes) and as a signed-in user without a role (403 everywhere).
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from pricing import services
from pricing.models import PriceList, PriceListItem
from tests import factories

HX = {"HTTP_HX_REQUEST": "true"}


def list_url() -> str:
    return reverse("pricing:price_list_list")


def detail_url(price_list) -> str:
    return reverse("pricing:price_list_detail", args=[price_list.pk])


def item_url(name: str, item) -> str:
    return reverse(f"pricing:price_list_item_{name}", args=[item.price_list_id, item.pk])


@pytest.fixture
def nobody_client(client, nobody):
    client.force_login(nobody)
    return client


# --- The list ---------------------------------------------------------------------------------


def test_list_shows_name_code_currency_and_counts(manager_client):
    """Each row shows name, code, currency, how many items and how many rules use the list."""
    pl = factories.price_list("VIP-2026", name="VIP 2026", items={"minute": "1", "SMS": "2"})
    factories.rule(price_list=pl)
    factories.rule(price_list=pl)
    response = manager_client.get(list_url())
    assert response.status_code == 200
    row = response.content.decode()
    assert "VIP 2026" in row
    assert "VIP-2026" in row
    assert ">2</td>" in row  # two items
    assert f"?price_list={pl.pk}" in row  # the rule count links to the filtered rules
    assert "New price list" in row


def test_list_search_and_currency_filter(manager_client):
    """Search matches name or code; the currency filter keeps only that currency."""
    factories.price_list("EU-RETAIL", name="Retail Europe", currency="EUR")
    factories.price_list("CZ-RETAIL", name="Retail Czechia", currency="CZK")
    factories.price_list("CZ-WHOLESALE", name="Wholesale Czechia", currency="CZK")

    body = manager_client.get(list_url(), {"q": "retail"}).content.decode()
    assert "Retail Europe" in body
    assert "Retail Czechia" in body
    assert "Wholesale Czechia" not in body

    body = manager_client.get(list_url(), {"currency": "CZK"}).content.decode()
    assert "Retail Czechia" in body
    assert "Wholesale Czechia" in body
    assert "Retail Europe" not in body


def test_list_htmx_request_gets_only_the_results(manager_client):
    """A filter change from htmx swaps the results fragment, not the whole page."""
    factories.price_list(name="Base")
    response = manager_client.get(list_url(), {"q": "Base"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="price-list-results"' in body
    assert "<html" not in body


def test_list_history_restore_gets_the_full_page(manager_client):
    """Back after pushed filter URLs (htmx history restore) needs the whole page again."""
    response = manager_client.get(
        list_url(), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_list_paginates(manager_client):
    for n in range(30):
        PriceList.objects.create(name=f"List {n:02d}", code=f"L{n:02d}", currency="CZK")
    first = manager_client.get(list_url()).content.decode()
    second = manager_client.get(list_url(), {"page": 2}).content.decode()
    assert "List 00" in first
    assert "List 29" not in first
    assert "List 29" in second
    assert "Page 2 of 2" in second


def test_list_empty_state_says_what_to_do(manager_client, support_client):
    """With no price lists, managers are told to create one; support is told who does."""
    assert "Create the first one" in manager_client.get(list_url()).content.decode()
    body = support_client.get(list_url()).content.decode()
    assert "Pricing managers create them" in body


def test_list_empty_filter_result_offers_to_clear(manager_client):
    factories.price_list(name="Base")
    body = manager_client.get(list_url(), {"q": "nothing-like-this"}).content.decode()
    assert "No price list matches these filters" in body


def test_support_sees_the_list_without_edit_controls(support_client):
    factories.price_list(name="Base")
    response = support_client.get(list_url())
    assert response.status_code == 200
    assert "New price list" not in response.content.decode()


def test_user_without_role_is_refused_everywhere(nobody_client):
    """A signed-in user with no role gets 403 on every price list page and action."""
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    gets = [
        list_url(),
        detail_url(pl),
        reverse("pricing:price_list_create"),
        reverse("pricing:price_list_update", args=[pl.pk]),
        reverse("pricing:price_list_delete", args=[pl.pk]),
        item_url("edit", item),
        item_url("delete", item),
        item_url("row", item),
    ]
    for url in gets:
        assert nobody_client.get(url).status_code == 403, url
    posts = [
        reverse("pricing:price_list_create"),
        reverse("pricing:price_list_update", args=[pl.pk]),
        reverse("pricing:price_list_delete", args=[pl.pk]),
        reverse("pricing:price_list_item_add", args=[pl.pk]),
        item_url("edit", item),
        item_url("delete", item),
    ]
    for url in posts:
        assert nobody_client.post(url, {}).status_code == 403, url
    assert PriceList.objects.filter(pk=pl.pk).exists()


def _list_queries(client, n: int, django_assert_num_queries, expected: int) -> None:
    for i in range(n):
        pl = factories.price_list(f"Q{i:03d}", items={"minute": "1", "SMS": "1"})
        factories.rule(price_list=pl)
    with django_assert_num_queries(expected):
        response = client.get(list_url())
    assert response.content.decode().count("<tr>") == n + 1


# Session, user, permissions (2), currency choices, count, page.
LIST_QUERIES = 7


def test_list_query_count_with_one_row(manager_client, django_assert_num_queries):
    """The list costs the same few queries whatever the number of rows (here 1)."""
    _list_queries(manager_client, 1, django_assert_num_queries, LIST_QUERIES)


def test_list_query_count_with_fifty_rows(manager_client, django_assert_num_queries):
    """...and with 25 rows per page out of 50: counts are subqueries, not a query per row."""
    for i in range(50):
        pl = factories.price_list(f"Q{i:03d}", items={"minute": "1", "SMS": "1"})
        factories.rule(price_list=pl)
    with django_assert_num_queries(LIST_QUERIES):
        response = manager_client.get(list_url())
    assert response.content.decode().count("<tr>") == 25 + 1


def test_list_fragment_query_count_does_not_grow(manager_client, django_assert_num_queries):
    for i in range(50):
        factories.price_list(f"Q{i:03d}")
    with django_assert_num_queries(LIST_QUERIES):
        manager_client.get(list_url(), {"q": "Q"}, **HX)


# --- The detail page --------------------------------------------------------------------------


def test_detail_shows_items_rules_and_edit_controls_to_managers(manager_client):
    pl = factories.price_list("VIP", name="VIP list", items={"minute": "0.60", "GB": "15"})
    rule = factories.rule("VIP-RULE", price_list=pl)
    body = manager_client.get(detail_url(pl)).content.decode()
    assert "VIP list" in body
    assert "minute" in body
    assert "0.60" in body
    assert "15.00" in body
    assert rule.code in body
    assert "Add an item" in body
    assert "Edit<span" in body
    assert 'hx-confirm="Delete the item' in body
    assert reverse("pricing:price_list_update", args=[pl.pk]) in body


def test_support_sees_the_detail_read_only(support_client):
    """Support staff see items, rules and history, but no edit, add or delete control."""
    pl = factories.price_list(items={"minute": "1"})
    response = support_client.get(detail_url(pl))
    body = response.content.decode()
    assert response.status_code == 200
    assert "minute" in body
    assert "Add an item" not in body
    assert "hx-confirm" not in body
    assert reverse("pricing:price_list_update", args=[pl.pk]) not in body
    assert "Pricing managers add them" not in body  # it has items


def test_detail_shows_the_audit_trail(manager_client, manager):
    """Who changed the list and its items, when and what (old → new)."""
    pl = services.price_list_create(name="Base", code="BASE", currency="CZK", by=manager)
    services.price_list_update(price_list=pl, name="Base retail", by=manager)
    body = manager_client.get(detail_url(pl)).content.decode()
    assert "History" in body
    assert "<del>Base</del> → Base retail" in body
    assert manager.username in body


def test_item_changes_appear_in_the_audit_trail(manager_client, manager):
    pl = factories.price_list(items={})
    manager_client.post(
        reverse("pricing:price_list_item_add", args=[pl.pk]),
        {"new-item_code": "minute", "new-unit": "minute", "new-unit_price": "1.5"},
    )
    item = pl.items.get()
    manager_client.post(
        item_url("edit", item),
        {
            f"item-{item.pk}-item_code": "minute",
            f"item-{item.pk}-unit": "minute",
            f"item-{item.pk}-unit_price": "1.2",
        },
    )
    body = manager_client.get(detail_url(pl)).content.decode()
    assert "Item minute: created" in body
    assert "<del>1.50</del> → 1.20" in body
    assert body.count(f"<td>{manager.username}</td>") == 2


def test_audit_trail_shows_changes_to_items_loaded_without_history(manager_client):
    """Items bulk-loaded (no history row) still show their values once they are changed."""
    pl = factories.price_list(items={})
    PriceListItem.objects.bulk_create(
        [PriceListItem(price_list=pl, item_code="SMS", unit="message", unit_price=1)]
    )
    item = pl.items.get()
    services.price_list_item_save(
        price_list=pl, item=item, item_code="SMS", unit="message", unit_price=Decimal("0.5")
    )
    body = manager_client.get(detail_url(pl)).content.decode()
    assert "Item SMS: changed" in body
    assert "Unit price: 0.50" in body


def test_items_are_sorted_by_code_whatever_the_case(manager_client):
    pl = factories.price_list(items={"minute": "1", "SMS": "1", "GB": "1"})
    body = manager_client.get(detail_url(pl)).content.decode()
    assert body.index("<code>GB</code>") < body.index("<code>minute</code>")
    assert body.index("<code>minute</code>") < body.index("<code>SMS</code>")


def test_detail_empty_items_state(manager_client, support_client):
    pl = factories.price_list(items={})
    assert (
        "No items yet — add the first one below"
        in manager_client.get(detail_url(pl)).content.decode()
    )
    assert (
        "No items yet. Pricing managers add them."
        in support_client.get(detail_url(pl)).content.decode()
    )


def test_detail_unknown_list_is_404(manager_client):
    url = reverse("pricing:price_list_detail", args=["00000000-0000-0000-0000-000000000000"])
    assert manager_client.get(url).status_code == 404


# Session, user, permissions (2), list, rules, list history, item history, items.
DETAIL_QUERIES = 9


def test_detail_query_count_with_one_item(manager_client, django_assert_num_queries):
    pl = factories.price_list(items={"minute": "1"})
    factories.rule(price_list=pl)
    with django_assert_num_queries(DETAIL_QUERIES):
        manager_client.get(detail_url(pl))


def test_detail_query_count_with_fifty_items(manager_client, django_assert_num_queries):
    """50 items, 50 rules and their history cost no more queries than one of each."""
    pl = factories.price_list(items={f"item{i}": str(i) for i in range(50)})
    for _ in range(50):
        factories.rule(price_list=pl)
    with django_assert_num_queries(DETAIL_QUERIES):
        response = manager_client.get(detail_url(pl))
    assert response.content.decode().count('<tr id="item-') == 50


def test_item_changes_update_the_history_in_place_with_item_codes(manager_client):
    """Issue 21 item 12: the history panel followed the page only after a reload, and named
    items by id ("ID: 91"). Each item change now sends it again, out of band, by code."""
    pl = factories.price_list(items={})
    add = manager_client.post(
        reverse("pricing:price_list_item_add", args=[pl.pk]),
        {"new-item_code": "SMS", "new-unit": "message", "new-unit_price": "0.05"},
        **HX,
    ).content.decode()
    history = add.split('<section id="history"', 1)[1]
    assert history.startswith(' class="mb-4" aria-labelledby="history-heading" hx-swap-oob="true"')
    assert "Item SMS: created" in history
    assert "ID:" not in history
    item = pl.items.get()
    edit = manager_client.post(
        reverse("pricing:price_list_item_edit", args=[pl.pk, item.pk]),
        {
            f"item-{item.pk}-item_code": "SMS",
            f"item-{item.pk}-unit": "message",
            f"item-{item.pk}-unit_price": "0.07",
        },
        **HX,
    ).content.decode()
    assert "<del>0.05</del> → 0.07" in edit.split('<section id="history"', 1)[1]
    page = manager_client.get(detail_url(pl)).content.decode()
    assert "ID:" not in page


# --- Items, edited in place -------------------------------------------------------------------


def test_manager_adds_an_item_in_place(manager_client):
    """htmx gets the items section back with the new row, a fresh focused form and a message."""
    pl = factories.price_list(items={})
    response = manager_client.post(
        reverse("pricing:price_list_item_add", args=[pl.pk]),
        {"new-item_code": "GB", "new-unit": "GB", "new-unit_price": "25"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="items"' in body
    assert "25.00" in body
    assert "autofocus" in body
    assert "Item “GB” added." in body  # the flash message, out of band
    assert "<html" not in body
    item = pl.items.get()
    assert (item.item_code, item.unit, item.unit_price) == ("GB", "GB", Decimal("25"))


def test_adding_an_item_without_javascript_redirects(manager_client):
    pl = factories.price_list(items={})
    response = manager_client.post(
        reverse("pricing:price_list_item_add", args=[pl.pk]),
        {"new-item_code": "GB", "new-unit": "GB", "new-unit_price": "25"},
    )
    assert response.status_code == 302
    assert response["Location"] == detail_url(pl)


def test_invalid_item_shows_errors_in_place_and_keeps_input(manager_client):
    """A negative price and a duplicate code are refused next to the fields, typing kept."""
    pl = factories.price_list(items={"minute": "1"})
    url = reverse("pricing:price_list_item_add", args=[pl.pk])
    response = manager_client.post(
        url, {"new-item_code": "SMS", "new-unit": "msg", "new-unit_price": "-1"}, **HX
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "A unit price cannot be negative." in body
    assert 'value="msg"' in body
    assert 'aria-invalid="true"' in body

    response = manager_client.post(
        url, {"new-item_code": "minute", "new-unit": "minute", "new-unit_price": "2"}, **HX
    )
    assert response.status_code == 422
    assert "This price list already prices “minute”." in response.content.decode()
    assert pl.items.count() == 1


def test_invalid_item_without_javascript_renders_the_page(manager_client):
    pl = factories.price_list(items={})
    response = manager_client.post(
        reverse("pricing:price_list_item_add", args=[pl.pk]),
        {"new-item_code": "has space", "new-unit": "u", "new-unit_price": "1"},
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "<html" in body
    assert "Item codes are letters" in body


def test_edit_row_opens_in_place(manager_client):
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    response = manager_client.get(item_url("edit", item), **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'<tr id="item-{item.pk}" class="table-active">' in body
    assert "<table" not in body
    assert f'form="item-form-{item.pk}"' in body
    assert "autofocus" in body
    assert "Cancel" in body


def test_edit_without_javascript_opens_the_row_on_the_page(manager_client):
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    response = manager_client.get(item_url("edit", item))
    assert response.status_code == 302
    assert f"?edit={item.pk}" in response["Location"]
    body = manager_client.get(detail_url(pl), {"edit": item.pk}).content.decode()
    assert f'id="item-form-{item.pk}"' in body


def test_support_cannot_open_a_row_for_editing_through_the_url(support_client):
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    body = support_client.get(detail_url(pl), {"edit": item.pk}).content.decode()
    assert f'id="item-form-{item.pk}"' not in body


def test_saving_a_row_swaps_it_back(manager_client):
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    prefix = f"item-{item.pk}"
    response = manager_client.post(
        item_url("edit", item),
        {f"{prefix}-item_code": "minute", f"{prefix}-unit": "min", f"{prefix}-unit_price": "0.9"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert f'<tr id="item-{item.pk}"' in body
    assert "0.90" in body
    assert "autofocus" in body  # focus returns to the row's Edit button
    item.refresh_from_db()
    assert (item.unit, item.unit_price) == ("min", Decimal("0.9"))


def test_saving_a_row_with_errors_keeps_it_open(manager_client):
    pl = factories.price_list(items={"minute": "1", "SMS": "1"})
    item = pl.items.get(item_code="SMS")
    prefix = f"item-{item.pk}"
    response = manager_client.post(
        item_url("edit", item),
        {f"{prefix}-item_code": "minute", f"{prefix}-unit": "x", f"{prefix}-unit_price": "abc"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "Enter a number." in body
    assert 'value="x"' in body
    item.refresh_from_db()
    assert item.unit == "SMS"


def test_saving_a_row_without_javascript(manager_client):
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    prefix = f"item-{item.pk}"
    data = {f"{prefix}-item_code": "minute", f"{prefix}-unit": "m", f"{prefix}-unit_price": "2"}
    response = manager_client.post(item_url("edit", item), data)
    assert response.status_code == 302
    data[f"{prefix}-unit_price"] = "-2"
    response = manager_client.post(item_url("edit", item), data)
    assert response.status_code == 422
    assert "<html" in response.content.decode()


def test_cancel_swaps_the_plain_row_back(manager_client):
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    response = manager_client.get(item_url("row", item), **HX)
    assert f'<tr id="item-{item.pk}"' in response.content.decode()
    assert manager_client.get(item_url("row", item)).status_code == 302


def test_deleting_an_item_asks_then_deletes(manager_client):
    """Without JavaScript a confirmation page comes first; the POST deletes the row."""
    pl = factories.price_list(items={"minute": "1", "SMS": "1"})
    item = pl.items.get(item_code="SMS")
    confirm = manager_client.get(item_url("delete", item))
    assert confirm.status_code == 200
    assert "Delete the item “SMS”?" in confirm.content.decode()
    response = manager_client.post(item_url("delete", item), **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="items"' in body
    assert "SMS" in body  # in the flash message only
    assert f'id="item-{item.pk}"' not in body
    assert not PriceListItem.objects.filter(pk=item.pk).exists()


def test_item_of_another_list_is_404(manager_client):
    pl = factories.price_list(items={"minute": "1"})
    other = factories.price_list(items={"minute": "1"})
    item = other.items.get()
    url = reverse("pricing:price_list_item_edit", args=[pl.pk, item.pk])
    assert manager_client.get(url, **HX).status_code == 404


def test_support_cannot_change_items(support_client):
    """Support staff get 403 on every item write, even posting by hand."""
    pl = factories.price_list(items={"minute": "1"})
    item = pl.items.get()
    add = support_client.post(
        reverse("pricing:price_list_item_add", args=[pl.pk]),
        {"new-item_code": "GB", "new-unit": "GB", "new-unit_price": "1"},
    )
    assert add.status_code == 403
    assert support_client.get(item_url("edit", item), **HX).status_code == 403
    assert support_client.post(item_url("edit", item), {}).status_code == 403
    assert support_client.post(item_url("delete", item)).status_code == 403
    assert support_client.get(item_url("row", item), **HX).status_code == 200
    assert pl.items.count() == 1


# Session, user, permissions (2), price list, savepoint, clash check, FK check, insert, history,
# the list's new version, webhook endpoints wanting price_list.changed, release, items, and the
# page's history again (the list's own records, its items').
ADD_ITEM_QUERIES = 16


def test_items_fragment_query_count_with_one_item(manager_client, django_assert_num_queries):
    pl = factories.price_list(items={})
    data = {"new-item_code": "a", "new-unit": "u", "new-unit_price": "1"}
    with django_assert_num_queries(ADD_ITEM_QUERIES):
        manager_client.post(reverse("pricing:price_list_item_add", args=[pl.pk]), data, **HX)


def test_items_fragment_query_count_with_fifty_items(manager_client, django_assert_num_queries):
    pl = factories.price_list(items={f"item{i}": "1" for i in range(49)})
    data = {"new-item_code": "a", "new-unit": "u", "new-unit_price": "1"}
    with django_assert_num_queries(ADD_ITEM_QUERIES):
        response = manager_client.post(
            reverse("pricing:price_list_item_add", args=[pl.pk]), data, **HX
        )
    assert response.content.decode().count('<tr id="item-') == 50


# --- Create, edit, delete ---------------------------------------------------------------------


def test_manager_creates_a_price_list(manager_client, manager):
    response = manager_client.post(
        reverse("pricing:price_list_create"),
        {"name": "Retail EU", "code": "RETAIL-EU", "currency": "EUR", "description": ""},
    )
    pl = PriceList.objects.get(code="RETAIL-EU")
    assert response.status_code == 302
    assert response["Location"] == detail_url(pl)
    assert pl.history.get().history_user == manager


def test_create_from_htmx_navigates_with_hx_redirect(manager_client):
    response = manager_client.post(
        reverse("pricing:price_list_create"),
        {"name": "Retail EU", "code": "RETAIL-EU", "currency": "EUR"},
        **HX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == detail_url(PriceList.objects.get())


def test_duplicate_code_in_another_case_is_refused_in_place(manager_client):
    """The service's message shows next to the code field; everything typed stays."""
    factories.price_list("RETAIL-EU", name="Existing")
    response = manager_client.post(
        reverse("pricing:price_list_create"),
        {"name": "New one", "code": "retail-eu", "currency": "EUR", "description": "typed"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "is already used by the price list “Existing”" in body
    assert 'value="New one"' in body
    assert "typed</textarea>" in body
    assert "<html" not in body
    assert PriceList.objects.count() == 1


def test_create_page_has_labels_and_focus(manager_client):
    body = manager_client.get(reverse("pricing:price_list_create")).content.decode()
    for field in ("name", "code", "currency", "description"):
        assert f'for="id_{field}"' in body
    assert "autofocus" in body


def test_manager_edits_a_price_list(manager_client):
    pl = factories.price_list("OLD", name="Old", currency="CZK")
    url = reverse("pricing:price_list_update", args=[pl.pk])
    assert 'value="Old"' in manager_client.get(url).content.decode()
    response = manager_client.post(url, {"name": "New", "code": "OLD", "currency": "EUR"})
    assert response.status_code == 302
    pl.refresh_from_db()
    assert (pl.name, pl.currency) == ("New", "EUR")


def test_support_cannot_create_edit_or_delete(support_client):
    pl = factories.price_list("KEEP", name="Keep")
    assert support_client.get(reverse("pricing:price_list_create")).status_code == 403
    data = {"name": "X", "code": "X", "currency": "EUR"}
    assert support_client.post(reverse("pricing:price_list_create"), data).status_code == 403
    url = reverse("pricing:price_list_update", args=[pl.pk])
    assert support_client.post(url, data).status_code == 403
    url = reverse("pricing:price_list_delete", args=[pl.pk])
    assert support_client.post(url).status_code == 403
    pl.refresh_from_db()
    assert pl.name == "Keep"


def test_delete_confirmation_names_the_rules_that_block_it(manager_client):
    pl = factories.price_list()
    factories.rule("USES-IT", price_list=pl)
    body = manager_client.get(reverse("pricing:price_list_delete", args=[pl.pk])).content.decode()
    assert "cannot be deleted while these rules use it" in body
    assert "USES-IT" in body


def test_delete_is_refused_while_rules_use_the_list(manager_client):
    """The refusal names the rules; with htmx it is a 409 carrying the message."""
    pl = factories.price_list(name="Busy")
    factories.rule("USES-IT", name="Uses it", price_list=pl)
    url = reverse("pricing:price_list_delete", args=[pl.pk])
    response = manager_client.post(url, **HX)
    assert response.status_code == 409
    assert "cannot be deleted while pricing rules use it: USES-IT (Uses it)" in (
        response.content.decode()
    )
    response = manager_client.post(url, follow=True)
    assert "USES-IT (Uses it)" in response.content.decode()
    assert PriceList.objects.filter(pk=pl.pk).exists()


def test_delete_removes_an_unused_list(manager_client):
    pl = factories.price_list(name="Unused")
    url = reverse("pricing:price_list_delete", args=[pl.pk])
    response = manager_client.post(url, **HX)
    assert response["HX-Redirect"] == list_url()
    assert not PriceList.objects.filter(pk=pl.pk).exists()
    body = manager_client.get(list_url()).content.decode()
    assert "Price list “Unused” deleted." in body
