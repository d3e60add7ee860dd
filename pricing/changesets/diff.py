"""Field-by-field differences of a changeset's changes, old and new, for the page and the API.

References (price list, group, customer, base list) read as names, loaded for every change of
a changeset at once (three queries whatever the number of changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from groups.models import Customer, CustomerGroup
from pricing.changesets.snapshots import (
    ITEM_SNAPSHOT_FIELDS,
    LIST_SNAPSHOT_FIELDS,
    RULE_SNAPSHOT_FIELDS,
)
from pricing.models import ChangeKind, ChangesetChange, PriceList, PriceListItem, PricingRule

_REF_MODELS = {
    "price_list": PriceList,
    "base_price_list": PriceList,
    "group": CustomerGroup,
    "customer": Customer,
}


@dataclass(frozen=True)
class FieldDiff:
    name: str
    label: str
    old: str
    new: str


@dataclass
class ItemDiff:
    item_code: str
    status: str  # added, removed, changed
    fields: list[FieldDiff] = field(default_factory=list)


@dataclass
class ChangeDiff:
    change: ChangesetChange
    fields: list[FieldDiff]
    items: list[ItemDiff]


def _label(model, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name).capitalize()


class Names:
    """Names of the objects snapshots refer to, loaded for many changes at once."""

    def __init__(self, changes: Iterable[ChangesetChange]) -> None:
        wanted: dict[type, set] = {}
        for change in changes:
            for snapshot in (change.before, change.after):
                for name, model in _REF_MODELS.items():
                    if snapshot and snapshot.get(name):
                        wanted.setdefault(model, set()).add(snapshot[name])
        self.names: dict[str, str] = {}
        for model, pks in wanted.items():
            manager = getattr(model, "all_objects", model.objects)
            for obj in manager.filter(pk__in=pks):
                self.names[str(obj.pk)] = str(obj)

    def show(self, name: str, value) -> str:
        if value is None or value == "":
            return "—"
        if name in _REF_MODELS:
            return self.names.get(str(value), f"(deleted {str(value)[:8]})")
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return (
                "; ".join(f"up to {t.get('up_to') or '∞'}: {t.get('unit_price')}" for t in value)
                or "—"
            )
        return str(value)


def _fields(model, names, before, after, show) -> list[FieldDiff]:
    before, after = before or {}, after or {}
    return [
        FieldDiff(
            name, _label(model, name), show(name, before.get(name)), show(name, after.get(name))
        )
        for name in names
        if before.get(name) != after.get(name)
    ]


def _items(before: dict | None, after: dict | None, show) -> list[ItemDiff]:
    old = {i["item_code"]: i for i in (before or {}).get("items") or []}
    new = {i["item_code"]: i for i in (after or {}).get("items") or []}
    diffs = []
    for code in sorted(old.keys() | new.keys()):
        if code not in new:
            diffs.append(ItemDiff(code, "removed"))
        elif code not in old:
            status = "added"
            diffs.append(
                ItemDiff(
                    code,
                    status,
                    _fields(PriceListItem, ITEM_SNAPSHOT_FIELDS[1:], {}, new[code], show),
                )
            )
        else:
            changed = _fields(PriceListItem, ITEM_SNAPSHOT_FIELDS[1:], old[code], new[code], show)
            if changed:
                diffs.append(ItemDiff(code, "changed", changed))
    return diffs


def change_diffs(changes: Iterable[ChangesetChange]) -> list[ChangeDiff]:
    changes = list(changes)
    names = Names(changes)
    diffs = []
    for change in changes:
        if change.kind == ChangeKind.RULE:
            fields = _fields(
                PricingRule, RULE_SNAPSHOT_FIELDS, change.before, change.after, names.show
            )
            items = []
        else:
            fields = _fields(
                PriceList, LIST_SNAPSHOT_FIELDS, change.before, change.after, names.show
            )
            items = _items(change.before, change.after, names.show)
        diffs.append(ChangeDiff(change, fields, items))
    return diffs
