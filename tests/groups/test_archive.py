"""Removing a group or customer keeps its history (issue 22, item 12).

Deleting used to erase membership history (the API did not warn). Now a group or customer that
ever had a membership (a customer: or usage) is archived: hidden from every list, search,
picker and the API, its history kept on the other side's pages and in the audit trail. Only one
that never had one is deleted. The API says which happened; customers get an audit trail.
"""

import pytest
from django.urls import reverse

from groups import selectors, services
from groups.models import Customer, CustomerGroup, Membership
from pricing.models import UsageRecord
from tests import factories
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


@pytest.fixture
def promo_with_history(manager):
    """A group with one current and one past member."""
    group = factories.group("Summer Promo", code="summer")
    current, former = factories.customer("Current Ltd"), factories.customer("Former Ltd")
    factories.membership(group, current)
    services.membership_add(group=group, customer=former, by=manager)
    services.membership_remove(group=group, customer=former, by=manager)
    return group, current, former


def test_a_group_with_members_is_archived_and_its_history_kept(manager, promo_with_history):
    group, current, _ = promo_with_history
    removed = services.group_delete(group=group, by=manager)
    assert removed.outcome is services.Removal.ARCHIVED
    assert "1 current membership ended now" in removed.message
    group = CustomerGroup.all_objects.get(pk=group.pk)
    assert group.is_archived
    assert group.archived_by == manager
    periods = Membership.objects.filter(group=group)
    assert periods.count() == 2  # history kept
    assert not periods.current().exists()  # the current member left now
    assert periods.get(customer=current).left_by == manager


def test_a_group_that_never_had_a_member_is_deleted(manager):
    group = factories.group()
    removed = services.group_delete(group=group, by=manager)
    assert removed.outcome is services.Removal.DELETED
    assert not CustomerGroup.all_objects.filter(pk=group.pk).exists()


def test_an_archived_group_is_hidden_everywhere(manager, manager_client, promo_with_history):
    group, _, _ = promo_with_history
    services.group_delete(group=group, by=manager)
    assert group.name not in manager_client.get(reverse("groups:group_list")).content.decode()
    assert manager_client.get(reverse("groups:group_detail", args=[group.pk])).status_code == 404
    assert list(selectors.group_search("Summer")) == []
    api = Api(manager)
    assert api.get("/api/v1/groups").json()["count"] == 0
    assert api.get(f"/api/v1/groups/{group.pk}").status_code == 404
    assert api.get("/api/v1/customers", {"group": "summer"}).json()["count"] == 0
    body = {
        "name": "R",
        "code": "R",
        "billing_category": "retail",
        "price_list_id": str(factories.price_list().pk),
        "group_id": str(group.pk),
    }
    assert "group_id" in api.post("/api/v1/pricing-rules", body).json()
    audit = manager_client.get(reverse("pricing:audit"), {"finding": "empty"})
    assert group.name not in audit.content.decode()


def test_the_customer_page_keeps_the_archived_groups_history(
    manager, manager_client, promo_with_history
):
    group, current, _ = promo_with_history
    services.group_delete(group=group, by=manager)
    html = manager_client.get(reverse("groups:customer_detail", args=[current.pk])).content.decode()
    assert 'Summer Promo <span class="badge text-bg-secondary">archived</span>' in html
    assert reverse("groups:group_detail", args=[group.pk]) not in html


def test_an_archived_groups_name_and_code_stay_taken(manager, promo_with_history):
    group, _, _ = promo_with_history
    services.group_delete(group=group, by=manager)
    response = Api(manager).post("/api/v1/groups", {"name": "summer promo", "code": "summer"})
    assert response.status_code == 400
    assert "(archived)" in response.json()["name"][0]
    assert "(archived)" in response.json()["code"][0]


def test_a_customer_with_history_is_archived_and_one_without_deleted(manager, manager_client):
    member, with_usage, fresh = (
        factories.customer("Member Ltd"),
        factories.customer("Usage Ltd"),
        factories.customer("Fresh Ltd"),
    )
    group = factories.group()
    factories.membership(group, member)
    factories.usage(with_usage)
    assert services.customer_delete(customer=member, by=manager).outcome == "archived"
    assert services.customer_delete(customer=with_usage, by=manager).outcome == "archived"
    assert services.customer_delete(customer=fresh, by=manager).outcome == "deleted"
    assert set(Customer.objects.values_list("name", flat=True)) == set()
    assert set(Customer.all_objects.values_list("name", flat=True)) == {"Member Ltd", "Usage Ltd"}
    assert Membership.objects.filter(customer=member, left_by=manager).count() == 1
    assert UsageRecord.objects.filter(customer=with_usage).count() == 1
    listing = manager_client.get(reverse("groups:customer_list")).content.decode()
    assert "Member Ltd" not in listing
    history = manager_client.get(reverse("groups:group_detail", args=[group.pk])).content.decode()
    assert 'Member Ltd <span class="badge text-bg-secondary">archived</span>' in history


