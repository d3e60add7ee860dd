"""Price list pages: the list, one list with its items edited in place, create, edit, delete.

Every view answers an htmx request with the fragment it swaps and any other request with a
full page or a redirect, so each action also works as a plain form post. Reading needs
``view_pricelist``; every change needs the matching add/change/delete permission, checked here
whatever the template shows.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from groups.pages import paginate, redirect_to, wants_fragment
from groups.versions import StaleEdit
from pricing import engine, services
from pricing.changesets.editing import changeset_picker, direct_edit, direct_saves_allowed
from pricing.clock import billing_today
from pricing.filters import PriceListFilter
from pricing.forms import PriceListForm, PriceListItemForm, mark_invalid
from pricing.models import PriceList, PriceListItem
from pricing.selectors_prices import derivation_chain, inherited_prices
from pricing.views._history import foreign_key_ids, format_value, history_entries
from pricing.views.changesets_editing import price_list_form_to_changeset

PAGE_SIZE = 25
HISTORY_LIMIT = 50
TEMPLATE_LIST = "pricing/price_list_list.html"
TEMPLATE_DETAIL = "pricing/price_list_detail.html"
TEMPLATE_FORM = "pricing/price_list_form.html"
TEMPLATE_CONFIRM = "pricing/confirm.html"


def carry_current_version(form, stale: StaleEdit) -> None:
    """After a refused stale save, the form keeps what the user typed and now carries the
    current version: saving again, having seen what changed, overwrites it knowingly."""
    data = form.data.copy()
    data[form.add_prefix("version")] = str(stale.current_version)
    form.data = data


def filtering(request: HttpRequest) -> bool:
    return any(value for key, value in request.GET.items() if key != "page")


# --- The list ---------------------------------------------------------------------------------


@require_GET
@permission_required("pricing.view_pricelist", raise_exception=True)
def price_list_list(request: HttpRequest) -> HttpResponse:
    """Price lists with item and rule counts; search and currency filter in the URL."""
    filterset = PriceListFilter(request.GET)
    page = paginate(filterset.qs, per_page=PAGE_SIZE, number=request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "price_lists": list(page.object_list),
        "filtering": filtering(request),
    }
    template = f"{TEMPLATE_LIST}#results" if wants_fragment(request) else TEMPLATE_LIST
    return render(request, template, context)


# --- One list and its items -------------------------------------------------------------------


def _items(price_list: PriceList) -> list[PriceListItem]:
    """The list's items by code, whatever its case (SMS between GB and minute)."""
    return _decorate(list(price_list.items.order_by(Lower("item_code"), "pk")))


def _decorate(items: list[PriceListItem]) -> list[PriceListItem]:
    for item in items:
        item.price_display = format_value(item.unit_price)
        price = item.engine_price()
        # The price model in the engine's words, for anything but a plain per-unit price.
        item.model_display = (
            "" if price.simple else engine.describe(price, item.price_list.currency)
        )
    return items


def price_list_history(price_list: PriceList) -> list:
    """The list's own changes and its items', newest first (two queries)."""
    records = list(price_list.history.select_related("history_user"))
    bases = foreign_key_ids(records, ["base_price_list"])["base_price_list"]
    # Bases by code, not id; no query for a list that was never based on another.
    names = (
        {"base_price_list": dict(PriceList.objects.filter(pk__in=bases).values_list("pk", "code"))}
        if bases
        else {}
    )
    own = history_entries(
        records, exclude={"created_at"}, subject=lambda record: "Price list", names=names
    )
    items = history_entries(
        PriceListItem.history.filter(price_list_id=price_list.pk).select_related("history_user"),
        exclude={"price_list"},
        subject=lambda record: f"Item {record.item_code}",
    )
    return sorted([*own, *items], key=lambda entry: entry.when, reverse=True)


def _item_form(item: PriceListItem | None = None, data=None) -> PriceListItemForm:
    """A row's form: its own prefix and ``form=`` attribute, so rows never mix their inputs."""
    if item is None:
        return PriceListItemForm(data, prefix="new")
    initial = {
        "item_code": item.item_code,
        "unit": item.unit,
        "unit_price": item.unit_price,
        "version": item.version,
    }
    form = PriceListItemForm(data, prefix=f"item-{item.pk}", initial=initial)
    for field in form.fields.values():
        field.widget.attrs["form"] = f"item-form-{item.pk}"
    return form


