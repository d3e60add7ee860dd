"""Sweeping the table (PostgreSQL): a large backlog is rated by reading the table in block ranges.

The sweep must give the queue's answers (the hypothesis equivalence test runs it too), rate every
record once even beside a queue runner, leave the queue holding exactly the records still
pending, and share the ranges of the table between worker processes.
"""

import functools
import io
import threading
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from pricing import batch
from pricing.models import PendingUsage, UsageRecord, UsageStatus
from pricing.selectors import evaluate
from tests import factories
from tests.concurrency import at_once

pytestmark = pytest.mark.postgres

MARCH = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("sweeps read PostgreSQL's table by block ranges (ctid)")


def _world(customers: int = 12, per_customer: int = 30) -> list[UsageRecord]:
    vip = factories.group()
    factories.rule(priority=0)
    factories.rule(group=vip, priority=100)
    records = []
    for n in range(customers):
        customer = factories.customer()
        if n % 2:
            factories.membership(vip, customer)
        for k in range(per_customer):
            records.append(
                factories.usage(
                    customer,
                    quantity=Decimal(k + 1) / 4,
                    occurred_at=MARCH + timedelta(hours=k),
                )
            )
    return records


@pytest.mark.django_db
def test_a_sweep_rates_like_evaluate_and_empties_the_queue():
    records = _world()
    report = batch.rate_pending(sweep=True, chunk_size=7)
    assert report.rated == len(records)
    assert report.chunks > 1, "the table was read in several block ranges"
    assert not PendingUsage.objects.exists()
    for record in records:
        record.refresh_from_db()
        result = evaluate(
            customer=record.customer,
            billing_category=record.billing_category,
            item_code=record.item_code,
            quantity=record.quantity,
            occurred_at=record.occurred_at,
        ).result
        assert (record.status, record.rule_id, record.amount) == (
            UsageStatus.RATED,
            result.rule.id,
            result.amount,
        )


@pytest.mark.django_db
def test_a_large_backlog_is_swept_and_a_small_one_goes_through_the_queue(monkeypatch):
    _world(customers=2, per_customer=10)
    swept = []
    monkeypatch.setattr(batch.sweep, "sweep", lambda **kw: swept.append(kw) or batch.RunReport())
    monkeypatch.setattr(batch.run, "rate_chunk", lambda *args, **kw: None)  # the queue: a no-op
    monkeypatch.setattr(batch.sweep, "SWEEP_MIN", 21)
    batch.rate_pending()
    assert not swept, "20 pending records are fewer than SWEEP_MIN"
    monkeypatch.setattr(batch.sweep, "SWEEP_MIN", 20)
    batch.rate_pending(limit=100)
    batch.rate_pending(time_budget=60)
    assert not swept, "runs with a limit or a time budget take the queue"
    batch.rate_pending()
    assert len(swept) == 1


def _edit_before_rating(monkeypatch, record: UsageRecord, quantity: Decimal) -> None:
    """Edit ``record`` (moving its row) after a run has read it, just before it rates."""
    rate_rows = batch.rate_rows

    def edit_then_rate(rows, snapshot, **options):
        UsageRecord.objects.filter(pk=record.pk).update(quantity=quantity)
        return rate_rows(rows, snapshot, **options)

    for runner in (batch.sweep, batch.queue):  # both ways through the records
        monkeypatch.setattr(runner, "rate_rows", edit_then_rate)


@pytest.mark.django_db
def test_records_edited_during_a_sweep_stay_pending_and_queued(monkeypatch):
    """A row that moved (edited) after the sweep read it is not written, and keeps its entry."""
    records = _world(customers=1, per_customer=5)
    edited = records[2]
    _edit_before_rating(monkeypatch, edited, Decimal("9"))
    report = batch.rate_pending(sweep=True)
    assert report.rated == 4
    edited.refresh_from_db()
    assert edited.status == UsageStatus.PENDING
    assert list(PendingUsage.objects.values_list("record_id", flat=True)) == [edited.pk]
    monkeypatch.undo()
    assert batch.rate_pending(sweep=False).rated == 1
    edited.refresh_from_db()
    assert edited.amount == (9 * edited.unit_price).quantize(Decimal("0.01"), ROUND_HALF_UP)


@pytest.mark.django_db
def test_a_queue_runner_keeps_entries_of_records_it_could_not_write(monkeypatch):
    """The queue's counterpart: a claimed record edited before the write stays queued."""
    records = _world(customers=1, per_customer=4)
    edited = records[0]
    _edit_before_rating(monkeypatch, edited, Decimal("2"))
    assert batch.rate_pending(sweep=False).rated == 3
    assert list(PendingUsage.objects.values_list("record_id", flat=True)) == [edited.pk]


