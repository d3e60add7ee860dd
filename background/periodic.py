"""The background app's own periodic jobs: recover work whose worker died, prune old records."""

from datetime import timedelta

from django.conf import settings

from background import schedule, services

WORK_KEPT = timedelta(days=30)
TASK_RESULTS_KEPT = timedelta(days=7)


def recover() -> int:
    return services.work_recover()


def prune() -> int:
    """Old schedule slots, finished work older than 30 days, and the database backend's results
    of finished tasks older than a week (the work records keep what people look at)."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    removed = schedule.prune_slots() + services.work_prune(older_than=WORK_KEPT)
    cutoff = timezone.now() - TASK_RESULTS_KEPT
    deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    return removed + deleted


def register() -> None:
    schedule.every("background.recover", settings.RATECARD_SCHEDULE_SECONDS, recover)
    schedule.every("background.prune", 3600, prune)
