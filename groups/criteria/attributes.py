"""Customer attributes an operator filters on: country, segment, signup date and free ones.

The three typed attributes are columns of :class:`groups.models.Customer`; the free ones are a
flat JSON object of short text values under keys that look like codes (``industry``,
``account_manager``), so a criteria condition can name them safely.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

COUNTRY_VALIDATOR = RegexValidator(
    r"^[A-Z]{2}$", "Use the two-letter ISO 3166 country code in capitals, e.g. CZ or DE."
)
SEGMENT_VALIDATOR = RegexValidator(
    r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$",
    "Use a lower-case code such as enterprise or smb-eu (letters, digits, - and _).",
)
ATTRIBUTE_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_VALUE = 200
ATTRIBUTES_NOT_OBJECT = "Attributes are an object of names to text values."
ATTRIBUTES_TOO_MANY = f"At most {MAX_ATTRIBUTES} attributes per customer."
ATTRIBUTE_BAD_KEY = (
    "“{key}” is not a usable attribute name: lower-case letters, digits and _, starting with a "
    "letter, at most 40 characters."
)
ATTRIBUTE_BAD_VALUE = (
    f"The value of “{{key}}” must be text of at most {MAX_ATTRIBUTE_VALUE} characters."
)


def validate_attributes(value) -> None:
    """Free attributes: at most 30 keys like ``industry``, each with a short text value."""
    if not isinstance(value, dict):
        raise ValidationError(ATTRIBUTES_NOT_OBJECT, code="attributes")
    if len(value) > MAX_ATTRIBUTES:
        raise ValidationError(ATTRIBUTES_TOO_MANY, code="attributes")
    for key, item in value.items():
        if not isinstance(key, str) or not ATTRIBUTE_KEY_RE.match(key):
            raise ValidationError(ATTRIBUTE_BAD_KEY.format(key=key), code="attributes")
        if not isinstance(item, str) or len(item) > MAX_ATTRIBUTE_VALUE:
            raise ValidationError(ATTRIBUTE_BAD_VALUE.format(key=key), code="attributes")


def parse_attributes(text: str) -> dict[str, str]:
    """``key=value`` pairs, one a line or separated by ``;`` (forms and the CSV import)."""
    result: dict[str, str] = {}
    for part in re.split(r"[;\n]+", text or ""):
        part = part.strip()
        if not part:
            continue
        key, sep, item = part.partition("=")
        if not sep:
            raise ValidationError(
                f"“{part}” is not key=value (e.g. industry=telecom).", code="attributes"
            )
        result[key.strip()] = item.strip()
    validate_attributes(result)
    return result


def format_attributes(value: dict | None) -> str:
    return "; ".join(f"{key}={item}" for key, item in sorted((value or {}).items()))
