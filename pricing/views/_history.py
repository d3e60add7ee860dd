"""Readable audit trails from django-simple-history: who changed what, when.

Shared by the price list and rule pages. Diffs are computed in Python between consecutive
records of the same object, so a trail costs one query for the records (users joined) plus one
per foreign key shown by name, whatever its length.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class HistoryEntry:
    when: datetime
    who: str
    action: str
    subject: str = ""
    changes: list[FieldChange] = field(default_factory=list)


def format_value(value: object) -> str:
    """A history value as people read it: no trailing zeros, dates in ISO, "—" for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        whole, _, decimals = text.partition(".")
        return f"{whole}.{decimals.ljust(2, '0')}"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def history_entries(
    records: Iterable,
    *,
    subject: Callable[[object], str] | None = None,
    names: Mapping[str, Mapping] | None = None,
    labels: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
) -> list[HistoryEntry]:
    """Turn historical records (one or several objects, any order) into entries, newest first.

    ``names`` maps a foreign-key field to ``{pk: label}`` so changes read "VIP Customers"
    rather than a UUID; ``labels`` renames fields as the pages call them; ``subject`` labels
    records of several objects (items of a list). Records saved without any change are left out.
    """
    names = names or {}
    labels = labels or {}
    excluded = set(exclude)
    ordered = sorted(records, key=lambda r: (r.history_date, r.history_id))
    last_by_object: dict = {}
    entries: list[HistoryEntry] = []
    for record in ordered:
        # The primary key is nobody's business on these pages ("ID: 91"): records are named by
        # their subject (an item's code) instead.
        fields = [
            f
            for f in record.tracked_fields
            if f.editable and not f.primary_key and f.name not in excluded and f.name
        ]
        object_pk = getattr(record, record.instance_type._meta.pk.attname)
        previous = last_by_object.get(object_pk)
        last_by_object[object_pk] = record
        changes: list[FieldChange] = []
        if record.history_type == "+" or (record.history_type == "~" and previous is None):
            # A creation, or a change to a row created without history (bulk loads): show the
            # values it now holds, since there is nothing to compare them with.
            for f in fields:
                value = _display(f, getattr(record, f.attname), names)
                if value != "—":
                    changes.append(FieldChange(_label(f, labels), "", value))
        elif record.history_type == "~":
            by_name = {f.name: f for f in fields}
            delta = record.diff_against(previous, included_fields=list(by_name))
            for change in delta.changes:
                f = by_name[change.field]
                old, new = _display(f, change.old, names), _display(f, change.new, names)
                changes.append(FieldChange(_label(f, labels), old, new))
            if not changes:
                continue
        user = record.history_user
        entries.append(
            HistoryEntry(
                when=record.history_date,
                who=user.get_username() if user is not None else "system",
                action=ACTIONS.get(record.history_type, record.history_type),
                subject=subject(record) if subject else "",
                changes=changes,
            )
        )
    entries.reverse()
    return entries


def foreign_key_ids(records: Iterable, field_names: Iterable[str]) -> dict[str, set]:
    """Every id the records hold in each foreign key, to look their names up in bulk."""
    ids: dict[str, set] = {name: set() for name in field_names}
    for record in records:
        for name in ids:
            value = getattr(record, f"{name}_id")
            if value is not None:
                ids[name].add(value)
    return ids


def _label(f, labels: Mapping[str, str]) -> str:
    if f.name in labels:
        return labels[f.name]
    text = str(f.verbose_name)
    return text[:1].upper() + text[1:]


def _display(f, value, names: Mapping[str, Mapping]) -> str:
    if f.name in names and value is not None:
        return names[f.name].get(value, f"{value} (deleted)")
    if f.choices and value is not None:
        return str(dict(f.flatchoices).get(value, value))
    return format_value(value)
