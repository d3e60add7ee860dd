"""The impact gate: what a changeset would do to a window of stored usage, and the audit
findings it would introduce. Small windows run in the request; larger ones as background work
with progress (``RATECARD_IMPACT_INLINE_RECORDS``), the report kept on the changeset."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from pricing.changesets.proposed import introduced_findings, proposal
from pricing.clock import billing_today, billing_tz
from pricing.impact import impact_between
from pricing.models import Changeset, UsageRecord

DEFAULT_DAYS = 30
TOP = 20


def default_window() -> tuple[date, date]:
    """The last 30 days, today included (billing time zone)."""
    today = billing_today()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def _window_records(start: date, end: date, limit: int) -> int:
    tz = billing_tz()
    low = datetime.combine(start, time.min, tzinfo=tz)
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    window = UsageRecord.objects.filter(occurred_at__gte=low, occurred_at__lt=high).order_by()
    return window[: limit + 1].count()


def compute(changeset: Changeset, start: date, end: date, progress=None) -> dict:
    """The gate's report as JSON (stored on the changeset as well as returned)."""
    from pricing.services import impact_report_json

    prop = proposal(changeset)
    report = impact_between(
        start=start,
        end=end,
        before=prop.before,
        after=prop.after,
        categories=prop.categories,
        top=TOP,
        progress=progress,
    )
    data = {
        "computed_at": timezone.now().isoformat(),
        "categories": prop.categories,
        "report": impact_report_json(report),
        "findings": [
            {"kind": f.kind, "label": f.label, "rules": list(f.rules)}
            for f in introduced_findings(prop)
        ],
    }
    Changeset.objects.filter(pk=changeset.pk).update(impact_report=data)
    return data


def impact_start(*, changeset: Changeset, start: date, end: date, by=None) -> Changeset:
    """Run the gate now for a small window, or start background work for a large one."""
    from background.services import work_start
    from pricing.changesets import tasks

    if _window_records(start, end, settings.RATECARD_IMPACT_INLINE_RECORDS) <= (
        settings.RATECARD_IMPACT_INLINE_RECORDS
    ):
        compute(changeset, start, end)
        Changeset.objects.filter(pk=changeset.pk).update(impact_work=None)
    else:
        work = work_start(
            task=tasks.changeset_impact,
            title=f"Impact of changeset “{changeset.title}” {start} to {end}",
            params={
                "changeset_id": str(changeset.pk),
                "start": start.isoformat(),
                "end": end.isoformat(),
            },
            by=by,
        )
        Changeset.objects.filter(pk=changeset.pk).update(impact_work=work, impact_report=None)
    changeset.refresh_from_db()
    return changeset


def run_impact_job(job) -> dict:
    """The task's body: recompute the whole report (idempotent)."""
    changeset = Changeset.objects.get(pk=job.params["changeset_id"])
    data = compute(
        changeset,
        date.fromisoformat(job.params["start"]),
        date.fromisoformat(job.params["end"]),
        progress=job.progress,
    )
    report = data["report"]
    return {
        "summary": f"{report['records']:,} records re-rated, {report['changed']:,} would change; "
        f"{len(data['findings'])} new audit findings."
    }
