"""Validators the pricing models share."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator

from pricing.currencies import ISO_4217_CODES

CATEGORY_VALIDATOR = RegexValidator(
    r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$",
    "Use a lower-case slug such as retail or wholesale-eu (letters, digits, - and _).",
)
# Prices and quantities stay below a billion: 9 integer digits plus 6 decimals fit every backend
# exactly (SQLite reads larger decimals back through floats and loses them).
MAX_DECIMAL = Decimal("999999999.999999")
MAX_DECIMAL_VALIDATOR = MaxValueValidator(MAX_DECIMAL, "Must be less than 1,000,000,000.")

ITEM_CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
    "Item codes are letters, digits and . _ : / - (no spaces), e.g. minute or SMS.",
)


def validate_currency(value: str) -> None:
    if value not in ISO_4217_CODES:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (e.g. EUR, USD, CZK).",
            params={"value": value},
            code="invalid_currency",
        )
