"""WSGI entry point (gunicorn billing.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings")
application = get_wsgi_application()

from billing.checks import require_secret_key  # noqa: E402 (needs settings configured)

require_secret_key()
