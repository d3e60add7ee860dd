"""Rule pages: the list in evaluation order, a rule's page, create and edit with live validation.

The form validates as the user goes: a change posts the form with ``_validate`` and only the
error slots come back (out of band), so the field being typed in is never replaced. Submitting
runs the same checks, through the services, and saves. Support staff read; pricing managers
write; every view checks its permission whatever the template shows.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods

from groups.models import Customer, CustomerGroup
from groups.pages import paginate, redirect_to, wants_fragment
from groups.selectors import customer_search, group_search
from groups.versions import StaleEdit
from pricing import services
from pricing.advice import rule_advice
from pricing.changesets.editing import changeset_picker, direct_edit, direct_saves_allowed
from pricing.clock import billing_today
from pricing.filters import RuleFilter
from pricing.forms import RuleForm, mark_invalid
from pricing.forms_usage import ImpactForm
from pricing.models import PriceList, PricingRule, TargetKind
from pricing.selectors import categories_in_use
from pricing.views._history import foreign_key_ids, history_entries
from pricing.views.changesets_editing import rule_form_to_changeset
from pricing.views.price_lists import carry_current_version, filtering

PAGE_SIZE = 50
HISTORY_LIMIT = 50
PICKER_RESULTS = 10
TEMPLATE_LIST = "pricing/rule_list.html"
TEMPLATE_DETAIL = "pricing/rule_detail.html"
TEMPLATE_FORM = "pricing/rule_form.html"
TEMPLATE_CONFIRM = "pricing/confirm.html"


# --- The list ---------------------------------------------------------------------------------


@require_GET
@permission_required("pricing.view_pricingrule", raise_exception=True)
def rule_list(request: HttpRequest) -> HttpResponse:
    """Rules in the order the engine tries them, filtered by what the URL says."""
    today = billing_today()
    filterset = RuleFilter(request.GET, today=today)
    page = paginate(filterset.qs, per_page=PAGE_SIZE, number=request.GET.get("page"))
    rules = list(page.object_list)
    for rule in rules:
        rule.current_status = rule.status_on(today)
    context = {
        "filter": filterset,
        "page": page,
        "rules": rules,
        "filtering": filtering(request),
        "today": today,
    }
    if wants_fragment(request):
        return render(request, f"{TEMPLATE_LIST}#results", context)
    context["group_choices"] = filterset.group_choices()
    context["customer_choices"] = filterset.customer_choices()
    return render(request, TEMPLATE_LIST, context)


# --- The rules of one group -------------------------------------------------------------------


@require_GET
@permission_required("pricing.view_pricingrule", raise_exception=True)
def group_rules(request: HttpRequest, pk) -> HttpResponse:
    """The rules that target a group, in the engine's order, with their status today.

    The group page loads the ``#rules`` fragment into its rules card (``groups`` knows nothing
    of pricing); ``?blocking=1`` words it for the group's delete page. Without JavaScript the
    card's link leads to this page.
    """
    group = get_object_or_404(CustomerGroup, pk=pk)
    today = billing_today()
    rules = list(
        PricingRule.objects.filter(group=group).select_related("price_list").in_evaluation_order()
    )
    for rule in rules:
        rule.current_status = rule.status_on(today)
    context = {"group": group, "rules": rules, "blocking": request.GET.get("blocking") == "1"}
    if wants_fragment(request):
        return render(request, "pricing/group_rules.html#rules", context)
    return render(request, "pricing/group_rules.html", context)


# --- One rule ---------------------------------------------------------------------------------


def rule_history(rule: PricingRule) -> list:
    """The rule's changes, newest first, foreign keys by name (one query each, at most four)."""
    records = list(rule.history.select_related("history_user"))
    ids = foreign_key_ids(records, ["price_list", "group", "customer"])
    names: dict[str, dict] = {"price_list": {}, "group": {}, "customer": {}}
    if ids["price_list"]:
        lists = PriceList.objects.filter(pk__in=ids["price_list"]).only("name", "currency")
        names["price_list"] = {p.pk: str(p) for p in lists}
    if ids["group"]:
        groups = CustomerGroup.objects.filter(pk__in=ids["group"]).only("name")
        names["group"] = {g.pk: g.name for g in groups}
    if ids["customer"]:
        customers = Customer.objects.filter(pk__in=ids["customer"]).only("name")
        names["customer"] = {c.pk: c.name for c in customers}
    labels = {"is_active": "Enabled"}
    return history_entries(records, names=names, labels=labels, exclude={"created_at"})