def test_the_api_says_whether_it_deleted_or_archived(manager, promo_with_history):
    group, current, _ = promo_with_history
    api = Api(manager)
    archived = api.delete(f"/api/v1/customers/{current.pk}")
    assert archived.status_code == 200
    assert archived.json()["result"] == "archived"
    assert "membership history and usage records are kept" in archived.json()["detail"]
    assert api.get(f"/api/v1/customers/{current.pk}").status_code == 404
    deleted = api.delete(f"/api/v1/customers/{factories.customer().pk}")
    assert deleted.status_code == 204
    response = api.delete(f"/api/v1/groups/{group.pk}")
    assert (response.status_code, response.json()["result"]) == (200, "archived")


def test_the_removal_answers_are_documented(client):
    schema = client.get("/api/v1/schema").json()
    for path in ("/api/v1/groups/{id}", "/api/v1/customers/{id}"):
        responses = schema["paths"][path]["delete"]["responses"]
        assert {"200", "204", "409"} <= set(responses)


def test_the_delete_page_says_it_will_archive(manager_client, promo_with_history):
    group, _, _ = promo_with_history
    page = manager_client.get(reverse("groups:group_delete", args=[group.pk])).content.decode()
    assert "Archive the group “Summer Promo”?" in page
    assert "Its 1 current member leaves it now." in page
    response = manager_client.post(reverse("groups:group_delete", args=[group.pk]), follow=True)
    assert "Archived the group “Summer Promo”" in response.content.decode()


def test_the_admin_offers_no_delete_for_what_has_history(superuser_client, promo_with_history):
    group, current, _ = promo_with_history
    for name, obj in (("customergroup", group), ("customer", current)):
        url = reverse(f"admin:groups_{name}_delete", args=[obj.pk])
        assert superuser_client.post(url, {"post": "yes"}).status_code == 403
    assert Membership.objects.filter(group=group).count() == 2


# --- The customers' audit trail ---------------------------------------------------------------


def test_customers_have_an_audit_trail_on_their_page(support, support_client, manager):
    response = support_client.post(
        reverse("groups:customer_create"), {"name": "Acme", "external_id": "A-1", "is_active": "on"}
    )
    customer = Customer.objects.get(external_id="A-1")
    support_client.post(
        reverse("groups:customer_edit", args=[customer.pk]),
        {"name": "Acme Ltd", "external_id": "A-1", "email": "", "is_active": "on"},
    )
    assert response.status_code == 302
    records = list(customer.history.order_by("history_date"))
    assert [(r.history_type, r.name, r.history_user) for r in records] == [
        ("+", "Acme", support),
        ("~", "Acme Ltd", support),
    ]
    page = support_client.get(reverse("groups:customer_detail", args=[customer.pk]))
    audit = page.context["audit"]
    assert [(e.kind, e.user) for e in audit] == [("changed", support), ("created", support)]
    assert audit[0].changes == [("name", "Acme", "Acme Ltd")]
    assert "Changes to this customer" in page.content.decode()
    pk = customer.pk
    services.customer_delete(customer=customer, by=manager)  # never in a group: deleted
    last = Customer.history.filter(id=pk).order_by("history_date").last()
    assert (last.history_type, last.history_user) == ("-", manager)


def test_imported_customers_have_history_too(support):
    raw = b"name,external_id\nNew Ltd,N-1\n"
    services.customer_import_apply(raw=raw, by=support)
    customer = Customer.objects.get(external_id="N-1")
    assert [(r.history_type, r.history_user) for r in customer.history.all()] == [("+", support)]
    services.customer_import_apply(raw=b"name,external_id\nNew Ltd 2,N-1\n", by=support)
    assert customer.history.count() == 2


def test_an_archived_customer_cannot_be_imported_again(manager):
    customer = factories.customer("Gone Ltd", external_id="G-1")
    factories.usage(customer)
    services.customer_delete(customer=customer, by=manager)
    plan = services.customer_import_plan(raw=b"name,external_id\nGone Again,G-1\n")
    assert plan.errors == [
        "Line 2: the external ID “G-1” belongs to the archived customer “Gone Ltd”, whose "
        "history it keeps; use another ID."
    ]
