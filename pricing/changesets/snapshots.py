"""Rules and price lists as JSON snapshots, and snapshots back as the services' arguments.

A change stores the object as it was (``before``) and as it is proposed (``after``) in one
plain form: decimals and dates as text, references as ids. The same form feeds the diff on the
page, the proposed rule book of the impact gate, and the services at publication.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from groups.models import Customer, CustomerGroup
from pricing.models import PriceList, PricingRule
from pricing.services.price_lists import ITEM_FIELDS, PRICE_LIST_FIELDS
from pricing.services.rules import RULE_FIELDS

# What a change records of each object: the fields its service writes, in the same order.
RULE_SNAPSHOT_FIELDS = RULE_FIELDS
LIST_SNAPSHOT_FIELDS = PRICE_LIST_FIELDS
ITEM_SNAPSHOT_FIELDS = ("item_code", *ITEM_FIELDS)
_DECIMALS = {
    "factor",
    "surcharge",
    "unit_price",
    "package_size",
    "first_increment",
    "next_increment",
    "minimum_charge",
}
_DATES = {"valid_from", "valid_to"}
_REFS = {"price_list": PriceList, "group": CustomerGroup, "customer": Customer}
_REFS_LIST = {"base_price_list": PriceList}


def _plain(value):
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "pk"):
        return str(value.pk)
    return value


def rule_snapshot(rule: PricingRule | None = None, **fields) -> dict:
    """A rule's fields (``fields`` override them) as JSON."""
    data = {}
    for name in RULE_SNAPSHOT_FIELDS:
        if name in fields:
            value = fields[name]
        elif rule is not None:
            value = getattr(rule, f"{name}_id" if name in _REFS else name)
        else:
            value = None
        data[name] = _plain(value)
    return data


def item_snapshot(item) -> dict:
    getter = item.get if isinstance(item, dict) else lambda name: getattr(item, name, None)
    data = {name: _plain(getter(name)) for name in ITEM_SNAPSHOT_FIELDS}
    data["tiers"] = data["tiers"] or []
    data["pricing_mode"] = data["pricing_mode"] or "per_unit"
    return data


def list_snapshot(price_list: PriceList | None = None, items=None, **fields) -> dict:
    """A price list's fields and items (``fields`` / ``items`` override them) as JSON."""
    data = {}
    for name in LIST_SNAPSHOT_FIELDS:
        if name in fields:
            value = fields[name]
        elif price_list is not None:
            value = getattr(price_list, f"{name}_id" if name in _REFS_LIST else name)
        else:
            value = None
        data[name] = _plain(value)
    if items is None:
        items = list(price_list.items.all()) if price_list is not None else []
    data["items"] = sorted((item_snapshot(item) for item in items), key=lambda i: i["item_code"])
    return data


def _value(name: str, value):
    if value is None or value == "":
        return None if name not in {"description"} else ""
    if name in _DECIMALS:
        return Decimal(str(value))
    if name in _DATES:
        return date.fromisoformat(value)
    return value


def rule_fields(data: dict) -> dict:
    """A rule snapshot as :func:`pricing.services.rule_create` / ``rule_update`` arguments."""
    fields = {}
    refs = _load_refs(data, _REFS)
    for name in RULE_SNAPSHOT_FIELDS:
        if name in _REFS:
            fields[name] = refs.get(name)
        else:
            fields[name] = _value(name, data.get(name))
    fields["description"] = fields["description"] or ""
    return fields


def list_fields(data: dict) -> tuple[dict, list[dict]]:
    """A price list snapshot as ``price_list_create`` / ``price_list_update`` arguments."""
    refs = _load_refs(data, _REFS_LIST)
    fields = {}
    for name in LIST_SNAPSHOT_FIELDS:
        fields[name] = refs.get(name) if name in _REFS_LIST else _value(name, data.get(name))
    fields["description"] = fields["description"] or ""
    items = [
        {name: _value(name, item.get(name)) for name in ITEM_SNAPSHOT_FIELDS}
        for item in data.get("items") or []
    ]
    for item in items:
        item["tiers"] = item["tiers"] or []
    return fields, items


def _load_refs(data: dict, refs: dict) -> dict:
    loaded = {}
    for name, model in refs.items():
        pk = data.get(name)
        if pk:
            manager = getattr(model, "all_objects", model.objects)
            loaded[name] = manager.filter(pk=pk).first()
    return loaded


def ref_label(name: str, pk) -> str:
    """How a reference reads on the diff (a missing object reads as its id)."""
    if not pk:
        return "—"
    model = _REFS.get(name) or _REFS_LIST.get(name)
    if model is None:
        return str(pk)
    manager = getattr(model, "all_objects", model.objects)
    obj = manager.filter(pk=pk).first()
    return str(obj) if obj is not None else f"(deleted {str(pk)[:8]})"
