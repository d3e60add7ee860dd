"""Input of the simulation page and the coverage grid: parsed, bounded, with readable messages.

Every field is optional so that an empty page, or a half-filled one, shows no errors; a value that
is present but wrong (unknown customer, malformed id, bad date, negative or absurd quantity) gets
a message next to its field and never reaches the engine.
"""

from datetime import datetime
from decimal import Decimal

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from groups import validation
from groups.models import Customer, CustomerGroup
from pricing.clock import billing_tz
from pricing.decimals import DecimalField
from pricing.models import CATEGORY_VALIDATOR, ITEM_CODE_VALIDATOR, PricingRule

MAX_QUANTITY = Decimal("1000000000")
MAX_WHAT_IF_GROUPS = 50
DATETIME_INPUT = "%Y-%m-%dT%H:%M"

UNKNOWN_CUSTOMER = "No such customer. Search by name or external ID and pick one."
QUANTITY_NOT_POSITIVE = "Quantity must be greater than zero."
QUANTITY_ABSURD = "Quantity can be at most 1,000,000,000."
UNKNOWN_CATEGORY = "No rule prices the category %(value)s; pick one from the list."
TOO_MANY_GROUPS = "Choose at most 50 groups."
UNKNOWN_GROUP = "One of the chosen groups does not exist (any more). Untick it."


class BillingDateTimeField(validation.DateTimeField):
    """A ``datetime-local`` value read in the billing time zone, the zone that decides the day.

    Instants outside the supported range are refused like everywhere else (the engine's range).
    """

    input_formats = [DATETIME_INPUT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]

    def to_python(self, value):
        with timezone.override(billing_tz()):
            return super().to_python(value)

    def prepare_value(self, value):
        if isinstance(value, datetime):
            return value.astimezone(billing_tz()).strftime(DATETIME_INPUT)
        return value


class GroupsField(forms.ModelMultipleChoiceField):
    """Group ids from checkboxes; a malformed or unknown id is a message, not a 500."""

    def __init__(self, **kwargs):
        super().__init__(
            queryset=CustomerGroup.objects.order_by("name"),
            required=False,
            error_messages={
                "invalid_pk_value": UNKNOWN_GROUP,
                "invalid_choice": UNKNOWN_GROUP,
            },
            **kwargs,
        )

    def clean(self, value):
        if value and len(value) > MAX_WHAT_IF_GROUPS:
            raise ValidationError(TOO_MANY_GROUPS, code="too_many")
        try:
            return super().clean(value)
        except ValidationError as error:
            # Malformed UUIDs raise ValidationError from the lookup itself, with Django's text.
            raise ValidationError(UNKNOWN_GROUP, code="invalid_choice") from error


class CustomerField(forms.ModelChoiceField):
    """A customer id; malformed and unknown ids get the same readable message."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(UNKNOWN_CUSTOMER, code="invalid_choice") from None


class SimulationForm(forms.Form):
    """The simulation's inputs, as the URL carries them (``/simulate/?customer=...``)."""

    customer = CustomerField(queryset=Customer.objects.all(), required=False)
    category = forms.CharField(
        label="Billing category", required=False, max_length=64, validators=[CATEGORY_VALIDATOR]
    )
    item = forms.CharField(
        label="Item code",
        required=False,
        max_length=64,
        validators=[ITEM_CODE_VALIDATOR],
        help_text="Empty: the category's most common item.",
    )
    # No max_digits: the range check in clean_quantity gives the readable message for huge values.
    quantity = DecimalField(
        required=False, decimal_places=6, widget=forms.NumberInput(attrs={"step": "any"})
    )
    at = BillingDateTimeField(
        label="Date and time",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
    )
    add = GroupsField(label="Add to")
    remove = GroupsField(label="Take out of")

    def __init__(self, *args, categories: list[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.categories = list(categories)

    def clean_category(self) -> str:
        category = self.cleaned_data["category"].strip()
        if category and category not in self.categories:
            raise ValidationError(UNKNOWN_CATEGORY, code="unknown", params={"value": category})
        return category

    def clean_quantity(self) -> Decimal:
        quantity = self.cleaned_data["quantity"]
        if quantity is None:
            return Decimal(1)
        if quantity <= 0:
            raise ValidationError(QUANTITY_NOT_POSITIVE, code="min_value")
        if quantity > MAX_QUANTITY:
            raise ValidationError(QUANTITY_ABSURD, code="max_value")
        return quantity

    def clean_at(self) -> datetime:
        return self.cleaned_data["at"] or _now()

    @property
    def trace_all(self) -> bool:
        return self.is_bound and self.data.get("trace") == "all"


def _now() -> datetime:
    return timezone.now().astimezone(billing_tz()).replace(second=0, microsecond=0)


class CoverageGroupFilter(django_filters.FilterSet):
    """Which groups make up the coverage grid's columns: a search, and "only targeted ones"."""

    q = django_filters.CharFilter(label="Find groups", method="filter_q")
    targeted = django_filters.BooleanFilter(
        label="Only groups that a rule targets",
        method="filter_targeted",
        widget=forms.CheckboxInput,
    )

    class Meta:
        model = CustomerGroup
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        return queryset.search(value)

    def filter_targeted(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            pk__in=PricingRule.objects.filter(group__isnull=False).values("group_id")
        )


class CoverageDayForm(forms.Form):
    """The day the grid is computed for (today when empty)."""

    date = validation.DateField(
        label="On",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean_date(self) -> date:
        day = self.cleaned_data["date"]
        if day is None:
            return _now().date()
        return day
