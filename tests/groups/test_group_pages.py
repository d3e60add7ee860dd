"""``/groups/`` and ``/groups/<id>/``: the list, create, details, edit, review, delete, roles."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups import services
from groups.models import CustomerGroup
from tests import factories

pytestmark = pytest.mark.django_db

LIST = "/groups/"


def detail(group) -> str:
    return f"/groups/{group.pk}/"


# --- The list ---------------------------------------------------------------------------------


def test_group_urls_are_the_contract():
    """The pages live at the paths the issue names."""
    assert reverse("groups:group_list") == "/groups/"
    pk = "00000000-0000-0000-0000-000000000001"
    assert reverse("groups:group_detail", args=[pk]) == f"/groups/{pk}/"
    assert reverse("groups:customer_list") == "/customers/"
    assert reverse("groups:customer_detail", args=[pk]) == f"/customers/{pk}/"


def test_list_shows_counts_of_members_and_rules(support_client, worked_example):
    """Each row shows the group's current member count and how many rules target it."""
    response = support_client.get(LIST)
    assert response.status_code == 200
    rows = {g.name: g for g in response.context["page_obj"].object_list}
    assert rows["VIP Customers"].member_count == 12
    assert rows["VIP Customers"].rule_count == 1
    assert rows["Summer Promo 2026"].member_count == 0
    assert b"Customers with monthly revenue" in response.content


