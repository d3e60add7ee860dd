"""Usage pages: ``/usage/`` (records, CSV upload), an upload's progress and results, impact preview.

An upload is validated and stored as pending records in one transaction (nothing is kept when a
line is wrong); it is then rated in chunks: a first slice inside the upload request, the rest by
the upload page, which posts to ``/usage/batches/<key>/rate/`` every second (htmx polling) and
rates for up to ``POLL_BUDGET`` seconds per request, until nothing is pending. ``rate_usage``
rates the same records if nobody keeps the page open.

Pricing managers upload and rate (``pricing.add_usagerecord``); Support staff see the pages.
The impact preview is for those who may change rules (``pricing.change_pricingrule``).
"""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from groups.csvfile import csv_download
from pricing import batch, services
from pricing.forms_usage import ImpactForm, UploadForm, UsageFilter
from pricing.impact import impact_preview
from pricing.models import PricingRule, UsageRecord

CAN_VIEW = "pricing.view_usagerecord"
CAN_UPLOAD = "pricing.add_usagerecord"
CAN_PREVIEW = "pricing.change_pricingrule"
PAGE_SIZE = 50
UPLOAD_BUDGET = 1.0  # seconds of rating inside the upload request
POLL_BUDGET = 0.7  # seconds of rating per polling request (polls come every second)
POLL_CHUNK = 10_000
RECENT_UPLOADS = 8


