"""Rated usage records are read-only in the admin, as in the API (issue 22, item 11)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from pricing import services
from pricing.models import UsageRecord, UsageStatus
from tests import factories

pytestmark = pytest.mark.django_db


def _change_data(record: UsageRecord, **changes) -> dict:
    data = {
        "customer": str(record.customer_id),
        "billing_category": record.billing_category,
        "item_code": record.item_code,
        "quantity": str(record.quantity),
        "occurred_at_0": record.occurred_at.strftime("%Y-%m-%d"),
        "occurred_at_1": record.occurred_at.strftime("%H:%M:%S"),
        "created_by": "",
    }
    data.update(changes)
    return data


@pytest.fixture
def settled(worked_example) -> dict[str, UsageRecord]:
    rated = factories.usage(worked_example["tech_corp"])
    unrated = factories.usage(worked_example["tech_corp"], billing_category="nothing-prices-it")
    services.usage_rate_pending()
    rated.refresh_from_db()
    unrated.refresh_from_db()
    assert (rated.status, unrated.status) == (UsageStatus.RATED, UsageStatus.UNRATED)
    return {"rated": rated, "unrated": unrated}


@pytest.mark.parametrize("kind", ["rated", "unrated"])
def test_a_settled_record_cannot_be_changed_in_the_admin(superuser_client, settled, kind):
    """The change page only shows it; a crafted POST is refused and changes nothing."""
    record = settled[kind]
    url = reverse("admin:pricing_usagerecord_change", args=[record.pk])
    page = superuser_client.get(url)
    assert page.status_code == 200
    assert 'name="quantity"' not in page.content.decode()
    other = factories.customer()
    response = superuser_client.post(
        url, _change_data(record, quantity="99", customer=str(other.pk))
    )
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.quantity == Decimal("1")
    assert record.customer_id != other.pk


def test_a_settled_record_cannot_be_deleted_in_the_admin(superuser_client, settled):
    record = settled["rated"]
    url = reverse("admin:pricing_usagerecord_delete", args=[record.pk])
    assert superuser_client.get(url).status_code == 403
    assert superuser_client.post(url, {"post": "yes"}).status_code == 403
    assert UsageRecord.objects.filter(pk=record.pk).exists()
    changelist = superuser_client.get(reverse("admin:pricing_usagerecord_changelist"))
    assert "delete_selected" not in changelist.content.decode()


def test_a_pending_record_can_still_be_corrected(superuser_client, worked_example):
    record = factories.usage(worked_example["tech_corp"])
    url = reverse("admin:pricing_usagerecord_change", args=[record.pk])
    response = superuser_client.post(url, _change_data(record, quantity="2.5"))
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.quantity == Decimal("2.5")
    assert record.status == UsageStatus.PENDING
