"""The form of an item's price model: mode, tier rows, package size, increments, minimum.

Tiers arrive as repeated inputs (``tier_up_to`` and ``tier_unit_price``, one pair per row), so
rows can be added and removed in place. The form parses; what a price model may be is the
engine's (:func:`pricing.engine.price_errors`, through the services), and the preview is the
engine's charge (:func:`preview`).
"""

from dataclasses import dataclass
from decimal import Decimal

from django import forms

from pricing import engine
from pricing.decimals import DecimalField, NotADecimal, parse_decimal
from pricing.forms import PriceListItemForm
from pricing.models import PricingMode, item_price

PREVIEW_QUANTITY = Decimal(100)
TIER_ROWS_MAX = 50
TIER_UP_TO_NEEDED = "Give an upper bound, or leave it empty on the last tier only."
TIER_PRICE_NEEDED = "Give this tier's price."


@dataclass
class TierRow:
    """One tier row as typed, with its own messages."""

    up_to: str = ""
    unit_price: str = ""
    error: str = ""


def _decimal(text: str, *, blank_ok: bool) -> Decimal | None:
    text = (text or "").strip()
    if not text:
        if blank_ok:
            return None
        raise NotADecimal(TIER_PRICE_NEEDED)
    return parse_decimal(text)


def tier_rows(data, *, remove: int | None = None, add: bool = False) -> list[TierRow]:
    """The tier rows a submitted form holds, one removed or one added as asked."""
    ups = data.getlist("tier_up_to") if hasattr(data, "getlist") else []
    prices = data.getlist("tier_unit_price") if hasattr(data, "getlist") else []
    rows = [TierRow(u, p) for u, p in zip(ups, prices, strict=False)][:TIER_ROWS_MAX]
    if remove is not None and 0 <= remove < len(rows):
        del rows[remove]
    if add and len(rows) < TIER_ROWS_MAX:
        rows.append(TierRow())
    return rows


def stored_rows(tiers) -> list[TierRow]:
    """An item's stored tiers as rows to edit."""
    return [
        TierRow(
            "" if tier.get("up_to") is None else _plain(tier["up_to"]), _plain(tier["unit_price"])
        )
        for tier in tiers or ()
    ]


def _plain(value) -> str:
    return f"{Decimal(str(value)).normalize():f}"


def parse_tiers(rows: list[TierRow]) -> list[dict] | None:
    """Tiers as stored, or None with each bad row's ``error`` set."""
    tiers, ok = [], True
    for row in rows:
        try:
            up_to = _decimal(row.up_to, blank_ok=True)
            price = _decimal(row.unit_price, blank_ok=False)
        except NotADecimal as exc:
            row.error, ok = str(exc), False
            continue
        if price < 0:
            row.error, ok = engine.prices.TIER_NEGATIVE_PRICE.format(n=len(tiers) + 1), False
            continue
        tiers.append({"up_to": None if up_to is None else str(up_to), "unit_price": str(price)})
    return tiers if ok else None


def _money_field(label: str, help_text: str, **kwargs) -> DecimalField:
    return DecimalField(
        label=label,
        required=False,
        max_digits=18,
        decimal_places=6,
        min_value=0,
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        **kwargs,
    )