def test_list_for_htmx_is_only_the_rows_fragment(support_client, worked_example):
    """An htmx request gets the table fragment, not the whole page."""
    response = support_client.get(LIST, {"q": "vip"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="group-rows"' in body
    assert "<html" not in body
    assert "VIP Customers" in body
    assert "Standard" not in body


def test_back_button_history_restore_gets_the_full_page(support_client, worked_example):
    """htmx restoring history (no cache) asks with HX-History-Restore-Request: the full page."""
    response = support_client.get(
        LIST, {"q": "vip"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert b"<html" in response.content


def test_list_varies_on_hx_request(support_client, worked_example):
    response = support_client.get(LIST)
    assert "HX-Request" in response["Vary"]


def test_search_matches_name_and_description(support_client, worked_example):
    """Search looks at names and descriptions, any case."""
    names = lambda r: [g.name for g in r.context["page_obj"].object_list]  # noqa: E731
    assert names(support_client.get(LIST, {"q": "summer"})) == ["Summer Promo 2026"]
    assert names(support_client.get(LIST, {"q": "REVENUE"})) == ["VIP Customers"]


def test_filters_empty_expiring_expired_and_without_rules(support_client):
    """Empty, expiring within 30 days, expired and has-no-rules each narrow the list."""
    today = timezone.localdate()
    full = factories.group("Full")
    factories.membership(full, factories.customer())
    factories.rule(group=full)
    factories.group("Expiring", expires_on=today + timedelta(days=10))
    factories.group("Later", expires_on=today + timedelta(days=60))
    factories.group("Expired", expires_on=today - timedelta(days=1))

    def names(**params):
        response = support_client.get(LIST, params)
        return sorted(g.name for g in response.context["page_obj"].object_list)

    assert names(empty="true") == ["Expired", "Expiring", "Later"]
    assert names(expiry="expiring") == ["Expiring"]
    assert names(expiry="expired") == ["Expired"]
    assert names(no_rules="true") == ["Expired", "Expiring", "Later"]
    assert names(no_rules="true", expiry="expired") == ["Expired"]
    assert names() == ["Expired", "Expiring", "Full", "Later"]


def test_sort_by_member_count_both_ways_and_header_links_toggle(support_client):
    """Sorting by members ascending then descending; the header link flips the direction."""
    small, big = factories.group("Small"), factories.group("Big")
    factories.membership(small, factories.customer())
    for _ in range(3):
        factories.membership(big, factories.customer())
    factories.group("Empty")

    response = support_client.get(LIST, {"sort": "members"})
    assert [g.name for g in response.context["page_obj"]] == ["Empty", "Small", "Big"]
    assert response.context["columns"]["members"].next_value == "-members"
    assert 'aria-sort="ascending"' in response.content.decode()
    response = support_client.get(LIST, {"sort": "-members"})
    assert [g.name for g in response.context["page_obj"]] == ["Big", "Small", "Empty"]


def test_pagination_keeps_the_filters_in_the_links(support_client):
    """Page links carry the search and sort, so the URL is the whole state."""
    for n in range(30):
        factories.group(f"Promo {n:02d}")
    response = support_client.get(LIST, {"q": "promo", "sort": "-name"})
    page = response.context["page_obj"]
    assert page.paginator.num_pages == 2
    assert page.object_list[0].name == "Promo 29"
    body = response.content.decode()
    assert "?q=promo&amp;sort=-name&amp;page=2" in body
    response = support_client.get(LIST, {"q": "promo", "sort": "-name", "page": "2"})
    assert list(response.context["page_obj"])[-1].name == "Promo 00"


def test_empty_states_explain_what_to_do(manager_client, support_client):
    """No groups: managers are told to create one; a filter with no match offers to clear."""
    assert b"Create the first one" in manager_client.get(LIST).content
    assert b"A pricing manager creates groups" in support_client.get(LIST).content
    factories.group("Alpha")
    assert b"No group matches these filters" in support_client.get(LIST, {"q": "zzz"}).content


@pytest.mark.parametrize("rows", [1, 50])
def test_list_query_count_does_not_grow_with_rows(support_client, django_assert_num_queries, rows):
    """Session, user, count, page rows, two permission lookups: the same for 1 or 50 groups."""
    for _n in range(rows):
        group = factories.group()
        factories.membership(group, factories.customer())
        factories.rule(group=group)
    with django_assert_num_queries(6):
        support_client.get(LIST)


@pytest.mark.parametrize("rows", [1, 50])
def test_list_fragment_query_count_does_not_grow_with_rows(
    support_client, django_assert_num_queries, rows
):
    for _n in range(rows):
        group = factories.group()
        factories.membership(group, factories.customer())
    with django_assert_num_queries(6):
        support_client.get(LIST, {"sort": "-rules", "q": "group"}, HTTP_HX_REQUEST="true")


def test_nobody_without_a_role_gets_403(client, nobody):
    """Signed in but without a role: every group page answers 403."""
    client.force_login(nobody)
    group = factories.group()
    for url in (LIST, detail(group), f"/groups/{group.pk}/members/", "/groups/new/"):
        assert client.get(url).status_code == 403, url


# --- Create -----------------------------------------------------------------------------------


def test_manager_creates_a_group_with_a_derived_code(manager_client, manager):
    """Name, description and planned expiry; the code comes from the name."""
    response = manager_client.post(
        "/groups/new/",
        {"name": "Summer Promo 2027", "description": "Hot", "expires_on": "2027-08-31"},
    )
    group = CustomerGroup.objects.get(name="Summer Promo 2027")
    assert response.status_code == 302
    assert response["Location"] == detail(group)
    assert group.code == "summer-promo-2027"
    assert str(group.expires_on) == "2027-08-31"
    assert group.history.first().history_user == manager


def test_create_with_htmx_redirects_the_browser_to_the_new_group(manager_client):
    response = manager_client.post("/groups/new/", {"name": "Gold"}, HTTP_HX_REQUEST="true")
    group = CustomerGroup.objects.get(name="Gold")
    assert response["HX-Redirect"] == detail(group)


def test_duplicate_name_in_another_case_is_refused_with_a_link(manager_client, worked_example):
    """“vip customers” clashes with “VIP Customers”: the error links to the existing group."""
    response = manager_client.post(
        "/groups/new/",
        {"name": "vip customers", "description": "typed text"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    message = services.GROUP_NAME_TAKEN.format(name="vip customers", existing="VIP Customers")
    assert message.replace("“", "&ldquo;") in body or message in body
    assert f'href="{detail(worked_example["vip"])}"' in body
    assert "typed text" in body  # what the user typed is kept
    assert "<html" not in body
    assert CustomerGroup.objects.filter(name__iexact="vip customers").count() == 1


def test_create_errors_stay_next_to_the_fields(manager_client):
    response = manager_client.post("/groups/new/", {"name": "", "expires_on": "31/31/2026"})
    assert response.status_code == 422
    form = response.context["form"]
    assert "name" in form.errors
    assert "expires_on" in form.errors
    assert b'class="invalid-feedback"' in response.content


def test_support_sees_no_create_form_and_gets_403_when_posting(support_client):
    """Group definitions belong to Pricing managers."""
    assert b"Create a group" not in support_client.get(LIST).content
    assert support_client.post("/groups/new/", {"name": "Sneaky"}).status_code == 403
    assert support_client.get("/groups/new/").status_code == 403
    assert not CustomerGroup.objects.filter(name="Sneaky").exists()


# --- The group page ---------------------------------------------------------------------------


def test_group_page_shows_details_rules_members_and_history(support_client, worked_example):
    """The page shows members and their history, and loads pricing's card of the group's rules.

    The rules card is pricing's fragment, fetched once the page shows; without JavaScript its
    link opens pricing's page of the same rules.
    """
    vip = worked_example["vip"]
    response = support_client.get(detail(vip))
    body = response.content.decode()
    assert response.status_code == 200
    rules_url = reverse("pricing:group_rules", args=[vip.pk])
    assert f'hx-get="{rules_url}"' in body
    assert f'href="{rules_url}"' in body
    assert response.context["member_total"] == 12
    assert "End Customer Ltd" in body
    assert 'id="history"' in body
    fragment = support_client.get(rules_url, HTTP_HX_REQUEST="true").content.decode()
    assert "VIP-RETAIL-2026" in fragment
    assert reverse("pricing:rule_detail", args=[vip.pricing_rules.get().pk]) in fragment
    assert ">Active<" in fragment
    assert "<html" not in fragment
    whole = support_client.get(rules_url).content.decode()
    assert "<html" in whole
    assert "VIP-RETAIL-2026" in whole


def test_rule_statuses_are_shown(support_client):
    """Active, scheduled, expired and disabled rules are each labelled (pricing's badge)."""
    today = timezone.localdate()
    group = factories.group()
    factories.rule(group=group, valid_from=today - timedelta(days=5))
    factories.rule(group=group, valid_from=today + timedelta(days=5))
    factories.rule(
        group=group, valid_from=today - timedelta(days=9), valid_to=today - timedelta(days=1)
    )
    factories.rule(group=group, is_active=False)
    url = reverse("pricing:group_rules", args=[group.pk])
    body = support_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    for status in ("Active", "Scheduled", "Expired", "Disabled"):
        assert f">{status}</span>" in body


def test_support_sees_no_edit_or_delete_controls(support_client, manager_client):
    group = factories.group()
    support_body = support_client.get(detail(group)).content.decode()
    manager_body = manager_client.get(detail(group)).content.decode()
    assert "Edit details" not in support_body
    assert "Delete group" not in support_body
    assert "Edit details" in manager_body
    assert "Delete group" in manager_body
    assert "Add a customer" in support_body  # support staff do manage members


def test_empty_group_says_how_to_add_members(support_client):
    body = support_client.get(detail(factories.group())).content.decode()
    assert "No members yet — add customers" in body
    assert "paste external IDs" in body


def test_unknown_group_is_404(support_client):
    assert support_client.get("/groups/00000000-0000-0000-0000-000000000000/").status_code == 404


@pytest.mark.parametrize("rows", [1, 50])
def test_group_page_query_count_does_not_grow(support_client, django_assert_num_queries, rows):
    """Members, history and audit trail in a fixed number of queries (the rules card loads
    pricing's fragment, which has a fixed count of its own)."""
    group = factories.group()
    for _ in range(rows):
        customer = factories.customer()
        factories.membership(group, customer, joined_by=factories.user())
        factories.rule(group=group)
    services.group_update(group=group, description="changed")
    with django_assert_num_queries(12):
        support_client.get(detail(group))
    rules_url = reverse("pricing:group_rules", args=[group.pk])
    # Session, user, two for permissions, the group, its rules with their price lists.
    with django_assert_num_queries(6):
        response = support_client.get(rules_url, HTTP_HX_REQUEST="true")
    assert len(response.context["rules"]) == rows


def test_audit_trail_shows_who_changed_what(manager_client, manager):
    """The group's history (django-simple-history) shows the change, the old and new values."""
    group = services.group_create(name="Gold", description="old text", by=manager)
    services.group_update(group=group, description="new text", by=manager)
    response = manager_client.get(detail(group))
    audit = response.context["audit"]
    assert [entry.kind for entry in audit] == ["changed", "created"]
    assert audit[0].user == manager
    assert ("description", "old text", "new text") in audit[0].changes
    assert "<del>old text</del>" in response.content.decode()


# --- Edit -------------------------------------------------------------------------------------


def test_manager_edits_inline_and_gets_the_details_back(manager_client, manager):
    group = factories.group("Gold")
    form = manager_client.get(f"/groups/{group.pk}/edit/", HTTP_HX_REQUEST="true")
    assert b'id="group-details"' in form.content
    assert b"<form" in form.content
    response = manager_client.post(
        f"/groups/{group.pk}/edit/",
        {"name": "Platinum", "code": group.code, "description": "", "expires_on": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    group.refresh_from_db()
    assert group.name == "Platinum"
    body = response.content.decode()
    assert 'id="group-title" hx-swap-oob="true"' in body  # the page title follows
    assert group.history.first().history_user == manager


def test_edit_to_a_taken_name_keeps_values_and_links(manager_client, worked_example):
    standard = worked_example["standard"]
    response = manager_client.post(
        f"/groups/{standard.pk}/edit/",
        {"name": "VIP CUSTOMERS", "code": "standard", "description": "kept"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "kept" in body
    assert 'value="VIP CUSTOMERS"' in body
    assert f'href="{detail(worked_example["vip"])}"' in body


def test_edit_without_js_redirects_to_the_group(manager_client):
    group = factories.group("Gold")
    response = manager_client.post(
        f"/groups/{group.pk}/edit/", {"name": "Gold", "code": "", "description": "d"}
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.description == "d"
    assert group.code == "gold"


def test_cancel_edit_returns_the_details_fragment(manager_client):
    group = factories.group("Gold")
    response = manager_client.get(
        detail(group), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="group-details"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="group-details"')


def test_support_gets_403_on_editing(support_client):
    group = factories.group("Gold")
    assert support_client.get(f"/groups/{group.pk}/edit/").status_code == 403
    response = support_client.post(f"/groups/{group.pk}/edit/", {"name": "Hacked"})
    assert response.status_code == 403
    group.refresh_from_db()
    assert group.name == "Gold"


# --- Review -----------------------------------------------------------------------------------


def test_support_marks_the_group_reviewed(support_client, support):
    group = factories.group()
    response = support_client.post(f"/groups/{group.pk}/review/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    group.refresh_from_db()
    assert group.reviewed_by == support
    assert group.reviewed_at is not None


def test_review_needs_post_and_a_role(client, nobody):
    group = factories.group()
    client.force_login(nobody)
    assert client.post(f"/groups/{group.pk}/review/").status_code == 403


# --- Delete -----------------------------------------------------------------------------------


def test_delete_asks_for_confirmation_first(manager_client):
    group = factories.group("Old promo")
    response = manager_client.get(f"/groups/{group.pk}/delete/")
    assert response.status_code == 200
    assert b"Delete the group" in response.content
    assert CustomerGroup.objects.filter(pk=group.pk).exists()


def test_manager_deletes_an_unused_group(manager_client):
    group = factories.group("Old promo")
    factories.membership(group, factories.customer())
    response = manager_client.post(f"/groups/{group.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == LIST
    assert not CustomerGroup.objects.filter(pk=group.pk).exists()


def test_delete_is_refused_with_the_rules_that_use_the_group(manager_client, worked_example):
    """While a rule targets the group the delete is refused, naming the rule."""
    vip = worked_example["vip"]
    response = manager_client.post(f"/groups/{vip.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    body = response.content.decode()
    assert "cannot be deleted while pricing rules use it" in body
    assert "VIP-RETAIL-2026" in body
    assert CustomerGroup.objects.filter(pk=vip.pk).exists()
    page = manager_client.post(f"/groups/{vip.pk}/delete/")
    assert page.status_code == 409
    assert b"<html" in page.content


def test_confirmation_page_lists_blocking_rules(manager_client, worked_example):
    response = manager_client.get(f"/groups/{worked_example['vip'].pk}/delete/")
    assert b"cannot be deleted while these pricing rules target it" in response.content
    assert b"Delete group</button>" not in response.content


def test_support_cannot_delete_groups(support_client):
    group = factories.group()
    assert support_client.post(f"/groups/{group.pk}/delete/").status_code == 403
    assert CustomerGroup.objects.filter(pk=group.pk).exists()


# --- Django admin -----------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 50])
def test_admin_group_changelist_counts_without_a_query_per_row(
    superuser_client, django_assert_max_num_queries, rows
):
    """Superusers see member and rule counts in the admin list, in a fixed number of queries."""
    for _ in range(rows):
        group = factories.group()
        factories.membership(group, factories.customer())
        factories.rule(group=group)
    with django_assert_max_num_queries(8):
        response = superuser_client.get("/admin/groups/customergroup/?o=3")
    assert response.status_code == 200
    assert b'class="field-member_count">1<' in response.content
