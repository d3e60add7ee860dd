"""Saving to a changeset from the rule and price list pages, and RATECARD_REQUIRE_APPROVAL."""

from decimal import Decimal

import pytest
from django.urls import reverse

from pricing.changesets import services as cs
from pricing.models import Changeset, ChangesetChange, PriceList, PricingRule
from tests import factories

pytestmark = pytest.mark.django_db


def _rule_post(rule, **overrides):
    data = {
        "name": rule.name,
        "code": rule.code,
        "billing_category": rule.billing_category,
        "price_list": str(rule.price_list_id),
        "target_kind": "everyone",
        "priority": str(rule.priority),
        "valid_from": rule.valid_from.isoformat(),
        "open_ended": "on",
        "is_active": "on",
        "description": "",
        "version": str(rule.version),
    }
    data.update(overrides)
    return data


def test_save_to_a_new_changeset_from_the_rule_form_leaves_the_rule_alone(manager_client):
    rule = factories.rule("FORM-RULE", priority=10)
    url = reverse("pricing:rule_update", args=[rule.pk])
    page = manager_client.get(url).content.decode()
    assert "Save to changeset" in page
    assert "Save rule" in page
    response = manager_client.post(url, _rule_post(rule, priority="250", _changeset="1"))
    assert response.status_code == 302
    changeset = Changeset.objects.get()
    assert response["Location"] == reverse("pricing:changeset_detail", args=[changeset.pk])
    change = changeset.changes.get()
    assert (change.action, change.base_version, change.after["priority"]) == ("update", 1, 250)
    assert PricingRule.objects.get(pk=rule.pk).priority == 10


def test_saving_again_into_the_same_draft_replaces_the_proposal(manager_client, manager):
    rule = factories.rule(priority=10)
    draft = cs.changeset_create(title="Mine", by=manager)
    url = reverse("pricing:rule_update", args=[rule.pk])
    for priority in ("20", "30"):
        data = _rule_post(rule, priority=priority, _changeset="1", changeset=str(draft.pk))
        assert manager_client.post(url, data).status_code == 302
    assert ChangesetChange.objects.get(changeset=draft).after["priority"] == 30


def test_an_invalid_form_is_not_saved_to_a_changeset(manager_client):
    rule = factories.rule()
    url = reverse("pricing:rule_update", args=[rule.pk])
    response = manager_client.post(url, _rule_post(rule, priority="-5", _changeset="1"))
    assert response.status_code == 422
    assert not Changeset.objects.exists()


def test_with_approval_required_a_manager_saves_only_to_changesets(manager_client, settings):
    settings.RATECARD_REQUIRE_APPROVAL = True
    rule = factories.rule(priority=10)
    url = reverse("pricing:rule_update", args=[rule.pk])
    page = manager_client.get(url).content.decode()
    assert "Save rule" not in page
    assert "Save to changeset" in page
    # Even a plain save (Enter in a field) goes to a changeset.
    response = manager_client.post(url, _rule_post(rule, priority="99"))
    assert response.status_code == 302
    assert PricingRule.objects.get(pk=rule.pk).priority == 10
    assert Changeset.objects.get().changes.get().after["priority"] == 99


def test_a_superuser_keeps_direct_saves_with_approval_required(superuser_client, settings):
    settings.RATECARD_REQUIRE_APPROVAL = True
    rule = factories.rule(priority=10)
    url = reverse("pricing:rule_update", args=[rule.pk])
    assert "Save rule" in superuser_client.get(url).content.decode()
    assert superuser_client.post(url, _rule_post(rule, priority="99")).status_code == 302
    assert PricingRule.objects.get(pk=rule.pk).priority == 99


def test_disable_a_rule_in_a_changeset_from_its_page(manager_client):
    rule = factories.rule()
    page = manager_client.get(reverse("pricing:rule_detail", args=[rule.pk])).content.decode()
    assert "In a changeset" in page
    response = manager_client.post(
        reverse("pricing:rule_to_changeset", args=[rule.pk]), {"action": "disable"}
    )
    assert response.status_code == 302
    assert Changeset.objects.get().changes.get().action == "disable"
    assert PricingRule.objects.get(pk=rule.pk).is_active


def test_price_list_form_and_items_to_a_changeset(manager_client):
    price_list = factories.price_list("ITEMS", items={"minute": "1.00", "sms": "0.10"})
    url = reverse("pricing:price_list_update", args=[price_list.pk])
    data = {
        "name": "Renamed list",
        "code": "ITEMS",
        "currency": "CZK",
        "description": "",
        "version": str(price_list.version),
        "_changeset": "1",
    }
    assert manager_client.post(url, data).status_code == 302
    changeset = Changeset.objects.get()
    items_url = reverse("pricing:price_list_items_to_changeset", args=[price_list.pk])
    page = manager_client.get(items_url, {"changeset": changeset.pk}).content.decode()
    assert "minute, minute, 1" in page
    bad = manager_client.post(
        items_url, {"items": "minute, minute, 1e3\nsms", "changeset": str(changeset.pk)}
    )
    assert bad.status_code == 422
    body = bad.content.decode()
    assert "Line 1: unit price" in body
    assert "Line 2: write item code, unit, unit price" in body
    ok = manager_client.post(
        items_url, {"items": "minute, minute, 0.80\ngb, GB, 2", "changeset": str(changeset.pk)}
    )
    assert ok.status_code == 302
    after = changeset.changes.get().after
    assert after["name"] == "Renamed list"
    assert [(i["item_code"], i["unit_price"]) for i in after["items"]] == [
        ("gb", "2"),
        ("minute", "0.80"),
    ]
    assert PriceList.objects.get(pk=price_list.pk).name != "Renamed list"
    assert price_list.items.get(item_code="minute").unit_price == Decimal("1.000000")


def test_with_approval_required_direct_writes_are_refused_everywhere(
    manager_client, manager, settings
):
    """Disabling, deleting, item edits and the API's writes: 403 saying to use a changeset."""
    from tests.api.conftest import Api

    settings.RATECARD_REQUIRE_APPROVAL = True
    rule = factories.rule(priority=10)
    price_list = rule.price_list
    item = price_list.items.get()
    for url in (
        reverse("pricing:rule_disable", args=[rule.pk]),
        reverse("pricing:rule_delete", args=[rule.pk]),
        reverse("pricing:price_list_item_delete", args=[price_list.pk, item.pk]),
        reverse("pricing:audit_disable_rule", args=[rule.pk]),
    ):
        assert manager_client.post(url).status_code == 403, url
    api = Api(manager)
    response = api.patch(f"/api/v1/pricing-rules/{rule.pk}", {"priority": 11})
    assert response.status_code == 403
    assert "changeset" in response.json()["detail"]
    assert api.delete(f"/api/v1/price-lists/{price_list.pk}").status_code == 403
    rule.refresh_from_db()
    assert (rule.priority, rule.is_active) == (10, True)
    assert price_list.items.exists()
