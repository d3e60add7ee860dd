"""Forms of the changeset pages: a changeset's title, a review comment, a publication instant,
the impact window, the instant of the price book."""

from django import forms

from groups import validation
from groups.models import Customer
from pricing.forms_simulate import DATETIME_INPUT, BillingDateTimeField, CustomerField
from pricing.models import Changeset

WINDOW_BACKWARDS = "The window must end on or after its first day."
WINDOW_TOO_LONG = "Choose at most 366 days."


def _date_input() -> forms.DateInput:
    return forms.DateInput(format="%Y-%m-%d", attrs={"class": "form-control", "type": "date"})


class ChangesetForm(forms.ModelForm):
    class Meta:
        model = Changeset
        fields = ["title", "description"]
        widgets = {
            "title": forms.TextInput(attrs={"class": "form-control", "autofocus": True}),
            "description": forms.Textarea(attrs={"class": "form-control", "rows": 3}),
        }


class CommentForm(forms.Form):
    comment = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
        help_text="Required to reject: the author reads it.",
    )


class ScheduleForm(forms.Form):
    at = BillingDateTimeField(
        label="Publish at",
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "class": "form-control"}, format=DATETIME_INPUT
        ),
    )


class ImpactWindowForm(forms.Form):
    start = validation.DateField(label="From", widget=_date_input())
    end = validation.DateField(label="To (inclusive)", widget=_date_input())

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", WINDOW_BACKWARDS)
            elif (end - start).days > 366:
                self.add_error("start", WINDOW_TOO_LONG)
        return data


class InstantField(BillingDateTimeField):
    """An instant to the second, or finer (links from history pages carry microseconds)."""

    input_formats = [*BillingDateTimeField.input_formats, "%Y-%m-%dT%H:%M:%S.%f"]


class PriceBookForm(forms.Form):
    at = InstantField(
        label="As of",
        required=False,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "class": "form-control"}, format=DATETIME_INPUT
        ),
        help_text="Empty: now.",
    )
    customer = CustomerField(
        queryset=Customer.all_objects.all(),
        required=False,
        widget=forms.HiddenInput,
    )
    customer_q = forms.CharField(
        label="Customer (name or external ID)",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
