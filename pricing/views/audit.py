"""The audit page (``/audit/``): findings, their lists, the clean-up actions and the CSV export.

One view serves the page and, for htmx requests, the finding panel (tabs, filters, pages). The
actions answer htmx with the refreshed body (summary counts and panel) and plain POSTs with a
redirect back; destructive ones ask for confirmation first (``hx-confirm``, or a confirmation
page without JavaScript).
"""

import itertools
from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from groups.csvfile import csv_download
from groups.models import CustomerGroup
from groups.pages import counted_page, page_number, wants_fragment
from groups.services import group_end_promotion, group_mark_reviewed, groups_mark_reviewed
from pricing import audit
from pricing.changesets.editing import direct_edit
from pricing.models import PricingRule
from pricing.services import rule_disable

PAGE_SIZE = 25
DEFAULT_FINDING = "empty"
# Findings whose groups want a review: their lists can mark many reviewed at once.
REVIEW_FINDINGS = ("review_overdue", "stale_membership", "past_expiry")
# A rule that ended this recently may still price late usage: the audit does not offer to
# disable it yet.
LATE_USAGE_DAYS = 30
VIEW_PERMS = ("groups.view_customergroup", "pricing.view_pricingrule")


def _finding_key(data: QueryDict) -> str:
    key = data.get("finding") or DEFAULT_FINDING
    return key if key in audit.FINDINGS_BY_KEY else DEFAULT_FINDING


def _panel_context(
    request: HttpRequest, data: QueryDict, clock: audit.AuditClock, *, next_url: str
) -> dict:
    """The active finding's list: its FilterSet (bound to the URL) and one page of rows.

    ``next_url`` is the page address the action forms send back, so an action returns to the
    same finding, filters and page.
    """
    key = _finding_key(data)
    finding = audit.FINDINGS_BY_KEY[key]
    filterset, queryset = audit.finding_list(key, data, clock)
    page = audit.page_of(queryset, page_number(data.get("page")), PAGE_SIZE)
    page.rows = audit.finding_rows(key, page.ids, clock)
    page_obj = counted_page(page.rows, number=page.number, per_page=PAGE_SIZE, count=page.count)
    if finding.subject == audit.RULE:
        _mark_late_usage(page.rows, clock)
    filtering = any(data.get(name) for name in filterset.form.fields)
    return {
        "finding": finding,
        "explanation": audit.explanation(finding, clock),
        "filter": filterset,
        "filtering": filtering,
        "page": page,
        "page_obj": page_obj,
        "findings": audit.FINDINGS,
        "clock": clock,
        "next": next_url,
        "query": data,
        # The Empty list becomes a form with a checkbox per group for those who may delete.
        "deletable": key == "empty" and request.user.has_perm("groups.delete_customergroup"),
        "can_delete": request.user.has_perm("groups.delete_customergroup"),
        "reviewable": key in REVIEW_FINDINGS
        and request.user.has_perm("groups.review_customergroup"),
    }


def _mark_late_usage(rules: list, clock: audit.AuditClock) -> None:
    """A rule that ended in the last ``LATE_USAGE_DAYS`` days still prices late usage: its
    row says until when instead of offering to disable it."""
    since = clock.today - timedelta(days=LATE_USAGE_DAYS)
    for rule in rules:
        ended_lately = rule.valid_to is not None and since <= rule.valid_to < clock.today
        rule.late_usage_until = (
            rule.valid_to + timedelta(days=LATE_USAGE_DAYS) if ended_lately else None
        )


def _summary_context(clock: audit.AuditClock, panel: dict) -> dict:
    """The summary cards. The deferred counts come as placeholders that fetch themselves.

    The unfiltered list on screen has counted its finding already, deferred or not.
    """
    known = {} if panel["filtering"] else {panel["finding"].key: panel["page"].count}
    counts = audit.audit_summary(clock, known=known, defer=audit.DEFERRED_COUNTS)
    sections = []
    for subject, title in (
        (audit.GROUP, "Groups"),
        (audit.CUSTOMER, "Customers"),
        ("rule", "Rules"),
    ):
        items = [(f, counts[f.key]) for f in audit.FINDINGS if f.subject == subject]
        sections.append((title, items))
    return {"summary": sections}


