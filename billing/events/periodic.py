"""The schedule's webhook job: enqueue deliveries that are due (retries after backoff)."""

from django.conf import settings

from background import schedule
from billing.events import services


def register() -> None:
    schedule.every(
        "billing.webhooks-due", settings.RATECARD_SCHEDULE_SECONDS, services.deliveries_due
    )
    schedule.every("billing.webhooks-prune", 3600, services.events_prune)