def _detail_context(rule: PricingRule) -> dict:
    history = rule_history(rule)
    rule.current_status = rule.status_on(billing_today())
    return {"rule": rule, "history": history[:HISTORY_LIMIT], "history_total": len(history)}


def _get_rule(pk) -> PricingRule:
    return get_object_or_404(PricingRule.objects.with_targets(), pk=pk)


@require_GET
@permission_required("pricing.view_pricingrule", raise_exception=True)
def rule_detail(request: HttpRequest, pk) -> HttpResponse:
    rule = _get_rule(pk)
    return render(request, TEMPLATE_DETAIL, {**_detail_context(rule), **changeset_picker(request)})


def _confirm(request: HttpRequest, rule: PricingRule, **context) -> HttpResponse:
    detail_url = reverse("pricing:rule_detail", args=[rule.pk])
    return render(
        request,
        TEMPLATE_CONFIRM,
        {
            "action": request.path,
            "cancel_url": detail_url,
            "breadcrumbs": [("Rules", reverse("pricing:rule_list"))],
            "parent": (rule.code, detail_url),
            **context,
        },
    )


def _toggle(request: HttpRequest, pk, *, enable: bool) -> HttpResponse:
    rule = _get_rule(pk)
    if request.method == "GET":
        if enable:
            text = "It applies again from its valid-from date to its valid-to date."
        else:
            text = "It stops applying at once; usage already rated keeps its price."
        return _confirm(
            request,
            rule,
            title=f"{'Enable' if enable else 'Disable'} the rule “{rule.code}”?",
            text=text,
            button="Enable rule" if enable else "Disable rule",
            danger=not enable,
        )
    if enable:
        services.rule_enable(rule=rule, by=request.user)
        messages.success(request, f"Rule “{rule.code}” enabled.")
    else:
        services.rule_disable(rule=rule, by=request.user)
        messages.success(request, f"Rule “{rule.code}” disabled.")
    if not wants_fragment(request):
        return redirect(reverse("pricing:rule_detail", args=[rule.pk]))
    context = {**_detail_context(rule), "focus_toggle": True}
    return render(request, f"{TEMPLATE_DETAIL}#rule", context)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_pricingrule", raise_exception=True)
@direct_edit
def rule_disable(request: HttpRequest, pk) -> HttpResponse:
    """GET: confirm (no JavaScript). POST: disable; htmx gets the rule's page body back."""
    return _toggle(request, pk, enable=False)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_pricingrule", raise_exception=True)
@direct_edit
def rule_enable(request: HttpRequest, pk) -> HttpResponse:
    return _toggle(request, pk, enable=True)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.delete_pricingrule", raise_exception=True)
@direct_edit
def rule_delete(request: HttpRequest, pk) -> HttpResponse:
    rule = _get_rule(pk)
    if request.method == "GET":
        return _confirm(
            request,
            rule,
            title=f"Delete the rule “{rule.code}”?",
            text="Usage already rated keeps its price and the rule's code; disabling it instead "
            "keeps its history on this page.",
            button="Delete rule",
            danger=True,
        )
    code = rule.code
    services.rule_delete(rule=rule, by=request.user)
    messages.success(request, f"Rule “{code}” deleted.")
    return redirect_to(request, reverse("pricing:rule_list"))


# --- Create and edit --------------------------------------------------------------------------


def _can_write_rules(user) -> bool:
    return user.has_perm("pricing.add_pricingrule") or user.has_perm("pricing.change_pricingrule")


def _picker(form: RuleForm, name: str) -> dict:
    """What a target picker shows: the search typed, its matches, the one ticked."""
    term = (form[f"{name}_q"].value() or "").strip()
    search = customer_search if name == "customer" else group_search
    return {
        "term": term,
        "results": list(search(term, limit=PICKER_RESULTS)),
        "selected": form.picked(name),
    }


