"""The webhook endpoint form."""

from django import forms

from billing.events.types import EVENT_TYPES


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where Ratecard POSTs the events, e.g. https://billing.example.com/ratecard.",
        widget=forms.URLInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    description = forms.CharField(
        required=False,
        max_length=200,
        help_text="What this endpoint is for (shown in the list).",
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=EVENT_TYPES,
        widget=forms.CheckboxSelectMultiple,
        help_text="The endpoint receives only the events chosen here.",
    )
    is_active = forms.BooleanField(label="Active (send events)", required=False, initial=True)
