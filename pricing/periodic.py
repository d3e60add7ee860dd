"""Pricing's periodic job: new pending usage is rated within a minute of its arrival."""

from django.conf import settings

from background import schedule
from pricing import services
from pricing.models import PendingUsage


def rate_new_pending() -> None:
    """Start rating the backlog when records are pending and no rating of it is under way."""
    if PendingUsage.objects.exists():
        services.usage_rate_backlog_start()


def register() -> None:
    schedule.every("pricing.rate-pending", settings.RATECARD_SCHEDULE_SECONDS, rate_new_pending)
