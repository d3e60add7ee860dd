"""Membership of one group: the member list, add, remove with undo, bulk changes, CSV export."""

import itertools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from groups import selectors, services
from groups.criteria.services import manual_add_warning
from groups.csvfile import csv_download
from groups.forms import (
    BulkConfirmForm,
    BulkMembershipForm,
    MemberAddForm,
    apply_membership_error,
)
from groups.models import Customer
from groups.pages import wants_fragment
from groups.views._common import add_membership, confirm_or_remove_membership
from groups.views.groups import detail_context, get_group, history_context, members_context

PREVIEW_NAMES = 10
PREVIEW_UNKNOWN = 500


@require_GET
@vary_on_headers("HX-Request")
@permission_required("groups.view_customergroup", raise_exception=True)
def member_list(request: HttpRequest, pk) -> HttpResponse:
    """Current members, searchable and paginated: a fragment for htmx, else the group page."""
    group = get_group(pk)
    if wants_fragment(request):
        context = members_context(request, group, from_request=True)
        return render(request, "groups/group_detail.html#member_table", context)
    context = detail_context(request, group, members_from_request=True)
    return render(request, "groups/group_detail.html", context)


@require_GET
@permission_required("groups.add_membership", raise_exception=True)
def member_search(request: HttpRequest, pk) -> HttpResponse:
    """Customers matching what is typed in the "add a customer" box, members left out."""
    group = get_group(pk)
    term = request.GET.get("q", "")
    candidates = selectors.customer_candidates(term, exclude_group=group)
    if wants_fragment(request):
        context = {"group": group, "candidates": candidates, "term": term.strip()}
        return render(request, "groups/group_detail.html#add_results", context)
    add_form = MemberAddForm(initial={"q": term}, group=group)
    context = detail_context(request, group, add_form=add_form, candidates=candidates)
    context["term"] = term.strip()
    return render(request, "groups/group_detail.html", context)


def _members_response(request: HttpRequest, group, *, status: int = 200, **kwargs):
    """The members section with focus back in the add box; the history and the details (its
    "Members changed") out of band."""
    group.refresh_from_db(fields=["members_changed_at"])
    context = members_context(request, group, **kwargs)
    context.update(history_context(request, group, from_request=False))
    context.update(focus_add=True, history_oob=True)
    return render(request, "groups/group_detail.html#members_update", context, status=status)


@require_POST
@permission_required("groups.add_membership", raise_exception=True)
def member_add(request: HttpRequest, pk) -> HttpResponse:
    """Add the picked customer (or the best match for what was typed); the list updates in place."""
    group = get_group(pk)
    form = MemberAddForm(request.POST, group=group)
    if not form.is_valid():
        if wants_fragment(request):
            return _members_response(request, group, add_form=form, status=422)
        context = detail_context(request, group, add_form=form)
        return render(request, "groups/group_detail.html", context, status=422)
    joined_at = form.cleaned_data.get("joined_at")
    try:
        add_membership(
            request, group=group, customer=form.cleaned_data["customer_obj"], joined_at=joined_at
        )
    except ValidationError as exc:
        apply_membership_error(form, exc)
        if wants_fragment(request):
            return _members_response(request, group, add_form=form, status=422)
        context = detail_context(request, group, add_form=form)
        return render(request, "groups/group_detail.html", context, status=422)
    if wants_fragment(request):
        # The next customer is likely added with the same "member since": keep it.
        again = MemberAddForm(group=group, initial={"joined_at": joined_at})
        return _members_response(request, group, add_form=again)
    return redirect(reverse("groups:group_detail", args=[group.pk]) + "#members")


@require_http_methods(["GET", "POST"])
@permission_required("groups.change_membership", raise_exception=True)
def member_remove(request: HttpRequest, pk, customer_pk) -> HttpResponse:
    """GET asks for confirmation (no-JS path); POST ends the membership and offers an undo."""
    group = get_group(pk)
    customer = get_object_or_404(Customer, pk=customer_pk)
    detail_url = reverse("groups:group_detail", args=[group.pk])
    confirm = confirm_or_remove_membership(
        request, group=group, customer=customer, cancel_url=detail_url
    )
    if confirm is not None:
        return confirm
    if wants_fragment(request):
        return _members_response(request, group, removed=customer)
    return redirect(f"{detail_url}?removed={customer.pk}#members")