def _fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _page_number(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        return 1


def _page(queryset, number: int) -> tuple[list, bool]:
    """One page without a COUNT over millions of rows: fetch one extra row to know "next"."""
    start = (number - 1) * PAGE_SIZE
    rows = list(queryset[start : start + PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


# --- The list and the upload form -------------------------------------------------------------


def _list_context(request: HttpRequest) -> dict:
    filterset = UsageFilter(
        request.GET or None,
        queryset=UsageRecord.objects.select_related("customer").order_by("-occurred_at", "pk"),
    )
    invalid = filterset.is_bound and not filterset.is_valid()
    queryset = filterset.queryset if invalid or not filterset.is_bound else filterset.qs
    number = _page_number(request)
    records, has_next = _page(queryset, number)
    return {
        "filter": filterset,
        # Filters that are not understood are ignored, and said so, with a 400.
        "status": 400 if invalid else 200,
        "records": records,
        "page_number": number,
        "has_next": has_next,
        "filtering": any(request.GET.get(name) for name in filterset.form.fields),
        "max_upload": services.human_size(settings.RATECARD_MAX_UPLOAD_BYTES),
    }


def _page_context(request: HttpRequest) -> dict:
    """What the full page adds to the list: the pending count and the user's recent uploads."""
    return {
        # A count of the rating queue: cheap however many records are rated.
        "pending": batch.pending_count(),
        "recent": request.session.get("recent_uploads", []),
    }


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_list(request: HttpRequest) -> HttpResponse:
    """Stored records, newest first, filtered in the URL; managers also see the upload form."""
    context = _list_context(request)
    if _fragment(request):
        return render(request, "usage/list.html#records", context, status=context["status"])
    context.update(_page_context(request), form=UploadForm())
    return render(request, "usage/list.html", context, status=context["status"])


class UploadLimitHandler(FileUploadHandler):
    """Stops reading an upload as soon as it is larger than ``RATECARD_MAX_UPLOAD_BYTES``.

    The rest of the request body is discarded instead of being written to a temporary file, and
    the view reports the size with a clear message. The fields before the file (the CSRF token)
    are still read: the stop comes from ``receive_data_chunk``, which Django's parser handles,
    never from ``handle_raw_input``, where it escaped as a 500 from the CSRF check.
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = settings.RATECARD_MAX_UPLOAD_BYTES
        self.received = 0
        self.request_length = 0
        self.too_large: int | None = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.request_length = content_length or 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            # The request's length says how large the file was (near enough) without reading it.
            self.too_large = max(self.received, self.request_length)
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


@csrf_exempt
def usage_upload(request: HttpRequest) -> HttpResponse:
    """POST a CSV (a GET lands on ``/usage/``).

    The size guard must be installed before anything reads the body, which is why CSRF is
    checked inside (``_upload``) rather than by the middleware.
    """
    if request.method != "POST":
        return redirect("pricing:usage")
    guard = UploadLimitHandler(request)
    request.upload_handlers.insert(0, guard)
    return _upload(request, guard)


@csrf_protect
@permission_required(CAN_UPLOAD, raise_exception=True)
def _upload(request: HttpRequest, guard: UploadLimitHandler) -> HttpResponse:
    post, files = request.POST, request.FILES  # parse the body: the guard runs now, if not yet
    too_large = (
        services.upload_too_large_message(guard.too_large) if guard.too_large is not None else None
    )
    form = UploadForm(post, files, too_large=too_large)
    errors: list[str] = []
    if form.is_valid():
        try:
            result = services.usage_upload(file=form.cleaned_data["file"], by=request.user)
        except ValidationError as exc:
            errors = exc.messages
        else:
            services.usage_rate_pending(
                batch_key=result.batch_key, chunk_size=POLL_CHUNK, time_budget=UPLOAD_BUDGET
            )
            _remember(request, result, form.cleaned_data["file"].name)
            messages.success(
                request, f"Stored {result.records:,} usage records from the file; rating them."
            )
            url = reverse("pricing:usage_batch", args=[result.batch_key])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {
        "form": form,
        "upload_errors": errors,
        "max_upload": services.human_size(settings.RATECARD_MAX_UPLOAD_BYTES),
    }
    if _fragment(request):
        return render(request, "usage/list.html#upload", context, status=422)
    context = {**_list_context(request), **_page_context(request), **context}
    return render(request, "usage/list.html", context, status=422)


def _remember(request: HttpRequest, result: services.UploadResult, name: str) -> None:
    """The user's last uploads, so they can find a batch page again (kept in the session)."""
    recent = [u for u in request.session.get("recent_uploads", []) if u["key"] != result.batch_key]
    recent.insert(
        0,
        {
            "key": result.batch_key,
            "name": name[:100],
            "records": result.records,
            "at": timezone.now().isoformat(timespec="minutes"),
        },
    )
    request.session["recent_uploads"] = recent[:RECENT_UPLOADS]


# --- One upload: progress, rows, export -------------------------------------------------------


def _summary(key: str) -> batch.BatchSummary:
    summary = batch.batch_summary(key) if batch.is_batch_key(key) else None
    if summary is None:
        raise Http404("No upload has this key.")
    return summary


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_batch(request: HttpRequest, key: str) -> HttpResponse:
    """An upload's progress (polled) and its rated rows (paginated in file order)."""
    summary = _summary(key)
    number = _page_number(request)
    context = {"summary": summary, "page_number": number}
    if _fragment(request) and request.GET.get("part") == "progress":
        return render(request, "usage/batch.html#progress", context)
    records, has_next = _page(batch.batch_records(key), number)
    for record in records:
        record.line = batch.batch_line(record.pk)
    context.update(records=records, has_next=has_next)
    if _fragment(request):
        return render(request, "usage/batch.html#rows", context)
    return render(request, "usage/batch.html", context)


@require_POST
@permission_required(CAN_UPLOAD, raise_exception=True)
def usage_batch_rate(request: HttpRequest, key: str) -> HttpResponse:
    """Rate the next slice of an upload (what the page's polling posts), then show progress."""
    _summary(key)
    services.usage_rate_pending(batch_key=key, chunk_size=POLL_CHUNK, time_budget=POLL_BUDGET)
    summary = _summary(key)
    if not request.htmx:
        return redirect("pricing:usage_batch", key=key)
    response = render(request, "usage/batch.html#progress", {"summary": summary})
    if summary.finished:
        # The rows below the bar were rendered while records were pending: refresh them once.
        trigger_client_event(response, "usage-batch-rated")
    return response


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_batch_export(request: HttpRequest, key: str) -> StreamingHttpResponse:
    _summary(key)
    rows = batch.export_rows(batch.batch_records(key), lines=True)
    return csv_download(rows, f"usage-{key}.csv")


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered records of ``/usage/`` as CSV (streamed, any number of rows)."""
    filterset = UsageFilter(
        request.GET or None,
        queryset=UsageRecord.objects.order_by("-occurred_at", "pk"),
    )
    if filterset.is_bound and not filterset.is_valid():
        # Exporting everything instead of what was asked for would be worse than nothing.
        return HttpResponseBadRequest(
            _filter_errors(filterset) + " Nothing was exported.",
            content_type="text/plain; charset=utf-8",
        )
    queryset = filterset.qs if filterset.is_bound else filterset.queryset
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return csv_download(batch.export_rows(queryset), f"usage-{stamp}.csv")


def _filter_errors(filterset: UsageFilter) -> str:
    details = "; ".join(
        f"{filterset.form[name].label or name}: {' '.join(errors)}"
        for name, errors in filterset.form.errors.items()
    )
    return f"These filters were not understood: {details}."


# --- Impact preview ---------------------------------------------------------------------------


@require_GET
@permission_required(CAN_PREVIEW, raise_exception=True)
def usage_impact(request: HttpRequest) -> HttpResponse:
    """Draft a rule or membership change and see how a window's amounts would move.

    A GET form: nothing is saved, and the URL reproduces the preview. ``?rule=<id>`` (the link
    from a rule's page) pre-fills the draft with that rule's current values.
    """
    report = None
    preview_error = ""
    status = 200
    if "start" in request.GET:
        form = ImpactForm(request.GET)
        if form.is_valid():
            try:
                report = impact_preview(
                    start=form.cleaned_data["start"],
                    end=form.cleaned_data["end"],
                    rule=form.rule_draft(),
                    membership=form.membership_draft(),
                    top=form.cleaned_data.get("top") or 20,
                )
            except ValidationError as exc:
                preview_error = " ".join(exc.messages)
                status = 422
        else:
            status = 422
    else:
        initial = ImpactForm.defaults()
        rule = _rule_from(request.GET.get("rule"))
        if rule is not None:
            initial.update(ImpactForm.initial_for(rule))
        form = ImpactForm(initial=initial)
    context = {"form": form, "report": report, "preview_error": preview_error}
    if _fragment(request):
        return render(request, "usage/impact.html#impact", context, status=status)
    return render(request, "usage/impact.html", context, status=status)


def _rule_from(value: str | None) -> PricingRule | None:
    if not value:
        return None
    rules = PricingRule.objects.select_related("group", "customer", "price_list")
    try:
        return rules.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        return rules.filter(code__iexact=value).first()


urlpatterns = [
    path("usage/", usage_list, name="usage"),
    path("usage/upload/", usage_upload, name="usage_upload"),
    path("usage/export.csv", usage_export, name="usage_export"),
    path("usage/impact/", usage_impact, name="usage_impact"),
    path("usage/batches/<str:key>/", usage_batch, name="usage_batch"),
    path("usage/batches/<str:key>/rate/", usage_batch_rate, name="usage_batch_rate"),
    path("usage/batches/<str:key>/export.csv", usage_batch_export, name="usage_batch_export"),
]
