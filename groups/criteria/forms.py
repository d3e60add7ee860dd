"""The criteria editor's form: settings as a Django form, conditions as numbered rows.

Each condition is a row of inputs named ``c-<n>-<field>``; "Add a condition" fetches one more
row (htmx) and a row's "Remove" box drops it, so the editor works with and without JavaScript.
The rows are read back into plain condition objects that the services validate.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from groups.criteria import conditions as kinds

ROW_FIELDS = {
    "attribute": ("field", "key", "op", "value"),
    "group": ("op", "group"),
    "usage": ("measure", "category", "item", "window", "days", "op", "threshold", "currency"),
}
_ROW_KEY = re.compile(r"^c-(\d{1,9})-kind$")
_LIST_SPLIT = re.compile(r"[\s,;]+")

# The choices each row offers (the kinds' own names, so nothing is translated twice).
ATTRIBUTE_FIELD_CHOICES = [*kinds.ATTRIBUTE_FIELDS.items(), ("attribute", "free attribute")]
ATTRIBUTE_OP_CHOICES = [
    ("equals", "equals / is on"),
    ("in", "is one of"),
    ("not_in", "is not one of"),
    ("before", "is before"),
    ("after", "is after"),
]
GROUP_OP_CHOICES = list(kinds.GROUP_OPS.items())
MEASURE_CHOICES = [("amount", "rated amount"), ("quantity", "quantity")]
WINDOW_CHOICES = [("previous_month", "previous calendar month"), ("last_days", "last N days")]
USAGE_OP_CHOICES = [("gt", "above"), ("gte", "at least"), ("lt", "below"), ("lte", "at most")]


class CriteriaForm(forms.Form):
    enabled = forms.BooleanField(
        label="Criteria decide the members",
        required=False,
        help_text="Off: saved but not applied; members are managed by hand.",
    )
    minimum_stay_days = forms.IntegerField(
        label="Minimum stay (days)",
        min_value=0,
        max_value=3650,
        initial=0,
        help_text="A member who stops qualifying stays until this many days after joining.",
    )
    always_include = forms.CharField(
        label="Always include",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="External IDs, separated by spaces or commas.",
    )
    never_include = forms.CharField(
        label="Never include",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="External IDs; never-include wins over everything, minimum stay included.",
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("minimum_stay_days", "always_include", "never_include"):
            self.fields[name].widget.attrs["class"] = "form-control form-control-sm"
        self.fields["enabled"].widget.attrs["class"] = "form-check-input"

    def ids(self, name: str) -> list[str]:
        return [part for part in _LIST_SPLIT.split(self.cleaned_data.get(name) or "") if part]

    def apply_service_error(self, error: ValidationError) -> list[str]:
        """Field errors next to their fields; the conditions' messages returned for the rows."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return []
        for name, messages in error.message_dict.items():
            if name in self.fields:
                self.add_error(name, messages)
        return error.message_dict.get("conditions", [])


def conditions_from_post(data) -> list[dict]:
    """The rows of a posted editor, in order, without those marked for removal."""
    # In the order the rows appear on the page (row numbers only tell rows apart).
    rows = [m.group(1) for m in map(_ROW_KEY.match, data) if m]
    conditions = []
    for n in dict.fromkeys(rows):
        if data.get(f"c-{n}-remove"):
            continue
        kind = data.get(f"c-{n}-kind", "")
        row = {"kind": kind}
        for name in ROW_FIELDS.get(kind, ()):
            row[name] = (data.get(f"c-{n}-{name}") or "").strip()
        conditions.append(row)
    return conditions


def row_values(condition: dict) -> dict:
    """A stored condition as the strings its row's inputs show."""
    values = dict(condition)
    if isinstance(values.get("value"), list):
        values["value"] = ", ".join(values["value"])
    if values.get("kind") == "group" and values.get("group_name"):
        values["group"] = values.get("group_code") or values["group"]
    return {key: "" if value is None else str(value) for key, value in values.items()}


def blank_row(kind: str) -> dict:
    defaults = {
        "attribute": {"field": "country", "op": "equals"},
        "group": {"op": "in"},
        "usage": {"measure": "amount", "window": "previous_month", "op": "gt"},
    }
    return {"kind": kind, **defaults.get(kind, {})}
