"""Rating through real worker processes of each backend (PostgreSQL: they share its data).

A worker killed in the middle of rating: its work is taken over by another worker once its
heartbeat goes silent, and the trigger that logs every pending -> rated transition proves that
no record was rated twice. Two workers share a backlog split into parts by queue range.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from background.models import Work, WorkState
from pricing import batch, services
from pricing.models import UsageRecord, UsageStatus
from tests import factories, workers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


@pytest.fixture(params=["db", "rq"])
def backend(request, settings):
    if connection.vendor != "postgresql":
        pytest.skip("worker processes share the test database on PostgreSQL only")
    if request.param == "rq":
        workers.require_redis()
        workers.clear_rq()
        settings.RATECARD_WORK_BACKEND = workers.RQ
    yield request.param
    if request.param == "rq":
        workers.clear_rq()


def _env(backend: str, **extra: str) -> dict:
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": url,
        "RATECARD_TASKS_BACKEND": backend,
        "RATECARD_TEST_HEARTBEAT_SECONDS": "0.3",
        "RATECARD_WORK_STALE_SECONDS": "2",
        "RATECARD_SCHEDULE_SECONDS": "1",
        **extra,
    }


def _workers(backend: str, processes: int, *, scheduler: bool, **extra: str) -> subprocess.Popen:
    command = [sys.executable, MANAGE, "run_worker", "--processes", str(processes)]
    if not scheduler:
        command.append("--no-scheduler")
    return subprocess.Popen(
        command,
        env=_env(backend, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed with all its workers
    )


def _stop(pool: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if pool.poll() is None:
        os.killpg(pool.pid, sig)
    pool.wait(timeout=60)


def _pending_records(count: int) -> None:
    factories.rule(priority=0)
    customers = [factories.customer() for _ in range(10)]
    UsageRecord.objects.bulk_create(
        [
            UsageRecord(
                customer=customers[n % 10],
                billing_category="retail",
                item_code="minute",
                quantity=1,
                occurred_at=timezone.now(),
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def _rated() -> int:
    return UsageRecord.objects.exclude(status=UsageStatus.PENDING).count()


def _wait(condition, timeout: float = 90.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(step)


def test_a_worker_killed_mid_task_is_taken_over_and_nothing_is_rated_twice(backend, rating_log):
    total = 12_000  # one task (parts hold 100,000 records): the one that is killed
    _pending_records(total)
    first = _workers(backend, 1, scheduler=False, RATECARD_RATING_CHUNK="25")
    try:
        work = services.usage_rate_backlog_start()
        _wait(lambda: _rated() > 0)
    finally:
        _stop(first, signal.SIGKILL)  # the machine dies: worker and all
    killed_at = _rated()
    assert 0 < killed_at < total, "killed in the middle of the task"
    work.refresh_from_db()
    assert (work.state, work.attempts) == (WorkState.RUNNING, 1)

    second = _workers(backend, 1, scheduler=True, RATECARD_RATING_CHUNK="2000")
    try:
        _wait(lambda: Work.objects.get(pk=work.pk).finished)
    finally:
        _stop(second)
    work.refresh_from_db()
    assert (work.state, work.attempts) == (WorkState.SUCCEEDED, 2)
    assert batch.pending_count() == 0
    transitions, records, _ = rating_log()
    assert (transitions, records) == (total, total)


def test_two_workers_share_a_backlog_split_by_queue_range(backend, rating_log):
    total = 8_000
    _pending_records(total)
    # The worker that runs the backlog task splits it: parts of 1,000 records.
    pool = _workers(
        backend, 2, scheduler=False, RATECARD_RATING_CHUNK="200", RATECARD_RATING_PART_SIZE="1000"
    )
    try:
        work = services.usage_rate_backlog_start()
        _wait(
            lambda: (
                Work.objects.get(pk=work.pk).finished
                and not Work.objects.filter(parent=work).active().exists()
            )
        )
    finally:
        _stop(pool)
    parts = list(Work.objects.filter(parent=work))
    assert len(parts) == 8
    assert {p.state for p in parts} == {WorkState.SUCCEEDED}
    assert sum(p.result["rated"] for p in parts) == total
    transitions, records, backends = rating_log()
    assert (transitions, records) == (total, total)
    assert backends >= 2, "both workers rated a share"