def _page_state(request: HttpRequest) -> tuple[str, QueryDict]:
    """The audit URL an action came from (``next``), and its query string, checked."""
    target = request.POST.get("next") or ""
    if not target.startswith("/audit/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("pricing:audit")
    return target, QueryDict(urlsplit(target).query)


@require_GET
@permission_required(VIEW_PERMS, raise_exception=True)
def audit_page(request: HttpRequest) -> HttpResponse:
    """The audit: summary counts, then the chosen finding's filterable, paginated list.

    ``?count=<finding>`` from htmx answers one deferred summary count (its badge), which the
    page's placeholders fetch once it is shown.
    """
    clock = audit.audit_clock()
    deferred = request.GET.get("count")
    if wants_fragment(request) and deferred in audit.DEFERRED_COUNTS:
        context = {
            "item": audit.FINDINGS_BY_KEY[deferred],
            "count": audit.finding_count(deferred, clock),
        }
        return render(request, "audit/page.html#count", context)
    context = _panel_context(request, request.GET, clock, next_url=request.get_full_path())
    if wants_fragment(request):
        return render(request, "audit/page.html#panel", context)
    context.update(_summary_context(clock, context))
    return render(request, "audit/page.html", context)


def _after_action(request: HttpRequest) -> HttpResponse:
    """htmx: the refreshed body (counts and list); plain POST: back to the page."""
    target, data = _page_state(request)
    if not wants_fragment(request):
        return redirect(target)
    clock = audit.audit_clock()
    context = _panel_context(request, data, clock, next_url=target)
    context.update(_summary_context(clock, context))
    return render(request, "audit/page.html#body", context)


def _confirm(request: HttpRequest, *, title: str, question: str, items=(), button: str):
    """The no-JavaScript confirmation step: the same form again, with ``confirmed``."""
    target, _ = _page_state(request)
    hidden = [
        (name, value)
        for name in request.POST
        if name not in ("csrfmiddlewaretoken", "confirmed", "next")
        for value in request.POST.getlist(name)
    ]
    return render(
        request,
        "audit/confirm.html",
        {
            "title": title,
            "question": question,
            "items": items,
            "button": button,
            "action": request.path,
            "hidden": hidden,
            "next": target,
        },
    )


def _confirmed(request: HttpRequest) -> bool:
    # htmx requests come through hx-confirm; plain forms through the confirmation page.
    return wants_fragment(request) or request.POST.get("confirmed") == "yes"


@require_POST
@permission_required("groups.delete_customergroup", raise_exception=True)
def delete_groups(request: HttpRequest) -> HttpResponse:
    """Delete the selected empty groups; those with members or rules are kept and reported.

    The list offers no checkbox for a group that rules target (it names them instead), so
    a refusal only reports what changed since the list was shown.
    """
    ids = _selected_ids(request)
    if not ids:
        messages.warning(request, "Select at least one group to delete.")
        return _after_action(request)
    if not _confirmed(request):
        groups = list(CustomerGroup.objects.filter(pk__in=ids).order_by("name"))
        blocking: dict = {}
        for group_id, code in (
            PricingRule.objects.filter(group_id__in=ids)
            .order_by("code")
            .values_list("group_id", "code")
        ):
            blocking.setdefault(group_id, []).append(code)
        items = [
            f"{g.name} — kept: rules target it ({', '.join(blocking[g.pk])})"
            if g.pk in blocking
            else g.name
            for g in groups
        ]
        doomed = len(groups) - len(blocking)
        return _confirm(
            request,
            title="Delete groups",
            question=f"Remove {doomed} group{'s' if doomed != 1 else ''}? A group that had "
            "members is archived (hidden, its membership history kept); one that never had a "
            "member is deleted. Groups that rules target are kept.",
            items=items,
            button="Delete",
        )
    outcome = audit.empty_groups_delete(ids=ids, by=request.user)
    if outcome.deleted:
        messages.success(
            request,
            f"Removed {len(outcome.deleted)} group{'s' if len(outcome.deleted) != 1 else ''} "
            "(archived where they had membership history): " + ", ".join(outcome.deleted) + ".",
        )
    for refusal in outcome.refused:
        messages.warning(request, refusal)
    return _after_action(request)


def _selected_ids(request: HttpRequest) -> list:
    ids = []
    for value in request.POST.getlist("ids"):
        try:
            ids.append(CustomerGroup._meta.pk.to_python(value))
        except ValidationError:
            continue  # a tampered id is simply not selected
    return ids[: audit.MAX_SELECTION]


@require_POST
@permission_required("groups.review_customergroup", raise_exception=True)
def review_groups(request: HttpRequest) -> HttpResponse:
    """Mark the selected groups reviewed now, all at once."""
    ids = _selected_ids(request)
    if not ids:
        messages.warning(request, "Select at least one group to mark reviewed.")
        return _after_action(request)
    names = groups_mark_reviewed(ids=ids, by=request.user)
    messages.success(
        request,
        f"Marked {len(names)} group{'s' if len(names) != 1 else ''} reviewed: "
        + ", ".join(names)
        + ".",
    )
    return _after_action(request)


@require_POST
@permission_required("groups.review_customergroup", raise_exception=True)
def review_group(request: HttpRequest, pk) -> HttpResponse:
    """Record that the current user reviewed the group's members now."""
    group = get_object_or_404(CustomerGroup, pk=pk)
    group_mark_reviewed(group=group, by=request.user)
    messages.success(request, f"Marked “{group.name}” reviewed.")
    return _after_action(request)


@require_POST
@permission_required(
    ("groups.change_customergroup", "groups.delete_membership"), raise_exception=True
)
def end_promotion(request: HttpRequest, pk) -> HttpResponse:
    """Remove every current member of the group (the periods stay in the history)."""
    group = get_object_or_404(CustomerGroup, pk=pk)
    if not _confirmed(request):
        return _confirm(
            request,
            title="End promotion",
            question=f"End the promotion “{group.name}”: remove all its current members? "
            "Their membership periods are kept in the history.",
            button="End promotion",
        )
    removed = group_end_promotion(group=group, by=request.user)
    messages.success(
        request,
        f"Ended “{group.name}”: removed {removed} member{'s' if removed != 1 else ''} "
        "(kept in the membership history).",
    )
    return _after_action(request)


@require_POST
@permission_required("pricing.change_pricingrule", raise_exception=True)
@direct_edit
def disable_rule(request: HttpRequest, pk) -> HttpResponse:
    """Disable a rule the audit found dead or shadowed."""
    rule = get_object_or_404(PricingRule, pk=pk)
    if not _confirmed(request):
        return _confirm(
            request,
            title="Disable rule",
            question=f"Disable the rule {rule.code} ({rule.name})? It stops pricing anything; "
            "you can enable it again from its page.",
            button="Disable",
        )
    if rule.is_active:
        rule_disable(rule=rule, by=request.user)
        messages.success(request, f"Disabled {rule.code}.")
    else:
        messages.info(request, f"{rule.code} was already disabled.")
    return _after_action(request)


@require_GET
@permission_required(VIEW_PERMS, raise_exception=True)
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every finding as CSV, or only ``?finding=`` with the list's filters."""
    clock = audit.audit_clock()
    if request.GET.get("finding") in audit.FINDINGS_BY_KEY:
        keys, data = [request.GET["finding"]], request.GET
    else:
        keys, data = [f.key for f in audit.FINDINGS], None
    rows = itertools.chain([audit.CSV_HEADER], audit.export_rows(clock, keys, data))
    stamp = timezone.localtime(clock.now).strftime("%Y%m%d-%H%M")
    name = f"audit-{keys[0] if len(keys) == 1 else 'all'}-{stamp}.csv"
    return csv_download(rows, name)


urlpatterns = [
    path("audit/", audit_page, name="audit"),
    path("audit/export.csv", export_csv, name="audit_export"),
    path("audit/actions/delete-groups/", delete_groups, name="audit_delete_groups"),
    path("audit/actions/review-groups/", review_groups, name="audit_review_groups"),
    path("audit/actions/groups/<uuid:pk>/review/", review_group, name="audit_review_group"),
    path(
        "audit/actions/groups/<uuid:pk>/end-promotion/", end_promotion, name="audit_end_promotion"
    ),
    path("audit/actions/rules/<uuid:pk>/disable/", disable_rule, name="audit_disable_rule"),
]
