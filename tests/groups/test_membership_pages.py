"""Members of a group: search-as-you-type add, remove with undo, bulk changes, CSV export."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from groups.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db


def url(group, rest: str = "") -> str:
    return f"/groups/{group.pk}/{rest}"


def is_member(group, customer) -> bool:
    return Membership.objects.current().filter(group=group, customer=customer).exists()


# --- Search and add ---------------------------------------------------------------------------


def test_search_lists_matching_customers_who_are_not_members(support_client, worked_example):
    """Typing “start” finds Startup XYZ; members of the group are left out."""
    vip = worked_example["vip"]
    response = support_client.get(
        url(vip, "members/search/"), {"q": "start"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="add-results"')
    assert "Startup XYZ" in body
    assert f'name="customer" value="{worked_example["startup"].pk}"' in body
    members = support_client.get(url(vip, "members/search/"), {"q": "End Customer"})
    assert "End Customer Ltd" not in [c.name for c in members.context["candidates"]]


def test_search_by_external_id_puts_the_exact_match_first(support_client, worked_example):
    response = support_client.get(
        url(worked_example["vip"], "members/search/"), {"q": "CUST-0003"}, HTTP_HX_REQUEST="true"
    )
    assert response.context["candidates"][0] == worked_example["startup"]


def test_search_with_no_match_says_so(support_client, worked_example):
    response = support_client.get(
        url(worked_example["vip"], "members/search/"), {"q": "zzzz"}, HTTP_HX_REQUEST="true"
    )
    assert "No customer outside this group matches “zzzz”" in response.content.decode()


def test_search_without_js_renders_the_group_page_with_results(support_client, worked_example):
    response = support_client.get(url(worked_example["vip"], "members/search/"), {"q": "start"})
    assert b"<html" in response.content
    assert b"Startup XYZ" in response.content


def test_clicking_a_result_adds_it_and_the_count_updates(support_client, support, worked_example):
    """Posting the picked customer returns the members section with the new count."""
    vip, startup = worked_example["vip"], worked_example["startup"]
    response = support_client.post(
        url(vip, "members/add/"), {"customer": startup.pk, "q": "start"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert '<section id="members"' in body
    assert 'id="member-count" aria-live="polite">13<' in body
    assert "Startup XYZ" in body
    assert 'id="member-add-q"' in body
    assert "autofocus" in body
    assert 'id="history" class="table-loading" hx-swap-oob="true"' in body
    assert "Added “Startup XYZ” to “VIP Customers”" in body  # flash message, out of band
    membership = Membership.objects.current().get(group=vip, customer=startup)
    assert membership.joined_by == support


def test_enter_adds_the_customer_with_that_exact_external_id(support_client, worked_example):
    vip = worked_example["vip"]
    support_client.post(url(vip, "members/add/"), {"q": "CUST-0002"}, HTTP_HX_REQUEST="true")
    assert is_member(vip, worked_example["tech_corp"])


def test_enter_adds_the_first_search_result(support_client, worked_example):
    vip = worked_example["vip"]
    support_client.post(url(vip, "members/add/"), {"q": "startup x"}, HTTP_HX_REQUEST="true")
    assert is_member(vip, worked_example["startup"])


def test_adding_with_no_match_keeps_the_text_and_shows_the_error(support_client, worked_example):
    """An unknown term comes back with 422, the typed text and the error under the box."""
    vip = worked_example["vip"]
    response = support_client.post(
        url(vip, "members/add/"), {"q": "Nobody Inc"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert 'value="Nobody Inc"' in body
    assert "No customer matches “Nobody Inc”" in body
    assert 'id="member-add-error"' in body
    assert Membership.objects.current().filter(group=vip).count() == 12


def test_adding_an_existing_member_changes_nothing(support_client, worked_example):
    vip, end_customer = worked_example["vip"], worked_example["end_customer"]
    response = support_client.post(
        url(vip, "members/add/"), {"customer": end_customer.pk}, HTTP_HX_REQUEST="true"
    )
    assert "already a member" in response.content.decode()
    assert Membership.objects.filter(group=vip, customer=end_customer).count() == 1


def test_add_without_js_redirects_back_to_the_group(support_client, worked_example):
    vip = worked_example["vip"]
    response = support_client.post(url(vip, "members/add/"), {"q": "CUST-0003"})
    assert response.status_code == 302
    assert response["Location"] == url(vip) + "#members"
    error = support_client.post(url(vip, "members/add/"), {"q": "zzz"})
    assert error.status_code == 422
    assert b"<html" in error.content


def test_members_cannot_be_added_with_a_get(support_client, worked_example):
    response = support_client.get(url(worked_example["vip"], "members/add/"), {"q": "CUST-0003"})
    assert response.status_code == 405


# --- Remove and undo --------------------------------------------------------------------------


def test_remove_without_js_asks_for_confirmation(support_client, worked_example):
    vip, end_customer = worked_example["vip"], worked_example["end_customer"]
    response = support_client.get(url(vip, f"members/{end_customer.pk}/remove/"))
    assert response.status_code == 200
    assert "Remove “End Customer Ltd” from “VIP Customers”?" in response.content.decode()
    assert is_member(vip, end_customer)


def test_remove_in_place_offers_an_undo_that_re_adds(support_client, support, worked_example):
    """Removing returns the section with an Undo; the Undo adds the customer back."""
    vip, end_customer = worked_example["vip"], worked_example["end_customer"]
    response = support_client.post(
        url(vip, f"members/{end_customer.pk}/remove/"), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Removed “End Customer Ltd” from this group." in body
    assert f'name="customer" value="{end_customer.pk}"' in body
    assert 'id="member-count" aria-live="polite">11<' in body
    closed = Membership.objects.get(group=vip, customer=end_customer)
    assert closed.left_at is not None
    assert closed.left_by == support

    support_client.post(
        url(vip, "members/add/"), {"customer": end_customer.pk}, HTTP_HX_REQUEST="true"
    )
    assert is_member(vip, end_customer)
    # The history keeps both periods.
    assert Membership.objects.filter(group=vip, customer=end_customer).count() == 2


def test_remove_without_js_redirects_with_the_undo(support_client, worked_example):
    vip, end_customer = worked_example["vip"], worked_example["end_customer"]
    response = support_client.post(url(vip, f"members/{end_customer.pk}/remove/"))
    assert response.status_code == 302
    page = support_client.get(response["Location"].split("#")[0])
    assert b"Removed \xe2\x80\x9cEnd Customer Ltd\xe2\x80\x9d" in page.content
    assert b"Undo" in page.content


def test_removing_a_non_member_warns(support_client, worked_example):
    vip, startup = worked_example["vip"], worked_example["startup"]
    response = support_client.post(
        url(vip, f"members/{startup.pk}/remove/"), HTTP_HX_REQUEST="true"
    )
    assert "is not a current member" in response.content.decode()


# --- Member list ------------------------------------------------------------------------------


def test_member_list_is_searchable_and_paginated(support_client):
    group = factories.group()
    for n in range(60):
        factories.membership(group, factories.customer(f"Member {n:02d}"))
    factories.membership(group, factories.customer("Zebra Ltd", email="z@zebra.example"))
    first = support_client.get(url(group, "members/"), HTTP_HX_REQUEST="true")
    assert first.content.decode().lstrip().startswith('<div id="member-table"')
    assert first.context["members_page"].paginator.num_pages == 2
    assert f'href="/groups/{group.pk}/members/?page=2"' in first.content.decode()
    found = support_client.get(url(group, "members/"), {"q": "zebra"}, HTTP_HX_REQUEST="true")
    assert [m.customer.name for m in found.context["members_page"]] == ["Zebra Ltd"]
    assert found.context["member_total"] == 61
    whole = support_client.get(url(group, "members/"), {"page": "2"})
    assert b"<html" in whole.content


@pytest.mark.parametrize("rows", [1, 50])
def test_member_fragment_query_count_does_not_grow(support_client, django_assert_num_queries, rows):
    group = factories.group()
    for _ in range(rows):
        factories.membership(group, factories.customer(), joined_by=factories.user())
    with django_assert_num_queries(8):
        support_client.get(url(group, "members/"), HTTP_HX_REQUEST="true")


@pytest.mark.parametrize("rows", [1, 50])
def test_history_fragment_query_count_does_not_grow(
    support_client, django_assert_num_queries, rows
):
    group = factories.group()
    for _ in range(rows):
        factories.membership(group, factories.customer(), left_by=factories.user())
    with django_assert_num_queries(8):
        response = support_client.get(url(group, "history/"), HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<div id="history"')


@pytest.mark.parametrize("rows", [1, 50])
def test_search_fragment_query_count_does_not_grow(support_client, django_assert_num_queries, rows):
    group = factories.group()
    for _ in range(rows):
        factories.customer("Acme")
    with django_assert_num_queries(7):
        support_client.get(url(group, "members/search/"), {"q": "acme"}, HTTP_HX_REQUEST="true")


@pytest.mark.parametrize("rows", [1, 50])
def test_add_response_query_count_does_not_grow(support_client, django_assert_num_queries, rows):
    """Adding returns members, history and details: a fixed number of queries however many
    members."""
    group = factories.group()
    for _ in range(rows):
        factories.membership(group, factories.customer())
    newcomer = factories.customer()
    # 20: one of them asks which webhook endpoints want membership.joined (billing.events),
    # one whether the group keeps its members by criteria (a warning for a hand-made add).
    with django_assert_num_queries(20):
        support_client.post(
            url(group, "members/add/"), {"customer": newcomer.pk}, HTTP_HX_REQUEST="true"
        )


def test_adding_and_removing_update_the_details_in_place(support_client):
    """Issue 21 item 12: "Members changed: never" stayed after adds. The details card comes
    back out of band with every membership change."""
    group = factories.group()
    customer = factories.customer()
    added = support_client.post(
        url(group, "members/add/"), {"customer": customer.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    group.refresh_from_db()
    details = added.split('<div id="group-details" class="card-body" hx-swap-oob="true">', 1)[1]
    changed = timezone.localtime(group.members_changed_at).strftime("%Y-%m-%d %H:%M")
    assert f'<dt class="col-sm-4">Members changed</dt><dd class="col-sm-8">{changed}</dd>' in (
        details
    )
    removed = support_client.post(
        url(group, f"members/{customer.pk}/remove/"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="group-details" class="card-body" hx-swap-oob="true"' in removed


# --- Roles ------------------------------------------------------------------------------------


def test_manager_can_manage_members_too(manager_client, worked_example):
    vip, startup = worked_example["vip"], worked_example["startup"]
    manager_client.post(url(vip, "members/add/"), {"customer": startup.pk})
    assert is_member(vip, startup)


def test_nobody_cannot_touch_members(client, nobody, worked_example):
    client.force_login(nobody)
    vip, startup, end = (
        worked_example["vip"],
        worked_example["startup"],
        worked_example["end_customer"],
    )
    assert client.post(url(vip, "members/add/"), {"customer": startup.pk}).status_code == 403
    assert client.post(url(vip, f"members/{end.pk}/remove/")).status_code == 403
    assert client.get(url(vip, "members/search/"), {"q": "s"}).status_code == 403
    assert client.post(url(vip, "members/bulk/"), {"external_ids": "CUST-0003"}).status_code == 403
    assert client.get(url(vip, "members.csv")).status_code == 403
    assert not is_member(vip, startup)
    assert is_member(vip, end)


# --- Bulk -------------------------------------------------------------------------------------


def test_bulk_form_loads_into_the_panel(support_client, worked_example):
    response = support_client.get(
        url(worked_example["vip"], "members/bulk/"), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "<html" not in body
    assert 'name="external_ids"' in body
    assert 'name="mode"' in body


def test_bulk_preview_counts_and_lists_unknown_ids_without_writing(support_client, worked_example):
    """The dry run shows to add, already members, and the unknown IDs; nothing changes."""
    vip = worked_example["vip"]
    response = support_client.post(
        url(vip, "members/bulk/"),
        {"external_ids": "CUST-0002\nCUST-0003, CUST-0001 NOPE-1\nCUST-0002", "mode": "add"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    plan = response.context["plan"]
    assert {c.external_id for c in plan.to_add} == {"CUST-0002", "CUST-0003"}
    assert plan.already == 1
    assert plan.unknown == ["NOPE-1"]
    assert plan.duplicates == 1
    body = response.content.decode()
    assert '<ul class="mb-0 font-monospace small" id="bulk-unknown"><li>NOPE-1</li></ul>' in body
    assert "Apply: add 2" in body
    assert Membership.objects.current().filter(group=vip).count() == 12


def test_bulk_apply_adds_in_one_go_and_updates_the_members(support_client, support, worked_example):
    vip = worked_example["vip"]
    response = support_client.post(
        url(vip, "members/bulk/"),
        {"confirm": "1", "mode": "add", "ids": "CUST-0002\r\nCUST-0003\r\nNOPE-1"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Done: added 2. 1 unknown external IDs were skipped." in body
    assert 'aria-labelledby="members-heading" hx-swap-oob="true">' in body
    assert 'id="member-count" aria-live="polite">14<' in body
    assert Membership.objects.current().filter(group=vip, joined_by=support).count() == 2


def test_bulk_remove_and_sync(support_client, worked_example):
    """Remove takes the listed members out; sync makes the members exactly the list."""
    vip = worked_example["vip"]
    preview = support_client.post(
        url(vip, "members/bulk/"), {"external_ids": "CUST-0001,CUST-0002", "mode": "remove"}
    )
    assert len(preview.context["plan"].to_remove) == 1
    assert preview.context["plan"].not_members == 1
    support_client.post(
        url(vip, "members/bulk/"), {"confirm": "1", "mode": "remove", "ids": "CUST-0001"}
    )
    assert not is_member(vip, worked_example["end_customer"])

    sync = support_client.post(
        url(vip, "members/bulk/"), {"external_ids": "CUST-0003", "mode": "sync"}
    )
    assert len(sync.context["plan"].to_remove) == 11
    assert len(sync.context["plan"].to_add) == 1
    response = support_client.post(
        url(vip, "members/bulk/"), {"confirm": "1", "mode": "sync", "ids": "CUST-0003"}
    )
    assert response.status_code == 302  # without htmx: back to the group with a message
    assert list(
        Membership.objects.current().filter(group=vip).values_list("customer__name", flat=True)
    ) == ["Startup XYZ"]


def test_bulk_csv_upload_is_read(support_client, worked_example):
    upload = SimpleUploadedFile(
        "ids.csv", b"\xef\xbb\xbfname,external_id\nTech,CUST-0002\nX,NOPE-9\n", "text/csv"
    )
    response = support_client.post(
        url(worked_example["vip"], "members/bulk/"), {"csv_file": upload, "mode": "add"}
    )
    plan = response.context["plan"]
    assert [c.external_id for c in plan.to_add] == ["CUST-0002"]
    assert plan.unknown == ["NOPE-9"]


@override_settings(RATECARD_MAX_UPLOAD_BYTES=10)
def test_bulk_upload_over_the_limit_is_refused_with_a_message(support_client, worked_example):
    upload = SimpleUploadedFile("ids.csv", b"external_id\nCUST-0002\n", "text/csv")
    response = support_client.post(
        url(worked_example["vip"], "members/bulk/"),
        {"csv_file": upload, "mode": "add"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert (
        "The file is 22\xa0bytes; files up to 10\xa0bytes are accepted."
        in response.content.decode()
    )


def test_bulk_with_nothing_pasted_explains(support_client, worked_example):
    response = support_client.post(
        url(worked_example["vip"], "members/bulk/"),
        {"external_ids": "  ", "mode": "sync"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "Paste at least one external ID or choose a CSV file." in response.content.decode()


def test_bulk_csv_without_the_column_is_explained(support_client, worked_example):
    upload = SimpleUploadedFile("ids.csv", b"a,b\n1,2\n", "text/csv")
    response = support_client.post(
        url(worked_example["vip"], "members/bulk/"), {"csv_file": upload, "mode": "add"}
    )
    assert response.status_code == 422
    assert "has no “external_id” column" in response.content.decode()


# --- Export -----------------------------------------------------------------------------------


def test_export_streams_the_current_members_as_csv(support_client, worked_example):
    vip = worked_example["vip"]
    factories.membership(vip, factories.customer("=HYPERLINK(evil)"))
    response = support_client.get(url(vip, "members.csv"))
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="vip-members.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["external_id", "name", "email", "active", "joined_at"]
    assert len(rows) == 1 + 13
    by_id = {row[0]: row for row in rows}
    assert by_id["CUST-0001"][1:4] == ["End Customer Ltd", "billing@endcustomer.example", "yes"]
    assert "'=HYPERLINK(evil)" in [row[1] for row in rows]  # no formula injection


def test_export_runs_a_fixed_number_of_queries(support_client, django_assert_max_num_queries):
    group = factories.group()
    for _ in range(50):
        factories.membership(group, factories.customer())
    with django_assert_max_num_queries(8):
        response = support_client.get(url(group, "members.csv"))
        assert len(b"".join(response.streaming_content).splitlines()) == 51


def test_bulk_confirm_without_ids_asks_to_start_again(support_client, worked_example):
    response = support_client.post(
        url(worked_example["vip"], "members/bulk/"),
        {"confirm": "1", "mode": "add", "ids": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "paste the IDs again" in response.content.decode()


def test_member_row_links_match_the_url_map(support_client, worked_example):
    """Row links are assembled from base URLs for speed; they must equal what reverse() gives."""
    from django.urls import reverse

    vip, end_customer = worked_example["vip"], worked_example["end_customer"]
    body = support_client.get(url(vip)).content.decode()
    assert reverse("groups:member_remove", args=[vip.pk, end_customer.pk]) in body
    assert f'href="{reverse("groups:customer_detail", args=[end_customer.pk])}"' in body
