"""Pricing's periodic jobs: new pending usage is rated within a minute of its arrival, and the
usage table's monthly partitions (PostgreSQL) are created months ahead, daily; old
``Idempotency-Key`` answers are forgotten, hourly."""

from django.conf import settings

from background import schedule
from pricing import idempotency, partitions, services
from pricing.clock import billing_today
from pricing.models import PendingUsage


def rate_new_pending() -> None:
    """Start rating the backlog when records are pending and no rating of it is under way."""
    if PendingUsage.objects.exists():
        services.usage_rate_backlog_start()


def usage_partitions_ahead() -> None:
    """This month's partition and the next three exist before a record can need them."""
    partitions.ensure_ahead(billing_today())


def register() -> None:
    schedule.every("pricing.rate-pending", settings.RATECARD_SCHEDULE_SECONDS, rate_new_pending)
    schedule.every("pricing.usage-partitions", 24 * 3600, usage_partitions_ahead)
    schedule.every("pricing.idempotency-prune", 3600, idempotency.prune)
