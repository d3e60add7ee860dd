"""Forms for price lists, their items and pricing rules.

They parse input only: the services validate and write, and their ``ValidationError`` lands
next to the field it names (``add_service_errors``). Plain forms rather than ModelForms, so
the model's constraint messages do not compete with the services' own.
"""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from groups import validation
from groups.models import Customer, CustomerGroup
from pricing.currencies import ISO_4217_CODES
from pricing.decimals import DecimalField
from pricing.models import PriceList, PricingRule, TargetKind

# Errors that only say "you have not filled this in yet": live validation keeps quiet about
# them until the form is submitted, so the user is not scolded for fields they have not reached.
NOT_FILLED_CODES = frozenset({"required", "blank", "null"})

CHOOSE_GROUP = "Choose the group this rule targets: search by name or code."
# Search boxes of the pickers: they parse nothing the services see.
SEARCH_FIELDS = frozenset({"group_q", "customer_q"})
CHOOSE_CUSTOMER = "Choose the customer this rule targets: search by name or external ID."


class ServiceErrorsMixin:
    def add_service_errors(self, error: ValidationError) -> None:
        """Put a service's ``ValidationError`` next to its fields.

        A field that already shows a parsing error keeps that one only: the service saw the
        field as empty and would only repeat it less precisely.
        """
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            if field in self.fields:
                if field not in self.errors:
                    self.add_error(field, errors)
            else:
                self.add_error(None, errors)

    def drop_not_filled_errors(self) -> None:
        """Forget "required"-style errors (live validation while the user is still typing)."""
        for field in list(self.errors):
            kept = [e for e in self.errors[field].as_data() if e.code not in NOT_FILLED_CODES]
            if kept:
                self.errors[field] = self.error_class(kept, renderer=self.renderer)
            else:
                del self.errors[field]

    def first_error_field(self) -> str | None:
        for name in self.fields:
            if name in self.errors:
                return name
        return None


def _bootstrap(form: forms.Form) -> None:
    """Bootstrap classes and ``aria-describedby`` on every widget, invalid ones marked."""
    for name, field in form.fields.items():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput | forms.RadioSelect):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs.setdefault("class", css)
        auto_id = form[name].auto_id
        described = [f"{auto_id}-error"]
        if field.help_text:
            described.append(f"{auto_id}-help")
        widget.attrs.setdefault("aria-describedby", " ".join(described))


def mark_invalid(form: forms.Form) -> None:
    """Add ``is-invalid`` and ``aria-invalid`` to the widgets of fields with errors."""
    for name in form.errors:
        if name in form.fields:
            attrs = form.fields[name].widget.attrs
            if "is-invalid" not in attrs.get("class", ""):
                attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
            attrs["aria-invalid"] = "true"


# --- Price lists ------------------------------------------------------------------------------

CURRENCY_CHOICES = [("", "Choose a currency"), *((code, code) for code in sorted(ISO_4217_CODES))]


class PriceListForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(
        max_length=100,
        help_text="Letters, digits, - and _, unique whatever the case, e.g. VIP-RETAIL-2026.",
    )
    currency = forms.ChoiceField(
        choices=CURRENCY_CHOICES, help_text="ISO 4217 code of every price on the list."
    )
    description = validation.DescriptionField()
    base_price_list = forms.ModelChoiceField(
        label="Based on",
        queryset=PriceList.objects.order_by("name"),
        required=False,
        empty_label="Nothing: this list prices only its own items",
        help_text="Items this list does not price itself come from that list (same currency).",
    )
    factor = DecimalField(
        max_digits=10,
        decimal_places=6,
        min_value=0,
        required=False,
        error_messages={"min_value": "The factor cannot be negative."},
        help_text="Base price x factor: 0.80 prices at 80 percent of the base.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    surcharge = DecimalField(
        max_digits=18,
        decimal_places=6,
        min_value=0,
        required=False,
        error_messages={"min_value": "The surcharge cannot be negative."},
        help_text="Added to every derived price per unit.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    rounding = forms.IntegerField(
        min_value=0,
        max_value=6,
        required=False,
        help_text="Derived prices round half-up to this many decimal places.",
    )
    # The version the editor loaded: a save from an older one is refused, showing what changed.
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _bootstrap(self)

    @classmethod
    def initial_for(cls, price_list: PriceList) -> dict:
        return {
            "name": price_list.name,
            "code": price_list.code,
            "currency": price_list.currency,
            "description": price_list.description,
            "base_price_list": price_list.base_price_list_id or "",
            "factor": price_list.factor,
            "surcharge": price_list.surcharge,
            "rounding": price_list.rounding,
            "version": price_list.version,
        }

    def price_list_fields(self) -> dict:
        """What the price list services take (the version travels apart); derivation fields
        left empty take their defaults (factor 1, no surcharge, 2 places)."""
        fields = {k: v for k, v in self.cleaned_data.items() if k != "version"}
        defaults = {"factor": Decimal(1), "surcharge": Decimal(0), "rounding": 2}
        for name, default in defaults.items():
            if fields.get(name) is None:
                fields[name] = default
        return fields


class PriceListItemForm(ServiceErrorsMixin, forms.Form):
    """One item of a price list; ``prefix`` keeps the ids of several rows on a page apart."""

    item_code = forms.CharField(
        label="Item code", max_length=64, help_text="e.g. minute, SMS, GB (no spaces)"
    )
    unit = forms.CharField(max_length=32, help_text="e.g. minute, message, GB")
    unit_price = DecimalField(
        label="Unit price",
        max_digits=18,
        decimal_places=6,
        min_value=0,
        error_messages={"min_value": "A unit price cannot be negative."},
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    # The version of the item the editor loaded (editing a row; empty when adding one).
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _bootstrap(self)
        for field in self.fields.values():
            field.widget.attrs["class"] += " form-control-sm"

    def item_fields(self) -> dict:
        """What ``price_list_item_save`` takes for the item (the version travels apart)."""
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}


