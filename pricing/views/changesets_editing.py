"""Saving into a changeset from the rule and price list pages.

"Save to changeset" on the rule and price list forms, a rule's disable / enable / delete drafted
from its page, and a price list's items edited as lines into a changeset.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from groups.pages import redirect_to
from pricing.changesets import editing, snapshots
from pricing.changesets import services as changesets
from pricing.models import ChangeAction, ChangeKind, ChangesetChange, PriceList, PricingRule

TEMPLATE_ITEMS = "pricing/changesets/items.html"
UNKNOWN_ACTION = "Choose to disable, enable or delete the rule."


def rule_form_to_changeset(request: HttpRequest, form, rule) -> HttpResponse | None:
    """The rule form's values (already checked) as a change in the chosen changeset; ``None``
    after adding the errors to the form when that failed."""
    fields = form.rule_fields()
    try:
        with transaction.atomic():
            changeset = editing.chosen_changeset(request.POST, request.user)
            changesets.change_rule(
                changeset=changeset,
                action=ChangeAction.UPDATE if rule is not None else ChangeAction.CREATE,
                rule=rule,
                by=request.user,
                base_version=form.cleaned_data.get("version") if rule is not None else None,
                **fields,
            )
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return None
    messages.success(request, f"Saved to the changeset “{changeset.title}”: not live yet.")
    return redirect_to(request, reverse("pricing:changeset_detail", args=[changeset.pk]))


def price_list_form_to_changeset(request: HttpRequest, form, price_list) -> HttpResponse | None:
    """The price list form's fields as a change in the chosen changeset (its items stay as
    they are, or as the changeset already proposes them)."""
    try:
        with transaction.atomic():
            changeset = editing.chosen_changeset(request.POST, request.user)
            changesets.change_price_list(
                changeset=changeset,
                action=ChangeAction.UPDATE if price_list is not None else ChangeAction.CREATE,
                price_list=price_list,
                by=request.user,
                base_version=form.cleaned_data.get("version") if price_list is not None else None,
                **form.price_list_fields(),
            )
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return None
    messages.success(request, f"Saved to the changeset “{changeset.title}”: not live yet.")
    return redirect_to(request, reverse("pricing:changeset_detail", args=[changeset.pk]))


ITEM_LINE = "Line {line}: {message}"
ITEM_LINE_SHAPE = "write item code, unit, unit price (e.g. minute, minute, 0.40)."


def _items_text(items: list[dict]) -> str:
    return "\n".join(f"{i['item_code']}, {i['unit']}, {i['unit_price']}" for i in items)


def _parse_items(text: str, start: list[dict]) -> list[dict]:
    """Lines of ``code, unit, unit price``; an item kept from ``start`` keeps its price model
    (tiers, increments), only its unit and unit price change."""
    from pricing.decimals import NotADecimal, parse_decimal

    known = {item["item_code"]: item for item in start}
    items, errors = [], []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = [part.strip() for part in raw.split(",")]
        if len(parts) != 3 or not all(parts):
            errors.append(ITEM_LINE.format(line=line, message=ITEM_LINE_SHAPE))
            continue
        code, unit, price = parts
        try:
            parse_decimal(price)
        except NotADecimal as exc:
            errors.append(ITEM_LINE.format(line=line, message=f"unit price: {exc}"))
            continue
        items.append({**known.get(code, {}), "item_code": code, "unit": unit, "unit_price": price})
    if errors:
        raise ValidationError({"items": errors})
    return items


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_changeset", raise_exception=True)
def price_list_items_to_changeset(request: HttpRequest, pk) -> HttpResponse:
    """A price list's items as lines to edit, saved as a change in a changeset."""
    price_list = get_object_or_404(PriceList, pk=pk)
    current = snapshots.list_snapshot(price_list)["items"]
    chosen = request.POST.get("changeset") or request.GET.get("changeset") or ""
    proposed = None
    if chosen and chosen != editing.NEW:
        try:
            proposed = ChangesetChange.objects.filter(
                changeset_id=chosen, kind=ChangeKind.PRICE_LIST, target_id=price_list.pk
            ).first()
        except ValidationError:
            proposed = None
    start = proposed.after["items"] if proposed is not None and proposed.after else current
    errors: list[str] = []
    text = request.POST.get("items", "") if request.method == "POST" else _items_text(start)
    if request.method == "POST":
        try:
            items = _parse_items(text, start)
            with transaction.atomic():
                changeset = editing.chosen_changeset(request.POST, request.user)
                changesets.change_price_list(
                    changeset=changeset,
                    action=ChangeAction.UPDATE,
                    price_list=price_list,
                    by=request.user,
                    items=items,
                )
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, f"Saved to the changeset “{changeset.title}”: not live yet.")
            return redirect_to(request, reverse("pricing:changeset_detail", args=[changeset.pk]))
    context = {
        "price_list": price_list,
        "text": text,
        "errors": errors,
        **editing.changeset_picker(request),
        "direct_saves": True,
    }
    return render(request, TEMPLATE_ITEMS, context, status=422 if errors else 200)


@require_POST
@permission_required("pricing.change_changeset", raise_exception=True)
def rule_to_changeset(request: HttpRequest, pk) -> HttpResponse:
    """Disable, enable or delete a rule in a changeset (from the rule's page)."""
    rule = get_object_or_404(PricingRule, pk=pk)
    action = request.POST.get("action", "")
    back = reverse("pricing:rule_detail", args=[rule.pk])
    if action not in (ChangeAction.DISABLE, ChangeAction.ENABLE, ChangeAction.DELETE):
        messages.error(request, UNKNOWN_ACTION)
        return redirect_to(request, back)
    try:
        with transaction.atomic():
            changeset = editing.chosen_changeset(request.POST, request.user)
            changesets.change_rule(changeset=changeset, action=action, rule=rule, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect_to(request, back)
    messages.success(request, f"Added to the changeset “{changeset.title}”: not live yet.")
    return redirect_to(request, reverse("pricing:changeset_detail", args=[changeset.pk]))


urlpatterns = [
    path("pricing/rules/<uuid:pk>/to-changeset/", rule_to_changeset, name="rule_to_changeset"),
    path(
        "pricing/price-lists/<uuid:pk>/items-to-changeset/",
        price_list_items_to_changeset,
        name="price_list_items_to_changeset",
    ),
]
