"""A price list's CSV export and import (tiers included), the import with a dry-run preview.

Importing is two steps: the file is read and checked, and the page shows what would change
(or every error, line by line) with nothing written; "Apply" sends the same text back and the
services write it in one transaction, refusing a list changed meanwhile.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods

from groups.csvfile import csv_download
from groups.versions import StaleEdit
from pricing import pricecsv, services
from pricing.models import PriceList

TEMPLATE = "pricing/price_list_import.html"
MAX_BYTES = 2_000_000
TOO_LARGE = "The file is larger than 2 MB; a price list's file is far smaller."
CHOOSE_FILE = "Choose a CSV file."


class ImportForm(forms.Form):
    file = forms.FileField(
        required=False, help_text="CSV with the columns of an export; tiers as 100:2.00|:1.50."
    )
    csv_text = forms.CharField(required=False, widget=forms.HiddenInput)
    replace = forms.BooleanField(
        required=False,
        label="Replace all items (remove the items the file does not list)",
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


@require_GET
@permission_required("pricing.view_pricelist", raise_exception=True)
def price_list_export(request: HttpRequest, pk) -> HttpResponse:
    """The list's own items as CSV, in the format the import reads."""
    price_list = get_object_or_404(PriceList, pk=pk)
    return csv_download(pricecsv.export_rows(price_list), f"{price_list.code}.csv")


def _text(form: ImportForm) -> tuple[str | None, str]:
    """The CSV text sent (the file, or the checked text coming back to be applied)."""
    upload = form.cleaned_data.get("file")
    if upload is not None:
        if upload.size > MAX_BYTES:
            return None, TOO_LARGE
        try:
            return pricecsv.decode(upload.read()), ""
        except ValueError as exc:
            return None, str(exc)
    text = form.cleaned_data.get("csv_text") or ""
    return (text, "") if text else (None, CHOOSE_FILE)


@require_http_methods(["GET", "POST"])
@permission_required("pricing.change_pricelist", raise_exception=True)
def price_list_import(request: HttpRequest, pk) -> HttpResponse:
    """GET: choose a file. POST: the dry run (what would change); POST with "apply": write it."""
    price_list = get_object_or_404(PriceList, pk=pk)
    context = {
        "price_list": price_list,
        "form": ImportForm(initial={"version": price_list.version}),
    }
    if request.method == "GET":
        return render(request, TEMPLATE, context)
    form = ImportForm(request.POST, request.FILES)
    form.is_valid()
    text, problem = _text(form)
    context["form"] = form
    if text is None:
        context["problem"] = problem
        return render(request, TEMPLATE, context, status=422)
    replace = form.cleaned_data.get("replace", False)
    plan = pricecsv.plan(price_list, text, replace=replace)
    summary = {action: plan.count(action) for action in ("add", "change", "remove", "same", "keep")}
    context.update(plan=plan, csv_text=text, replace=replace, summary=summary)
    if not plan.ok:
        return render(request, TEMPLATE, context, status=422)
    if "apply" not in request.POST:
        context["version"] = form.cleaned_data.get("version") or price_list.version
        return render(request, TEMPLATE, context)
    try:
        services.price_list_update(
            price_list=price_list,
            items=plan.items,
            by=request.user,
            expected_version=form.cleaned_data.get("version"),
            strict=True,
        )
    except (ValidationError, StaleEdit) as exc:
        price_list.refresh_from_db()
        context["version"] = price_list.version
        context["problem"] = (
            exc.message if isinstance(exc, StaleEdit) else " ".join(exc.messages)
        ) + " Nothing was imported; check the preview again."
        return render(request, TEMPLATE, context, status=409)
    changed = plan.count("add") + plan.count("change") + plan.count("remove")
    messages.success(
        request, f"Imported {changed} change{'s' if changed != 1 else ''} into “{price_list.name}”."
    )
    return redirect(reverse("pricing:price_list_detail", args=[price_list.pk]))


urlpatterns = [
    path("pricing/price-lists/<uuid:pk>/export.csv", price_list_export, name="price_list_export"),
    path("pricing/price-lists/<uuid:pk>/import/", price_list_import, name="price_list_import"),
]
