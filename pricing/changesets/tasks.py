"""Changesets' background work: a scheduled publication, and the impact gate over a window.

Both idempotent: publishing a changeset that is already published (or no longer scheduled, or
not yet due) does nothing; an impact report is recomputed whole.
"""

from django.tasks import task

from background.services import Job, run_work


@task()
def publish_changeset(work_id: str) -> dict:
    """Publish one scheduled changeset at its instant (the work is deferred to it)."""
    return run_work(work_id, _publish)


def _publish(job: Job) -> dict:
    from pricing.changesets.publish import publish_one_scheduled
    from pricing.models import Changeset

    changeset = Changeset.objects.filter(pk=job.params["changeset_id"]).first()
    if changeset is None:
        return {"published": False, "reason": "gone"}
    published = publish_one_scheduled(changeset=changeset)
    changeset.refresh_from_db()
    return {"published": published, "state": changeset.state}


@task()
def changeset_impact(work_id: str) -> dict:
    """The impact gate of a changeset over a window of stored usage."""
    return run_work(work_id, _impact)


def _impact(job: Job) -> dict:
    from pricing.changesets.impact import run_impact_job

    return run_impact_job(job)
