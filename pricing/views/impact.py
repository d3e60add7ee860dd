"""The impact preview: a draft rule or membership change against a window of stored usage."""

import uuid
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    QueryDict,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from background.models import Work
from background.selectors import work_status
from groups.pages import wants_fragment
from groups.selectors import customer_search, group_search
from pricing import charts as pricing_charts
from pricing import services, tasks
from pricing.clock import billing_tz
from pricing.forms_usage import ImpactForm
from pricing.impact import impact_preview
from pricing.models import PricingRule, UsageRecord

CAN_VIEW = "pricing.view_usagerecord"
CAN_UPLOAD = "pricing.add_usagerecord"
CAN_PREVIEW = "pricing.change_pricingrule"


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
