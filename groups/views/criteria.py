"""``/groups/<id>/criteria/``: the criteria editor of a group, its preview and its refresh.

One view serves the card (htmx, loaded by the group page) and the whole page (without
JavaScript); "Preview" and "Save" post the same form, and "Add a condition" fetches one row.
"""

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from background.selectors import work_status
from groups.criteria import conditions as kinds
from groups.criteria import forms, refresh, services
from groups.criteria.models import GroupCriteria
from groups.pages import wants_fragment
from groups.views.groups import get_group

SAVED = (
    "Saved the criteria (version {version}). Refresh to apply them now, or wait for the daily "
    "refresh."
)


def _criteria(group) -> GroupCriteria | None:
    return (
        GroupCriteria.objects.filter(group=group)
        .select_related("updated_by")
        .prefetch_related("always_include", "never_include")
        .first()
    )


def _shown_ids(customers) -> str:
    return " ".join(c.external_id or str(c.pk) for c in customers)


def _initial(criteria: GroupCriteria | None) -> dict:
    if criteria is None:
        return {"enabled": True, "minimum_stay_days": 0}
    return {
        "enabled": criteria.enabled,
        "minimum_stay_days": criteria.minimum_stay_days,
        "always_include": _shown_ids(criteria.always_include.all()),
        "never_include": _shown_ids(criteria.never_include.all()),
        "version": criteria.version,
    }


def _rows(conditions: list[dict]) -> list[dict]:
    return [{"n": n, **forms.row_values(c)} for n, c in enumerate(conditions)]


def _new_row_number() -> int:
    """A number no row on the page has: rows are told apart by it, ordered by position."""
    return 1000 + secrets.randbelow(10**9 - 1000)


VERSIONS_SHOWN = 10


def _versions(criteria: GroupCriteria | None) -> list[dict]:
    """The latest saved versions with their conditions in words: what "criteria v3" meant."""
    if criteria is None:
        return []
    rows = criteria.history.select_related("history_user").order_by("-history_id")
    return [
        {
            "version": row.version,
            "at": row.history_date,
            "by": row.history_user,
            "enabled": row.enabled,
            "minimum_stay_days": row.minimum_stay_days,
            "descriptions": [kinds.describe(c) for c in row.conditions],
        }
        for row in rows[:VERSIONS_SHOWN]
    ]


def criteria_context(group, criteria, *, form=None, conditions=None, **extra) -> dict:
    conditions = criteria.conditions if conditions is None and criteria else conditions or []
    return {
        "versions": _versions(criteria),
        "group": group,
        "criteria": criteria,
        "descriptions": [kinds.describe(c) for c in criteria.conditions] if criteria else [],
        "form": form or forms.CriteriaForm(initial=_initial(criteria)),
        "rows": _rows(conditions),
        "kinds": [(kind.name, kind.label) for kind in kinds.KINDS.values()],
        "choices": {
            "attribute_fields": forms.ATTRIBUTE_FIELD_CHOICES,
            "attribute_ops": forms.ATTRIBUTE_OP_CHOICES,
            "group_ops": forms.GROUP_OP_CHOICES,
            "measures": forms.MEASURE_CHOICES,
            "windows": forms.WINDOW_CHOICES,
            "usage_ops": forms.USAGE_OP_CHOICES,
        },
        **extra,
    }


def _render(request: HttpRequest, context: dict) -> HttpResponse:
    if wants_fragment(request):
        return render(request, "groups/group_criteria.html#criteria", context)
    return render(request, "groups/group_criteria.html", context)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@permission_required("groups.view_groupcriteria", raise_exception=True)
def group_criteria(request: HttpRequest, pk) -> HttpResponse:
    """Show the criteria; pricing managers preview (who would join, who would leave) and save."""
    if request.method == "POST" and not request.user.has_perm("groups.change_groupcriteria"):
        raise PermissionDenied
    group = get_group(pk)
    criteria = _criteria(group)
    if request.method == "GET":
        return _render(request, criteria_context(group, criteria))
    form = forms.CriteriaForm(request.POST)
    conditions = forms.conditions_from_post(request.POST)
    context_extra: dict = {"editing": True}
    if request.POST.get("add") in kinds.KINDS:
        # "Add a condition" without JavaScript: the form comes back with one more row.
        conditions.append(forms.blank_row(request.POST["add"]))
        form.is_valid()
    elif form.is_valid():
        fields = {
            "group": group,
            "conditions": conditions,
            "always_include": form.ids("always_include"),
            "never_include": form.ids("never_include"),
            "minimum_stay_days": form.cleaned_data["minimum_stay_days"],
        }
        try:
            if request.POST.get("action") == "save":
                saved = services.criteria_save(
                    **fields,
                    enabled=form.cleaned_data["enabled"],
                    by=request.user,
                    version=form.cleaned_data["version"],
                )
                if not wants_fragment(request):
                    messages.success(request, SAVED.format(version=saved.version))
                    return redirect("groups:group_detail", pk=group.pk)
                return _render(request, criteria_context(group, _criteria(group), saved=True))
            spec = services.criteria_check(**fields)
            context_extra["preview"] = refresh.preview(group, spec)
            conditions = spec.conditions
        except ValidationError as error:
            context_extra["condition_errors"] = form.apply_service_error(error)
    return _render(
        request,
        criteria_context(group, criteria, form=form, conditions=conditions, **context_extra),
    )


@require_GET
@permission_required("groups.change_groupcriteria", raise_exception=True)
def group_criteria_row(request: HttpRequest, pk) -> HttpResponse:
    """One empty condition row of the kind asked for (``?kind=usage``)."""
    group = get_group(pk)
    kind = request.GET.get("kind", "attribute")
    if kind not in kinds.KINDS:
        kind = "attribute"
    context = criteria_context(group, None)
    context["row"] = {"n": _new_row_number(), **forms.blank_row(kind)}
    return render(request, "groups/group_criteria.html#row", context)


@require_POST
@permission_required("groups.add_membership", raise_exception=True)
def group_criteria_refresh(request: HttpRequest, pk) -> HttpResponse:
    """Start refreshing the group's members now; the card follows the work's progress."""
    group = get_group(pk)
    try:
        work = services.criteria_refresh_start(group=group, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("groups:group_detail", pk=group.pk)
    if wants_fragment(request):
        return render(request, "background/_work.html", {"status": work_status(work)})
    return redirect(reverse("background:work_detail", args=[work.pk]))
