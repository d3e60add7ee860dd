"""Starting, running and recovering background work (every write to ``Work`` is here).

At least once: a task may run twice (a backend delivers it again, the scheduler re-enqueues work
whose worker died), so every task body is idempotent, and :func:`run_work` skips work that is
finished or that a live worker is running. How it fits together:

- :func:`work_start` records the work and enqueues its task when the transaction commits, so a
  rolled-back change starts nothing; the task carries only the work's id.
- :func:`run_work` (the body of every task) claims the work, runs it with a heartbeat thread
  that writes progress every ``RATECARD_WORK_HEARTBEAT_SECONDS``, and records the result or
  the error.
- :func:`work_recover` (the scheduler calls it) enqueues again the work whose heartbeat stopped
  (its worker was killed) or that never reached the backend (enqueue failed).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.tasks import Task
from django.utils import timezone
from django.utils.module_loading import import_string

from background.models import Work, WorkState

logger = logging.getLogger(__name__)

WORK_GAVE_UP = "Stopped after {attempts} attempts: the worker running it stopped each time."
WORK_NOT_A_TASK = "“{path}” is not a task."
WORK_DATABASE_LOST = "The database connection was lost; it will be tried again."
# Work queued this long without reaching the backend is enqueued again by the scheduler.
UNSENT_GRACE = timedelta(seconds=10)


class Job:
    """What a task body receives: the work's parameters and a way to report progress.

    Progress is kept in memory and written by the heartbeat thread (on its own connection, so
    it shows while the body's transaction is open), and once more at the end.
    """

    def __init__(self, work: Work) -> None:
        self.work = work
        self.params: dict[str, Any] = work.params or {}
        self.done = work.progress_done or 0
        self.total = work.progress_total

    def progress(self, done: int, total: int | None = None) -> None:
        self.done = max(0, int(done))
        if total is not None:
            self.total = int(total)

    def once(self, apply: Callable[[], dict]) -> dict:
        """Run ``apply`` (a write that must not happen twice) and store its result on the work
        in the same transaction: a later attempt of the same work returns that result instead.
        """
        with transaction.atomic():
            work = Work.objects.select_for_update().get(pk=self.work.pk)
            if work.result is not None:
                return work.result
            result = apply()
            Work.objects.filter(pk=work.pk).update(result=result)
        return result


def _user(by) -> AbstractBaseUser | None:
    return by if by is not None and getattr(by, "is_authenticated", False) else None


def work_start(
    *,
    task: Task,
    title: str,
    params: dict | None = None,
    by=None,
    dedupe_key: str = "",
    parent: Work | None = None,
    total: int | None = None,
) -> Work:
    """Record a piece of work and enqueue its task when the current transaction commits.

    With a ``dedupe_key``, work already queued or running under that key is returned instead
    of starting another (a partial unique constraint decides between concurrent starts).
    """
    if dedupe_key:
        existing = Work.objects.active().filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    work = Work(
        task_path=task.module_path,
        title=title[:200],
        params=params or {},
        started_by=_user(by),
        dedupe_key=dedupe_key,
        parent=parent,
        progress_total=total,
        # Parts go where their parent went (a worker of the same backend started them).
        backend=parent.backend if parent is not None else settings.RATECARD_WORK_BACKEND,
    )
    work.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            work.save(force_insert=True)
    except IntegrityError:
        active = Work.objects.active()
        existing = active.filter(dedupe_key=dedupe_key).first() if dedupe_key else None
        if existing is None:
            raise
        return existing
    transaction.on_commit(partial(work_enqueue, work_id=work.pk))
    return work


def _task_for(work: Work) -> Task:
    task = import_string(work.task_path)
    # A task of Django's framework, or of django-tasks (the class RQ's backend makes): the same
    # interface.
    if not (callable(getattr(task, "enqueue", None)) and callable(getattr(task, "using", None))):
        raise TypeError(WORK_NOT_A_TASK.format(path=work.task_path))
    options = {}
    if (work.params or {}).get("run_after"):  # deferred work (a scheduled publication)
        options["run_after"] = datetime.fromisoformat(work.params["run_after"])
    return task.using(
        backend=work.backend or settings.RATECARD_WORK_BACKEND,
        queue_name=settings.RATECARD_WORK_QUEUE,
        **options,
    )


def work_enqueue(*, work_id) -> bool:
    """Hand the work to its backend (again). False when it is finished or the backend failed;
    the scheduler then tries again (:func:`work_recover`)."""
    work = Work.objects.filter(pk=work_id).first()
    if work is None or work.finished:
        return False
    try:
        result = _task_for(work).enqueue(work_id=str(work.pk))
    except Exception:
        logger.exception("Could not enqueue %s (%s); the scheduler will retry", work.pk, work)
        return False
    Work.objects.filter(pk=work.pk).update(
        task_result_id=str(result.id)[:64], enqueued_at=timezone.now()
    )
    return True


def _claim(work_id) -> Work | None:
    """Mark the work running for this attempt; None when there is nothing to do.

    Finished work is skipped (a second delivery of the task); so is running work whose heartbeat
    is fresh (another worker is on it). Work whose worker died is taken over.
    """
    now = timezone.now()
    fresh_after = now - timedelta(seconds=settings.RATECARD_WORK_STALE_SECONDS)
    with transaction.atomic():
        work = Work.objects.select_for_update().filter(pk=work_id).first()
        if work is None or work.finished:
            return None
        if (
            work.state == WorkState.RUNNING
            and work.heartbeat_at is not None
            and work.heartbeat_at > fresh_after
        ):
            return None
        if work.attempts >= settings.RATECARD_WORK_MAX_ATTEMPTS:
            work.state = WorkState.FAILED
            work.finished_at = now
            work.error = WORK_GAVE_UP.format(attempts=work.attempts)
            work.save(update_fields=["state", "finished_at", "error"])
            return None
        work.state = WorkState.RUNNING
        work.attempts += 1
        work.started_at = work.started_at or now
        work.heartbeat_at = now
        work.error = ""
        work.save(update_fields=["state", "attempts", "started_at", "heartbeat_at", "error"])
    return work


class _Heartbeat(threading.Thread):
    """Writes ``heartbeat_at`` and the job's progress every ``interval`` seconds until stopped.

    Its own database connection: the body's open transaction neither hides nor blocks it (on
    PostgreSQL; SQLite serialises writers and the beat waits its turn). A worker process that
    dies takes the thread with it, and the silence is what :func:`work_recover` looks for.
    """

    def __init__(self, work: Work, job: Job, interval: float) -> None:
        super().__init__(name=f"heartbeat-{work.pk}", daemon=True)
        self.work_id, self.attempt, self.job, self.interval = work.pk, work.attempts, job, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    Work.objects.filter(
                        pk=self.work_id, attempts=self.attempt, state=WorkState.RUNNING
                    ).update(
                        heartbeat_at=timezone.now(),
                        progress_done=self.job.done,
                        progress_total=self.job.total,
                    )
                except DatabaseError:
                    logger.warning("heartbeat of %s failed", self.work_id, exc_info=True)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def _finish(work: Work, job: Job, **fields) -> None:
    Work.objects.filter(pk=work.pk, attempts=work.attempts, state=WorkState.RUNNING).update(
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
        progress_done=job.done,
        progress_total=job.total,
        **fields,
    )


def run_work(work_id: str, body: Callable[[Job], dict | None]) -> dict:
    """Run ``body`` for the work ``work_id`` once more (the body of every task).

    Returns the body's result (a JSON-able dict, also stored on the work), or ``{"skipped":
    True}`` when the work is finished or running elsewhere. An exception marks the work failed
    and is raised again for the backend to record; a lost database connection puts the work back
    in the queue instead (the scheduler enqueues it again).
    """
    work = _claim(work_id)
    if work is None:
        return {"skipped": True}
    job = Job(work)
    interval = settings.RATECARD_WORK_HEARTBEAT_SECONDS
    heartbeat = _Heartbeat(work, job, interval) if interval > 0 else None
    if heartbeat is not None:
        heartbeat.start()
    try:
        result = body(job) or {}
    except (OperationalError, InterfaceError) as exc:
        _stop(heartbeat)
        logger.warning("%s lost its database connection: %s", work, exc)
        for conn in connections.all(initialized_only=True):
            conn.close_if_unusable_or_obsolete()
        # Still down: the heartbeat goes stale and the scheduler recovers the work.
        with contextlib.suppress(DatabaseError):
            _finish(work, job, state=WorkState.QUEUED, task_result_id="", error=WORK_DATABASE_LOST)
        raise
    except BaseException as exc:
        _stop(heartbeat)
        error = "".join(traceback.format_exception_only(exc)).strip()
        _finish(work, job, state=WorkState.FAILED, error=error[:4000])
        raise
    _stop(heartbeat)
    _finish(work, job, state=WorkState.SUCCEEDED, result=result)
    return result


def _stop(heartbeat: _Heartbeat | None) -> None:
    if heartbeat is not None:
        heartbeat.stop()


def _queue_outside_database(alias: str) -> bool:
    """True for a backend whose queue lives outside this database (RQ: Redis can lose it)."""
    from django.tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend

    try:
        return not isinstance(
            task_backends[alias or settings.RATECARD_WORK_BACKEND], DatabaseBackend
        )
    except Exception:
        return False


def work_recover(*, now=None) -> int:
    """Enqueue again the work whose worker died, and the work whose task may be lost.

    Running work with a heartbeat older than ``RATECARD_WORK_STALE_SECONDS`` lost its worker;
    it is enqueued once per such period (not at every tick), and given up after
    ``RATECARD_WORK_MAX_ATTEMPTS`` attempts. Queued work that never reached its backend (the
    enqueue failed) is sent again, and so is work queued in Redis for longer than
    ``RATECARD_WORK_REQUEUE_SECONDS`` (a restarted Redis forgets its queue; a duplicate finds
    the work done and skips). Returns how many were enqueued.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.RATECARD_WORK_STALE_SECONDS)
    orphaned = Work.objects.filter(state=WorkState.RUNNING, heartbeat_at__lt=stale).exclude(
        enqueued_at__gt=stale
    )
    unsent = Work.objects.filter(
        state=WorkState.QUEUED, task_result_id="", created_at__lt=now - UNSENT_GRACE
    ).exclude(enqueued_at__gt=stale)
    waited = now - timedelta(seconds=settings.RATECARD_WORK_REQUEUE_SECONDS)
    waiting = [
        work
        for work in Work.objects.filter(state=WorkState.QUEUED, enqueued_at__lt=waited)
        .exclude(task_result_id="")
        .only("pk", "attempts", "backend")
        if _queue_outside_database(work.backend)
    ]
    count = 0
    candidates = [*orphaned.only("pk", "attempts"), *unsent.only("pk", "attempts"), *waiting]
    for work in candidates:
        if work.attempts >= settings.RATECARD_WORK_MAX_ATTEMPTS:
            Work.objects.filter(pk=work.pk, state__in=[WorkState.RUNNING, WorkState.QUEUED]).update(
                state=WorkState.FAILED,
                finished_at=now,
                error=WORK_GAVE_UP.format(attempts=work.attempts),
            )
            continue
        count += work_enqueue(work_id=work.pk)
    return count


def work_prune(*, older_than: timedelta) -> int:
    """Delete finished work (and its parts) older than ``older_than``."""
    cutoff = timezone.now() - older_than
    deleted, _ = Work.objects.filter(
        state__in=[WorkState.SUCCEEDED, WorkState.FAILED], finished_at__lt=cutoff, parent=None
    ).delete()
    return deleted
