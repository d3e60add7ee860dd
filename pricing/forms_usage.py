"""Forms and the filter of the usage pages: the record list, CSV upload and impact preview."""

from datetime import date, datetime, timedelta

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from groups import validation
from groups.models import Customer, CustomerGroup
from groups.services import parse_external_ids
from pricing import engine
from pricing.clock import billing_today, billing_tz
from pricing.impact import MembershipDraft, RuleDraft
from pricing.models import PriceList, PricingRule, UsageRecord, UsageStatus

SMALL = {"class": "form-control form-control-sm"}
SMALL_SELECT = {"class": "form-select form-select-sm"}


def _date_input() -> forms.DateInput:
    """A browser date picker; its value must be ISO (YYYY-MM-DD) whatever the locale."""
    return forms.DateInput(format="%Y-%m-%d", attrs={**SMALL, "type": "date"})


class UsageFilter(django_filters.FilterSet):
    """Filters of ``/usage/`` and its CSV export; every one is served by an index."""

    q = django_filters.CharFilter(
        label="Customer", method="filter_customer", widget=forms.TextInput(attrs=SMALL)
    )
    status = django_filters.ChoiceFilter(
        choices=UsageStatus.choices, empty_label="Any status", widget=forms.Select(SMALL_SELECT)
    )
    billing_category = django_filters.CharFilter(
        label="Category", widget=forms.TextInput(attrs=SMALL)
    )
    item_code = django_filters.CharFilter(label="Item", widget=forms.TextInput(attrs=SMALL))
    occurred_from = validation.DateFilter(
        label="From",
        method="filter_from",
        widget=_date_input(),
    )
    occurred_to = validation.DateFilter(
        label="To (inclusive)",
        method="filter_to",
        widget=_date_input(),
    )
    upload = django_filters.CharFilter(
        label="Upload", method="filter_upload", widget=forms.HiddenInput()
    )

    class Meta:
        model = UsageRecord
        fields = [
            "q",
            "status",
            "billing_category",
            "item_code",
            "occurred_from",
            "occurred_to",
            "upload",
        ]

    def filter_upload(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """The records of one upload (its batch key): a primary-key range."""
        from pricing import batch

        if not batch.is_batch_key(value):
            return queryset.none()
        return queryset.filter(pk__range=batch.batch_id_range(value))

    def filter_customer(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """An exact external ID, or a part of a customer's name."""
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(customer__in=Customer.objects.search(value).values("pk"))

    def filter_from(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(occurred_at__gte=_day_start(value))

    def filter_to(self, queryset: QuerySet, name: str, value) -> QuerySet:
        # The day after the supported range's last day is still a date (engine.day_after).
        return queryset.filter(occurred_at__lt=_day_start(engine.day_after(value)))


def _day_start(day: date) -> datetime:
    return engine.day_start(day, billing_tz())


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "One record per line after a header line naming the columns: customer (external ID "
            "or id), category, item, quantity, occurred_at (e.g. 2026-03-01T14:30:00+01:00; "
            "without an offset the billing time zone applies)."
        ),
        widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": ".csv,text/csv"}),
    )
    repeat = forms.BooleanField(
        label="Store it again: this repeat is intended",
        required=False,
        help_text="Only for a file that was uploaded before and must be rated a second time.",
    )

    def __init__(self, *args, too_large: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.too_large = too_large

    def clean_file(self):
        file = self.cleaned_data["file"]
        if self.too_large:
            return None  # cut off while reading: what arrived is not the file (see clean)
        if file.size > settings.RATECARD_MAX_UPLOAD_BYTES:
            from pricing.services import upload_too_large_message

            raise ValidationError(upload_too_large_message(file.size))
        return file

    def clean(self):
        if self.too_large:
            self.errors.pop("file", None)
            self.add_error("file", self.too_large)
        return super().clean()


TARGET_CHOICES = [
    ("", "Unchanged"),
    ("everyone", "Everyone"),
    ("group", "A group"),
    ("customer", "One customer"),
]
ACTIVE_CHOICES = [("", "Unchanged"), ("1", "Enabled"), ("0", "Disabled")]


class ImpactForm(forms.Form):
    """A window of days and a draft change; blank rule fields keep the rule's current value."""

    start = validation.DateField(label="From", widget=_date_input())
    end = validation.DateField(label="To (inclusive)", widget=_date_input())
    rule = forms.CharField(
        label="Rule code",
        required=False,
        help_text="Type part of its code or name and pick it, e.g. STD-2026.",
        widget=forms.TextInput(
            attrs={**SMALL, "autocomplete": "off", "list": "impact-rule-options"}
        ),
    )
    priority = forms.IntegerField(
        required=False, min_value=0, widget=forms.NumberInput(attrs=SMALL)
    )
    valid_from = validation.DateField(required=False, widget=_date_input())
    valid_to = validation.DateField(
        required=False,
        label="Valid to",
        widget=_date_input(),
    )
    open_ended = forms.BooleanField(
        required=False,
        label="Open-ended (no end date)",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    active = forms.ChoiceField(
        label="Enabled", choices=ACTIVE_CHOICES, required=False, widget=forms.Select(SMALL_SELECT)
    )
    price_list = forms.ModelChoiceField(
        queryset=PriceList.objects.order_by("code"),
        required=False,
        empty_label="Unchanged",
        widget=forms.Select(SMALL_SELECT),
    )
    target = forms.ChoiceField(
        label="Applies to",
        choices=TARGET_CHOICES,
        required=False,
        widget=forms.Select(SMALL_SELECT),
    )
    target_group = forms.CharField(
        label="Target group code",
        required=False,
        widget=forms.TextInput(
            attrs={**SMALL, "autocomplete": "off", "list": "impact-target_group-options"}
        ),
    )
    target_customer = forms.CharField(
        label="Target customer external ID",
        required=False,
        widget=forms.TextInput(
            attrs={**SMALL, "autocomplete": "off", "list": "impact-target_customer-options"}
        ),
    )
    group = forms.CharField(
        label="Group code",
        required=False,
        help_text="The group whose members change: type part of its name or code.",
        widget=forms.TextInput(
            attrs={**SMALL, "autocomplete": "off", "list": "impact-group-options"}
        ),
    )
    add = forms.CharField(
        label="Add customers",
        required=False,
        help_text="External IDs, one per line or separated by commas.",
        widget=forms.Textarea(attrs={**SMALL, "rows": 3}),
    )
    remove = forms.CharField(
        label="Remove customers",
        required=False,
        help_text="External IDs, one per line or separated by commas.",
        widget=forms.Textarea(attrs={**SMALL, "rows": 3}),
    )
    top = forms.IntegerField(
        label="Customers shown",
        min_value=1,
        max_value=500,
        initial=20,
        required=False,
        widget=forms.NumberInput(attrs=SMALL),
    )

    @staticmethod
    def defaults() -> dict:
        today = billing_today()
        return {"start": today - timedelta(days=29), "end": today, "top": 20}

    @staticmethod
    def initial_for(rule: PricingRule) -> dict:
        """The draft fields pre-filled with a rule's current values (``?rule=<id>``)."""
        return {
            "rule": rule.code,
            "priority": rule.priority,
            "valid_from": rule.valid_from,
            "valid_to": rule.valid_to,
            "open_ended": rule.valid_to is None,
            "active": "1" if rule.is_active else "0",
            "price_list": rule.price_list_id,
            "target": rule.target_kind,
            "target_group": rule.group.code if rule.group_id else "",
            "target_customer": (rule.customer.external_id or "") if rule.customer_id else "",
        }

    @staticmethod
    def current_values(rule: PricingRule) -> dict[str, str]:
        """The rule's values today, as the page shows them beside the draft fields."""
        target = rule.target_kind
        return {
            "priority": str(rule.priority),
            "valid_from": rule.valid_from.isoformat(),
            "valid_to": rule.valid_to.isoformat() if rule.valid_to else "open-ended",
            "active": "enabled" if rule.is_active else "disabled",
            "price_list": rule.price_list.code,
            "target": {"group": "a group", "customer": "one customer"}.get(target, "everyone"),
            "target_group": rule.group.code if rule.group_id else "",
            "target_customer": (rule.customer.external_id or "") if rule.customer_id else "",
        }

    @staticmethod
    def query_for_draft(rule: PricingRule, fields: dict) -> dict:
        """The preview's inputs for an edit of ``rule`` drafted in the rule form (its
        ``rule_fields()``): a link from "preview the impact of this edit"."""
        window = ImpactForm.defaults()
        group, customer = fields.get("group"), fields.get("customer")
        target = "group" if group else "customer" if customer else "everyone"
        price_list = fields.get("price_list")
        valid_to = fields.get("valid_to")
        query = {
            "start": window["start"].isoformat(),
            "end": window["end"].isoformat(),
            "rule": rule.code,
            "priority": fields.get("priority") if fields.get("priority") is not None else "",
            "valid_from": fields["valid_from"].isoformat() if fields.get("valid_from") else "",
            "valid_to": valid_to.isoformat() if valid_to else "",
            "active": "1" if fields.get("is_active") else "0",
            "price_list": price_list.pk if price_list else "",
            "target": target,
            "target_group": group.code if group else "",
            "target_customer": (customer.external_id or "") if customer else "",
        }
        if valid_to is None and fields.get("valid_from"):
            query["open_ended"] = "on"
        return query

    def clean_rule(self) -> PricingRule | None:
        code = self.cleaned_data["rule"].strip()
        if not code:
            return None
        rule = (
            PricingRule.objects.select_related("price_list", "group", "customer")
            .filter(code__iexact=code)
            .first()
        )
        if rule is None:
            raise ValidationError(f"No rule has the code “{code}”.")
        return rule

    def clean_group(self) -> CustomerGroup | None:
        return _group(self.cleaned_data["group"])

    def clean_target_group(self) -> CustomerGroup | None:
        return _group(self.cleaned_data["target_group"])

    def clean_target_customer(self) -> Customer | None:
        ref = self.cleaned_data["target_customer"].strip()
        if not ref:
            return None
        customer = Customer.objects.filter(external_id=ref).first()
        if customer is None:
            raise ValidationError(f"No customer has the external ID “{ref}”.")
        return customer

    def clean_add(self) -> list[Customer]:
        return _customers(self.cleaned_data["add"])

    def clean_remove(self) -> list[Customer]:
        return _customers(self.cleaned_data["remove"])

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "The window must end on or after its first day.")
        add, remove = data.get("add") or [], data.get("remove") or []
        if (add or remove) and not data.get("group") and "group" not in self.errors:
            self.add_error("group", "Name the group whose members change.")
        if data.get("group") and not (add or remove) and not self.has_error("add"):
            self.add_error("add", "List the customers to add or to remove.")
        both = {c.pk for c in add} & {c.pk for c in remove}
        if both:
            self.add_error("remove", "A customer cannot be both added and removed.")
        target = data.get("target")
        for kind, name in (("group", "target_group"), ("customer", "target_customer")):
            if target == kind and not data.get(name) and name not in self.errors:
                self.add_error(name, f"Name the {kind} the rule should target.")
        rule = data.get("rule")
        if rule is not None and not self.errors:
            valid_from = data.get("valid_from") or rule.valid_from
            valid_to = None if data.get("open_ended") else (data.get("valid_to") or rule.valid_to)
            if valid_to is not None and valid_to < valid_from:
                self.add_error("valid_to", "Valid to must be on or after valid from.")
        if not rule and not data.get("group") and not self.errors:
            raise ValidationError(
                "Describe a change: a rule code with new values, or a group with customers to "
                "add or remove."
            )
        return data

    def rule_draft(self) -> RuleDraft | None:
        data = self.cleaned_data
        rule: PricingRule | None = data.get("rule")
        if rule is None:
            return None
        target = data.get("target") or rule.target_kind
        group = customer = None
        if target == "group":
            group = data.get("target_group") or (rule.group if rule.group_id else None)
        elif target == "customer":
            customer = data.get("target_customer") or (rule.customer if rule.customer_id else None)
        active = data.get("active")
        return RuleDraft(
            rule=rule,
            priority=rule.priority if data.get("priority") is None else data["priority"],
            valid_from=data.get("valid_from") or rule.valid_from,
            valid_to=None if data.get("open_ended") else (data.get("valid_to") or rule.valid_to),
            is_active=rule.is_active if not active else active == "1",
            price_list=data.get("price_list") or rule.price_list,
            group=group,
            customer=customer,
        )

    def membership_draft(self) -> MembershipDraft | None:
        data = self.cleaned_data
        group = data.get("group")
        if group is None or not (data.get("add") or data.get("remove")):
            return None
        return MembershipDraft(group=group, add=data["add"], remove=data["remove"])


def _group(code: str) -> CustomerGroup | None:
    code = (code or "").strip()
    if not code:
        return None
    group = CustomerGroup.objects.filter(code__iexact=code).first()
    if group is None:
        raise ValidationError(f"No group has the code “{code}”.")
    return group


def _customers(text: str) -> list[Customer]:
    ids = list(dict.fromkeys(parse_external_ids(text)))
    if not ids:
        return []
    found = {c.external_id: c for c in Customer.objects.filter(external_id__in=ids)}
    unknown = [x for x in ids if x not in found]
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise ValidationError(f"No customer has these external IDs: {shown}.")
    return [found[x] for x in ids]
