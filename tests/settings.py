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
