"""Reads of background work for its pages: one piece's status (with its parts), recent work."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, Sum

from background.models import Work, WorkQuerySet, WorkState


@dataclass
class WorkStatus:
    """A piece of work as its pages show it: its parts (a backlog split by range) added up."""

    work: Work
    state: str
    done: int
    total: int | None
    parts: int = 0
    parts_done: int = 0
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in (WorkState.SUCCEEDED, WorkState.FAILED)

    @property
    def percent(self) -> int | None:
        if self.state == WorkState.SUCCEEDED:
            return 100
        if not self.total:
            return None
        return min(100, int(100 * self.done / self.total))

    @property
    def state_label(self) -> str:
        return WorkState(self.state).label

    @property
    def duration(self) -> timedelta | None:
        return self.work.duration


def work_status(work: Work) -> WorkStatus:
    """The work's state and progress; work split into parts is running until every part is
    finished, and failed if one failed (one aggregate query over the parts)."""
    status = WorkStatus(
        work=work,
        state=work.state,
        done=work.progress_done,
        total=work.progress_total,
        error=work.error,
    )
    if work.state != WorkState.SUCCEEDED or not isinstance(work.result, dict):
        return status
    if not work.result.get("parts") or work.result.get("parts") == 1:
        return status
    parts = work.parts.aggregate(
        count=Count("pk"),
        active=Count("pk", filter=Q(state__in=[WorkState.QUEUED, WorkState.RUNNING])),
        failed=Count("pk", filter=Q(state=WorkState.FAILED)),
        done=Sum("progress_done"),
    )
    status.parts = parts["count"]
    status.parts_done = parts["count"] - parts["active"]
    status.done = parts["done"] or 0
    if parts["active"]:
        status.state = WorkState.RUNNING
    elif parts["failed"]:
        status.state = WorkState.FAILED
        status.error = f"{parts['failed']} of {parts['count']} parts failed."
    return status


def work_get(pk) -> Work | None:
    return Work.objects.select_related("started_by").filter(pk=pk).first()


def recent_work(*, state: str = "") -> WorkQuerySet:
    """Top-level work, newest first, with who started it (parts show on their parent's page)."""
    queryset = Work.objects.recent().filter(parent=None)
    if state in WorkState.values:
        queryset = queryset.filter(state=state)
    return queryset
