"""The pending-usage queue, kept by the database, and the table shape batch rating relies on."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from pricing import batch, services
from pricing.models import PendingUsage, UsageRecord, UsageStatus, uuid7
from tests import factories

MARCH = datetime(2026, 3, 1, 12, tzinfo=UTC)

# Columns rating writes (the fields services.RATED_FIELDS names). None may be indexed:
# PostgreSQL then rewrites each rated row in place (a HOT update) instead of adding an entry to
# every index of the table.
RATING_WRITES = {UsageRecord._meta.get_field(name).column for name in services.RATED_FIELDS}


def _queued() -> list:
    return list(PendingUsage.objects.order_by("id").values_list("record_id", flat=True))


@pytest.mark.django_db
def test_a_record_stored_as_pending_is_queued(worked_example):
    """Creating a pending record through the ORM queues it (a database trigger does it)."""
    record = factories.usage(worked_example["tech_corp"])
    assert _queued() == [record.pk]


@pytest.mark.django_db
def test_records_stored_by_the_upload_path_are_queued_in_order(worked_example):
    """The bulk insert of uploads (COPY on PostgreSQL) queues every record, in file order."""
    ids = [uuid.uuid4() for _ in range(3)]
    customer = batch.db_key(worked_example["tech_corp"].pk)
    rows = [(pk, customer, "retail", "minute", Decimal("1"), MARCH) for pk in ids]
    batch.insert_pending(rows, created_by_id=None, at=MARCH)
    assert _queued() == ids


@pytest.mark.django_db
def test_records_rated_on_arrival_are_not_queued(worked_example):
    """POST /api/v1/usage-records stores records already rated: nothing waits for them."""
    services.usage_records_create(
        records=[
            {
                "customer": worked_example["tech_corp"],
                "billing_category": "retail",
                "item_code": "minute",
                "quantity": Decimal("2"),
                "occurred_at": MARCH,
            }
        ]
    )
    assert UsageRecord.objects.get().status == UsageStatus.RATED
    assert _queued() == []


@pytest.mark.django_db
def test_rating_empties_the_queue_and_a_record_set_back_to_pending_is_queued_again(
    worked_example,
):
    """Rated records leave the queue; setting one back to pending puts it back."""
    record = factories.usage(worked_example["tech_corp"])
    assert batch.rate_pending().rated == 1
    assert _queued() == []
    UsageRecord.objects.filter(pk=record.pk).update(status=UsageStatus.PENDING)
    assert _queued() == [record.pk]
    assert batch.rate_pending().rated == 1
    record.refresh_from_db()
    assert (record.status, record.amount) == (UsageStatus.RATED, Decimal("1.20"))


@pytest.mark.django_db
def test_a_stale_queue_entry_is_dropped_without_rating(worked_example):
    """An entry whose record is no longer pending is removed; the record keeps its values."""
    record = factories.usage(worked_example["tech_corp"])
    UsageRecord.objects.filter(pk=record.pk).update(
        status=UsageStatus.UNRATED, unrated_reason="set by hand"
    )
    assert _queued() == [record.pk]  # the trigger only ever adds
    assert batch.pending_count() == 1  # counted until a run finds it stale
    report = batch.rate_pending()
    assert report.rated == 0
    assert _queued() == []
    assert batch.pending_count() == 0
    record.refresh_from_db()
    assert (record.status, record.unrated_reason) == (UsageStatus.UNRATED, "set by hand")


@pytest.mark.django_db
def test_deleting_a_record_deletes_its_queue_entry(worked_example):
    record = factories.usage(worked_example["tech_corp"])
    record.delete()
    assert PendingUsage.objects.count() == 0


@pytest.mark.django_db
def test_pending_count_of_an_upload_counts_only_its_records(worked_example):
    key = batch.new_batch_key()
    customer = batch.db_key(worked_example["tech_corp"].pk)
    rows = [
        (batch.batch_record_id(key, line), customer, "retail", "minute", Decimal("1"), MARCH)
        for line in (2, 3)
    ]
    batch.insert_pending(rows, created_by_id=None, at=MARCH)
    factories.usage(worked_example["startup"])
    assert batch.pending_count() == 3
    assert batch.pending_count(batch.Scope(batch.batch_id_range(key))) == 2


@pytest.mark.django_db
def test_rating_writes_no_indexed_column_of_the_usage_table():
    """Every index of the usage table leaves out the columns rating writes (HOT updates)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, UsageRecord._meta.db_table)
    indexed = {
        column
        for constraint in constraints.values()
        if constraint["index"] or constraint["unique"] or constraint["primary_key"]
        for column in constraint["columns"]
    }
    assert indexed, "the introspection found no index at all"
    assert not indexed & RATING_WRITES


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="fillfactor is PostgreSQL's")
def test_usage_pages_keep_room_for_rated_rows():
    """Every relation holding records (each monthly partition, or the plain table)."""
    from pricing import partitions

    holders = partitions.relations()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)", [holders]
        )
        found = dict(cursor.fetchall())
    assert set(found) == set(holders)
    assert all("fillfactor=35" in (options or []) for options in found.values()), found


def test_record_ids_are_time_ordered_uuids():
    """New usage records get version 7 UUIDs: later records sort after earlier ones."""
    import time

    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert (first.version, first.variant) == (7, uuid.RFC_4122)
    assert first < second
    assert UsageRecord._meta.pk.default is uuid7
