"""Condition kinds: how each is validated, turned into a filter over customers, and described.

A condition is a JSON object with a ``kind``. This module defines the kinds over data this app
owns (customer attributes, membership of other groups); :func:`register` lets another app add a
kind over its own data (``pricing`` adds ``usage``, the rated-usage totals), so the refresh can
combine every condition in one query without this app importing that one.

Each kind turns a valid condition into a ``Q`` over :class:`groups.models.Customer` (usually
``pk__in`` a subquery or an ``EXISTS``): the database evaluates every condition for every
customer at once, whatever their number.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.lookups import In, IsNull

from groups.criteria.attributes import ATTRIBUTE_KEY_RE

MAX_CONDITIONS = 20
MAX_VALUES = 100

NOT_A_LIST = "The conditions are a list of objects."
TOO_MANY = f"At most {MAX_CONDITIONS} conditions."
NOT_AN_OBJECT = "Condition {n}: not an object."
UNKNOWN_KIND = "Condition {n}: unknown kind “{kind}” (one of {kinds})."
CONDITION_ERROR = "Condition {n}: {message}"
UNKNOWN_FIELD = "unknown attribute “{field}” (one of {fields})."
UNKNOWN_OP = "unknown comparison “{op}” for {what} (one of {ops})."
NO_KEY = "name the free attribute (lower-case letters, digits and _)."
NO_VALUE = "give a value to compare with."
BAD_DATE = "“{value}” is not a date (YYYY-MM-DD)."
BAD_GROUP = "no group “{value}”."
OWN_GROUP = "a group's criteria cannot refer to the group itself."
GROUP_CYCLE = "“{other}” already depends on this group's membership: a cycle."


@dataclass(frozen=True)
class Context:
    """What a condition is evaluated against: the moment and the group being refreshed."""

    now: datetime
    group_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Kind:
    """One kind of condition.

    ``clean`` returns the condition normalised (or raises ``ValidationError`` with messages
    for people); ``q`` its filter over customers; ``describe`` a sentence for the page.
    """

    name: str
    label: str
    clean: Callable[[dict], dict]
    q: Callable[[dict, Context], Q]
    describe: Callable[[dict], str]


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    KINDS[kind.name] = kind


def validate_conditions(value, *, group_id=None) -> list[dict]:
    """The conditions normalised; a ``ValidationError`` listing every problem otherwise."""
    if not isinstance(value, list):
        raise ValidationError(NOT_A_LIST)
    if len(value) > MAX_CONDITIONS:
        raise ValidationError(TOO_MANY)
    cleaned, errors = [], []
    for n, condition in enumerate(value, start=1):
        if not isinstance(condition, dict):
            errors.append(NOT_AN_OBJECT.format(n=n))
            continue
        kind = KINDS.get(condition.get("kind"))
        if kind is None:
            errors.append(
                UNKNOWN_KIND.format(n=n, kind=condition.get("kind"), kinds=", ".join(KINDS))
            )
            continue
        try:
            result = kind.clean(condition)
            if kind.name == "group" and group_id and result["group"] == str(group_id):
                raise ValidationError(OWN_GROUP)
            cleaned.append({"kind": kind.name, **result})
        except ValidationError as error:
            errors.extend(CONDITION_ERROR.format(n=n, message=m) for m in error.messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


def customers_q(conditions: list[dict], context: Context) -> Q:
    """All ``conditions`` hold (an empty list holds for every customer)."""
    q = Q()
    for condition in conditions:
        q &= KINDS[condition["kind"]].q(condition, context)
    return q


def describe(condition: dict) -> str:
    kind = KINDS.get(condition.get("kind"))
    return kind.describe(condition) if kind else str(condition)


# --- Attributes --------------------------------------------------------------------------------

ATTRIBUTE_FIELDS = {"country": "country", "segment": "segment", "signed_up_on": "signup date"}
TEXT_OPS = {"equals": "equals", "in": "is one of", "not_in": "is not one of"}
DATE_OPS = {"equals": "is on", "before": "is before", "after": "is after"}


def _text_values(op: str, value) -> list[str]:
    values = value if isinstance(value, list) else str(value or "").split(",")
    values = [str(v).strip() for v in values if str(v).strip()]
    if not values:
        raise ValidationError(NO_VALUE)
    if op == "equals" and len(values) != 1:
        raise ValidationError("“equals” takes one value; use “in” for several.")
    return values[:MAX_VALUES]


def _clean_attribute(condition: dict) -> dict:
    field = condition.get("field") or ""
    key = ""
    if field == "attribute" or field.startswith("attr:"):
        key = condition.get("key") or field.removeprefix("attr:").removeprefix("attribute")
        if not ATTRIBUTE_KEY_RE.match(key or ""):
            raise ValidationError(NO_KEY)
        field = "attribute"
    elif field not in ATTRIBUTE_FIELDS:
        fields = ", ".join([*ATTRIBUTE_FIELDS, "attribute"])
        raise ValidationError(UNKNOWN_FIELD.format(field=field, fields=fields))
    op = condition.get("op")
    value = condition.get("value")
    if field == "signed_up_on":
        if op not in DATE_OPS:
            raise ValidationError(UNKNOWN_OP.format(op=op, what="a date", ops=", ".join(DATE_OPS)))
        try:
            day = date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(BAD_DATE.format(value=value)) from None
        return {"field": field, "op": op, "value": day.isoformat()}
    if op not in TEXT_OPS:
        raise ValidationError(UNKNOWN_OP.format(op=op, what="text", ops=", ".join(TEXT_OPS)))
    values = _text_values(op, value)
    if field == "country":
        values = [v.upper() for v in values]
    result = {"field": field, "op": op, "value": values[0] if op == "equals" else values}
    if key:
        result["key"] = key
    return result


def _attribute_q(condition: dict, context: Context) -> Q:
    field, op, value = condition["field"], condition["op"], condition["value"]
    if field == "signed_up_on":
        lookup = {"equals": "", "before": "__lt", "after": "__gt"}[op]
        return Q(**{f"signed_up_on{lookup}": date.fromisoformat(value)})
    values = [value] if op == "equals" else value
    if field == "attribute":
        column = KT(f"attributes__{condition['key']}")
        if op == "not_in":
            # A customer without the attribute is in no list (SQL's NOT IN would drop it).
            return Q(IsNull(column, True)) | ~Q(In(column, values))
        return Q(In(column, values))
    matches = Q(**{f"{field}__in": values})
    return ~matches if op == "not_in" else matches


def _describe_attribute(condition: dict) -> str:
    field = condition["field"]
    name = condition.get("key") if field == "attribute" else ATTRIBUTE_FIELDS[field]
    ops = DATE_OPS if field == "signed_up_on" else TEXT_OPS
    value = condition["value"]
    shown = ", ".join(value) if isinstance(value, list) else value
    return f"{name} {ops[condition['op']]} {shown}"


register(
    Kind(
        name="attribute",
        label="Customer attribute",
        clean=_clean_attribute,
        q=_attribute_q,
        describe=_describe_attribute,
    )
)


# --- Membership of other groups ------------------------------------------------------------

GROUP_OPS = {"in": "is a member of", "not_in": "is not a member of"}


def _clean_group(condition: dict) -> dict:
    from groups.models import CustomerGroup

    op = condition.get("op")
    if op not in GROUP_OPS:
        raise ValidationError(UNKNOWN_OP.format(op=op, what="a group", ops=", ".join(GROUP_OPS)))
    value = str(condition.get("group") or "").strip()
    try:
        pk = uuid.UUID(value)
    except ValueError:
        group = CustomerGroup.objects.filter(code__iexact=value).first() if value else None
    else:
        group = CustomerGroup.objects.filter(pk=pk).first()
    if group is None:
        raise ValidationError(BAD_GROUP.format(value=value))
    return {"op": op, "group": str(group.pk), "group_name": group.name, "group_code": group.code}


def _group_q(condition: dict, context: Context) -> Q:
    from groups.models import Membership

    member = Exists(
        Membership.objects.current().filter(customer=OuterRef("pk"), group_id=condition["group"])
    )
    return Q(member) if condition["op"] == "in" else ~Q(member)


def _describe_group(condition: dict) -> str:
    return f"{GROUP_OPS[condition['op']]} {condition.get('group_name') or condition['group']}"


register(
    Kind(
        name="group",
        label="Membership of another group",
        clean=_clean_group,
        q=_group_q,
        describe=_describe_group,
    )
)


def referenced_groups(conditions: list[dict]) -> set[str]:
    return {c["group"] for c in conditions if c.get("kind") == "group"}
