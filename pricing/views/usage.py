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

import uuid
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db.models import Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
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
from groups.selectors import customer_search, group_search
from pricing import batch, services, tasks
from pricing import charts as pricing_charts
from pricing.clock import billing_tz
from pricing.forms_usage import ImpactForm, UploadForm, UsageFilter
from pricing.impact import impact_preview
from pricing.models import PricingRule, Upload, UsageRecord

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


# --- Impact preview ---------------------------------------------------------------------------


@require_GET
@permission_required(CAN_PREVIEW, raise_exception=True)
def usage_impact(request: HttpRequest) -> HttpResponse:
    """Draft a rule or membership change and see how a window's amounts would move.

    A GET form: nothing is saved, and the URL reproduces the preview. ``?rule=<id>`` (the link
    from a rule's page) pre-fills the draft with that rule's current values, and so does
    picking a rule in the form (``refresh``: the form again, no preview yet). The rule's
    current values show beside the draft's fields. A window of more than
    ``RATECARD_IMPACT_INLINE_RECORDS`` stored records is previewed by background work: the page
    follows it (``?work=<id>``) and shows the report when it is done.
    """
    if request.GET.get("work"):
        return _impact_of_work(request, request.GET["work"])
    report = None
    preview_error = ""
    status = 200
    work = None
    if "refresh" in request.GET:
        data = request.GET.copy()
        data.pop("refresh")
        rule = _rule_from(data.get("rule"))
        if rule is not None:
            for name, value in ImpactForm.initial_for(rule).items():
                data[name] = "" if value is None else str(value)
            if rule.valid_to is None:
                data["open_ended"] = "on"
            else:
                data.pop("open_ended", None)
        form = ImpactForm(data)
        form.is_valid()  # errors beside the fields; the preview waits for the button
    elif "start" in request.GET:
        form = ImpactForm(request.GET)
        if form.is_valid():
            if _window_records(form) > settings.RATECARD_IMPACT_INLINE_RECORDS:
                query = {name: request.GET.getlist(name) for name in request.GET}
                work = services.impact_preview_start(query=query, by=request.user)
            else:
                try:
                    report = impact_preview(
                        start=form.cleaned_data["start"],
                        end=form.cleaned_data["end"],
                        rule=form.rule_draft(),
                        membership=form.membership_draft(),
                        # Every changed customer up to this many, for the pictures; the table
                        # shows the first ``top``.
                        top=IMPACT_CHART_CUSTOMERS,
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
    context = _impact_context(form, report, preview_error)
    if work is not None:
        context["work_status"] = work_status(work)
    response = _impact_response(request, context, status)
    if work is not None and request.htmx:
        # The address bar names the work, so a reload (or a colleague) finds the same preview.
        response["HX-Push-Url"] = f"{reverse('pricing:usage_impact')}?work={work.pk}"
    return response


def _impact_context(form: ImpactForm, report, preview_error: str) -> dict:
    context = {
        "form": form,
        "report": report,
        "preview_error": preview_error,
        "current": _current_values(form),
    }
    if report is not None:
        shown = (form.cleaned_data.get("top") if hasattr(form, "cleaned_data") else None) or 20
        context["top_customers"] = report.customers[:shown]
        context["charts"] = pricing_charts.impact_charts(
            report.customers, affected=report.customers_affected
        )
    return context


def _impact_response(request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
    if wants_fragment(request):
        return render(request, "usage/impact.html#impact", context, status=status)
    return render(request, "usage/impact.html", context, status=status)


def _window_records(form: ImpactForm) -> int:
    """Stored records in the window (an upper bound of what the preview re-rates; indexed)."""
    tz = billing_tz()
    start = datetime.combine(form.cleaned_data["start"], time.min, tzinfo=tz)
    end = datetime.combine(form.cleaned_data["end"] + timedelta(days=1), time.min, tzinfo=tz)
    limit = settings.RATECARD_IMPACT_INLINE_RECORDS
    window = UsageRecord.objects.filter(occurred_at__gte=start, occurred_at__lt=end).order_by()
    return window[: limit + 1].count()


def _impact_of_work(request: HttpRequest, work_id: str) -> HttpResponse:
    """The preview a piece of background work computes: its draft, its progress, its report."""
    try:
        work = Work.objects.select_related("started_by").get(
            pk=uuid.UUID(work_id), task_path=tasks.preview_impact.module_path
        )
    except (ValueError, Work.DoesNotExist):
        raise Http404("No impact preview has this id.") from None
    query = QueryDict(mutable=True)
    for name, values in (work.params.get("query") or {}).items():
        query.setlist(name, values)
    form = ImpactForm(query)
    form.is_valid()
    status = work_status(work)
    report = None
    if status.state == "succeeded" and isinstance(work.result, dict):
        report = services.impact_report_from_json(work.result.get("report") or {})
    preview_error = status.error if status.state == "failed" else ""
    context = _impact_context(form, report, preview_error)
    context["work_status"] = status if not status.finished else None
    context["work"] = work
    return _impact_response(request, context)


def _current_values(form: ImpactForm) -> dict[str, str]:
    """The values today of the rule the draft names (shown beside the draft's fields)."""
    if form.is_bound:
        rule = form.cleaned_data.get("rule") if hasattr(form, "cleaned_data") else None
    else:
        rule = _rule_from(form.initial.get("rule"))
    if not isinstance(rule, PricingRule):
        return {}
    return ImpactForm.current_values(rule)


IMPACT_CHART_CUSTOMERS = services.IMPACT_CHART_CUSTOMERS
OPTIONS_SHOWN = 10


def _rule_from(value: str | None) -> PricingRule | None:
    """A rule named by its id (links) or its code (the form), with what the draft shows."""
    if not value:
        return None
    rules = PricingRule.objects.select_related("group", "customer", "price_list")
    try:
        return rules.filter(pk=uuid.UUID(str(value))).first()
    except ValueError:
        return rules.filter(code__iexact=str(value).strip()).first()


@require_GET
@permission_required(CAN_PREVIEW, raise_exception=True)
def usage_impact_options(request: HttpRequest, kind: str) -> HttpResponse:
    """Search-as-you-type for the preview's codes: the ``<option>``s of a datalist (rules,
    groups by code, customers by external ID), at most ten, matching name or code."""
    term = (request.GET.get(kind) or "").strip()[:100]
    options: list[tuple[str, str]] = []
    if term and kind == "rule":
        rules = PricingRule.objects.filter(
            Q(code__icontains=term) | Q(name__icontains=term)
        ).order_by("code")[:OPTIONS_SHOWN]
        options = [
            (r.code, f"{r.name} · {r.billing_category}, priority {r.priority}") for r in rules
        ]
    elif term and kind in ("group", "target_group"):
        options = [(g.code, g.name) for g in group_search(term, limit=OPTIONS_SHOWN)]
    elif term and kind == "target_customer":
        options = [
            (c.external_id, c.name)
            for c in customer_search(term, limit=OPTIONS_SHOWN)
            if c.external_id
        ]
    elif kind not in ("rule", "group", "target_group", "target_customer"):
        raise Http404("No such picker.")
    return render(request, "usage/_impact_options.html", {"options": options})


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
