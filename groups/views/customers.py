"""``/customers/``: the list, create, import, the customer page with its groups and history."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from background.selectors import work_status
from groups import selectors, services
from groups.filters import select_options, sort_columns
from groups.forms import (
    CustomerForm,
    CustomerImportConfirmForm,
    CustomerImportForm,
    GroupAddForm,
    apply_membership_error,
)
from groups.models import Customer, CustomerGroup
from groups.pages import paginate, redirect_to, wants_fragment
from groups.views._common import add_membership, confirm_or_remove_membership

CUSTOMERS_PER_PAGE = 50
HISTORY_PER_PAGE = 20
IMPORT_ERRORS_SHOWN = 200
CUSTOMER_COLUMNS = [("name", "Name"), ("external_id", "External ID"), ("created", "Created")]


def get_customer(pk) -> Customer:
    try:
        return Customer.objects.get(pk=pk)
    except Customer.DoesNotExist as exc:
        raise Http404("No such customer.") from exc


@require_GET
@vary_on_headers("HX-Request")
@permission_required("groups.view_customer", raise_exception=True)
def customer_list(request: HttpRequest) -> HttpResponse:
    """Customers with their current groups; search, group, status and sort live in the URL."""
    filterset = selectors.customer_list(request.GET)
    page_obj = paginate(filterset.qs, per_page=CUSTOMERS_PER_PAGE, number=request.GET.get("page"))
    context = {
        "filter": filterset,
        "page_obj": page_obj,
        "columns": sort_columns(filterset, CUSTOMER_COLUMNS),
        "filtered": any(request.GET.get(k) for k in ("q", "group", "active")),
    }
    if wants_fragment(request):
        return render(request, "groups/customer_list.html#rows", context)
    context["group_options"] = select_options(
        selectors.group_choices(), filterset.form["group"].value()
    )
    return render(request, "groups/customer_list.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("groups.add_customer", raise_exception=True)
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(**form.cleaned_data, by=request.user)
        except ValidationError as exc:
            form.apply_service_error(exc)
        else:
            messages.success(request, f"Created the customer “{customer.name}”.")
            url = reverse("groups:customer_detail", args=[customer.pk])
            return redirect_to(request, url)
    status = 422 if form.errors else 200
    context = {"form": form}
    if wants_fragment(request):
        return render(request, "groups/customer_form.html#create_form", context, status=status)
    return render(request, "groups/customer_form.html", context, status=status)


# --- The customer page ------------------------------------------------------------------------


def groups_context(
    customer: Customer,
    *,
    add_form: GroupAddForm | None = None,
    candidates=None,
    removed: CustomerGroup | None = None,
) -> dict:
    return {
        "customer": customer,
        "memberships": list(selectors.customer_current_memberships(customer)),
        "group_add_form": add_form or GroupAddForm(customer=customer),
        "group_candidates": candidates,
        "removed_group": removed,
    }


def history_context(request: HttpRequest, customer: Customer, *, from_request: bool) -> dict:
    page_obj = paginate(
        selectors.customer_membership_history(customer),
        per_page=HISTORY_PER_PAGE,
        number=request.GET.get("page") if from_request else 1,
    )
    return {"history_page": page_obj, "history_query": request.GET if from_request else {}}


def detail_context(
    request: HttpRequest, customer: Customer, *, history_from_request: bool = False, **kwargs
) -> dict:
    context = groups_context(customer, **kwargs)
    context.update(history_context(request, customer, from_request=history_from_request))
    context["audit"] = selectors.customer_audit_trail(customer)
    return context


def _removed_group(request: HttpRequest) -> CustomerGroup | None:
    try:
        return CustomerGroup.objects.filter(pk=request.GET["removed"]).first()
    except (KeyError, ValidationError):
        return None


@require_GET
@vary_on_headers("HX-Request")
@permission_required("groups.view_customer", raise_exception=True)
def customer_detail(request: HttpRequest, pk) -> HttpResponse:
    """The customer: details, current groups (add / remove in place), history, pricing now."""
    customer = get_customer(pk)
    if wants_fragment(request) and request.htmx.target == "customer-details":
        return render(request, "groups/customer_detail.html#details", {"customer": customer})
    context = detail_context(request, customer, removed=_removed_group(request))
    return render(request, "groups/customer_detail.html", context)


@require_GET
@vary_on_headers("HX-Request")
@permission_required("groups.view_customer", raise_exception=True)
def customer_history(request: HttpRequest, pk) -> HttpResponse:
    customer = get_customer(pk)
    if wants_fragment(request):
        context = {"customer": customer, **history_context(request, customer, from_request=True)}
        return render(request, "groups/customer_detail.html#history", context)
    context = detail_context(request, customer, history_from_request=True)
    return render(request, "groups/customer_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("groups.change_customer", raise_exception=True)
def customer_edit(request: HttpRequest, pk) -> HttpResponse:
    """Edit name, external ID, email and status: inline on the customer page or as a page."""
    customer = get_customer(pk)
    if request.method == "POST":
        form = CustomerForm(request.POST)
        if form.is_valid():
            try:
                services.customer_update(customer=customer, by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.apply_service_error(exc)
                customer.refresh_from_db()
            else:
                messages.success(request, f"Saved “{customer.name}”.")
                if wants_fragment(request):
                    context = {"customer": customer, "oob_title": True}
                    return render(request, "groups/customer_detail.html#details", context)
                return redirect("groups:customer_detail", pk=customer.pk)
    else:
        form = CustomerForm.for_customer(customer)
    status = 422 if form.errors else 200
    context = {"form": form, "customer": customer}
    if wants_fragment(request):
        return render(request, "groups/customer_form.html#edit_form", context, status=status)
    return render(request, "groups/customer_form.html", context, status=status)


# --- Groups of one customer -------------------------------------------------------------------


@require_GET
@permission_required("groups.add_membership", raise_exception=True)
def customer_group_search(request: HttpRequest, pk) -> HttpResponse:
    """Groups matching what is typed in the "add to a group" box, current groups left out."""
    customer = get_customer(pk)
    term = request.GET.get("q", "")
    candidates = list(selectors.group_search(term, exclude_customer=customer))
    if wants_fragment(request):
        context = {"customer": customer, "group_candidates": candidates, "term": term.strip()}
        return render(request, "groups/customer_detail.html#group_results", context)
    add_form = GroupAddForm(initial={"q": term}, customer=customer)
    context = detail_context(request, customer, add_form=add_form, candidates=candidates)
    context["term"] = term.strip()
    return render(request, "groups/customer_detail.html", context)


def _groups_response(request: HttpRequest, customer: Customer, *, status: int = 200, **kwargs):
    """The groups section with focus back in the add box, and the history out of band."""
    context = groups_context(customer, **kwargs)
    context.update(history_context(request, customer, from_request=False))
    context.update(focus_add=True, history_oob=True)
    return render(request, "groups/customer_detail.html#groups_update", context, status=status)


@require_POST
@permission_required("groups.add_membership", raise_exception=True)
def customer_group_add(request: HttpRequest, pk) -> HttpResponse:
    customer = get_customer(pk)
    form = GroupAddForm(request.POST, customer=customer)
    if not form.is_valid():
        if wants_fragment(request):
            return _groups_response(request, customer, add_form=form, status=422)
        context = detail_context(request, customer, add_form=form)
        return render(request, "groups/customer_detail.html", context, status=422)
    joined_at = form.cleaned_data.get("joined_at")
    try:
        add_membership(
            request, group=form.cleaned_data["group_obj"], customer=customer, joined_at=joined_at
        )
    except ValidationError as exc:
        apply_membership_error(form, exc)
        if wants_fragment(request):
            return _groups_response(request, customer, add_form=form, status=422)
        context = detail_context(request, customer, add_form=form)
        return render(request, "groups/customer_detail.html", context, status=422)
    if wants_fragment(request):
        return _groups_response(request, customer)
    return redirect(reverse("groups:customer_detail", args=[customer.pk]) + "#customer-groups")


@require_http_methods(["GET", "POST"])
@permission_required("groups.change_membership", raise_exception=True)
def customer_group_remove(request: HttpRequest, pk, group_pk) -> HttpResponse:
    customer = get_customer(pk)
    group = get_object_or_404(CustomerGroup, pk=group_pk)
    detail_url = reverse("groups:customer_detail", args=[customer.pk])
    confirm = confirm_or_remove_membership(
        request, group=group, customer=customer, cancel_url=detail_url
    )
    if confirm is not None:
        return confirm
    if wants_fragment(request):
        return _groups_response(request, customer, removed=group)
    return redirect(f"{detail_url}?removed={group.pk}#customer-groups")


# --- Import -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(
    ["groups.add_customer", "groups.change_customer", "groups.add_membership"],
    raise_exception=True,
)
def customer_import(request: HttpRequest) -> HttpResponse:
    """Import customers from CSV: a dry-run preview line by line, then apply all or nothing."""
    fragment = wants_fragment(request)
    template = "groups/customer_import.html"
    context: dict = {"max_upload": settings.RATECARD_MAX_UPLOAD_BYTES}
    form = CustomerImportForm()
    status = 200
    if request.method == "POST" and "confirm" in request.POST:
        confirm = CustomerImportConfirmForm(request.POST)
        if confirm.is_valid():
            raw = confirm.cleaned_data["csv_text"].encode("utf-8")
            try:
                work = services.customer_import_start(
                    raw=raw, filename=request.POST.get("filename", ""), by=request.user
                )
            except ValidationError as exc:
                context["import_errors"] = exc.messages
                status = 422
            else:
                # Applied by a worker: the panel follows the work (the shared partial) and
                # the import goes on if the page is closed.
                if fragment:
                    return render(request, "background/_work.html", {"status": work_status(work)})
                return redirect("background:work_detail", pk=work.pk)
        else:
            context["import_errors"] = ["The preview was incomplete; upload the file again."]
            status = 422
    elif request.method == "POST":
        form = CustomerImportForm(request.POST, request.FILES)
        if form.is_valid():
            raw = form.cleaned_data["csv_file"].read()
            try:
                plan = services.customer_import_plan(raw=raw)
            except ValidationError as exc:
                form.add_error("csv_file", exc)
            else:
                context.update(
                    plan=plan,
                    errors_shown=plan.errors[:IMPORT_ERRORS_SHOWN],
                    errors_more=max(0, len(plan.errors) - IMPORT_ERRORS_SHOWN),
                    csv_text=raw.decode("utf-8-sig"),
                    filename=form.cleaned_data["csv_file"].name,
                )
                return render(request, f"{template}#preview" if fragment else template, context)
        status = 422
    context["form"] = form
    name = f"{template}#upload_form" if fragment else template
    return render(request, name, context, status=status)
