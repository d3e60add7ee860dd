"""Price lists as CSV: export a list's own items, import items with a dry-run preview.

One line per item::

    item_code,unit,pricing_mode,unit_price,tiers,package_size,first_increment,next_increment,minimum_charge
    GB,GB,graduated,2.00,100:2.00|1000:1.50|:1.00,,,,
    second,second,per_unit,0.02,,,60,60,1.50

``tiers`` is ``up_to:unit_price`` per tier, lowest first, separated by ``|``; the last tier has
no ``up_to``. Files are written through the one CSV writer (:mod:`groups.csvfile`). Reading
checks each line as the services would (the item's own validation, which asks the engine about
the price model) and reports every error of every line, in line order, before anything is
written; applying goes through :func:`pricing.services.price_list_update` (atomic).
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError

from groups.csvfile import NUL_IN_CELL, has_nul
from pricing.decimals import NotADecimal, parse_decimal
from pricing.models import PriceList, PriceListItem, PricingMode
from pricing.services import ITEM_FIELDS

COLUMNS = (
    "item_code",
    "unit",
    "pricing_mode",
    "unit_price",
    "tiers",
    "package_size",
    "first_increment",
    "next_increment",
    "minimum_charge",
)
DECIMAL_COLUMNS = ("unit_price", "package_size", "first_increment", "next_increment")
MAX_LINES = 10_000
MISSING_COLUMNS = "The first line must name the columns; missing: {columns}."
TOO_MANY_LINES = "At most {limit} items in one file."
NOT_TEXT = "The file is not UTF-8 text: save it as CSV (UTF-8) and try again."
EMPTY_FILE = "The file has no items."
TIERS_UNREADABLE = "tiers: write each tier as up_to:price, separated by | (e.g. 100:2.00|:1.50)."
DUPLICATE_CODE = "item_code: {code} is already on line {line}."
MODES = {choice.value for choice in PricingMode}


def _plain(value) -> str:
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)).normalize():f}"


def tiers_text(tiers: Iterable[dict]) -> str:
    """Tiers as one CSV cell: ``100:2|1000:1.5|:1``."""
    return "|".join(f"{_plain(t.get('up_to'))}:{_plain(t.get('unit_price'))}" for t in tiers)


def export_rows(price_list: PriceList) -> Iterator[list]:
    """The header, then the list's own items by code (a derived list's base items are the base
    list's to export)."""
    yield list(COLUMNS)
    for item in price_list.items.order_by("item_code"):
        yield [
            item.item_code,
            item.unit,
            item.pricing_mode,
            _plain(item.unit_price),
            tiers_text(item.tiers or ()),
            _plain(item.package_size),
            _plain(item.first_increment),
            _plain(item.next_increment),
            _plain(item.minimum_charge),
        ]


def parse_tiers(text: str) -> list[dict]:
    tiers = []
    for part in (p.strip() for p in text.split("|") if p.strip()):
        up_to, sep, price = part.partition(":")
        if not sep:
            raise ValueError(TIERS_UNREADABLE)
        try:
            bound = parse_decimal(up_to) if up_to.strip() else None
            tiers.append(
                {
                    "up_to": None if bound is None else str(bound),
                    "unit_price": str(parse_decimal(price)),
                }
            )
        except NotADecimal:
            raise ValueError(TIERS_UNREADABLE) from None
    return tiers


@dataclass
class Change:
    item_code: str
    action: str  # "add", "change", "remove", "same", "keep" (not in the file, kept)
    before: str = ""
    after: str = ""


@dataclass
class ImportPlan:
    """What an import would do: the items it sends, the changes, or the errors by line."""

    items: list[dict] = field(default_factory=list)
    errors: list[tuple[int, list[str]]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)