# --- Rules ------------------------------------------------------------------------------------

TARGET_CHOICES = [
    (TargetKind.EVERYONE.value, "Everyone"),
    (TargetKind.GROUP.value, "A group"),
    (TargetKind.CUSTOMER.value, "One customer"),
]


class PickedField(forms.ModelChoiceField):
    """A customer or group by id, picked among search results: never a 100,000-row select."""

    widget = forms.HiddenInput


class RuleForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(
        max_length=100,
        help_text="Letters, digits, . _ and -, unique whatever the case, e.g. VIP-RETAIL-2026.",
    )
    billing_category = forms.CharField(
        label="Billing category",
        max_length=64,
        help_text="Lower-case slug the usage records carry, e.g. retail or wholesale-eu.",
    )
    price_list = forms.ModelChoiceField(
        label="Price list", queryset=PriceList.objects.order_by("name"), empty_label="Choose…"
    )
    target_kind = forms.ChoiceField(
        label="Applies to",
        choices=TARGET_CHOICES,
        initial=TargetKind.EVERYONE.value,
        widget=forms.RadioSelect,
    )
    group = PickedField(queryset=CustomerGroup.objects.all(), required=False)
    group_q = forms.CharField(
        label="Group",
        required=False,
        max_length=200,
        help_text="Type part of the group's name or code, then choose the group.",
    )
    customer = PickedField(queryset=Customer.objects.all(), required=False)
    customer_q = forms.CharField(
        label="Customer",
        required=False,
        max_length=200,
        help_text="Type part of a name, external ID or email, then choose the customer.",
    )
    priority = forms.IntegerField(
        initial=0, help_text="Higher number wins among rules that apply to a usage record."
    )
    valid_from = validation.DateField(
        label="Valid from", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    valid_to = validation.DateField(
        label="Valid to",
        required=False,
        help_text="Inclusive; leave empty for no end.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    is_active = forms.BooleanField(
        label="Enabled",
        required=False,
        initial=True,
        help_text="A disabled rule never applies, whatever its dates.",
    )
    description = validation.DescriptionField()
    # The version the editor loaded: a save from an older one is refused, showing what changed.
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _bootstrap(self)
        self.fields["billing_category"].widget.attrs["list"] = "category-options"
        self.fields["billing_category"].widget.attrs["autocomplete"] = "off"
        self.fields["priority"].widget.attrs["inputmode"] = "numeric"
        # Changes in these inputs trigger live validation; typing in a search box does not.
        for name, field in self.fields.items():
            if name not in SEARCH_FIELDS and name != "version":
                field.widget.attrs["class"] += " validate"

    @classmethod
    def initial_for(cls, rule: PricingRule) -> dict:
        return {
            "name": rule.name,
            "code": rule.code,
            "billing_category": rule.billing_category,
            "price_list": rule.price_list_id,
            "target_kind": rule.target_kind,
            "group": rule.group_id,
            "customer": rule.customer_id,
            "priority": rule.priority,
            "valid_from": rule.valid_from,
            "valid_to": rule.valid_to,
            "is_active": rule.is_active,
            "description": rule.description,
            "version": rule.version,
        }

    def clean(self) -> dict:
        """The target kind decides which of group and customer is kept: never both."""
        cleaned = super().clean()
        kind = cleaned.get("target_kind")
        if kind == TargetKind.GROUP:
            cleaned["customer"] = None
            if "group" not in self.errors and not cleaned.get("group"):
                self.add_error("group", ValidationError(CHOOSE_GROUP, code="required"))
        elif kind == TargetKind.CUSTOMER:
            cleaned["group"] = None
            if "customer" not in self.errors and not cleaned.get("customer"):
                self.add_error("customer", ValidationError(CHOOSE_CUSTOMER, code="required"))
        else:
            cleaned["group"] = None
            cleaned["customer"] = None
        return cleaned

    def rule_fields(self) -> dict:
        """What the rule services take, from whatever parsed (``None`` where nothing did)."""
        data = getattr(self, "cleaned_data", {})
        kind = data.get("target_kind")
        fields = {
            name: data.get(name)
            for name in (
                "name",
                "code",
                "billing_category",
                "price_list",
                "priority",
                "valid_from",
                "valid_to",
                "description",
            )
        }
        fields["name"] = fields["name"] or ""
        fields["code"] = fields["code"] or ""
        fields["billing_category"] = fields["billing_category"] or ""
        fields["description"] = fields["description"] or ""
        fields["is_active"] = bool(data.get("is_active"))
        fields["group"] = data.get("group") if kind == TargetKind.GROUP else None
        fields["customer"] = data.get("customer") if kind == TargetKind.CUSTOMER else None
        return fields

    def picked(self, name: str) -> Customer | CustomerGroup | None:
        """The customer or group ticked in the form (as typed, or the rule's own)."""
        data = getattr(self, "cleaned_data", None)
        if data is not None and data.get(name):
            return data[name]
        value = self[name].value()
        field = self.fields[name]
        if not value:
            return None
        if isinstance(value, field.queryset.model):
            return value
        try:
            return field.queryset.filter(pk=value).first()
        except (ValidationError, ValueError):
            return None