@require_http_methods(["GET", "POST"])
@permission_required(["groups.add_membership", "groups.change_membership"], raise_exception=True)
def member_bulk(request: HttpRequest, pk) -> HttpResponse:
    """Bulk add / remove / sync by external IDs: a dry-run preview first, then apply.

    The preview carries the IDs to the confirm step in a hidden field, and the apply recomputes
    the plan inside its transaction, so what is stored matches the database at that moment.
    """
    group = get_group(pk)
    fragment = wants_fragment(request)
    template = "groups/group_bulk.html"
    context: dict = {"group": group, "max_upload": settings.RATECARD_MAX_UPLOAD_BYTES}
    if request.method == "GET":
        context["form"] = BulkMembershipForm()
        return render(request, f"{template}#bulk_form" if fragment else template, context)

    if "confirm" in request.POST:
        confirm = BulkConfirmForm(request.POST)
        if confirm.is_valid():
            try:
                plan = services.membership_bulk_apply(
                    group=group,
                    external_ids=confirm.cleaned_data["ids"],
                    mode=confirm.cleaned_data["mode"],
                    by=request.user,
                    joined_at=confirm.cleaned_data["joined_at"],
                )
            except ValidationError as exc:  # "member since" is in the future by now, say
                form = BulkMembershipForm(
                    initial={
                        "external_ids": confirm.cleaned_data["ids"],
                        "mode": confirm.cleaned_data["mode"],
                    }
                )
                context.update(form=form, bulk_errors=exc.messages)
                template_name = f"{template}#bulk_form" if fragment else template
                return render(request, template_name, context, status=422)
            summary = _applied_summary(plan)
            if plan.to_add and (warning := manual_add_warning(group, [c.pk for c in plan.to_add])):
                summary += " " + warning
            if not fragment:
                messages.success(request, summary)
                return redirect(reverse("groups:group_detail", args=[group.pk]) + "#members")
            context.update(_plan_context(plan), summary=summary)
            group.refresh_from_db(fields=["members_changed_at"])
            context.update(members_context(request, group))
            context.update(history_context(request, group, from_request=False))
            context.update(members_oob=True, history_oob=True)
            return render(request, f"{template}#bulk_result", context)
        form = BulkMembershipForm()
        # A confirmation over the limit says so; one that lost its IDs asks for them again.
        context["bulk_errors"] = [
            message
            for errors in confirm.errors.as_data().values()
            for error in errors
            if error.code not in ("required", "invalid_choice")
            for message in error.messages
        ] or ["The preview was incomplete; paste the IDs again."]
    else:
        form = BulkMembershipForm(request.POST, request.FILES)
        if form.is_valid():
            mode = form.cleaned_data["mode"]
            try:
                plan = services.membership_bulk_plan(
                    group=group,
                    external_ids=form.cleaned_data["ids"],
                    mode=mode,
                    joined_at=form.cleaned_data["joined_at"],
                )
            except ValidationError as exc:
                apply_membership_error(form, exc)
            else:
                context.update(_plan_context(plan), ids="\n".join(form.cleaned_data["ids"]))
                return render(
                    request, f"{template}#bulk_preview" if fragment else template, context
                )
    context["form"] = form
    return render(request, f"{template}#bulk_form" if fragment else template, context, status=422)


def _plan_context(plan: services.BulkPlan) -> dict:
    return {
        "plan": plan,
        "sample_add": plan.to_add[:PREVIEW_NAMES],
        "sample_remove": plan.to_remove[:PREVIEW_NAMES],
        "sample_backdate": plan.to_backdate[:PREVIEW_NAMES],
        "sample_overlapping": plan.overlapping[:PREVIEW_NAMES],
        "unknown_shown": plan.unknown[:PREVIEW_UNKNOWN],
        "unknown_more": max(0, len(plan.unknown) - PREVIEW_UNKNOWN),
        "mode_label": dict(services.BulkMode.CHOICES)[plan.mode],
    }


def _applied_summary(plan: services.BulkPlan) -> str:
    parts = []
    since = ""
    if plan.joined_at is not None:
        since = f" (member since {timezone.localtime(plan.joined_at):%Y-%m-%d %H:%M})"
    if plan.to_add:
        parts.append(f"added {len(plan.to_add)}{since}")
    if plan.to_backdate:
        parts.append(f"moved the start of {len(plan.to_backdate)} back{since}")
    if plan.to_remove:
        parts.append(f"removed {len(plan.to_remove)}")
    text = ("Done: " + " and ".join(parts) + ".") if parts else "Nothing needed changing."
    if plan.overlapping:
        text += f" {len(plan.overlapping)} skipped: an earlier membership period would overlap."
    if plan.unknown:
        text += f" {len(plan.unknown)} unknown external IDs were skipped."
    return text


@require_GET
@permission_required(["groups.view_customergroup", "groups.view_membership"], raise_exception=True)
def member_export(request: HttpRequest, pk) -> StreamingHttpResponse:
    """The current members as CSV, streamed row by row (constant memory at 100,000 members)."""
    group = get_group(pk)
    header = ["external_id", "name", "email", "active", "joined_at"]
    rows = (
        [external_id, name, email, "yes" if active else "no", joined_at.isoformat()]
        for external_id, name, email, active, joined_at in selectors.group_member_rows(group)
    )
    filename = f"{slugify(group.code) or 'group'}-members.csv"
    return csv_download(itertools.chain([header], rows), filename)
