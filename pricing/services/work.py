"""Rating and impact previews as background work."""

import math
import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from groups.models import Customer
from pricing import batch
from pricing.models import (
    Upload,
)

User = AbstractBaseUser

# --- Rating as background work ---------------------------------------------------------------

BACKLOG_KEY = "usage:backlog"


def upload_rate(*, upload: Upload, by: User | None = None):
    """Start (or return the running) background work that rates an upload's pending records.

    The rating carries on when the browser is closed; its progress is the work's.
    """
    from background.services import work_start
    from pricing import tasks

    work = work_start(
        task=tasks.rate_upload,
        title=f"Rating {upload.file_name}",
        params={"upload_id": str(upload.pk)},
        by=by,
        dedupe_key=f"usage:upload:{upload.batch_key}",
        total=upload.pending,
    )
    if upload.work_id != work.pk:
        Upload.objects.filter(pk=upload.pk).update(work=work)
        upload.work = work
    return work


def usage_rate_backlog_start(*, by: User | None = None):
    """Start background work rating every pending record, unless some is already under way.

    Returns the work (new or already running), or None when nothing is pending. A large backlog
    is split into parts by queue range (``RATECARD_RATING_PART_SIZE`` records each) so that
    every worker takes a share.
    """
    from background.models import Work
    from background.services import work_start
    from pricing import tasks

    running = (
        Work.objects.active()
        .filter(dedupe_key__startswith=BACKLOG_KEY)
        .order_by("created_at")
        .select_related("parent")
        .first()
    )
    if running is not None:
        return running.parent or running
    pending = batch.pending_count()
    if not pending:
        return None
    return work_start(
        task=tasks.rate_backlog,
        title="Rating pending usage",
        by=by,
        dedupe_key=BACKLOG_KEY,
        total=pending,
    )


def backlog_parts(bounds: tuple[int, int], pending: int) -> list[tuple[int, int]]:
    """Split the queue's id range into consecutive ranges of about ``RATECARD_RATING_PART_SIZE``
    pending records each (at most ``RATECARD_RATING_MAX_PARTS``)."""
    low, high = bounds
    parts = max(
        1,
        min(
            settings.RATECARD_RATING_MAX_PARTS,
            math.ceil(pending / settings.RATECARD_RATING_PART_SIZE),
        ),
    )
    step = math.ceil((high - low + 1) / parts)
    return [(start, min(high, start + step - 1)) for start in range(low, high + 1, step)]


def usage_export_start(*, params: dict, filename: str, title: str, by: User | None = None):
    """Start background work writing a CSV export of usage records (``params``: the filters of
    ``/usage/``, or ``{"upload": key}`` for one upload's records in file order)."""
    from background.services import work_start
    from pricing import tasks

    return work_start(
        task=tasks.export_usage,
        title=title,
        params={"params": params, "filename": filename},
        by=by,
    )


# --- Impact previews over large windows -------------------------------------------------------

# Changed customers a preview keeps (its pictures show them all, its table the first ``top``).
IMPACT_CHART_CUSTOMERS = 5000


def impact_report_json(report) -> dict:
    """An ``ImpactReport`` as JSON (amounts as strings, customers as references)."""

    def money(value) -> str:
        return f"{value}"

    return {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "records": report.records,
        "changed": report.changed,
        "became_rated": report.became_rated,
        "became_unrated": report.became_unrated,
        "customers_affected": report.customers_affected,
        "totals": [
            {
                "currency": t.currency,
                "before": money(t.before),
                "after": money(t.after),
                "delta": money(t.delta),
            }
            for t in report.totals
        ],
        "customers": [
            {
                "customer_key": c.customer_key,
                "customer": (
                    {
                        "pk": str(c.customer.pk),
                        "name": c.customer.name,
                        "external_id": c.customer.external_id,
                    }
                    if c.customer is not None
                    else None
                ),
                "currency": c.currency,
                "records": c.records,
                "changed": c.changed,
                "before": money(c.before),
                "after": money(c.after),
                "delta": money(c.delta),
            }
            for c in report.customers
        ],
    }


def impact_report_from_json(data: dict):
    """The ``ImpactReport`` that :func:`impact_report_json` stored, for the same page to show
    (customers are unsaved stand-ins carrying the id, name and external ID shown)."""
    from datetime import date as _date

    from pricing.impact import CurrencyTotal, CustomerImpact, ImpactReport

    report = ImpactReport(
        start=_date.fromisoformat(data["start"]),
        end=_date.fromisoformat(data["end"]),
        records=data["records"],
        changed=data["changed"],
        became_rated=data["became_rated"],
        became_unrated=data["became_unrated"],
        customers_affected=data["customers_affected"],
    )
    report.totals = [
        CurrencyTotal(
            currency=t["currency"], before=Decimal(t["before"]), after=Decimal(t["after"])
        )
        for t in data["totals"]
    ]
    report.customers = [
        CustomerImpact(
            customer_key=c["customer_key"],
            currency=c["currency"],
            records=c["records"],
            changed=c["changed"],
            before=Decimal(c["before"]),
            after=Decimal(c["after"]),
            customer=(
                Customer(
                    pk=uuid.UUID(c["customer"]["pk"]),
                    name=c["customer"]["name"],
                    external_id=c["customer"]["external_id"],
                )
                if c["customer"]
                else None
            ),
        )
        for c in data["customers"]
    ]
    return report


def impact_preview_start(*, query: dict[str, list[str]], by: User | None = None):
    """Start an impact preview (the impact form's GET parameters) as background work."""
    from background.services import work_start
    from pricing import tasks

    start, end = (query.get("start") or [""])[0], (query.get("end") or [""])[0]
    return work_start(
        task=tasks.preview_impact,
        title=f"Impact preview {start} to {end}",
        params={"query": query},
        by=by,
    )
