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


def test_group_change_page_shows_memberships_inline(superuser_client, worked_example):
    group = worked_example["standard"]
    response = superuser_client.get(reverse("admin:groups_customergroup_change", args=[group.pk]))
    assert response.status_code == 200
    assert b"Tech Corp" in response.content


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
