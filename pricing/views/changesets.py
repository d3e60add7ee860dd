"""Changeset pages: the list, a changeset with its field diff, impact gate, review and
publication; the price book as of an instant.

Support staff read; pricing managers draft, submit and publish; another pricing manager
approves (``pricing.approve_changeset``). Every view checks its permission whatever the template
shows; the services refuse a transition from a wrong state with a message shown on the page.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from background.selectors import work_status
from groups.models import Customer
from groups.pages import paginate, redirect_to
from pricing.changesets import impact, selectors
from pricing.changesets import publish as publishing
from pricing.changesets import services as changesets
from pricing.changesets.asof import price_book_as_of
from pricing.changesets.diff import change_diffs
from pricing.changesets.forms import (
    ChangesetForm,
    CommentForm,
    ImpactWindowForm,
    PriceBookForm,
    ScheduleForm,
)
from pricing.clock import billing_now
from pricing.models import (
    Changeset,
    ChangesetChange,
    ChangesetState,
)
from pricing.views.changesets_editing import urlpatterns as editing_urlpatterns

PAGE_SIZE = 50
TEMPLATE_LIST = "pricing/changesets/list.html"
TEMPLATE_DETAIL = "pricing/changesets/detail.html"
TEMPLATE_FORM = "pricing/changesets/form.html"
TEMPLATE_BOOK = "pricing/changesets/price_book.html"

# verb -> (permission, service, confirmation asked without JavaScript, success message)
STEPS = {
    "submit": (
        "pricing.change_changeset",
        changesets.changeset_submit,
        "",
        "Submitted for review.",
    ),
    "reopen": ("pricing.change_changeset", changesets.changeset_reopen, "", "Back to a draft."),
    "rebase": (
        "pricing.change_changeset",
        changesets.changeset_rebase,
        "",
        "Rebased on the current versions: look at the diff again.",
    ),
    "withdraw": (
        "pricing.change_changeset",
        changesets.changeset_withdraw,
        "Withdraw this changeset? It can no longer be published.",
        "Withdrawn.",
    ),
    "approve": ("pricing.approve_changeset", changesets.changeset_approve, "", "Approved."),
    "reject": ("pricing.approve_changeset", changesets.changeset_reject, "", "Rejected."),
    "publish": (
        "pricing.publish_changeset",
        publishing.changeset_publish,
        "Publish now? Every change becomes live in one step.",
        "Published: the changes are live.",
    ),
    "schedule": ("pricing.publish_changeset", changesets.changeset_schedule, "", "Scheduled."),
    "unschedule": (
        "pricing.publish_changeset",
        changesets.changeset_unschedule,
        "",
        "No longer scheduled.",
    ),
    "rollback": (
        "pricing.publish_changeset",
        changesets.changeset_rollback,
        "Draft the rollback? A new changeset restoring what this one changed is created "
        "(not published): it goes through the same impact and review.",
        "Rollback drafted: review it and publish it like any changeset.",
    ),
}
STATE_CLASSES = {
    ChangesetState.DRAFT: "text-bg-secondary",
    ChangesetState.SUBMITTED: "text-bg-info",
    ChangesetState.APPROVED: "text-bg-primary",
    ChangesetState.SCHEDULED: "text-bg-warning",
    ChangesetState.PUBLISHED: "text-bg-success",
    ChangesetState.REJECTED: "text-bg-danger",
    ChangesetState.WITHDRAWN: "text-bg-dark",
}


@require_GET
@permission_required("pricing.view_changeset", raise_exception=True)
def changeset_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    page = paginate(
        selectors.changesets_list(state=state), per_page=PAGE_SIZE, number=request.GET.get("page")
    )
    rows = list(page.object_list)
    for changeset in rows:
        changeset.state_class = STATE_CLASSES[changeset.state]
    context = {
        "page": page,
        "changesets": rows,
        "state": state,
        "states": ChangesetState.choices,
        "require_approval": settings.RATECARD_REQUIRE_APPROVAL,
    }
    return render(request, TEMPLATE_LIST, context)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.add_changeset", raise_exception=True)
def changeset_create(request: HttpRequest) -> HttpResponse:
    form = ChangesetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            changeset = changesets.changeset_create(by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Changeset “{changeset.title}” created.")
            return redirect_to(request, reverse("pricing:changeset_detail", args=[changeset.pk]))
    status = 422 if request.method == "POST" else 200
    return render(request, TEMPLATE_FORM, {"form": form}, status=status)


def _detail_context(request: HttpRequest, changeset: Changeset, **extra) -> dict:
    changes = list(changeset.changes.all())
    user = request.user
    own = changeset.author_id == user.pk
    bypass = own and user.is_superuser and settings.RATECARD_APPROVAL_SUPERUSER_BYPASS
    conflicts = (
        publishing.conflicts_of(changeset)
        if changeset.state not in (ChangesetState.PUBLISHED, ChangesetState.WITHDRAWN)
        else []
    )
    start, end = impact.default_window()
    context = {
        "changeset": changeset,
        "diffs": change_diffs(changes),
        "events": list(changeset.events.all()),
        "conflicts": conflicts,
        "state_class": STATE_CLASSES[changeset.state],
        "can_review": user.has_perm("pricing.approve_changeset") and (not own or bypass),
        "own": own,
        "can_publish_state": changeset.state in changesets.publishable_states(),
        "require_approval": settings.RATECARD_REQUIRE_APPROVAL,
        "comment_form": CommentForm(),
        "schedule_form": ScheduleForm(),
        "impact_form": ImpactWindowForm(initial={"start": start, "end": end}),
        "impact": changeset.impact_report,
        "impact_status": work_status(changeset.impact_work)
        if changeset.impact_work is not None
        else None,
        "billing_now": billing_now(),
        "rollbacks": list(changeset.rollbacks.all()),
    }
    context.update(extra)
    return context


def _get(pk) -> Changeset:
    return get_object_or_404(selectors.changeset_detail(), pk=pk)


@require_GET
@permission_required("pricing.view_changeset", raise_exception=True)
def changeset_detail(request: HttpRequest, pk) -> HttpResponse:
    changeset = _get(pk)
    return render(request, TEMPLATE_DETAIL, _detail_context(request, changeset))


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_changeset", raise_exception=True)
def changeset_step(request: HttpRequest, pk, verb: str) -> HttpResponse:
    """One transition of the changeset (submit, approve, publish ...); a GET asks for the
    confirmation of those that need one (for browsers without JavaScript)."""
    if verb not in STEPS:
        raise Http404("No such step.")
    permission, service, confirm, success = STEPS[verb]
    if not request.user.has_perm(permission):
        raise PermissionDenied
    changeset = _get(pk)
    url = reverse("pricing:changeset_detail", args=[changeset.pk])
    if request.method == "GET":
        if not confirm:
            return redirect_to(request, url)
        context = {
            "title": f"{verb.capitalize()} “{changeset.title}”",
            "text": confirm,
            "action": request.path,
            "button": verb.capitalize(),
            "danger": verb == "withdraw",
            "cancel_url": url,
            "breadcrumbs": [("Changesets", reverse("pricing:changeset_list"))],
            "parent": (changeset.title, url),
        }
        return render(request, "pricing/confirm.html", context)
    kwargs = {}
    form = None
    if verb in ("approve", "reject"):
        form = CommentForm(request.POST)
        form.is_valid()
        kwargs["comment"] = form.cleaned_data.get("comment", "")
    elif verb == "schedule":
        form = ScheduleForm(request.POST)
        if not form.is_valid():
            context = _detail_context(request, changeset, schedule_form=form)
            return render(request, TEMPLATE_DETAIL, context, status=422)
        kwargs["at"] = form.cleaned_data["at"]
    try:
        result = service(changeset=changeset, by=request.user, **kwargs)
    except publishing.ChangesetConflict as exc:
        context = _detail_context(request, changeset, publish_conflicts=exc.conflicts)
        return render(request, TEMPLATE_DETAIL, context, status=409)
    except ValidationError as exc:
        extra = {"step_errors": exc.messages}
        if form is not None and verb in ("approve", "reject"):
            extra["comment_form"] = form
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
        context = _detail_context(request, changeset, **extra)
        return render(request, TEMPLATE_DETAIL, context, status=422)
    messages.success(request, success)
    if verb == "rollback":
        url = reverse("pricing:changeset_detail", args=[result.pk])
    return redirect_to(request, url)


@require_POST
@permission_required("pricing.change_changeset", raise_exception=True)
def changeset_change_remove(request: HttpRequest, pk, change_id: int) -> HttpResponse:
    change = get_object_or_404(ChangesetChange, changeset_id=pk, pk=change_id)
    url = reverse("pricing:changeset_detail", args=[pk])
    try:
        changesets.change_remove(change=change, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Removed: {change}.")
    return redirect_to(request, url)


@require_POST
@permission_required("pricing.change_changeset", raise_exception=True)
def changeset_impact(request: HttpRequest, pk) -> HttpResponse:
    """Run the impact gate over the chosen window (in the request, or as background work)."""
    changeset = _get(pk)
    form = ImpactWindowForm(request.POST)
    if not form.is_valid():
        context = _detail_context(request, changeset, impact_form=form)
        return render(request, TEMPLATE_DETAIL, context, status=422)
    try:
        impact.impact_start(
            changeset=changeset,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            by=request.user,
        )
    except ValidationError as exc:
        context = _detail_context(request, changeset, impact_form=form, impact_error=exc.messages)
        return render(request, TEMPLATE_DETAIL, context, status=422)
    return redirect_to(request, reverse("pricing:changeset_detail", args=[pk]) + "#impact")


@require_GET
@permission_required("pricing.view_pricingrule", raise_exception=True)
def price_book(request: HttpRequest) -> HttpResponse:
    """The rules and prices in force at an instant, and one customer's prices then."""
    form = PriceBookForm(request.GET or None)
    book = None
    matches = []
    status = 200
    if form.is_bound and form.is_valid():
        at = form.cleaned_data.get("at") or billing_now()
        customer = form.cleaned_data.get("customer")
        query = (form.cleaned_data.get("customer_q") or "").strip()
        if customer is None and query:
            matches = list(Customer.objects.search(query)[:10])
            if len(matches) == 1:
                customer, matches = matches[0], []
        book = price_book_as_of(at, customer)
        # Shown again as the browser's date-time input writes it (no seconds' fractions).
        form = PriceBookForm(initial={"at": at, "customer_q": customer.name if customer else query})
    elif form.is_bound:
        status = 422
    else:
        book = price_book_as_of(billing_now())
    return render(
        request, TEMPLATE_BOOK, {"form": form, "book": book, "matches": matches}, status=status
    )


urlpatterns = [
    path("pricing/changesets/", changeset_list, name="changeset_list"),
    path("pricing/changesets/new/", changeset_create, name="changeset_create"),
    path("pricing/changesets/<uuid:pk>/", changeset_detail, name="changeset_detail"),
    path("pricing/changesets/<uuid:pk>/impact/", changeset_impact, name="changeset_impact"),
    path(
        "pricing/changesets/<uuid:pk>/changes/<int:change_id>/remove/",
        changeset_change_remove,
        name="changeset_change_remove",
    ),
    path("pricing/changesets/<uuid:pk>/<str:verb>/", changeset_step, name="changeset_step"),
    *editing_urlpatterns,
    path("pricing/price-book/", price_book, name="price_book"),
]
