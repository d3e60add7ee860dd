"""Simulate rating: ``/simulate/``, the coverage grid and a customer's effective pricing.

Read-only pages over the rating engine (see :mod:`pricing.simulation`); nothing is stored. Anyone
who may view rules may simulate: Pricing managers and Support staff.
"""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from groups.models import Customer
from groups.pages import paginate, wants_fragment
from pricing import engine, simulation
from pricing.forms_simulate import CoverageDayForm, SimulationForm
from pricing.selectors import categories_in_use

CAN_SIMULATE = "pricing.view_pricingrule"
SEARCH_MAX = 100


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@require_GET
@permission_required(CAN_SIMULATE, raise_exception=True)
def simulate_page(request: HttpRequest) -> HttpResponse:
    """The simulation: inputs and the result, which htmx refreshes as the inputs change.

    ``?rule=<id>`` pre-fills the inputs for a customer the rule applies to and redirects to the
    link that reproduces that simulation.
    """
    if "rule" in request.GET:
        return _simulate_rule(request)
    categories = categories_in_use()
    data = request.GET.copy()
    # Defaults go into the data so the inputs show them and the pushed URL carries them.
    if not data.get("at"):
        data["at"] = simulation.billing_now().strftime("%Y-%m-%dT%H:%M")
    if not data.get("quantity"):
        data["quantity"] = "1"
    if not data.get("category") and len(categories) == 1:
        data["category"] = categories[0]
    form = SimulationForm(data, categories=categories)
    valid = form.is_valid()
    cleaned = form.cleaned_data
    category = cleaned.get("category", "")
    item_codes = simulation.item_codes_for(category) if category else []
    customer = cleaned.get("customer")
    result = None
    canonical = ""
    if valid:
        item = cleaned["item"] or (item_codes[0] if item_codes else "")
        canonical = simulation.simulate_url(
            customer=customer,
            category=category,
            item=item,
            quantity=cleaned["quantity"],
            at=cleaned["at"],
            add=cleaned["add"],
            remove=cleaned["remove"],
            trace_all=form.trace_all,
        )
        if customer is not None and category and item:
            result = simulation.simulate(
                customer=customer,
                billing_category=category,
                item_code=item,
                quantity=cleaned["quantity"],
                occurred_at=cleaned["at"],
                add_groups=list(cleaned["add"]),
                remove_groups=list(cleaned["remove"]),
                item_codes=item_codes,
                trace_all=form.trace_all,
            )
    term = request.GET.get("q", "")[:SEARCH_MAX]
    context = {
        "form": form,
        "categories": categories,
        "category": category,
        "item_codes": item_codes,
        "item": result.actual.evaluation.usage.item_code if result else "",
        "simulation": result,
        "q": term,
        "customer_choices": simulation.customer_choices(term, customer),
        "selected_customer": customer,
        "add_ids": set(data.getlist("add")),
        "remove_ids": set(data.getlist("remove")),
        "canonical": canonical,
        "trace_all_url": f"{canonical}&trace=all" if canonical and not form.trace_all else "",
        "billing_time_zone": settings.BILLING_TIME_ZONE,
        "error_fields": [form[name] for name in ("customer", "category", "item", "quantity", "at")],
    }
    status = 200 if valid else 422
    if wants_fragment(request):
        response = render(request, "simulate/page.html#update", context, status=status)
        if canonical:
            # The address bar gets the full, reproducible link (defaults resolved, no search).
            push_url(response, canonical)
        return response
    return render(request, "simulate/page.html", context, status=status)


def _simulate_rule(request: HttpRequest) -> HttpResponse:
    rule_id = _uuid_or_none(request.GET.get("rule"))
    prefill = simulation.prefill_from_rule(rule_id) if rule_id else None
    if prefill is None:
        messages.error(request, "That rule does not exist (any more); pick the inputs yourself.")
        return redirect("pricing:simulate")
    level = messages.INFO if prefill.customer else messages.WARNING
    messages.add_message(request, level, prefill.note)
    return redirect(prefill.url)


@require_GET
@permission_required(CAN_SIMULATE, raise_exception=True)
def customer_search(request: HttpRequest) -> HttpResponse:
    """Search-as-you-type for the customer input: radio buttons, the selected customer first."""
    term = request.GET.get("q", "")[:SEARCH_MAX]
    selected_id = _uuid_or_none(request.GET.get("customer"))
    selected = Customer.objects.filter(pk=selected_id).first() if selected_id else None
    if not wants_fragment(request):
        query = request.GET.copy()
        return redirect(f"{reverse('pricing:simulate')}?{query.urlencode()}")
    context = {
        "q": term,
        "customer_choices": simulation.customer_choices(term, selected),
        "selected_customer": selected,
    }
    return render(request, "simulate/page.html#choices", context)


@require_GET
@permission_required(CAN_SIMULATE, raise_exception=True)
def coverage(request: HttpRequest) -> HttpResponse:
    """Categories x groups: the rule that wins for a customer who is only in each group."""
    day_form = CoverageDayForm(request.GET)
    day = day_form.cleaned_data["date"] if day_form.is_valid() else simulation.billing_now().date()
    filterset, groups = simulation.coverage_groups(request.GET)
    page = paginate(groups, per_page=simulation.COVERAGE_PAGE_SIZE, number=request.GET.get("page"))
    category_items = simulation.items_by_category()
    # Only items the category's rules price are accepted; anything else falls back to the default.
    items = {
        category: request.GET.get(f"item-{category}", "")
        for category, codes in category_items.items()
        if request.GET.get(f"item-{category}", "") in codes
    }
    grid = simulation.coverage(
        day=day, groups=list(page.object_list), items=items, category_items=category_items
    )
    context = {
        "grid": grid,
        "page_obj": page,
        "filter": filterset,
        "day_form": day_form,
        "date_min": engine.DATE_MIN,
        "date_max": engine.DATE_MAX,
    }
    status = 200 if day_form.is_valid() else 422
    template = (
        "simulate/coverage.html#grid" if wants_fragment(request) else "simulate/coverage.html"
    )
    return render(request, template, context, status=status)


@require_GET
@permission_required(CAN_SIMULATE, raise_exception=True)
def customer_pricing(request: HttpRequest, pk) -> HttpResponse:
    """Effective pricing now for one customer: embedded in its page, or a page of its own.

    ``?date=`` shows another day (at midday) instead of now.
    """
    customer = get_object_or_404(Customer, pk=pk)
    day_form = CoverageDayForm(request.GET)
    at = None
    if request.GET.get("date") and day_form.is_valid():
        at = simulation.noon_on(day_form.cleaned_data["date"])
    context = {"pricing": simulation.effective_pricing(customer, at=at), "customer": customer}
    if wants_fragment(request):
        return render(request, "simulate/customer_pricing.html#pricing", context)
    return render(request, "simulate/customer_pricing.html", context)


urlpatterns = [
    path("simulate/", simulate_page, name="simulate"),
    path("simulate/coverage/", coverage, name="simulate_coverage"),
    path("simulate/customer-search/", customer_search, name="simulate_customer_search"),
    path("simulate/customers/<uuid:pk>/pricing/", customer_pricing, name="customer_pricing"),
]