def _line_item(row: dict) -> tuple[dict, list[str]]:
    """One line as the services' item fields, with all of its errors at once."""
    errors: list[str] = []
    data: dict = {
        "item_code": (row.get("item_code") or "").strip(),
        "unit": (row.get("unit") or "").strip(),
        "pricing_mode": (row.get("pricing_mode") or "").strip() or PricingMode.PER_UNIT,
        "tiers": [],
    }
    if data["pricing_mode"] not in MODES:
        errors.append(f"pricing_mode: use one of {', '.join(sorted(MODES))}.")
        data["pricing_mode"] = PricingMode.PER_UNIT
    for name in (*DECIMAL_COLUMNS, "minimum_charge"):
        text = (row.get(name) or "").strip()
        data[name] = None
        if text:
            try:
                data[name] = parse_decimal(text)
            except NotADecimal as exc:
                errors.append(f"{name}: {exc}")
    try:
        data["tiers"] = parse_tiers(row.get("tiers") or "")
    except ValueError as exc:
        errors.append(str(exc))
    if data["unit_price"] is None and data["tiers"]:
        data["unit_price"] = Decimal(data["tiers"][0]["unit_price"])
    item = PriceListItem(**{k: v for k, v in data.items() if v is not None or k == "unit_price"})
    try:
        item.full_clean(exclude=["price_list"], validate_constraints=False)
    except ValidationError as exc:
        errors.extend(
            f"{name}: {message}"
            for name, messages in exc.message_dict.items()
            if not any(e.startswith(f"{name}:") for e in errors)
            for message in messages
        )
    return data, errors


def read(text: str) -> tuple[list[tuple[int, dict]], list[tuple[int, list[str]]]]:
    """Each line's item fields (with its line number), and every line's errors in line order."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("item_code", "unit") if c not in (reader.fieldnames or [])]
    if missing:
        return [], [(1, [MISSING_COLUMNS.format(columns=", ".join(missing))])]
    rows, errors, seen = [], [], {}
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_LINES:
            return [], [(number, [TOO_MANY_LINES.format(limit=MAX_LINES)])]
        cells = [v for v in row.values() if isinstance(v, str)]
        if has_nul(cells):
            errors.append((number, [NUL_IN_CELL]))
            continue
        if not any(cell.strip() for cell in cells):
            continue
        data, line_errors = _line_item(row)
        code = data["item_code"].lower()
        if code and code in seen:
            line_errors.append(DUPLICATE_CODE.format(code=data["item_code"], line=seen[code]))
        seen.setdefault(code, number)
        if line_errors:
            errors.append((number, line_errors))
        rows.append((number, data))
    if not rows and not errors:
        errors.append((1, [EMPTY_FILE]))
    return rows, errors


def _values(item: PriceListItem) -> dict:
    return {name: getattr(item, name) for name in ITEM_FIELDS}


def _summary(values: dict) -> str:
    parts = [f"{values['unit']}", values["pricing_mode"], _plain(values["unit_price"])]
    if values.get("tiers"):
        parts.append(f"tiers {tiers_text(values['tiers'])}")
    for name in ("package_size", "first_increment", "next_increment", "minimum_charge"):
        if values.get(name) is not None:
            parts.append(f"{name.replace('_', ' ')} {_plain(values[name])}")
    return ", ".join(parts)


def plan(price_list: PriceList, text: str, *, replace: bool) -> ImportPlan:
    """What importing ``text`` would do to the list (nothing is written).

    Without ``replace`` the file adds and changes items and keeps the others; with it, items
    not in the file are removed.
    """
    rows, errors = read(text)
    result = ImportPlan(errors=errors)
    if errors:
        return result
    current = {item.item_code: item for item in price_list.items.all()}
    incoming = {data["item_code"]: data for _, data in rows}
    items: list[dict] = []
    for code, item in sorted(current.items(), key=lambda kv: kv[0].lower()):
        if code in incoming or replace:
            continue
        items.append({name: getattr(item, name) for name in ("item_code", *ITEM_FIELDS)})
        result.changes.append(Change(code, "keep", before=_summary(_values(item))))
    for code, data in incoming.items():
        items.append(data)
        old = current.get(code)
        after = _summary(data)
        if old is None:
            result.changes.append(Change(code, "add", after=after))
            continue
        before = _summary(_values(old))
        result.changes.append(Change(code, "same" if before == after else "change", before, after))
    if replace:
        for code, old in current.items():
            if code not in incoming:
                result.changes.append(Change(code, "remove", before=_summary(_values(old))))
    result.changes.sort(
        key=lambda c: ({"remove": 0, "change": 1, "add": 2}.get(c.action, 3), c.item_code.lower())
    )
    result.items = items
    return result


def decode(raw: bytes) -> str:
    """The uploaded bytes as text (UTF-8, with or without a byte order mark)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(NOT_TEXT) from None
