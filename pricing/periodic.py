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
    register_changesets()


def publish_due_changesets() -> None:
    """The safety net of scheduled publishing: changesets whose instant has come are published
    even if their deferred task was lost."""
    from pricing.changesets.publish import publish_due

    publish_due()


def register_changesets() -> None:
    schedule.every(
        "pricing.changesets-due", settings.RATECARD_SCHEDULE_SECONDS, publish_due_changesets
    )
