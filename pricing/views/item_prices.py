"""An item's price model page: the mode, tier rows added and removed in place, package size,
increments, minimum charge, and a live preview ("100 units cost ...") that the engine prices.

One page, two small htmx endpoints: ``tiers`` gives the tier rows back with one added or
removed (and the preview out of band), ``preview`` prices what is typed so far. Without
JavaScript the "Add a tier" and "Remove" buttons post the whole form to the page, which shows it
again with the rows changed and saves nothing.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from groups.pages import wants_fragment
from groups.versions import StaleEdit
from pricing import services
from pricing.forms import mark_invalid
from pricing.forms_prices import (
    PREVIEW_QUANTITY,
    ItemPriceForm,
    TierRow,
    initial_of,
    preview,
    tier_rows,
)
from pricing.models import PriceList, PriceListItem, PricingMode

TEMPLATE = "pricing/item_price_form.html"
TIERED = (PricingMode.GRADUATED, PricingMode.VOLUME)


def _removed(request: HttpRequest) -> int | None:
    value = request.POST.get("remove_tier", "")
    return int(value) if value.isdigit() else None


def _context(price_list: PriceList, item: PriceListItem | None, form, rows, **extra) -> dict:
    mode = form["pricing_mode"].value() or PricingMode.PER_UNIT
    return {
        "price_list": price_list,
        "item": item,
        "form": form,
        "rows": rows,
        "tiered": mode in TIERED,
        "preview": extra.pop("shown", None),
        "action": _action(price_list, item),
        **extra,
    }


def _action(price_list: PriceList, item: PriceListItem | None) -> str:
    if item is None:
        return reverse("pricing:item_price_new", args=[price_list.pk])
    return reverse("pricing:item_price_edit", args=[price_list.pk, item.pk])


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_pricelistitem", raise_exception=True)
def item_price_edit(request: HttpRequest, pk, item_pk: int | None = None) -> HttpResponse:
    """GET: the item's price model as a form. POST: save it (or, for "Add a tier" and
    "Remove" without JavaScript, show it again with the rows changed)."""
    price_list = get_object_or_404(PriceList, pk=pk)
    item = None
    if item_pk is not None:
        item = get_object_or_404(PriceListItem, pk=item_pk, price_list=price_list)
    if request.method == "GET":
        if item is None:
            form = ItemPriceForm(initial={"preview_quantity": PREVIEW_QUANTITY}, rows=[])
            rows: list[TierRow] = []
        else:
            initial, rows = initial_of(item)
            form = ItemPriceForm(initial=initial, rows=rows)
        form.fields["item_code" if item is None else "pricing_mode"].widget.attrs["autofocus"] = (
            True
        )
        shown = preview(_as_data(form, rows), unit=item.unit if item else "units")
        return render(request, TEMPLATE, _context(price_list, item, form, rows, shown=shown))
    removing = _removed(request)
    adding = "add_tier" in request.POST
    rows = tier_rows(request.POST, remove=removing, add=adding)
    if adding or removing is not None:
        # No JavaScript: the rows changed, nothing is saved yet (and nothing is judged yet).
        form = _unjudged(request, rows)
        shown = preview(request.POST)
        return render(request, TEMPLATE, _context(price_list, item, form, rows, shown=shown))
    form = ItemPriceForm(request.POST, rows=rows)
    stale = None
    if form.is_valid():
        try:
            saved = services.price_list_item_save(
                price_list=price_list,
                item=item,
                by=request.user,
                expected_version=form.cleaned_data["version"] if item else None,
                **form.item_fields(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except StaleEdit as exc:
            stale = exc
            data = form.data.copy()
            data["version"] = str(exc.current_version)
            form.data = data
        else:
            verb = "added" if item is None else "saved"
            messages.success(request, f"Item “{saved.item_code}” {verb}.")
            detail = reverse("pricing:price_list_detail", args=[price_list.pk])
            return redirect(f"{detail}#item-{saved.pk}")
    mark_invalid(form)
    shown = preview(request.POST)
    context = _context(price_list, item, form, rows, shown=shown, stale=stale)
    return render(request, TEMPLATE, context, status=409 if stale else 422)


def _unjudged(request: HttpRequest, rows: list[TierRow]) -> ItemPriceForm:
    """The form as typed, without its errors: adding or removing a row scolds nobody (the
    preview says what is missing)."""
    return ItemPriceForm(initial=request.POST.dict(), rows=rows)


def _as_data(form: ItemPriceForm, rows: list[TierRow]):
    """A form's initial values as submitted data (what the first preview prices)."""
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is not None:
            data[name] = str(value)
    for row in rows:
        data.appendlist("tier_up_to", row.up_to)
        data.appendlist("tier_unit_price", row.unit_price)
    return data


@require_POST
@permission_required("pricing.change_pricelistitem", raise_exception=True)
def item_price_tiers(request: HttpRequest, pk) -> HttpResponse:
    """The tier rows with one added or removed, and the preview again (out of band)."""
    price_list = get_object_or_404(PriceList, pk=pk)
    if not wants_fragment(request):
        return redirect(reverse("pricing:price_list_detail", args=[price_list.pk]))
    rows = tier_rows(request.POST, remove=_removed(request), add="add_tier" in request.POST)
    form = _unjudged(request, rows)
    if form["pricing_mode"].value() in TIERED and not rows:
        rows = [TierRow(), TierRow()]
    data = request.POST.copy()
    data.setlist("tier_up_to", [r.up_to for r in rows])
    data.setlist("tier_unit_price", [r.unit_price for r in rows])
    context = _context(price_list, None, form, rows, shown=preview(data), preview_oob=True)
    return render(request, f"{TEMPLATE}#tiers", context)


@require_POST
@permission_required("pricing.change_pricelistitem", raise_exception=True)
def item_price_preview(request: HttpRequest, pk) -> HttpResponse:
    """What the quantity asked about costs with the price model typed so far (nothing saved)."""
    price_list = get_object_or_404(PriceList, pk=pk)
    if not wants_fragment(request):
        return redirect(reverse("pricing:price_list_detail", args=[price_list.pk]))
    context = {"price_list": price_list, "preview": preview(request.POST)}
    return render(request, f"{TEMPLATE}#preview", context)


urlpatterns = [
    path("pricing/price-lists/<uuid:pk>/items/new/", item_price_edit, name="item_price_new"),
    path(
        "pricing/price-lists/<uuid:pk>/items/<int:item_pk>/price/",
        item_price_edit,
        name="item_price_edit",
    ),
    path("pricing/price-lists/<uuid:pk>/items/tiers/", item_price_tiers, name="item_price_tiers"),
    path(
        "pricing/price-lists/<uuid:pk>/items/preview/",
        item_price_preview,
        name="item_price_preview",
    ),
]
