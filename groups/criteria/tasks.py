"""Refreshing criteria groups as background work."""

from django.tasks import task
from django.urls import reverse

from background.services import Job, run_work
from groups.criteria import refresh
from groups.criteria.models import GroupCriteria


@task()
def refresh_group(work_id: str) -> dict:
    """Refresh one criteria group (idempotent: a second run finds nothing to change)."""
    return run_work(work_id, _refresh_group)


def _refresh_group(job: Job) -> dict:
    criteria = GroupCriteria.objects.filter(group_id=job.params["group_id"]).first()
    job.progress(0, 1)
    if criteria is None:
        return {"joined": 0, "left": 0, "skipped": "no criteria"}
    result = refresh.refresh(criteria)
    job.progress(1, 1)
    url = reverse("groups:group_detail", args=[criteria.group_id])
    return {**result, "link": {"url": url, "label": "Open the group"}}
