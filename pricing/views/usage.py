"""Usage pages: ``/usage/`` (records, CSV upload), uploads and their progress, impact preview.

An upload is validated and stored as pending records in one transaction (nothing is kept when a
line is wrong) and recorded as an :class:`~pricing.models.Upload`; its rating is background work
(``pricing.tasks.rate_upload``) that goes on when the browser is closed. Its page shows the
work's progress with the shared partial (``background/_work.html``) and refreshes its counts and
rows when the work finishes. A file uploaded before (same SHA-256) is refused with a link to the
earlier upload unless the manager confirms the repeat. Exports larger than
``RATECARD_EXPORT_INLINE_ROWS`` are written by background work and downloaded when ready, so no
request outlives a server's timeout with a silently short file.

Pricing managers upload and rate (``pricing.add_usagerecord``); Support staff see the pages.
The impact preview is for those who may change rules (``pricing.change_pricingrule``).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from background.models import Work
from background.selectors import work_status
from groups.csvfile import csv_download
from groups.models import Customer
from groups.pages import open_page, redirect_to, wants_fragment
from pricing import batch, services, tasks
from pricing import charts as pricing_charts
from pricing.forms_usage import UploadForm, UsageFilter
from pricing.models import Upload, UsageRecord
from pricing.views.impact import usage_impact, usage_impact_options

CAN_VIEW = "pricing.view_usagerecord"
CAN_UPLOAD = "pricing.add_usagerecord"
CAN_PREVIEW = "pricing.change_pricingrule"
PAGE_SIZE = 50
RECENT_UPLOADS = 5


# --- The list and the upload form -------------------------------------------------------------


def _list_context(request: HttpRequest) -> dict:
    filterset = UsageFilter(
        request.GET or None,
        queryset=UsageRecord.objects.select_related("customer").order_by("-occurred_at", "pk"),
    )
    invalid = filterset.is_bound and not filterset.is_valid()
    queryset = filterset.queryset if invalid or not filterset.is_bound else filterset.qs
    # No COUNT over millions of rows: the page knows only whether an older one follows.
    page_obj = open_page(queryset, per_page=PAGE_SIZE, number=request.GET.get("page"))
    return {
        "filter": filterset,
        # Filters that are not understood are ignored, and said so, with a 400.
        "status": 400 if invalid else 200,
        "records": page_obj.object_list,
        "page_obj": page_obj,
        "filtering": any(request.GET.get(name) for name in filterset.form.fields),
        "upload_filter": request.GET.get("upload", "")
        if batch.is_batch_key(request.GET.get("upload", ""))
        else "",
        "max_upload": services.human_size(settings.RATECARD_MAX_UPLOAD_BYTES),
        "max_rows": settings.RATECARD_MAX_UPLOAD_ROWS,
    }


def _page_context(request: HttpRequest) -> dict:
    """What the full page adds to the list: the pending count and the latest uploads."""
    return {
        # A count of the rating queue: cheap however many records are rated.
        "pending": batch.pending_count(),
        "recent": list(Upload.objects.select_related("uploaded_by")[:RECENT_UPLOADS]),
    }


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_list(request: HttpRequest) -> HttpResponse:
    """Stored records, newest first, filtered in the URL; managers also see the upload form."""
    context = _list_context(request)
    if wants_fragment(request):
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
    repeat_of = None
    if form.is_valid():
        try:
            result = services.usage_upload(
                file=form.cleaned_data["file"],
                by=request.user,
                repeat_confirmed=form.cleaned_data["repeat"],
            )
        except services.RepeatedUpload as exc:
            errors, repeat_of = exc.messages, exc.earlier
        except ValidationError as exc:
            errors = exc.messages
        else:
            services.upload_rate(upload=result.upload, by=request.user)
            messages.success(
                request,
                f"Stored {result.records:,} usage records from {result.upload.file_name}; "
                "rating them in the background.",
            )
            url = reverse("pricing:usage_batch", args=[result.batch_key])
            return redirect_to(request, url)
    context = {
        "form": form,
        "upload_errors": errors,
        "repeat_of": repeat_of,
        "max_upload": services.human_size(settings.RATECARD_MAX_UPLOAD_BYTES),
        "max_rows": settings.RATECARD_MAX_UPLOAD_ROWS,
    }
    if wants_fragment(request):
        return render(request, "usage/list.html#upload", context, status=422)
    context = {**_list_context(request), **_page_context(request), **context}
    return render(request, "usage/list.html", context, status=422)


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def upload_list(request: HttpRequest) -> HttpResponse:
    """Every upload, newest first: file, who, when, rows, rated and unrated counts."""
    uploads = Upload.objects.select_related("uploaded_by", "work").order_by("-uploaded_at", "-pk")
    page_obj = open_page(uploads, per_page=PAGE_SIZE, number=request.GET.get("page"))
    context = {"uploads": page_obj.object_list, "page_obj": page_obj}
    if wants_fragment(request):
        return render(request, "usage/uploads.html#uploads", context)
    return render(request, "usage/uploads.html", context)


# --- One upload: progress, rows, export -------------------------------------------------------


def _upload_or_404(key: str) -> tuple[Upload | None, batch.BatchSummary | None]:
    """The upload record (None for uploads stored before uploads were records) and its counts.

    Uploads from before have only their records' batch key; their page still works.
    """
    if not batch.is_batch_key(key):
        raise Http404("No upload has this key.")
    upload = Upload.objects.select_related("uploaded_by", "work", "repeat_of").filter(batch_key=key)
    upload = upload.first()
    summary = batch.batch_summary(key)
    if upload is None and summary is None:
        raise Http404("No upload has this key.")
    return upload, summary


def _batch_context(key: str) -> dict:
    upload, summary = _upload_or_404(key)
    work = upload.work if upload is not None else None
    return {
        "key": key,
        "upload": upload,
        "summary": summary or batch.BatchSummary(key=key),
        "work_status": work_status(work) if work is not None else None,
    }


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_batch(request: HttpRequest, key: str) -> HttpResponse:
    """An upload: titled by its file name, its rating's progress (the work's shared partial),
    its counts (the unrated count links to those records) and its rows in file order."""
    context = _batch_context(key)
    if wants_fragment(request) and request.GET.get("part") == "summary":
        return render(request, "usage/batch.html#summary", context)
    page_obj = open_page(
        batch.batch_records(key), per_page=PAGE_SIZE, number=request.GET.get("page")
    )
    for record in page_obj.object_list:
        record.line = batch.batch_line(record.pk)
    context.update(records=page_obj.object_list, page_obj=page_obj)
    if wants_fragment(request):
        return render(request, "usage/batch.html#rows", context)
    return render(request, "usage/batch.html", context)


@require_POST
@permission_required(CAN_UPLOAD, raise_exception=True)
def usage_batch_rate(request: HttpRequest, key: str) -> HttpResponse:
    """Rate what is still pending in an upload, as background work (or follow the running one)."""
    upload, _ = _upload_or_404(key)
    if upload is None:
        # An upload from before uploads were records: rate it with the backlog.
        work = services.usage_rate_backlog_start(by=request.user)
    else:
        services.upload_refresh_counts(upload=upload)
        work = services.upload_rate(upload=upload, by=request.user) if upload.pending else None
    if work is not None:
        messages.info(request, "Rating the pending records in the background.")
    return redirect_to(request, reverse("pricing:usage_batch", args=[key]))


@require_POST
@permission_required(CAN_UPLOAD, raise_exception=True)
def usage_rate_now(request: HttpRequest) -> HttpResponse:
    """ "Rate now" (the dashboard): rate every pending record as background work, with progress."""
    work = services.usage_rate_backlog_start(by=request.user)
    if work is None:
        messages.info(request, "No usage records are waiting to be rated.")
        return redirect_to(request, reverse("dashboard"))
    if wants_fragment(request):
        return render(request, "background/_work.html", {"status": work_status(work)})
    return redirect("background:work_detail", pk=work.pk)


def _export(request: HttpRequest, *, queryset, filename: str, params: dict, title: str):
    """Stream a small export; hand a large one to background work and show its progress.

    A streamed response holds a server worker for as long as it takes; past
    ``RATECARD_EXPORT_INLINE_ROWS`` rows the file is written by a task instead and downloaded
    when ready (the work's page links to it), so no export is ever cut short by a timeout.
    """
    limit = settings.RATECARD_EXPORT_INLINE_ROWS
    if queryset.order_by()[: limit + 1].count() <= limit:
        lines = bool(params.get("upload"))
        return csv_download(batch.export_rows(queryset, lines=lines), filename)
    work = services.usage_export_start(
        params=params, filename=filename, title=title, by=request.user
    )
    messages.info(request, "That is a large export: it is being written in the background.")
    return redirect("background:work_detail", pk=work.pk)


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_batch_export(request: HttpRequest, key: str) -> HttpResponse:
    upload, _ = _upload_or_404(key)
    name = upload.file_name if upload is not None else key
    return _export(
        request,
        queryset=batch.batch_records(key),
        filename=f"usage-{key}.csv",
        params={"upload": key},
        title=f"Exporting the records of {name}",
    )


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_export(request: HttpRequest) -> HttpResponse:
    """The filtered records of ``/usage/`` as CSV (streamed, or written in the background)."""
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
    params = {name: value for name, value in request.GET.items() if name in filterset.filters}
    params["filter"] = True
    return _export(
        request,
        queryset=queryset,
        filename=f"usage-{stamp}.csv",
        params=params,
        title="Exporting usage records",
    )


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_export_download(request: HttpRequest, pk) -> FileResponse:
    """The file a background export wrote (sent by the file wrapper: no worker held long)."""
    work = Work.objects.filter(pk=pk, task_path=tasks.export_usage.module_path).first()
    result = work.result if work is not None and isinstance(work.result, dict) else {}
    path = result.get("path")
    if not path or not default_storage.exists(path):
        raise Http404("This export is not ready, or it was removed.")
    return FileResponse(
        default_storage.open(path, "rb"),
        as_attachment=True,
        filename=result.get("filename", "usage.csv"),
        content_type="text/csv; charset=utf-8",
    )


def _filter_errors(filterset: UsageFilter) -> str:
    details = "; ".join(
        f"{filterset.form[name].label or name}: {' '.join(errors)}"
        for name, errors in filterset.form.errors.items()
    )
    return f"These filters were not understood: {details}."


# --- Pictures ---------------------------------------------------------------------------------


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_charts(request: HttpRequest) -> HttpResponse:
    """The rated amount per day per currency and the unrated records per day.

    The usage page loads it once shown (its aggregates stay out of the list's request); it is
    also a page of its own, where the link leads without JavaScript.
    """
    context = {"charts": pricing_charts.usage_charts(), "days": pricing_charts.USAGE_DAYS}
    if wants_fragment(request):
        return render(request, "usage/charts.html#charts", context)
    return render(request, "usage/charts.html", context)


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def usage_batch_charts(request: HttpRequest, key: str) -> HttpResponse:
    """An upload's rated amount per day per currency and its unrated records per day: loaded
    into the upload's page once shown, or a page of its own without JavaScript."""
    context = _batch_context(key)
    found, days = pricing_charts.upload_charts(batch.batch_records(key))
    context.update(charts=found, days=days)
    if wants_fragment(request):
        return render(request, "usage/batch_charts.html#charts", context)
    return render(request, "usage/batch_charts.html", context)


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def customer_paid(request: HttpRequest, pk) -> HttpResponse:
    """What a customer paid per day over the last 90 days, by rule: loaded into the customer
    page (which reads nothing of pricing), or a page of its own."""
    customer = get_object_or_404(Customer, pk=pk)
    context = {
        "customer": customer,
        "charts": pricing_charts.customer_paid_charts(customer),
        "days": pricing_charts.CUSTOMER_DAYS,
    }
    if wants_fragment(request):
        return render(request, "usage/customer_paid.html#charts", context)
    return render(request, "usage/customer_paid.html", context)


urlpatterns = [
    path("usage/", usage_list, name="usage"),
    path("usage/upload/", usage_upload, name="usage_upload"),
    path("usage/uploads/", upload_list, name="upload_list"),
    path("usage/rate/", usage_rate_now, name="usage_rate_now"),
    path("usage/export.csv", usage_export, name="usage_export"),
    path("usage/exports/<uuid:pk>.csv", usage_export_download, name="usage_export_download"),
    path("usage/impact/", usage_impact, name="usage_impact"),
    path("usage/impact/options/<str:kind>/", usage_impact_options, name="usage_impact_options"),
    path("usage/charts/", usage_charts, name="usage_charts"),
    path("usage/customers/<uuid:pk>/paid/", customer_paid, name="customer_paid"),
    path("usage/batches/<str:key>/", usage_batch, name="usage_batch"),
    path("usage/batches/<str:key>/rate/", usage_batch_rate, name="usage_batch_rate"),
    path("usage/batches/<str:key>/charts/", usage_batch_charts, name="usage_batch_charts"),
    path("usage/batches/<str:key>/export.csv", usage_batch_export, name="usage_batch_export"),
]
