"""Background work through both real backends: recorded, run at least once, idempotent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from background import schedule, services
from background.models import ScheduleSlot, Work, WorkState
from pricing import batch, tasks
from pricing import services as pricing_services
from pricing.models import UsageRecord, UsageStatus
from tests import factories
from tests.workers import drain


def _pending(n: int, customer=None) -> None:
    customer = customer or factories.customer()
    for _ in range(n):
        factories.usage(customer)


@pytest.fixture
def priced(db):
    factories.rule(priority=0)
    return factories.customer()


def test_work_started_in_a_rolled_back_transaction_never_runs(
    work_backend, priced, django_capture_on_commit_callbacks
):
    """Enqueueing waits for the commit: nothing reaches the backend when the change is undone."""
    from django.db import transaction

    _pending(3, priced)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                pricing_services.usage_rate_backlog_start()
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not Work.objects.exists()
    assert drain(work_backend) == 0


def test_the_backlog_is_rated_by_a_task_and_a_second_run_changes_nothing(
    work_backend, priced, manager, django_capture_on_commit_callbacks
):
    """Rating the backlog runs as background work; delivering its task twice rates nothing
    twice (the second run sees finished work and skips)."""
    _pending(30, priced)
    with django_capture_on_commit_callbacks(execute=True):
        work = pricing_services.usage_rate_backlog_start(by=manager)
    assert services.work_enqueue(work_id=work.pk)  # a second delivery of the same work
    assert drain(work_backend) == 2
    work.refresh_from_db()
    assert work.state == WorkState.SUCCEEDED
    assert work.result == {"rated": 30, "parts": 1}
    assert (work.progress_done, work.progress_total, work.attempts) == (30, 30, 1)
    assert work.started_by == manager
    assert work.finished_at >= work.started_at
    assert batch.pending_count() == 0
    assert UsageRecord.objects.filter(status=UsageStatus.RATED).count() == 30
    # Running the task's function once more is harmless too.
    assert tasks.rate_backlog.call(work_id=str(work.pk)) == {"skipped": True}


def test_a_large_backlog_is_split_into_parts_by_queue_range(
    run_queue, priced, settings, django_capture_on_commit_callbacks
):
    """Parts of RATECARD_RATING_PART_SIZE records, one task each, cover the queue once."""
    settings.RATECARD_RATING_PART_SIZE = 10
    _pending(35, priced)
    with django_capture_on_commit_callbacks(execute=True):
        work = pricing_services.usage_rate_backlog_start()
    assert run_queue() == 5
    work.refresh_from_db()
    assert work.result == {"parts": 4, "pending": 35}
    parts = list(work.parts.order_by("params__low"))
    assert len(parts) == 4
    assert all(part.state == WorkState.SUCCEEDED for part in parts)
    assert sum(part.result["rated"] for part in parts) == 35
    lows = [p.params["low"] for p in parts]
    highs = [p.params["high"] for p in parts]
    assert all(high + 1 == low for high, low in zip(highs, lows[1:], strict=False))
    assert batch.pending_count() == 0


def test_only_one_backlog_rating_is_under_way_at_a_time(priced, django_capture_on_commit_callbacks):
    """Starting the backlog twice (two managers, or the schedule and a manager) gives one work."""
    _pending(5, priced)
    first = pricing_services.usage_rate_backlog_start()
    second = pricing_services.usage_rate_backlog_start()
    assert first.pk == second.pk
    assert Work.objects.count() == 1


def test_nothing_pending_starts_nothing(db):
    assert pricing_services.usage_rate_backlog_start() is None


def test_a_failing_task_records_its_error(work_backend, db, django_capture_on_commit_callbacks):
    """An exception marks the work failed with the error; the backend records a failure too."""
    with django_capture_on_commit_callbacks(execute=True):
        work = services.work_start(
            task=tasks.rate_upload, title="Rating nothing", params={"upload_id": "missing"}
        )
    drain(work_backend)
    work.refresh_from_db()
    assert work.state == WorkState.FAILED
    assert "ValidationError" in work.error or "DoesNotExist" in work.error


def test_work_whose_worker_died_is_enqueued_again_and_then_finished(
    work_backend, priced, settings, django_capture_on_commit_callbacks
):
    """A running work whose heartbeat went silent is taken over by the next run."""
    _pending(4, priced)
    with django_capture_on_commit_callbacks(execute=True):
        work = pricing_services.usage_rate_backlog_start()
    drain(work_backend)  # runs it; now pretend an earlier attempt died instead
    long_ago = timezone.now() - timedelta(seconds=settings.RATECARD_WORK_STALE_SECONDS + 5)
    Work.objects.filter(pk=work.pk).update(
        state=WorkState.RUNNING, heartbeat_at=long_ago, enqueued_at=long_ago, finished_at=None
    )
    _pending(2, priced)
    assert services.work_recover() == 1
    assert services.work_recover() == 0, "enqueued once per stale period"
    drain(work_backend)
    work.refresh_from_db()
    assert (work.state, work.attempts) == (WorkState.SUCCEEDED, 2)
    assert batch.pending_count() == 0


def test_running_work_with_a_fresh_heartbeat_is_not_run_twice(priced):
    _pending(2, priced)
    work = pricing_services.usage_rate_backlog_start()
    Work.objects.filter(pk=work.pk).update(state=WorkState.RUNNING, heartbeat_at=timezone.now())
    assert tasks.rate_backlog.call(work_id=str(work.pk)) == {"skipped": True}
    assert batch.pending_count() == 2


def test_work_is_given_up_after_the_maximum_attempts(priced, settings):
    settings.RATECARD_WORK_MAX_ATTEMPTS = 2
    _pending(1, priced)
    work = pricing_services.usage_rate_backlog_start()
    long_ago = timezone.now() - timedelta(hours=1)
    Work.objects.filter(pk=work.pk).update(
        state=WorkState.RUNNING, attempts=2, heartbeat_at=long_ago
    )
    assert services.work_recover() == 0
    work.refresh_from_db()
    assert work.state == WorkState.FAILED
    assert work.error == services.WORK_GAVE_UP.format(attempts=2)


def test_the_schedule_runs_each_period_once_across_schedulers(db, monkeypatch):
    """Two schedulers (two hosts) in the same period: the job runs once; next period again."""
    calls = []
    monkeypatch.setattr(schedule, "REGISTRY", {})
    schedule.every("test.job", 20, lambda: calls.append(1))
    now = timezone.now()
    one, two = schedule.Scheduler(), schedule.Scheduler()
    assert one.run_due(now) == ["test.job"]
    assert two.run_due(now) == []
    assert one.run_due(now) == []
    assert two.run_due(now + timedelta(seconds=20)) == ["test.job"]
    assert len(calls) == 2
    assert ScheduleSlot.objects.filter(name="test.job").count() == 2


def test_the_schedule_starts_rating_new_pending_records(
    work_backend, priced, django_capture_on_commit_callbacks
):
    """The periodic job finds pending records and rates them through a task."""
    from pricing import periodic

    _pending(3, priced)
    with django_capture_on_commit_callbacks(execute=True):
        periodic.rate_new_pending()
    drain(work_backend)
    assert batch.pending_count() == 0
    assert Work.objects.get().state == WorkState.SUCCEEDED


def test_work_queued_in_redis_too_long_is_sent_again_but_not_on_the_database(
    work_backend, priced, settings, django_capture_on_commit_callbacks
):
    """Redis may forget its queue (a restart): long-queued work is enqueued again there; the
    database backend's queue is the database itself and is left alone."""
    _pending(2, priced)
    with django_capture_on_commit_callbacks(execute=True):
        work = pricing_services.usage_rate_backlog_start()
    long_ago = timezone.now() - timedelta(seconds=settings.RATECARD_WORK_REQUEUE_SECONDS + 5)
    Work.objects.filter(pk=work.pk).update(enqueued_at=long_ago)
    expected = 1 if work_backend == "rq" else 0
    assert services.work_recover() == expected
    drain(work_backend)
    work.refresh_from_db()
    assert work.state == WorkState.SUCCEEDED
    assert batch.pending_count() == 0
