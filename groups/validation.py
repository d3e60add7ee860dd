"""Input rules every app shares: supported dates and instants, visible text, description length.

The supported range is decided once, in :mod:`pricing.engine.calendar` (``check_day``,
``check_instant``), so that no accepted value can stop rating. ``groups`` imports nothing from
``pricing``; instead ``pricing`` installs the engine's checks here when the apps are ready
(:func:`install_range`, called from ``PricingConfig.ready``), and every model field, form field and
serializer field of both apps validates through the functions below. Until they are installed
every check fails loudly rather than letting a date through unchecked.
"""

import unicodedata
from collections.abc import Callable
from datetime import date, datetime

import django_filters
from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import MaxLengthValidator
from rest_framework import serializers

OUT_OF_RANGE = "out_of_range"

# One limit for every description (groups, price lists, rules), in pages, the API and the admin.
DESCRIPTION_MAX_LENGTH = 5_000
DESCRIPTION_TOO_LONG = "Keep the description to %(limit_value)s characters (it has %(show_value)s)."
validate_description_length = MaxLengthValidator(DESCRIPTION_MAX_LENGTH, DESCRIPTION_TOO_LONG)

INVISIBLE_CHARACTER = (
    "Remove the invisible or direction-changing character {name} (U+{code:04X}): names, codes "
    "and IDs must read the same everywhere they are shown."
)
# Control and format characters (bidirectional overrides, zero-width spaces and joiners, the
# byte-order mark), line and paragraph separators, and lone surrogates.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def validate_visible_text(value: str | None) -> None:
    """Refuse characters that are invisible or reorder text (spoofed names, codes and IDs)."""
    for ch in value or "":
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            name = unicodedata.name(ch, "a control character")
            raise ValidationError(
                INVISIBLE_CHARACTER.format(name=name, code=ord(ch)), code="invisible_character"
            )


DayCheck = Callable[[date], date]
InstantCheck = Callable[[datetime], datetime]

_checks: dict[str, Callable] = {}


def install_range(*, check_day: DayCheck, check_instant: InstantCheck) -> None:
    """Install the project's range checks; each raises ``ValueError`` with a message for people.

    ``check_instant`` receives aware datetimes and judges them in the billing time zone.
    """
    _checks["day"] = check_day
    _checks["instant"] = check_instant


def _check(kind: str) -> Callable:
    try:
        return _checks[kind]
    except KeyError:
        raise ImproperlyConfigured(
            "groups.validation.install_range() has not been called (pricing installs it)."
        ) from None


def validate_supported_day(value: date | None) -> None:
    """Refuse a date outside the supported range (a model, form or serializer validator)."""
    if value is None:
        return
    try:
        _check("day")(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code=OUT_OF_RANGE) from None


def validate_supported_instant(value: datetime | None) -> None:
    """Refuse an instant outside the supported range (its UTC date or billing day)."""
    if value is None:
        return
    try:
        _check("instant")(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code=OUT_OF_RANGE) from None


# --- Form and serializer fields ---------------------------------------------------------------


class DescriptionField(forms.CharField):
    """A description typed in a form: optional, at most ``DESCRIPTION_MAX_LENGTH`` characters."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        super().__init__(
            max_length=DESCRIPTION_MAX_LENGTH,
            error_messages={"max_length": DESCRIPTION_TOO_LONG},
            **kwargs,
        )


class ApiDescriptionField(serializers.CharField):
    """A description sent to the API: optional, the same limit and message as the pages."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(validators=[validate_description_length], **kwargs)


class DateField(forms.DateField):
    """A form date in the supported range."""

    default_validators = [validate_supported_day]


class DateTimeField(forms.DateTimeField):
    """A form instant in the supported range (read in the current, i.e. billing, time zone)."""

    default_validators = [validate_supported_instant]


class DateFilter(django_filters.DateFilter):
    """A filter by a date in the supported range (an invalid filter otherwise, never a 500)."""

    field_class = DateField


class ApiDateField(serializers.DateField):
    """An API date in the supported range: 400 with the message on the field otherwise."""

    default_validators = [validate_supported_day]


class ApiDateTimeField(serializers.DateTimeField):
    """An API instant in the supported range: 400 with the message on the field otherwise."""

    default_validators = [validate_supported_instant]