class ItemPriceForm(PriceListItemForm):
    """An item with its whole price model (the page beside the inline row editor)."""

    pricing_mode = forms.ChoiceField(
        label="Pricing mode",
        choices=PricingMode.choices,
        initial=PricingMode.PER_UNIT,
        help_text="Per unit: quantity x price. Graduated: each tier's share at its price. "
        "Volume: all of it at the tier reached. Package: whole blocks at the block price.",
    )
    # Where messages about the tiers as a whole land (the rows carry their own).
    tiers = forms.Field(required=False, widget=forms.HiddenInput)
    package_size = _money_field("Package size", "Units per block, e.g. 1000 (SMS).")
    first_increment = _money_field(
        "First increment", "The least quantity billed: 60 in 60/60 (empty: none)."
    )
    next_increment = _money_field(
        "Next increment", "Then whole blocks of this: 60 in 60/60, 6 in 30/6."
    )
    minimum_charge = _money_field("Minimum charge", "A record costs at least this much.")
    preview_quantity = _money_field("Preview quantity", "The quantity the preview prices.")

    def __init__(self, *args, **kwargs) -> None:
        self.rows: list[TierRow] = kwargs.pop("rows", [])
        super().__init__(*args, **kwargs)
        self.fields["unit_price"].required = False
        self.fields["unit_price"].label = "Price"
        self.fields[
            "unit_price"
        ].help_text = "Per unit, or per block for a package; tiered prices take their first tier's."
        for field in self.fields.values():
            css = field.widget.attrs.get("class", "")
            field.widget.attrs["class"] = css.replace(" form-control-sm", "")

    def clean(self):
        cleaned = super().clean()
        mode = cleaned.get("pricing_mode")
        if mode in (PricingMode.GRADUATED, PricingMode.VOLUME):
            tiers = parse_tiers(self.rows)
            if tiers is None:
                self.add_error("tiers", "Correct the tiers marked below.")
            else:
                cleaned["tiers"] = tiers
                if cleaned.get("unit_price") is None and tiers:
                    cleaned["unit_price"] = Decimal(tiers[0]["unit_price"])
        else:
            cleaned["tiers"] = []
        if mode != PricingMode.PACKAGE:
            cleaned["package_size"] = None
        return cleaned

    def item_fields(self) -> dict:
        fields = super().item_fields()
        fields.pop("preview_quantity", None)
        return fields


def initial_of(item) -> tuple[dict, list[TierRow]]:
    """A stored item as the form's initial values and tier rows."""
    initial = {
        "item_code": item.item_code,
        "unit": item.unit,
        "unit_price": item.unit_price,
        "pricing_mode": item.pricing_mode,
        "package_size": item.package_size,
        "first_increment": item.first_increment,
        "next_increment": item.next_increment,
        "minimum_charge": item.minimum_charge,
        "version": item.version,
        "preview_quantity": PREVIEW_QUANTITY,
    }
    return initial, stored_rows(item.tiers)


@dataclass
class Preview:
    quantity: Decimal
    unit: str
    charge: engine.Charge | None = None
    errors: list[str] | None = None


def preview(data, *, unit: str = "units") -> Preview:
    """The engine's charge for the quantity the form asks about, or why there is none yet.

    Lenient: whatever is typed so far is priced, nothing is saved.
    """
    rows = tier_rows(data)
    form = ItemPriceForm(data, rows=rows)
    form.fields["item_code"].required = False
    form.fields["unit"].required = False
    form.is_valid()
    cleaned = form.cleaned_data
    quantity = cleaned.get("preview_quantity") or PREVIEW_QUANTITY
    unit = cleaned.get("unit") or unit
    shown = Preview(quantity=quantity, unit=unit)
    messages = [str(m) for field, errs in form.errors.items() if field != "tiers" for m in errs]
    messages += [f"Tier {n}: {row.error}" for n, row in enumerate(rows, 1) if row.error]
    if messages:
        shown.errors = messages
        return shown
    if cleaned.get("unit_price") is None:
        shown.errors = ["Give a price to see what it costs."]
        return shown
    price = item_price(
        mode=cleaned["pricing_mode"],
        unit_price=cleaned["unit_price"],
        tiers=cleaned.get("tiers") or [],
        package_size=cleaned.get("package_size"),
        first_increment=cleaned.get("first_increment"),
        next_increment=cleaned.get("next_increment"),
        minimum_charge=cleaned.get("minimum_charge"),
    )
    errors = engine.price_errors(price)
    if errors:
        shown.errors = [m for msgs in errors.values() for m in msgs]
        return shown
    shown.charge = engine.charge(price, quantity)
    if shown.charge is None:
        shown.errors = ["That would cost more than an amount can hold."]
    return shown
