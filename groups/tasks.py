"""Customer imports as background work (Django's Tasks framework; see ``background``)."""

from django.tasks import task
from django.urls import reverse

from background.services import Job, run_work
from groups import services


@task()
def import_customers(work_id: str) -> dict:
    """Apply a previewed customer import (all or nothing), once however often it runs."""
    return run_work(work_id, _import_customers)


def _import_customers(job: Job) -> dict:
    raw = job.params["csv_text"].encode("utf-8")

    def apply() -> dict:
        plan = services.customer_import_apply(raw=raw, by=job.work.started_by)
        return {
            "summary": services.import_summary(plan),
            "created": len(plan.to_create),
            "updated": len(plan.to_update),
            "memberships_added": plan.memberships_to_add,
            "link": {"url": reverse("groups:customer_list"), "label": "Open the customers"},
        }

    # The import and the record that it happened commit together: a second run finds it.
    return job.once(apply)