@pytest.mark.django_db(transaction=True)
def test_a_sweep_beside_a_queue_runner_rates_each_record_once(rating_log):
    """A trigger logs every pending -> rated transition: each record appears exactly once."""
    records = _world(customers=20, per_customer=40)
    sweep = functools.partial(batch.rate_pending, sweep=True, chunk_size=25)
    queue = functools.partial(batch.rate_pending, sweep=False, chunk_size=25)
    _, errors = at_once(sweep, queue)
    assert not errors
    assert rating_log()[:2] == (len(records), len(records))
    assert not UsageRecord.objects.filter(status=UsageStatus.PENDING).exists()
    assert not PendingUsage.objects.exists()


def test_a_sweep_plan_covers_every_partition_in_ranges():
    plan = batch.SweepPlan(relations=(("part_a", 10, 3), ("part_b", 2, 3)))
    assert list(plan.ranges()) == [
        ("part_a", 0, 3),
        ("part_a", 3, 6),
        ("part_a", 6, 9),
        ("part_a", 9, 10),
        ("part_b", 0, 2),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_rate_usage_sweeps_with_worker_processes_taking_turns_at_the_ranges(
    monkeypatch, rating_log
):
    """Two processes rate disjoint ranges of the table; progress adds up; the queue empties."""
    monkeypatch.setattr(batch.sweep, "SWEEP_MIN", 1)
    records = _world(customers=16, per_customer=20)
    out, err = io.StringIO(), io.StringIO()
    call_command("rate_usage", "--workers", "2", "--chunk-size", "1", stdout=out, stderr=err)
    assert f"Rated {len(records)} usage records" in out.getvalue()
    assert f"{len(records)}/{len(records)}" in err.getvalue()
    assert UsageRecord.objects.filter(status=UsageStatus.RATED).count() == len(records)
    assert not PendingUsage.objects.exists()
    assert rating_log() == (len(records), len(records), 2)


@pytest.mark.django_db(transaction=True)
def test_a_record_set_back_to_pending_during_the_clean_up_stays_queued():
    """The clean-up deletes settled entries; a record re-queued meanwhile keeps its new entry.

    One connection sets a settled record back to pending and holds its transaction open while
    the clean-up runs in another, then commits: the record must end up queued.
    """
    [record] = _world(customers=1, per_customer=1)
    UsageRecord.objects.filter(pk=record.pk).update(status=UsageStatus.UNRATED)  # settled
    assert PendingUsage.objects.filter(record=record).exists(), "its old entry is still there"
    updated, commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def requeue() -> None:
        try:
            with transaction.atomic():
                UsageRecord.objects.filter(pk=record.pk).update(status=UsageStatus.PENDING)
                updated.set()
                commit.wait(timeout=10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def clean_up() -> None:
        try:
            batch.sweep.drop_settled()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    requeuer = threading.Thread(target=requeue)
    requeuer.start()
    assert updated.wait(timeout=10)
    cleaner = threading.Thread(target=clean_up)
    cleaner.start()
    cleaner.join(timeout=0.5)  # the clean-up has run, or waits for the open transaction
    commit.set()
    requeuer.join()
    cleaner.join()
    assert not errors
    assert PendingUsage.objects.filter(record=record).exists()


@pytest.mark.django_db(transaction=True)
def test_the_queue_is_emptied_at_once_only_when_nothing_is_pending_and_nobody_uses_it():
    records = _world(customers=1, per_customer=3)
    UsageRecord.objects.filter(pk=records[0].pk).update(status=UsageStatus.UNRATED)
    assert not batch.sweep.empty_settled_queue(), "two records are still pending"
    assert PendingUsage.objects.count() == 3
    UsageRecord.objects.update(status=UsageStatus.UNRATED)
    holding, release = threading.Event(), threading.Event()

    def hold_the_queue() -> None:  # a writer in the middle of its transaction
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("LOCK TABLE pricing_pendingusage IN ROW EXCLUSIVE MODE")
                holding.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    writer = threading.Thread(target=hold_the_queue)
    writer.start()
    try:
        assert holding.wait(timeout=10)
        assert not batch.sweep.empty_settled_queue(), "NOWAIT: someone holds the queue"
    finally:
        release.set()
        writer.join()
    assert PendingUsage.objects.count() == 3
    assert batch.sweep.empty_settled_queue()
    assert not PendingUsage.objects.exists()