def _advice(form: RuleForm, rule: PricingRule | None) -> list[str]:
    """Warnings that do not refuse the rule (its validity already ended, who was a member)."""
    today = billing_today()
    if form.is_bound:
        return rule_advice(**form.rule_fields(), today=today)
    if rule is not None:
        return rule_advice(
            valid_from=rule.valid_from, valid_to=rule.valid_to, group=rule.group, today=today
        )
    return []


def _form_context(form: RuleForm, rule: PricingRule | None) -> dict:
    if rule is None:
        action = reverse("pricing:rule_create")
        cancel_url = reverse("pricing:rule_list")
    else:
        action = reverse("pricing:rule_update", args=[rule.pk])
        cancel_url = reverse("pricing:rule_detail", args=[rule.pk])
    return {
        "form": form,
        "rule": rule,
        "action": action,
        "cancel_url": cancel_url,
        "categories": categories_in_use(),
        "group_picker": _picker(form, "group"),
        "customer_picker": _picker(form, "customer"),
        "advice": _advice(form, rule),
        # A rule needs a price list: with none yet, the form says where to create one.
        "no_price_lists": not PriceList.objects.exists(),
    }


def _form_page(
    request: HttpRequest,
    form: RuleForm,
    rule: PricingRule | None,
    status: int = 200,
    stale: StaleEdit | None = None,
) -> HttpResponse:
    template = f"{TEMPLATE_FORM}#form" if wants_fragment(request) else TEMPLATE_FORM
    context = {**_form_context(form, rule), "stale": stale, **changeset_picker(request)}
    return render(request, template, context, status=status)


def _check(form: RuleForm, rule: PricingRule | None, *, live: bool) -> bool:
    """Parse, then run the services' checks on whatever parsed; True when all is well."""
    form.is_valid()
    try:
        services.rule_validate(rule=rule, **form.rule_fields())
    except ValidationError as exc:
        form.add_service_errors(exc)
    if live:
        form.drop_not_filled_errors()
    return not form.errors


def _focus_first_error(form: RuleForm) -> None:
    name = form.first_error_field()
    if name in ("group", "customer"):
        name = f"{name}_q"  # the search box stands for the (hidden) picked field
    form.fields[name or "name"].widget.attrs["autofocus"] = True


def _post(request: HttpRequest, rule: PricingRule | None) -> HttpResponse:
    form = RuleForm(request.POST)
    if "_validate" in request.POST:
        _check(form, rule, live=True)
        context = {"form": form, "advice": _advice(form, rule)}
        return render(request, f"{TEMPLATE_FORM}#field_errors", context)
    if request.POST.get("_search") in ("group", "customer"):
        # The search button of a picker, for browsers without JavaScript.
        form.is_valid()
        form.errors.clear()
        form.fields[f"{request.POST['_search']}_q"].widget.attrs["autofocus"] = True
        return _form_page(request, form, rule)
    stale = None
    to_changeset = "_changeset" in request.POST or not direct_saves_allowed(request.user)
    if _check(form, rule, live=False) and to_changeset:
        response = rule_form_to_changeset(request, form, rule)
        if response is not None:
            return response
    elif not form.errors:
        try:
            if rule is None:
                saved = services.rule_create(by=request.user, **form.rule_fields())
                messages.success(request, f"Rule “{saved.code}” created.")
            else:
                saved = services.rule_update(
                    rule=rule,
                    by=request.user,
                    expected_version=form.cleaned_data.get("version"),
                    **form.rule_fields(),
                )
                messages.success(request, f"Rule “{saved.code}” saved.")
        except ValidationError as exc:  # lost a race for the code since the check
            form.add_service_errors(exc)
        except StaleEdit as exc:
            stale = exc
            carry_current_version(form, exc)
        else:
            for text in _advice(form, saved):
                messages.warning(request, text)
            return redirect_to(request, reverse("pricing:rule_detail", args=[saved.pk]))
    mark_invalid(form)
    _focus_first_error(form)
    if stale is not None:
        return _form_page(request, form, rule, status=409, stale=stale)
    return _form_page(request, form, rule, status=422)


