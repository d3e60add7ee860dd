"""Test settings: the project's settings with plain-HTTP, fast hashing and plain static files.

The database still comes from ``DATABASE_URL`` so the same suite runs on SQLite and PostgreSQL.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-" + "x" * 40)
os.environ.setdefault("DJANGO_SECURE", "0")

from billing.settings import *  # noqa: F403
from billing.settings import DATABASES, STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # In-memory test databases need no journal tuning.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
AXES_FAILURE_LIMIT = 5
# Serve static files straight from the finders (no collectstatic before tests, e2e included).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Background work: the database backend as "default" and RQ on Redis database 1 as "rq"; the
# tests of background work run each task through both. Each xdist worker has its own queue, so
# parallel test processes never take each other's jobs.
RATECARD_WORK_QUEUE = "tests-" + os.environ.get("PYTEST_XDIST_WORKER", "main")
REDIS_URL = os.environ.get("RATECARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
# Tasks are declared on "default" and sent to the test queue (``work_enqueue``).
_QUEUES = ["default", RATECARD_WORK_QUEUE]
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": _QUEUES},
    "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": _QUEUES},
}
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600} for name in _QUEUES}
# No heartbeat thread in the test process (its in-memory SQLite database is one connection's);
# the tests with worker processes turn it on in their environment.
RATECARD_WORK_HEARTBEAT_SECONDS = float(os.environ.get("RATECARD_TEST_HEARTBEAT_SECONDS", "0"))
# Files written by background work (exports) go to a temporary folder per test process.
import tempfile  # noqa: E402

MEDIA_ROOT = tempfile.mkdtemp(prefix="ratecard-files-")
