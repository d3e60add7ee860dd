"""Rating as background work (Django's Tasks framework; see ``background`` for the machinery).

Every task takes the id of its :class:`background.models.Work` and is idempotent: rating writes
only records still pending (``pricing.batch``), so a task run twice, or run again after its
worker was killed, rates nothing twice, and an interrupted run leaves the rest pending.
"""

from django.conf import settings
from django.tasks import task

from background.services import Job, run_work, work_start
from groups.csvfile import csv_lines
from pricing import batch, services
from pricing.models import Upload


@task()
def rate_upload(work_id: str) -> dict:
    """Rate the pending records of one upload, then store its counts."""
    return run_work(work_id, _rate_upload)


def _rate_upload(job: Job) -> dict:
    upload = Upload.objects.get(pk=job.params["upload_id"])
    scope = batch.Scope(batch.batch_id_range(upload.batch_key))
    pending = batch.pending_count(scope)
    already = upload.rows - pending
    job.progress(already, upload.rows)
    rated = services.usage_rate_pending(
        batch_key=upload.batch_key,
        chunk_size=settings.RATECARD_RATING_CHUNK,
        progress=lambda done: job.progress(already + done),
        backlog=pending,
    )
    services.upload_refresh_counts(upload=upload)
    job.progress(upload.rows - upload.pending, upload.rows)
    return {"rated": rated, "rows": upload.rows, "unrated": upload.unrated}


@task()
def rate_backlog(work_id: str) -> dict:
    """Rate every pending record: in this task when the backlog is small, otherwise as parts
    by queue range (:func:`rate_backlog_part`), one task each, that the workers share."""
    return run_work(work_id, _rate_backlog)


def _rate_backlog(job: Job) -> dict:
    bounds = batch.queue_bounds()
    if bounds is None:
        job.progress(0, 0)
        return {"rated": 0, "parts": 0}
    pending = batch.pending_count()
    parts = services.backlog_parts(bounds, pending)
    if len(parts) == 1:
        job.progress(0, pending)
        rated = _rate_range(job, bounds)
        return {"rated": rated, "parts": 1}
    for n, (low, high) in enumerate(parts, start=1):
        work_start(
            task=rate_backlog_part,
            title=f"Rating pending usage, part {n} of {len(parts)}",
            params={"low": low, "high": high},
            parent=job.work,
            dedupe_key=f"{services.BACKLOG_KEY}:{low}-{high}",
        )
    job.progress(0, pending)
    return {"parts": len(parts), "pending": pending}


@task()
def rate_backlog_part(work_id: str) -> dict:
    """Rate the pending records of one queue range (inclusive ``low``..``high`` entry ids)."""
    return run_work(work_id, _rate_backlog_part)


def _rate_backlog_part(job: Job) -> dict:
    queue_range = (int(job.params["low"]), int(job.params["high"]))
    pending = batch.pending_count(batch.Scope(queue_range=queue_range))
    job.progress(0, pending)
    return {"rated": _rate_range(job, queue_range)}


def _rate_range(job: Job, queue_range: tuple[int, int]) -> int:
    rated = services.usage_rate_pending(
        queue_range=queue_range,
        chunk_size=settings.RATECARD_RATING_CHUNK,
        progress=job.progress,
    )
    services.uploads_refresh_unfinished()
    return rated


@task()
def export_usage(work_id: str) -> dict:
    """Write a large CSV export of usage records to a file, downloaded when ready."""
    return run_work(work_id, _export_usage)


EXPORT_PROGRESS_EVERY = 10_000


def _export_usage(job: Job) -> dict:
    import tempfile

    from django.core.files import File
    from django.core.files.storage import default_storage
    from django.urls import reverse

    from pricing.forms_usage import UsageFilter
    from pricing.models import UsageRecord

    params = dict(job.params.get("params") or {})
    by_upload = params.get("upload") and not params.get("filter")
    if by_upload:
        queryset = batch.batch_records(params["upload"])
    else:
        params.pop("filter", None)
        filterset = UsageFilter(
            params or None, queryset=UsageRecord.objects.order_by("-occurred_at", "pk")
        )
        valid = filterset.is_bound and filterset.is_valid()
        queryset = filterset.qs if valid else filterset.queryset
    total = queryset.count()
    job.progress(0, total)
    path = f"exports/{job.work.pk}.csv"
    # Run again (at least once), the export is written anew, never appended to.
    if default_storage.exists(path):
        default_storage.delete(path)
    written = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as temporary:
        for line in csv_lines(batch.export_rows(queryset, lines=bool(by_upload))):
            temporary.write(line)
            written += 1
            if written % EXPORT_PROGRESS_EVERY == 0:
                job.progress(written - 1)
        temporary.seek(0)
        saved = default_storage.save(path, File(temporary))
    rows = max(0, written - 1)
    job.progress(rows, rows)
    filename = job.params.get("filename", "usage.csv")
    url = reverse("pricing:usage_export_download", args=[job.work.pk])
    return {
        "path": saved,
        "filename": filename,
        "rows": rows,
        "link": {"url": url, "label": f"Download {filename} ({rows:,} records)", "download": True},
    }


@task()
def preview_impact(work_id: str) -> dict:
    """An impact preview over a large window, its report stored as JSON on the work."""
    return run_work(work_id, _preview_impact)


def _preview_impact(job: Job) -> dict:
    from django.core.exceptions import ValidationError
    from django.http import QueryDict

    from pricing.forms_usage import ImpactForm
    from pricing.impact import impact_preview

    query = QueryDict(mutable=True)
    for name, values in job.params["query"].items():
        query.setlist(name, values)
    form = ImpactForm(query)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        raise ValidationError(f"The draft is no longer valid: {errors}")
    report = impact_preview(
        start=form.cleaned_data["start"],
        end=form.cleaned_data["end"],
        rule=form.rule_draft(),
        membership=form.membership_draft(),
        top=services.IMPACT_CHART_CUSTOMERS,
    )
    return {"report": services.impact_report_json(report)}
