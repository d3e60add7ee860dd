"""Running background work in tests through the real backends, in this process.

``drain(alias)`` runs every task queued for the test queue with the backend's own worker: the
database backend's ``db_worker`` loop (``django_tasks_db``) or an RQ ``SimpleWorker`` on Redis
(``django_tasks_rq``), until none is left. The tasks run on this process's database connection,
so they see the test's data; enqueueing happens on commit, so tests start work inside
``django_capture_on_commit_callbacks(execute=True)``.
"""

import socket
import threading
from urllib.parse import urlparse

from django.conf import settings

DB, RQ = "default", "rq"


def redis_available() -> bool:
    url = urlparse(settings.REDIS_URL)
    try:
        with socket.create_connection((url.hostname, url.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


def require_redis() -> None:
    """Skip without Redis on a developer's machine; fail in CI (``CI`` set), which starts it."""
    import os

    import pytest

    if redis_available():
        return
    message = f"Redis is not running at {settings.REDIS_URL}"
    if os.environ.get("CI"):
        pytest.fail(message + " (.ci/run starts it)")
    pytest.skip(message)


def rq_queue():
    import django_rq
    from django_tasks_rq.backend import Job

    return django_rq.get_queue(settings.RATECARD_WORK_QUEUE, job_class=Job)


def clear_rq() -> None:
    """Delete this test process's RQ queue, its registries and their jobs (its keys only)."""
    queue = rq_queue()
    registries = (
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
    )
    ids = set(queue.get_job_ids())
    for registry in registries:
        ids.update(registry.get_job_ids())
    keys = [queue.key, *(registry.key for registry in registries)]
    for job_id in ids:
        keys += [queue.job_class.key_for(job_id), f"rq:results:{job_id}"]
    queue.connection.delete(*keys)


# Held while the browser tests' live server answers a request (tests/e2e/conftest.py) and while
# drain() runs tasks: on SQLite both use the test's one in-memory connection, and a page still
# polling when a test drains the queue would use it at the same time ("bad parameter or other
# API misuse", after which every later request on it fails).
SHARED_CONNECTION = threading.RLock()


def drain(alias: str) -> int:
    """Run the queued tasks of ``alias`` until the queue is empty; returns how many ran."""
    with SHARED_CONNECTION:
        return _drain(alias)


def _drain(alias: str) -> int:
    if alias == RQ:
        from rq.worker import SimpleWorker

        queue = rq_queue()
        before = queue.finished_job_registry.count + queue.failed_job_registry.count
        worker = SimpleWorker([queue], connection=queue.connection, job_class=queue.job_class)
        worker.work(burst=True, with_scheduler=False)
        return queue.finished_job_registry.count + queue.failed_job_registry.count - before
    from unittest import mock

    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.models import DBTaskResult

    before = DBTaskResult.objects.finished().count()
    worker = db_worker.Worker(
        queue_names=[settings.RATECARD_WORK_QUEUE],
        interval=0,
        batch=True,
        backend_name=DB,
        startup_delay=False,
        max_tasks=None,
        worker_id="tests",
        excluded_queue_names=[],
    )
    # The worker closes stale connections between tasks, as a request would; inside the
    # test's transaction that would close the test's own connection.
    with mock.patch.object(db_worker, "close_old_connections", return_value=None):
        worker.run()
    return DBTaskResult.objects.finished().count() - before