def _detail_context(
    request: HttpRequest,
    price_list: PriceList,
    *,
    add_form: PriceListItemForm | None = None,
    edit_item: PriceListItem | None = None,
    edit_form: PriceListItemForm | None = None,
) -> dict:
    today = billing_today()
    rules = list(price_list.rules.in_evaluation_order().select_related("group", "customer"))
    for rule in rules:
        rule.current_status = rule.status_on(today)
    history = price_list_history(price_list)
    if edit_item is not None and edit_form is None:
        edit_form = _item_form(edit_item)
    items = _items(price_list)
    chain = derivation_chain(price_list)
    return {
        "price_list": price_list,
        "items": items,
        "chain": chain,
        "depth": len(chain) - 1,
        "inherited": inherited_prices(price_list, {item.item_code for item in items}),
        "rules": rules,
        "history": history[:HISTORY_LIMIT],
        "history_total": len(history),
        "add_form": add_form or _item_form(),
        "edit_item": edit_item,
        "edit_form": edit_form,
    }


def _items_context(price_list: PriceList, **extra) -> dict:
    return {"price_list": price_list, "items": _items(price_list), **extra}


def _with_history(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """An item change's fragment, and the page's history again (out of band): the change just
    made is in it at once."""
    response = render(request, template, context)
    history = price_list_history(context["price_list"])
    trail = {"history": history[:HISTORY_LIMIT], "history_total": len(history), "history_oob": True}
    response.write(render_to_string("pricing/_history.html", trail, request))
    return response


@require_GET
@permission_required("pricing.view_pricelist", raise_exception=True)
def price_list_detail(request: HttpRequest, pk) -> HttpResponse:
    """The list, its items (editable in place by managers), the rules using it, its history.

    ``?edit=<item id>`` opens that row for editing without JavaScript.
    """
    price_list = get_object_or_404(PriceList, pk=pk)
    edit_item = None
    edit_id = request.GET.get("edit", "")
    if edit_id.isdigit() and request.user.has_perm("pricing.change_pricelistitem"):
        edit_item = price_list.items.filter(pk=int(edit_id)).first()
    return render(
        request, TEMPLATE_DETAIL, _detail_context(request, price_list, edit_item=edit_item)
    )


@require_POST
@permission_required("pricing.add_pricelistitem", raise_exception=True)
@direct_edit
def price_list_item_add(request: HttpRequest, pk) -> HttpResponse:
    """Add one item; htmx gets the items section back with an empty form focused for the next."""
    price_list = get_object_or_404(PriceList, pk=pk)
    form = _item_form(data=request.POST)
    if form.is_valid():
        try:
            item = services.price_list_item_save(
                price_list=price_list, by=request.user, **form.item_fields()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Item “{item.item_code}” added.")
            if not wants_fragment(request):
                return redirect(reverse("pricing:price_list_detail", args=[price_list.pk]))
            fresh = _item_form()
            fresh.fields["item_code"].widget.attrs["autofocus"] = True
            context = _items_context(price_list, add_form=fresh, added=item.pk)
            return _with_history(request, f"{TEMPLATE_DETAIL}#items", context)
    mark_invalid(form)
    form.fields[form.first_error_field() or "item_code"].widget.attrs["autofocus"] = True
    if wants_fragment(request):
        context = _items_context(price_list, add_form=form)
        return render(request, f"{TEMPLATE_DETAIL}#items", context, status=422)
    context = _detail_context(request, price_list, add_form=form)
    return render(request, TEMPLATE_DETAIL, context, status=422)


@require_GET
@permission_required("pricing.view_pricelist", raise_exception=True)
def price_list_item_row(request: HttpRequest, pk, item_pk: int) -> HttpResponse:
    """One item row as displayed (what "Cancel" swaps back in)."""
    price_list, item = _get_item_or_404(pk, item_pk)
    if not wants_fragment(request):
        return redirect(reverse("pricing:price_list_detail", args=[price_list.pk]))
    _decorate([item])
    context = {"price_list": price_list, "item": item, "focus_edit": True}
    return render(request, f"{TEMPLATE_DETAIL}#item_row", context)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_pricelistitem", raise_exception=True)
@direct_edit
def price_list_item_edit(request: HttpRequest, pk, item_pk: int) -> HttpResponse:
    """GET: the row as a form (in place). POST: save it and show the row again."""
    price_list, item = _get_item_or_404(pk, item_pk)
    detail_url = reverse("pricing:price_list_detail", args=[price_list.pk])
    if request.method == "GET":
        if not wants_fragment(request):
            return redirect(f"{detail_url}?edit={item.pk}#item-{item.pk}")
        form = _item_form(item)
        form.fields["item_code"].widget.attrs["autofocus"] = True
        context = {"price_list": price_list, "item": item, "edit_form": form}
        return render(request, f"{TEMPLATE_DETAIL}#item_edit_row", context)
    form = _item_form(item, data=request.POST)
    stale = None
    if form.is_valid():
        try:
            services.price_list_item_save(
                price_list=price_list,
                item=item,
                by=request.user,
                expected_version=form.cleaned_data["version"],
                **form.item_fields(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
            item.refresh_from_db()
        except StaleEdit as exc:
            stale = exc
            carry_current_version(form, exc)
            item.refresh_from_db()
        else:
            if not wants_fragment(request):
                messages.success(request, f"Item “{item.item_code}” saved.")
                return redirect(f"{detail_url}#item-{item.pk}")
            _decorate([item])
            context = {"price_list": price_list, "item": item, "focus_edit": True, "saved": True}
            return _with_history(request, f"{TEMPLATE_DETAIL}#item_row", context)
    mark_invalid(form)
    form.fields[form.first_error_field() or "item_code"].widget.attrs["autofocus"] = True
    status = 409 if stale else 422
    if wants_fragment(request):
        context = {"price_list": price_list, "item": item, "edit_form": form, "stale": stale}
        return render(request, f"{TEMPLATE_DETAIL}#item_edit_row", context, status=status)
    context = _detail_context(request, price_list, edit_item=item, edit_form=form)
    context["stale"] = stale
    return render(request, TEMPLATE_DETAIL, context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.delete_pricelistitem", raise_exception=True)
@direct_edit
def price_list_item_delete(request: HttpRequest, pk, item_pk: int) -> HttpResponse:
    """GET: a confirmation page (no JavaScript). POST: delete, then the items section."""
    price_list, item = _get_item_or_404(pk, item_pk)
    detail_url = reverse("pricing:price_list_detail", args=[price_list.pk])
    if request.method == "GET":
        return render(
            request,
            TEMPLATE_CONFIRM,
            {
                "title": f"Delete the item “{item.item_code}”?",
                "text": f"It will no longer be priced by “{price_list.name}”. Usage already "
                "rated keeps its price.",
                "action": request.path,
                "button": "Delete item",
                "danger": True,
                "cancel_url": detail_url,
                "breadcrumbs": [("Price lists", reverse("pricing:price_list_list"))],
                "parent": (price_list.name, detail_url),
            },
        )
    code = item.item_code
    services.price_list_item_delete(item=item, by=request.user)
    messages.success(request, f"Item “{code}” deleted.")
    if not wants_fragment(request):
        return redirect(detail_url)
    context = _items_context(price_list, focus_heading=True)
    return _with_history(request, f"{TEMPLATE_DETAIL}#items", context)


def _get_item_or_404(pk, item_pk) -> tuple[PriceList, PriceListItem]:
    item = get_object_or_404(
        PriceListItem.objects.select_related("price_list"), pk=item_pk, price_list_id=pk
    )
    return item.price_list, item


# --- Create, edit, delete ---------------------------------------------------------------------


def _form_page(
    request: HttpRequest,
    form: PriceListForm,
    price_list: PriceList | None,
    status: int = 200,
    stale: StaleEdit | None = None,
) -> HttpResponse:
    if price_list is None:
        action = reverse("pricing:price_list_create")
        cancel_url = reverse("pricing:price_list_list")
    else:
        action = reverse("pricing:price_list_update", args=[price_list.pk])
        cancel_url = reverse("pricing:price_list_detail", args=[price_list.pk])
    context = {
        "form": form,
        "price_list": price_list,
        "action": action,
        "cancel_url": cancel_url,
        "stale": stale,
        **changeset_picker(request),
    }
    template = f"{TEMPLATE_FORM}#form" if wants_fragment(request) else TEMPLATE_FORM
    return render(request, template, context, status=status)


def _save_price_list(request: HttpRequest, price_list: PriceList | None) -> HttpResponse:
    form = PriceListForm(request.POST)
    stale = None
    to_changeset = "_changeset" in request.POST or not direct_saves_allowed(request.user)
    if form.is_valid() and to_changeset:
        response = price_list_form_to_changeset(request, form, price_list)
        if response is not None:
            return response
    elif form.is_valid():
        try:
            if price_list is None:
                saved = services.price_list_create(by=request.user, **form.price_list_fields())
                messages.success(request, f"Price list “{saved.name}” created. Add its items.")
            else:
                saved = services.price_list_update(
                    price_list=price_list,
                    by=request.user,
                    expected_version=form.cleaned_data["version"],
                    **form.price_list_fields(),
                )
                messages.success(request, f"Price list “{saved.name}” saved.")
        except ValidationError as exc:
            form.add_service_errors(exc)
            if price_list is not None:
                price_list.refresh_from_db()
        except StaleEdit as exc:
            stale = exc
            carry_current_version(form, exc)
            price_list.refresh_from_db()
        else:
            return redirect_to(request, reverse("pricing:price_list_detail", args=[saved.pk]))
    mark_invalid(form)
    form.fields[form.first_error_field() or "name"].widget.attrs["autofocus"] = True
    return _form_page(request, form, price_list, status=409 if stale else 422, stale=stale)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.add_pricelist", raise_exception=True)
def price_list_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save_price_list(request, None)
    form = PriceListForm()
    form.fields["name"].widget.attrs["autofocus"] = True
    return _form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_pricelist", raise_exception=True)
def price_list_update(request: HttpRequest, pk) -> HttpResponse:
    price_list = get_object_or_404(PriceList, pk=pk)
    if request.method == "POST":
        return _save_price_list(request, price_list)
    form = PriceListForm(initial=PriceListForm.initial_for(price_list))
    form.fields["name"].widget.attrs["autofocus"] = True
    return _form_page(request, form, price_list)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.delete_pricelist", raise_exception=True)
@direct_edit
def price_list_delete(request: HttpRequest, pk) -> HttpResponse:
    """GET: confirm (naming the rules that would block it). POST: delete, or say why not."""
    price_list = get_object_or_404(PriceList, pk=pk)
    detail_url = reverse("pricing:price_list_detail", args=[price_list.pk])
    if request.method == "GET":
        blocking = list(price_list.rules.order_by("code"))
        return render(
            request,
            TEMPLATE_CONFIRM,
            {
                "title": f"Delete the price list “{price_list.name}”?",
                "text": "Its items go with it. Usage already rated keeps its price.",
                "blocking": blocking,
                "blocking_text": "It cannot be deleted while these rules use it; point them at "
                "another price list or delete them first:",
                "action": request.path,
                "button": "Delete price list",
                "danger": True,
                "cancel_url": detail_url,
                "breadcrumbs": [("Price lists", reverse("pricing:price_list_list"))],
                "parent": (price_list.name, detail_url),
            },
        )
    name = price_list.name
    try:
        services.price_list_delete(price_list=price_list, by=request.user)
    except ProtectedError as exc:
        messages.error(request, exc.args[0])
        if wants_fragment(request):
            # Nothing to swap: the message arrives out of band (HtmxMessagesMiddleware).
            return HttpResponse(status=409)
        return redirect(detail_url)
    messages.success(request, f"Price list “{name}” deleted.")
    return redirect_to(request, reverse("pricing:price_list_list"))


urlpatterns = [
    path("pricing/price-lists/", price_list_list, name="price_list_list"),
    path("pricing/price-lists/new/", price_list_create, name="price_list_create"),
    path("pricing/price-lists/<uuid:pk>/", price_list_detail, name="price_list_detail"),
    path("pricing/price-lists/<uuid:pk>/edit/", price_list_update, name="price_list_update"),
    path("pricing/price-lists/<uuid:pk>/delete/", price_list_delete, name="price_list_delete"),
    path(
        "pricing/price-lists/<uuid:pk>/items/add/",
        price_list_item_add,
        name="price_list_item_add",
    ),
    path(
        "pricing/price-lists/<uuid:pk>/items/<int:item_pk>/",
        price_list_item_row,
        name="price_list_item_row",
    ),
    path(
        "pricing/price-lists/<uuid:pk>/items/<int:item_pk>/edit/",
        price_list_item_edit,
        name="price_list_item_edit",
    ),
    path(
        "pricing/price-lists/<uuid:pk>/items/<int:item_pk>/delete/",
        price_list_item_delete,
        name="price_list_item_delete",
    ),
]
