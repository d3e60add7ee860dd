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


# --- The customer CSV import's attribute columns ---------------------------------------------

IMPORT_COLUMNS = ("country", "segment", "signed_up_on", "attributes")
IMPORT_BAD_DATE = "Line {line}: signup date: “{value}” is not a date (YYYY-MM-DD)."
IMPORT_BAD_ATTRIBUTES = "Line {line}: attributes: {message}"


def read_import_attributes(cell, columns, line: int) -> tuple[dict, list[str]]:
    """The attribute columns the file has, read from one line: ``(values, problems)``.

    Only columns present in the file are returned, so an import without them changes no
    attribute. ``cell(name)`` gives a cell's stripped text. Field rules (the country's form,
    the segment's) are the model's, checked with the rest of the line.
    """
    from datetime import date

    values: dict = {}
    problems: list[str] = []
    for name in IMPORT_COLUMNS:
        if name not in columns:
            continue
        text = cell(name)
        if name == "country":
            values[name] = text.upper()
        elif name == "signed_up_on":
            try:
                values[name] = date.fromisoformat(text) if text else None
            except ValueError:
                problems.append(IMPORT_BAD_DATE.format(line=line, value=text))
        elif name == "attributes":
            try:
                values[name] = parse_attributes(text)
            except ValidationError as error:
                problems.append(IMPORT_BAD_ATTRIBUTES.format(line=line, message=error.messages[0]))
        else:
            values[name] = text
    return values, problems


def normalised(fields: dict) -> dict:
    """Customer fields with the attributes in their stored form (country in capitals, no
    surrounding spaces, no null object); other fields pass through."""
    fields = dict(fields)
    if "country" in fields:
        fields["country"] = (fields["country"] or "").strip().upper()
    if "segment" in fields:
        fields["segment"] = (fields["segment"] or "").strip()
    if "attributes" in fields and fields["attributes"] is None:
        fields["attributes"] = {}
    return fields
