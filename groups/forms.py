"""Forms for the group and customer pages. They parse and check input; services write."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

from groups import selectors, services, validation
from groups.criteria.attributes import (
    COUNTRY_VALIDATOR,
    SEGMENT_VALIDATOR,
    format_attributes,
    parse_attributes,
)
from groups.models import Customer, CustomerGroup

FILE_TOO_LARGE = "The file is {size}; files up to {limit} are accepted."
BULK_NOTHING = "Paste at least one external ID or choose a CSV file."
NO_CUSTOMER_MATCH = "No customer matches “{term}”. Type part of a name or an external ID."
NO_GROUP_MATCH = "No group matches “{term}”. Type part of a group's name or code."
SEARCH_EMPTY = "Type a name or an external ID first."


def check_upload_size(upload) -> None:
    """Refuse uploads above ``RATECARD_MAX_UPLOAD_BYTES`` before reading them."""
    limit = settings.RATECARD_MAX_UPLOAD_BYTES
    if upload is not None and upload.size > limit:
        raise ValidationError(
            FILE_TOO_LARGE.format(size=filesizeformat(upload.size), limit=filesizeformat(limit))
        )


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def member_since_field() -> forms.DateTimeField:
    """ "Member since": an optional start, read in the billing time zone (the request's)."""
    return forms.DateTimeField(
        label="Member since",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=DateTimeInput(attrs={"class": "form-control form-control-sm"}),
        help_text="Optional. Leave empty for now; an earlier date and time records a "
        "backdated join, with your name.",
    )


def apply_membership_error(form: forms.Form, error: ValidationError) -> None:
    """A membership service's refusal (start in the future, overlapping period) beside its field."""
    if hasattr(error, "error_dict"):
        for name, messages in error.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class GroupForm(forms.Form):
    """A group's definition. The code is derived from the name when left empty."""

    name = forms.CharField(max_length=200)
    code = forms.SlugField(
        max_length=100,
        required=False,
        help_text="Optional. Derived from the name when empty (e.g. summer-promo-2026).",
    )
    description = validation.DescriptionField()
    expires_on = validation.DateField(label="Planned expiry", required=False, widget=DateInput)
    # The version the editor loaded: a save from an older one is refused, showing what changed.
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    existing_group: CustomerGroup | None = None

    @classmethod
    def for_group(cls, group: CustomerGroup, **kwargs) -> "GroupForm":
        initial = {
            "name": group.name,
            "code": group.code,
            "description": group.description,
            "expires_on": group.expires_on,
            "version": group.version,
        }
        return cls(initial=initial, **kwargs)

    def group_fields(self) -> dict:
        """What the group services take (the version travels apart)."""
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}

    def carry_current_version(self, version: int) -> None:
        """After a refused stale save: keep what was typed, now based on ``version``."""
        data = self.data.copy()
        data["version"] = str(version)
        self.data = data

    def apply_service_error(self, error: ValidationError, *, exclude=None) -> None:
        """Put a service's ``ValidationError`` next to the fields and find the clashing group."""
        if hasattr(error, "error_dict"):
            for field_name, messages in error.message_dict.items():
                self.add_error(field_name if field_name in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)
        if "name" in self.errors:
            self.existing_group = selectors.group_named(self.data.get("name", ""), exclude=exclude)