def _initial_from_query(request: HttpRequest) -> dict:
    """Prefill from links such as "Create a rule for this group" (?group=, ?customer=, ...)."""
    initial: dict = {"valid_from": billing_today(), "priority": 0, "is_active": True}
    params = request.GET
    try:
        if params.get("price_list"):
            initial["price_list"] = PriceList.objects.filter(pk=params["price_list"]).first()
        if params.get("group"):
            group = CustomerGroup.objects.filter(pk=params["group"]).first()
            if group is not None:
                initial.update(group=group, target_kind=TargetKind.GROUP.value)
        elif params.get("customer"):
            customer = Customer.objects.filter(pk=params["customer"]).first()
            if customer is not None:
                initial.update(customer=customer.pk, target_kind=TargetKind.CUSTOMER.value)
    except ValidationError:  # not a UUID: ignore the prefill
        pass
    if params.get("billing_category"):
        initial["billing_category"] = params["billing_category"][:64]
    return initial


@require_http_methods(["GET", "POST"])
@permission_required("pricing.add_pricingrule", raise_exception=True)
def rule_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _post(request, None)
    form = RuleForm(initial=_initial_from_query(request))
    form.fields["name"].widget.attrs["autofocus"] = True
    return _form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_pricingrule", raise_exception=True)
def rule_update(request: HttpRequest, pk) -> HttpResponse:
    rule = _get_rule(pk)
    if request.method == "POST":
        return _post(request, rule)
    form = RuleForm(initial=RuleForm.initial_for(rule))
    form.fields["name"].widget.attrs["autofocus"] = True
    return _form_page(request, form, rule)


@require_GET
@permission_required("pricing.change_pricingrule", raise_exception=True)
def rule_impact(request: HttpRequest, pk) -> HttpResponse:
    """ "Preview the impact of this edit": the rule form's values, unsaved, opened in the impact
    preview (over the last 30 days) as a draft of this rule."""
    rule = _get_rule(pk)
    form = RuleForm(request.GET)
    form.is_valid()  # what parsed is drafted; the rest keeps the rule's current values
    query = ImpactForm.query_for_draft(rule, form.rule_fields())
    url = f"{reverse('pricing:usage_impact')}?{urlencode(query)}"
    return redirect_to(request, url)


def _picker_options(request: HttpRequest, name: str) -> HttpResponse:
    if not _can_write_rules(request.user):
        raise PermissionDenied
    form = RuleForm(request.GET)
    context = {"name": name, **_picker(form, name)}
    return render(request, "pricing/_picker_options.html", context)


@require_GET
def rule_customer_options(request: HttpRequest) -> HttpResponse:
    """Search-as-you-type for the rule form's customer picker (at most ten matches)."""
    return _picker_options(request, "customer")


@require_GET
def rule_group_options(request: HttpRequest) -> HttpResponse:
    """Search-as-you-type for the rule form's group picker (at most ten matches)."""
    return _picker_options(request, "group")


urlpatterns = [
    path("pricing/rules/", rule_list, name="rule_list"),
    path("pricing/rules/new/", rule_create, name="rule_create"),
    path("pricing/rules/customer-options/", rule_customer_options, name="rule_customer_options"),
    path("pricing/rules/group-options/", rule_group_options, name="rule_group_options"),
    path("pricing/rules/<uuid:pk>/", rule_detail, name="rule_detail"),
    path("pricing/rules/<uuid:pk>/edit/", rule_update, name="rule_update"),
    path("pricing/rules/<uuid:pk>/disable/", rule_disable, name="rule_disable"),
    path("pricing/rules/<uuid:pk>/enable/", rule_enable, name="rule_enable"),
    path("pricing/rules/<uuid:pk>/delete/", rule_delete, name="rule_delete"),
    path("pricing/rules/<uuid:pk>/impact/", rule_impact, name="rule_impact"),
    path("pricing/groups/<uuid:pk>/rules/", group_rules, name="group_rules"),
]
