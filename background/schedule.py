"""The periodic schedule: jobs that run every few seconds on whichever worker host gets there first.

Apps register their periodic jobs in ``AppConfig.ready`` (``schedule.every(...)``). Each worker
host's ``run_worker`` calls :func:`run_due` about once a second; for each job whose period has
started, the first host to insert the period's :class:`ScheduleSlot` runs it, the others see the
unique constraint and skip. Periodic jobs are short (they look for work and start tasks), so they
run in the scheduler's own process and never wait behind a long task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from background.models import ScheduleSlot

logger = logging.getLogger(__name__)

SLOTS_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class Periodic:
    name: str
    seconds: float
    run: Callable[[], object]


REGISTRY: dict[str, Periodic] = {}


def every(name: str, seconds: float, run: Callable[[], object]) -> None:
    """Register (or replace) a periodic job."""
    REGISTRY[name] = Periodic(name=name, seconds=max(float(seconds), 1.0), run=run)


def slot_of(periodic: Periodic, now: datetime) -> datetime:
    """The start of the period ``now`` falls in (periods are aligned on the Unix epoch)."""
    start = (now.timestamp() // periodic.seconds) * periodic.seconds
    return datetime.fromtimestamp(start, tz=UTC)


class Scheduler:
    """Runs the registered jobs when their period starts, once across every host."""

    def __init__(self) -> None:
        self.claimed: dict[str, datetime] = {}

    def run_due(self, now: datetime | None = None) -> list[str]:
        """Run each job whose current period this process has not seen yet and that no other
        scheduler claimed; returns the names of the jobs this call ran."""
        now = now or timezone.now()
        ran = []
        for periodic in list(REGISTRY.values()):
            slot = slot_of(periodic, now)
            if self.claimed.get(periodic.name) == slot:
                continue
            self.claimed[periodic.name] = slot
            if not _claim(periodic.name, slot):
                continue
            try:
                periodic.run()
            except Exception:
                logger.exception("periodic job %s failed", periodic.name)
                continue
            ran.append(periodic.name)
        return ran


def _claim(name: str, slot: datetime) -> bool:
    try:
        with transaction.atomic():
            ScheduleSlot.objects.create(name=name, due_at=slot)
    except IntegrityError:
        return False
    except DatabaseError:
        logger.warning("schedule: could not claim %s", name, exc_info=True)
        return False
    return True


def prune_slots() -> int:
    deleted, _ = ScheduleSlot.objects.filter(due_at__lt=timezone.now() - SLOTS_KEPT).delete()
    return deleted