class CustomerForm(forms.Form):
    name = forms.CharField(max_length=200)
    external_id = forms.CharField(
        label="External ID",
        max_length=100,
        required=False,
        help_text="Your own identifier, used by integrations and imports.",
    )
    email = forms.EmailField(required=False)
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
    country = forms.CharField(
        max_length=2,
        required=False,
        help_text="ISO code, e.g. CZ",
        widget=forms.TextInput(attrs={"class": "form-control", "size": 3}),
    )
    segment = forms.CharField(
        label="Segment or plan",
        max_length=64,
        required=False,
        validators=[SEGMENT_VALIDATOR],
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    signed_up_on = validation.DateField(
        label="Signup date",
        required=False,
        widget=DateInput(attrs={"class": "form-control"}),
    )
    attributes = forms.CharField(
        label="Other attributes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text="key=value pairs separated by ; or new lines, e.g. industry=telecom",
    )

    @classmethod
    def for_customer(cls, customer: Customer, **kwargs) -> "CustomerForm":
        initial = {
            "name": customer.name,
            "external_id": customer.external_id or "",
            "email": customer.email,
            "is_active": customer.is_active,
            "country": customer.country,
            "segment": customer.segment,
            "signed_up_on": customer.signed_up_on,
            "attributes": format_attributes(customer.attributes),
        }
        return cls(initial=initial, **kwargs)

    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value:
            COUNTRY_VALIDATOR(value)
        return value

    def clean_attributes(self) -> dict:
        return parse_attributes(self.cleaned_data.get("attributes") or "")

    def apply_service_error(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field_name, messages in error.message_dict.items():
                self.add_error(field_name if field_name in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)


class MemberAddForm(forms.Form):
    """Add a customer to a group: a picked result (``customer``) or what was typed (``q``)."""

    q = forms.CharField(label="Add a customer", required=False, max_length=200)
    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, group: CustomerGroup, **kwargs):
        self.group = group
        super().__init__(*args, **kwargs)
        self.fields["joined_at"] = member_since_field()
        self.fields["joined_at"].widget.attrs["id"] = "member-add-since"

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("customer"):
            customer = Customer.objects.filter(pk=data["customer"]).first()
            if customer is None:
                raise ValidationError("That customer no longer exists.")
        else:
            term = (data.get("q") or "").strip()
            if not term:
                self.add_error("q", SEARCH_EMPTY)
                return data
            customer = selectors.customer_for_term(term, exclude_group=self.group)
            if customer is None:
                self.add_error("q", NO_CUSTOMER_MATCH.format(term=term))
                return data
        data["customer_obj"] = customer
        return data


class GroupAddForm(forms.Form):
    """Add a customer to a group from the customer page: a picked group or what was typed."""

    q = forms.CharField(label="Add to a group", required=False, max_length=200)
    group = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, customer: Customer, **kwargs):
        self.customer = customer
        super().__init__(*args, **kwargs)
        self.fields["joined_at"] = member_since_field()
        self.fields["joined_at"].widget.attrs["id"] = "group-add-since"

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("group"):
            group = CustomerGroup.objects.filter(pk=data["group"]).first()
            if group is None:
                raise ValidationError("That group no longer exists.")
        else:
            term = (data.get("q") or "").strip()
            if not term:
                self.add_error("q", "Type a group's name or code first.")
                return data
            group = selectors.group_for_term(term, exclude_customer=self.customer)
            if group is None:
                self.add_error("q", NO_GROUP_MATCH.format(term=term))
                return data
        data["group_obj"] = group
        return data


class BulkMembershipForm(forms.Form):
    """Step 1 of a bulk change: pasted external IDs and/or a CSV file, and the mode."""

    external_ids = forms.CharField(
        label="External IDs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "CUST-0001\nCUST-0002, CUST-0003"}),
        help_text="One per line, or separated by commas.",
    )
    csv_file = forms.FileField(
        label="Or upload a CSV",
        required=False,
        help_text="An external_id column, or a single column of IDs.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    mode = forms.ChoiceField(
        choices=services.BulkMode.CHOICES, initial=services.BulkMode.ADD, widget=forms.RadioSelect
    )
    joined_at = member_since_field()

    def clean_csv_file(self):
        upload = self.cleaned_data.get("csv_file")
        check_upload_size(upload)
        return upload

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        ids = services.parse_external_ids(data.get("external_ids", ""))
        upload = data.get("csv_file")
        if upload:
            try:
                ids += services.read_csv_column(upload.read())
            except ValidationError as exc:
                self.add_error("csv_file", exc)
                return data
        if not ids:
            raise ValidationError(BULK_NOTHING)
        if len(ids) > services.BULK_LIMIT:
            raise ValidationError(
                services.BULK_TOO_MANY.format(limit=services.BULK_LIMIT, count=len(ids))
            )
        data["ids"] = ids
        return data


class BulkConfirmForm(forms.Form):
    """Step 2 of a bulk change: the IDs the preview showed, one per line, and the mode."""

    ids = forms.CharField(widget=forms.HiddenInput)
    mode = forms.ChoiceField(choices=services.BulkMode.CHOICES, widget=forms.HiddenInput)
    joined_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)

    def clean_ids(self) -> list[str]:
        ids = [line.strip() for line in self.cleaned_data["ids"].splitlines() if line.strip()]
        if not ids:
            raise ValidationError(BULK_NOTHING)
        if len(ids) > services.BULK_LIMIT:
            # The confirm step is a form anyone can post: it keeps the preview's limit.
            raise ValidationError(
                services.BULK_TOO_MANY.format(limit=services.BULK_LIMIT, count=len(ids))
            )
        return ids


class CustomerImportForm(forms.Form):
    csv_file = forms.FileField(
        label="CSV file",
        help_text="Columns: name, external_id, email, group_codes (codes separated by spaces).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_csv_file(self):
        upload = self.cleaned_data.get("csv_file")
        check_upload_size(upload)
        return upload


class CustomerImportConfirmForm(forms.Form):
    """Step 2 of an import: the file's text, carried by the preview, applied as previewed."""

    csv_text = forms.CharField(widget=forms.HiddenInput, strip=False)
