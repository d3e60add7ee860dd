"""Superusers get a useful Django admin for every model."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

DOMAIN_APPS = {"groups", "pricing"}


def domain_models():
    return sorted(
        (model._meta.app_label, model._meta.model_name)
        for model in admin.site._registry
        if model._meta.app_label in DOMAIN_APPS
    )


def test_every_domain_model_is_registered():
    registered = {name for _, name in domain_models()}
    assert registered >= {
        "customer",
        "customergroup",
        "membership",
        "pricelist",
        "pricelistitem",
        "pricingrule",
        "usagerecord",
    }


@pytest.mark.parametrize(("app_label", "model_name"), domain_models())
def test_admin_lists_searches_and_adds(superuser_client, worked_example, app_label, model_name):
    """Each changelist loads, with a search, and each add form opens."""
    factories.usage(worked_example["tech_corp"])
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")
    assert superuser_client.get(changelist).status_code == 200
    assert superuser_client.get(changelist, {"q": "Tech"}).status_code == 200
    assert superuser_client.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 200


def test_customer_change_page_shows_its_memberships_inline(superuser_client, worked_example):
    """A customer has a handful of memberships: they stay inline on its change page."""
    customer = worked_example["tech_corp"]
    response = superuser_client.get(reverse("admin:groups_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    assert b"Standard" in response.content


def test_customer_autocomplete_answers(superuser_client, worked_example):
    response = superuser_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "Startup",
            "app_label": "groups",
            "model_name": "membership",
            "field_name": "customer",
        },
    )
    assert response.status_code == 200
    assert "Startup XYZ" in response.json()["results"][0]["text"]


def test_admin_is_for_superusers_only(manager_client):
    response = manager_client.get(reverse("admin:index"))
    assert response.status_code == 302


def test_a_big_group_does_not_render_its_members_inline(
    superuser_client, django_assert_max_num_queries
):
    """Issue 21, "Also": a group with thousands of members rendered them all in its change
    page. It links to its memberships (paged, searchable) instead, in a fixed number of
    queries."""
    group = factories.group("Everybody")
    for n in range(60):
        factories.membership(group, factories.customer(f"Member {n:03d}"))
    url = reverse("admin:groups_customergroup_change", args=[group.pk])
    with django_assert_max_num_queries(15):
        response = superuser_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Member 000" not in body
    assert "60 current members." in body
    assert f"/admin/groups/membership/?group__id__exact={group.pk}" in body
