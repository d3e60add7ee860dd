"""The usage table partitioned by month on PostgreSQL (pricing.partitions, migration 0013,
``manage.py usage_partitions``): rows land in their month, months are created ahead and out of
the default partition, batch rating sweeps every partition, and a live conversion of a plain
table keeps every write made while it copies."""

import itertools
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from pricing import batch, partitions
from pricing.batch import SweepPlan
from pricing.clock import billing_today
from pricing.models import PendingUsage, UsageRecord, UsageStatus
from tests import factories

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps one usage table")


def _where(record: UsageRecord) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM pricing_usagerecord WHERE id = %s", [record.pk]
        )
        return cursor.fetchone()[0]


def _at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


@pytest.mark.django_db
def test_migrated_table_is_partitioned_with_months_ahead_and_a_default():
    found = partitions.partitions()
    assert partitions.is_partitioned()
    assert found[-1].name == partitions.DEFAULT
    assert found[-1].first is None
    months = [p.first for p in found[:-1]]
    assert len(months) >= 4  # this month and three ahead
    assert all(b == partitions.next_month(a) for a, b in itertools.pairwise(months))


@pytest.mark.django_db
def test_a_record_lands_in_its_month_and_a_new_month_takes_its_rows_out_of_the_default():
    customer = factories.customer()
    partitions.ensure_months(date(2031, 4, 1), date(2031, 4, 1))
    april = factories.usage(customer, occurred_at=_at(2031, 4))
    may = [factories.usage(customer, occurred_at=_at(2031, 5, day)) for day in (1, 31)]
    assert _where(april) == "pricing_usagerecord_y2031m04"
    assert {_where(r) for r in may} == {partitions.DEFAULT}
    assert date(2031, 5, 1) in partitions.months_in_default()

    created = partitions.ensure_ahead(date(2031, 4, 2), ahead=0)

    assert "pricing_usagerecord_y2031m05" in created
    assert {_where(r) for r in may} == {"pricing_usagerecord_y2031m05"}
    assert date(2031, 5, 1) not in partitions.months_in_default()
    # Same rows, same queue: nothing lost or duplicated by the move.
    assert UsageRecord.objects.filter(customer=customer).count() == 3
    assert PendingUsage.objects.filter(record_id__in=[r.pk for r in may]).count() == 2
    assert partitions.ensure_ahead(date(2031, 4, 2), ahead=0) == []  # twice: nothing to do


@pytest.mark.django_db
@pytest.mark.parametrize("sweep", [True, False], ids=["sweep", "queue"])
def test_batch_rating_reaches_every_partition(sweep):
    factories.rule(priority=0, price_list=factories.price_list(items={"minute": "0.50"}))
    customer = factories.customer()
    partitions.ensure_months(date(2031, 1, 1), date(2031, 3, 1))
    records = [
        factories.usage(customer, occurred_at=_at(2031, month), quantity=Decimal(month))
        for month in (1, 2, 3)
    ] + [factories.usage(customer, occurred_at=_at(2040, 1))]  # default partition
    assert len({_where(r) for r in records}) == 4

    assert batch.rate_pending(sweep=sweep, chunk_size=2).rated == 4

    for record in records:
        record.refresh_from_db()
        assert record.status == UsageStatus.RATED
        assert record.amount == record.quantity * Decimal("0.50")
    assert batch.pending_count() == 0


@pytest.mark.django_db
def test_the_sweep_plans_ranges_over_each_partition():
    customer = factories.customer()
    partitions.ensure_months(date(2031, 1, 1), date(2031, 2, 1))
    for month in (1, 2):
        factories.usage(customer, occurred_at=_at(2031, month))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pricing_usagerecord")
    planned = {relation for relation, _, _ in SweepPlan.load(chunk_size=100).relations}
    assert {"pricing_usagerecord_y2031m01", "pricing_usagerecord_y2031m02"} <= planned
    assert "pricing_usagerecord" not in planned  # the parent holds no rows of its own


@pytest.mark.django_db
def test_detach_leaves_a_plain_table_to_archive():
    customer = factories.customer()
    partitions.ensure_months(date(2031, 6, 1), date(2031, 6, 1))
    record = factories.usage(customer, occurred_at=_at(2031, 6))
    out = StringIO()
    call_command("usage_partitions", "--detach", "2031-06", stdout=out)
    assert "Detached pricing_usagerecord_y2031m06" in out.getvalue()
    assert not UsageRecord.objects.filter(pk=record.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM pricing_usagerecord_y2031m06")
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db
def test_command_lists_creates_ahead_and_refuses_bad_input():
    out = StringIO()
    call_command("usage_partitions", "--ahead", "5", stdout=out)
    text = out.getvalue()
    assert partitions.DEFAULT in text
    assert len([p for p in partitions.partitions() if p.first]) >= 6
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("usage_partitions", "--detach", "June")
    with pytest.raises(CommandError, match="no partition"):
        call_command("usage_partitions", "--detach", "1999-01")
    with pytest.raises(CommandError, match="0 or more"):
        call_command("usage_partitions", "--ahead", "-1")


# --- Live conversion ------------------------------------------------------------------------


def _other_connection(work) -> None:
    """Run ``work`` on a connection of its own (another client of the live database)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@pytest.mark.django_db(transaction=True)
def test_live_conversion_keeps_writes_made_while_it_copies():
    """Back to one plain table, then ``convert`` in chunks of 7 while another connection inserts,
    corrects and deletes records between chunks: the partitioned table ends with exactly the
    rows the plain one had, in their months, with the queue's triggers in place."""
    partitions.unconvert()
    assert not partitions.is_partitioned()
    try:
        customer = factories.customer()
        for n in range(40):
            factories.usage(customer, occurred_at=_at(2026, 1 + n % 6), quantity=Decimal(n + 1))
        ids = list(UsageRecord.objects.order_by("id").values_list("id", flat=True))
        rounds = iter(range(100))

        def meanwhile(done: int, total: int) -> None:
            n = next(rounds)

            def write() -> None:
                factories.usage(customer, occurred_at=_at(2026, 2), quantity=Decimal(1000 + n))
                UsageRecord.objects.filter(pk=ids[n]).update(quantity=Decimal(500 + n))
                UsageRecord.objects.filter(pk=ids[-1 - n]).delete()

            _other_connection(write)

        copied = partitions.convert(today=billing_today(), chunk=7, progress=meanwhile)

        assert 0 < copied <= 40  # rows deleted before the copy reached them are not copied
        assert partitions.is_partitioned()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, status, amount, quantity FROM pricing_usagerecord_old")
            expected = set(cursor.fetchall())
        got = set(UsageRecord.objects.values_list("id", "status", "amount", "quantity"))
        assert got == expected
        assert len(got) == 40  # each round added one and deleted one
        assert {_where(UsageRecord.objects.get(pk=ids[3]))} == {"pricing_usagerecord_y2026m04"}
        # The queue's triggers moved to the new table.
        fresh = factories.usage(customer, occurred_at=_at(2026, 3))
        assert PendingUsage.objects.filter(record_id=fresh.pk).exists()
        assert partitions.drop_old()
        assert not partitions.drop_old()
    finally:
        if not partitions.is_partitioned():
            partitions.convert(today=billing_today(), live=False)
        partitions.drop_old()
