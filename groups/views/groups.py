"""``/groups/``: the list, create, the group page, edit, review and delete."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from groups import charts, selectors, services
from groups.filters import sort_columns
from groups.forms import GroupForm, MemberAddForm
from groups.models import Customer, CustomerGroup
from groups.pages import paginate, redirect_to, wants_fragment
from groups.versions import StaleEdit

GROUPS_PER_PAGE = 25
MEMBERS_PER_PAGE = 50
HISTORY_PER_PAGE = 20
GROUP_COLUMNS = [
    ("name", "Name"),
    ("members", "Members"),
    ("rules", "Rules"),
    ("expiry", "Planned expiry"),
    ("reviewed", "Last review"),
    ("updated", "Updated"),
]


def get_group(pk) -> CustomerGroup:
    try:
        return selectors.group_detail(pk)
    except CustomerGroup.DoesNotExist as exc:
        raise Http404("No such group.") from exc


# --- List and create --------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required("groups.view_customergroup", raise_exception=True)
def group_list(request: HttpRequest) -> HttpResponse:
    """Groups with counts; search, filters, sorting and the page number live in the URL."""
    filterset = selectors.group_list(request.GET)
    page_obj = paginate(filterset.qs, per_page=GROUPS_PER_PAGE, number=request.GET.get("page"))
    context = {
        "filter": filterset,
        "page_obj": page_obj,
        "columns": sort_columns(filterset, GROUP_COLUMNS),
        "filtered": any(request.GET.get(k) for k in ("q", "expiry", "empty", "no_rules")),
    }
    if wants_fragment(request):
        return render(request, "groups/group_list.html#rows", context)
    context["create_form"] = GroupForm()
    return render(request, "groups/group_list.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("groups.add_customergroup", raise_exception=True)
def group_create(request: HttpRequest) -> HttpResponse:
    """Create a group (Pricing managers). Errors come back next to the fields, values kept."""
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(
                name=form.cleaned_data["name"],
                code=form.cleaned_data["code"],
                description=form.cleaned_data["description"],
                expires_on=form.cleaned_data["expires_on"],
                by=request.user,
            )
        except ValidationError as exc:
            form.apply_service_error(exc)
        else:
            messages.success(request, f"Created the group “{group.name}”.")
            url = reverse("groups:group_detail", args=[group.pk])
            return redirect_to(request, url)
    status = 422 if form.errors else 200
    if wants_fragment(request):
        return render(request, "groups/group_form.html#create_form", {"form": form}, status=status)
    return render(request, "groups/group_form.html", {"form": form}, status=status)


# --- The group page ---------------------------------------------------------------------------


def members_context(
    request: HttpRequest,
    group: CustomerGroup,
    *,
    from_request: bool = False,
    add_form: MemberAddForm | None = None,
    candidates=None,
    removed: Customer | None = None,
) -> dict:
    """What the members section needs: a page of members, the count, the add widget.

    ``from_request`` reads the member search and page number from the query string (the
    member list's own URL); otherwise the first page is shown, as after adding or removing.
    """
    term = request.GET.get("q", "").strip() if from_request else ""
    page_obj = paginate(
        selectors.group_members(group, term),
        per_page=MEMBERS_PER_PAGE,
        number=request.GET.get("page") if from_request else 1,
    )
    total = selectors.group_member_count(group) if term else page_obj.paginator.count
    return {
        "group": group,
        "members_page": page_obj,
        "member_total": total,
        "member_q": term,
        "members_query": request.GET if from_request else {},
        "add_form": add_form or MemberAddForm(group=group),
        "candidates": candidates,
        "removed": removed,
    }


def history_context(request: HttpRequest, group: CustomerGroup, *, from_request: bool) -> dict:
    page_obj = paginate(
        selectors.group_membership_history(group),
        per_page=HISTORY_PER_PAGE,
        number=request.GET.get("page") if from_request else 1,
    )
    return {"history_page": page_obj, "history_query": request.GET if from_request else {}}


def detail_context(request: HttpRequest, group: CustomerGroup, **members_kwargs) -> dict:
    """Everything the group page shows, in a fixed number of queries."""
    members_from_request = members_kwargs.pop("members_from_request", False)
    history_from_request = members_kwargs.pop("history_from_request", False)
    context = members_context(request, group, from_request=members_from_request, **members_kwargs)
    context.update(history_context(request, group, from_request=history_from_request))
    context["audit"] = selectors.group_audit_trail(group)
    return context


def _removed_customer(request: HttpRequest, group: CustomerGroup) -> Customer | None:
    """After a no-JS removal the page offers the undo for the customer named in ``?removed=``."""
    removed = request.GET.get("removed")
    if not removed:
        return None
    try:
        return Customer.objects.filter(pk=removed).first()
    except ValidationError:
        return None


@require_GET
@vary_on_headers("HX-Request")
@permission_required("groups.view_customergroup", raise_exception=True)
def group_detail(request: HttpRequest, pk) -> HttpResponse:
    """The group: details, rules, members (add, remove, bulk), history and audit trail."""
    group = get_group(pk)
    if wants_fragment(request) and request.htmx.target == "group-details":
        # "Cancel" on the inline edit form asks for the details again.
        return render(request, "groups/group_detail.html#details", {"group": group})
    context = detail_context(request, group, removed=_removed_customer(request, group))
    return render(request, "groups/group_detail.html", context)


@require_GET
@permission_required("groups.view_customergroup", raise_exception=True)
def group_members_chart(request: HttpRequest, pk) -> HttpResponse:
    """Members at the end of each of the last 12 months, drawn from the membership history.

    The group page loads it once shown (one aggregate over the group's periods, kept out of
    the page's own request); without JavaScript its link opens it as a page.
    """
    group = get_group(pk)
    months = selectors.group_members_by_month(group)
    chart = charts.bar_chart(
        title="Members at the end of each month (this month: now)",
        categories=[label for label, _ in months],
        series=[charts.Series("Members", [count for _, count in months])],
        category_header="Month",
    )
    context = {"group": group, "chart": chart}
    if wants_fragment(request):
        return render(request, "groups/group_members_chart.html#chart", context)
    return render(request, "groups/group_members_chart.html", context)


@require_GET
@vary_on_headers("HX-Request")
@permission_required("groups.view_customergroup", raise_exception=True)
def group_history(request: HttpRequest, pk) -> HttpResponse:
    """Membership history, paginated: a fragment for htmx, else the group page at that page."""
    group = get_group(pk)
    if wants_fragment(request):
        context = {"group": group, **history_context(request, group, from_request=True)}
        return render(request, "groups/group_detail.html#history", context)
    context = detail_context(request, group, history_from_request=True)
    return render(request, "groups/group_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("groups.change_customergroup", raise_exception=True)
def group_edit(request: HttpRequest, pk) -> HttpResponse:
    """Edit the definition (Pricing managers): inline on the group page, or as its own page."""
    group = get_group(pk)
    stale = None
    if request.method == "POST":
        form = GroupForm(request.POST)
        if form.is_valid():
            try:
                services.group_update(
                    group=group,
                    by=request.user,
                    expected_version=form.cleaned_data["version"],
                    **form.group_fields(),
                )
            except ValidationError as exc:
                form.apply_service_error(exc, exclude=group.pk)
            except StaleEdit as exc:
                stale = exc
                form.carry_current_version(exc.current_version)
                group = get_group(pk)
            else:
                messages.success(request, f"Saved “{group.name}”.")
                if wants_fragment(request):
                    context = {"group": group, "oob_title": True}
                    return render(request, "groups/group_detail.html#details", context)
                return redirect("groups:group_detail", pk=group.pk)
    else:
        form = GroupForm.for_group(group)
    status = 409 if stale else 422 if form.errors else 200
    context = {"form": form, "group": group, "stale": stale}
    if wants_fragment(request):
        return render(request, "groups/group_form.html#edit_form", context, status=status)
    return render(request, "groups/group_form.html", context, status=status)


@require_POST
@permission_required("groups.review_customergroup", raise_exception=True)
def group_review(request: HttpRequest, pk) -> HttpResponse:
    """Record that the members were reviewed now (support staff and managers)."""
    group = get_group(pk)
    services.group_mark_reviewed(group=group, by=request.user)
    messages.success(request, f"Marked “{group.name}” as reviewed.")
    if wants_fragment(request):
        return render(request, "groups/group_detail.html#details", {"group": group})
    return redirect("groups:group_detail", pk=group.pk)


@require_http_methods(["GET", "POST"])
@permission_required("groups.delete_customergroup", raise_exception=True)
def group_delete(request: HttpRequest, pk) -> HttpResponse:
    """Confirm, then remove: deleted if it never had a member, archived (history kept) if it
    did; the page names what blocks it (rules) before anyone confirms.

    ``next`` (a path of this site, e.g. the audit list the delete started from) is where the
    page returns, after removing or on cancel; the group list otherwise.
    """
    group = get_group(pk)
    back = _local_path(request, request.POST.get("next") or request.GET.get("next"))
    error = None
    if request.method == "POST":
        try:
            removed = services.group_delete(group=group, by=request.user)
        except ProtectedError as exc:
            error = exc.args[0]
        else:
            messages.success(request, removed.message)
            return redirect_to(request, back or reverse("groups:group_list"))
    context = {
        "group": group,
        "blockers": selectors.group_delete_blockers(group),
        "error": error,
        "next": back,
        "cancel_url": back or reverse("groups:group_detail", args=[group.pk]),
        "has_history": selectors.group_has_history(group),
        "member_count": selectors.group_member_count(group),
    }
    status = 409 if error else 200
    if wants_fragment(request):
        return render(request, "groups/group_delete.html#refused", context, status=status)
    return render(request, "groups/group_delete.html", context, status=status)


def _local_path(request: HttpRequest, target: str | None) -> str:
    """``target`` if it is a path on this site, else ""."""
    if (
        target
        and target.startswith("/")
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return ""
