"""Migration 0006 converts stored amounts to exact storage and keeps the usage queue working."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = ("pricing", "0005_rule_valid_from_defaults_to_billing_today")
AFTER = ("pricing", "0006_exact_amounts")


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_existing_amounts_survive_and_new_pending_records_are_still_queued():
    apps = _migrate(BEFORE)
    try:
        Customer = apps.get_model("groups", "Customer")
        UsageRecord = apps.get_model("pricing", "UsageRecord")
        customer = Customer.objects.create(name="Before the migration")
        rated = UsageRecord.objects.create(
            id=uuid.uuid4(),
            customer=customer,
            billing_category="retail",
            item_code="minute",
            quantity=Decimal("3"),
            occurred_at=timezone.now(),
            status="rated",
            unit_price=Decimal("1.15"),
            amount=Decimal("3.45"),
            currency="CZK",
        )
        apps = _migrate(AFTER)
        UsageRecord = apps.get_model("pricing", "UsageRecord")
        PendingUsage = apps.get_model("pricing", "PendingUsage")
        assert UsageRecord.objects.get(pk=rated.pk).amount == Decimal("3.45")
        pending = UsageRecord.objects.create(
            id=uuid.uuid4(),
            customer_id=customer.pk,
            billing_category="retail",
            item_code="minute",
            quantity=Decimal("1"),
            occurred_at=timezone.now(),
        )
        assert list(PendingUsage.objects.values_list("record_id", flat=True)) == [pending.pk]
    finally:
        _migrate(("pricing", "0006_exact_amounts"))
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
