"""One strict reading of decimal numbers, for every surface that takes one (forms, API, CSV).

Python's ``Decimal`` accepts far more than a price: ``1_000``, full-width digits, ``1e3``,
``NaN``. Prices and quantities are written the plain way, ``1500`` or ``0.25``: ASCII digits,
an optional sign and an optional dot. Anything else is refused with a message that says what to
write instead (a decimal comma is refused with the hint to use a dot).

:func:`parse_decimal` is the rule; :class:`DecimalField` (forms, the admin) and
:class:`ApiDecimalField` (the API, with its OpenAPI pattern) call it.
"""

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

# Digits before and/or after an optional dot: "12", "12.5", "12.", ".5"; never "", "-" or ".".
SYNTAX = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_COMMA = re.compile(r"-?[0-9]*,[0-9]+")
_EXPONENT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")
_SEPARATED = re.compile(r"-?[0-9][0-9_ '\u00a0\u202f]*[0-9](?:\.[0-9]*)?")

NOT_A_NUMBER = "Enter a number. Write digits with an optional dot, e.g. 1500 or 0.25."
USE_A_DOT = "Use a dot for decimals, e.g. 1.5 (a comma is not a decimal separator here)."
NO_EXPONENT = "Write the number out in full, e.g. 1000 rather than 1e3."
NO_SEPARATORS = "Write the digits without _, spaces or thousands separators, e.g. 1000."
ASCII_DIGITS = "Use the digits 0 to 9 (not full-width digits or digits of another script)."


class JsonNumber(Decimal):
    """A JSON number with a fraction or exponent, read exactly; ``literal`` is how it was written.

    The API's JSON parser (``billing.parsers``) reads such numbers this way, so ``0.1`` stays 0.1
    and the decimal fields see ``1e3`` or ``2.5E-2`` as written, not as ``Decimal`` prints them.
    """

    literal: str

    def __new__(cls, literal: str) -> "JsonNumber":
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


class NotADecimal(ValueError):
    """Text that is not a plainly written decimal number (its message says what to write)."""


def parse_decimal(text: str) -> Decimal:
    """The decimal ``text`` writes plainly (surrounding spaces ignored); :class:`NotADecimal`."""
    text = text.strip()
    if SYNTAX.fullmatch(text):
        return Decimal(text)
    raise NotADecimal(_why_not(text))


def _why_not(text: str) -> str:
    if any(ch.isdigit() and not "0" <= ch <= "9" for ch in text):
        return ASCII_DIGITS
    if _EXPONENT.fullmatch(text):
        return NO_EXPONENT
    if _COMMA.fullmatch(text):
        return USE_A_DOT
    if _SEPARATED.fullmatch(text):
        return NO_SEPARATORS
    return NOT_A_NUMBER


def pattern(*, integer_digits: int, decimal_places: int, signed: bool) -> str:
    """The OpenAPI (ECMA) pattern of what :func:`parse_decimal` and these limits accept."""
    whole = f"[0-9]{{1,{integer_digits}}}(?:\\.[0-9]{{0,{decimal_places}}})?"
    fraction = f"\\.[0-9]{{1,{decimal_places}}}"
    return f"^{'-?' if signed else ''}(?:{whole}|{fraction})$"


class DecimalField(forms.DecimalField):
    """A form decimal read by :func:`parse_decimal` (then Django's digit and range checks)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_decimal(str(value))
        except NotADecimal as exc:
            raise ValidationError(str(exc), code="invalid") from None


class ApiDecimalField(serializers.DecimalField):
    """An API decimal read by :func:`parse_decimal`, from a JSON string or number.

    The JSON parser reads numbers with a fraction or exponent as :class:`JsonNumber`, so ``1e3``
    is refused as a number just as it is as a string.
    """

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        text = data.literal if isinstance(data, JsonNumber) else str(data).strip()
        if len(text) > self.MAX_STRING_LENGTH:
            self.fail("max_string_length")
        try:
            parse_decimal(text)
        except NotADecimal as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None
        try:
            return super().to_internal_value(text)
        except InvalidOperation:  # pragma: no cover - the syntax above rules it out
            self.fail("invalid")


class ApiDecimalFieldSchema(OpenApiSerializerFieldExtension):
    """Documents :class:`ApiDecimalField` as a string with the exact pattern it accepts.

    drf-spectacular's own pattern for decimals admits ``""``, ``-`` and ``.``.
    """

    target_class = ApiDecimalField

    def map_serializer_field(self, auto_schema, direction):
        field: ApiDecimalField = self.target
        places = field.decimal_places or 0
        digits = (field.max_digits or 18) - places
        signed = field.min_value is None or field.min_value < 0
        return {
            "type": "string",
            "format": "decimal",
            "pattern": pattern(integer_digits=digits, decimal_places=places, signed=signed),
            "example": "12.50",
        }
