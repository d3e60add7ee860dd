"""The record of each piece of background work, and the slots of the periodic schedule.

A task of Django's Tasks framework carries only the id of its :class:`Work` row: the row holds
what to do (``params``), who asked, and what happened, whichever backend (the database or RQ)
runs it, and long after the backend has forgotten the task.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class WorkState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


ACTIVE_STATES = (WorkState.QUEUED, WorkState.RUNNING)


class WorkQuerySet(models.QuerySet):
    def active(self) -> "WorkQuerySet":
        return self.filter(state__in=ACTIVE_STATES)

    def recent(self) -> "WorkQuerySet":
        return self.select_related("started_by").order_by("-created_at", "-pk")


class Work(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_path = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    params = models.JSONField(default=dict, blank=True)
    # At most one active piece of work per key (e.g. "rate the backlog", "rate upload X").
    dedupe_key = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=WorkState.choices, default=WorkState.QUEUED)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="parts"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    backend = models.CharField(max_length=32, blank=True)
    task_result_id = models.CharField(max_length=64, blank=True)

    objects = WorkQuerySet.as_manager()

    class Meta:
        verbose_name = "background work"
        verbose_name_plural = "background work"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="background_work_state_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(state__in=["queued", "running"]) & ~Q(dedupe_key=""),
                name="background_work_one_active_per_key",
            ),
            models.CheckConstraint(
                condition=Q(progress_done__gte=0), name="background_work_progress_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def finished(self) -> bool:
        return self.state in (WorkState.SUCCEEDED, WorkState.FAILED)

    @property
    def percent(self) -> int | None:
        """Progress as a whole percentage, or None while the size of the work is unknown."""
        if self.state == WorkState.SUCCEEDED:
            return 100
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def duration(self):
        """How long it ran (so far), or None before it started."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class ScheduleSlot(models.Model):
    """One run of a periodic job: the first scheduler to insert ``(name, due_at)`` runs it.

    Every worker host runs a scheduler; the unique constraint makes each period's run happen once.
    """

    name = models.CharField(max_length=100)
    due_at = models.DateTimeField()
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "due_at"], name="background_slot_once"),
        ]
        indexes = [models.Index(F("due_at").asc(), name="background_slot_due_idx")]

    def __str__(self) -> str:
        return f"{self.name} @ {self.due_at:%Y-%m-%d %H:%M:%S}"
