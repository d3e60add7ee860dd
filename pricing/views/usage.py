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
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from groups.csvfile import csv_download
from groups.models import Customer
from groups.pages import open_page, redirect_to, wants_fragment
from groups.selectors import customer_search, group_search
from pricing import batch, services
from pricing import charts as pricing_charts
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
            return redirect_to(request, url)
    context = {
        "form": form,
        "upload_errors": errors,
        "max_upload": services.human_size(settings.RATECARD_MAX_UPLOAD_BYTES),
    }
    if wants_fragment(request):
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
    context = {"summary": summary}
    if wants_fragment(request) and request.GET.get("part") == "progress":
        return render(request, "usage/batch.html#progress", context)
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
    """Rate the next slice of an upload (what the page's polling posts), then show progress."""
    _summary(key)
    services.usage_rate_pending(batch_key=key, chunk_size=POLL_CHUNK, time_budget=POLL_BUDGET)
    summary = _summary(key)
    if not wants_fragment(request):
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
    current values show beside the draft's fields.
    """
    report = None
    preview_error = ""
    status = 200
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
    context = {
        "form": form,
        "report": report,
        "preview_error": preview_error,
        "current": _current_values(form),
    }
    if report is not None:
        shown = form.cleaned_data.get("top") or 20
        context["top_customers"] = report.customers[:shown]
        context["charts"] = pricing_charts.impact_charts(
            report.customers, affected=report.customers_affected
        )
    if wants_fragment(request):
        return render(request, "usage/impact.html#impact", context, status=status)
    return render(request, "usage/impact.html", context, status=status)


def _current_values(form: ImpactForm) -> dict[str, str]:
    """The values today of the rule the draft names (shown beside the draft's fields)."""
    if form.is_bound:
        rule = form.cleaned_data.get("rule") if hasattr(form, "cleaned_data") else None
    else:
        rule = _rule_from(form.initial.get("rule"))
    if not isinstance(rule, PricingRule):
        return {}
    return ImpactForm.current_values(rule)


IMPACT_CHART_CUSTOMERS = 5000
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
    path("usage/export.csv", usage_export, name="usage_export"),
    path("usage/impact/", usage_impact, name="usage_impact"),
    path("usage/impact/options/<str:kind>/", usage_impact_options, name="usage_impact_options"),
    path("usage/charts/", usage_charts, name="usage_charts"),
    path("usage/customers/<uuid:pk>/paid/", customer_paid, name="customer_paid"),
    path("usage/batches/<str:key>/", usage_batch, name="usage_batch"),
    path("usage/batches/<str:key>/rate/", usage_batch_rate, name="usage_batch_rate"),
    path("usage/batches/<str:key>/export.csv", usage_batch_export, name="usage_batch_export"),
]
