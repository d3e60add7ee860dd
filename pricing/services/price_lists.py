"""Writes to price lists and their items (prices, price models, derivations)."""

from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from groups import versions
from pricing.models import (
    PriceList,
    PriceListItem,
)
from pricing.signals import price_list_changed

PRICE_LIST_CODE_TAKEN = "The code “{code}” is already used by the price list “{existing}”."
PRICE_LIST_IN_USE = "“{price_list}” cannot be deleted while pricing rules use it: {rules}."
DUPLICATE_ITEM = "The item “{item_code}” is listed more than once."
DUPLICATE_ITEM_OTHER_CASE = (
    "The item “{item_code}” is listed more than once (as “{first}” too): item codes are "
    "compared without case."
)
ITEM_TAKEN = "This price list already prices “{code}”."
ITEM_TAKEN_OTHER_CASE = (
    "This price list already prices “{code}”: item codes that differ only in case would be "
    "two prices for one item. Edit “{code}” instead."
)

User = AbstractBaseUser

# --- Price lists ------------------------------------------------------------------------------


BASE_CURRENCY_MISMATCH = (
    "“{base}” prices in {base_currency}; a list based on it must use {base_currency} too."
)
BASE_CYCLE = "“{base}” is already based on this list (through {chain}): that would be a circle."
ITEM_PRICE_FIELDS = (
    "pricing_mode",
    "tiers",
    "package_size",
    "first_increment",
    "next_increment",
    "minimum_charge",
)
ITEM_FIELDS = ("unit", "unit_price", *ITEM_PRICE_FIELDS)


def _check_derivation(price_list: PriceList) -> None:
    """A base list in the same currency, and no circle of lists based on each other."""
    base = price_list.base_price_list
    if base is None:
        return
    if base.currency != price_list.currency:
        raise ValidationError(
            {
                "base_price_list": [
                    BASE_CURRENCY_MISMATCH.format(base=base.name, base_currency=base.currency)
                ]
            }
        )
    bases = dict(PriceList.objects.values_list("pk", "base_price_list_id"))
    bases[price_list.pk] = base.pk
    names = dict(PriceList.objects.values_list("pk", "code"))
    names[price_list.pk] = price_list.code
    chain, current = [], base.pk
    while current is not None and current not in chain:
        chain.append(current)
        if current == price_list.pk:
            trail = " → ".join(names.get(pk, "?") for pk in chain)
            raise ValidationError(
                {"base_price_list": [BASE_CYCLE.format(base=base.name, chain=trail)]}
            )
        current = bases.get(current)


def _save_price_list(price_list: PriceList, by: User | None) -> PriceList:
    price_list.code = (price_list.code or "").strip()
    price_list.name = (price_list.name or "").strip()
    price_list.currency = (price_list.currency or "").strip().upper()
    existing = (
        PriceList.objects.filter(code__iexact=price_list.code).exclude(pk=price_list.pk).first()
    )
    if existing is not None:
        raise ValidationError(
            {"code": [PRICE_LIST_CODE_TAKEN.format(code=price_list.code, existing=existing.name)]}
        )
    price_list.full_clean(validate_constraints=False)
    _check_derivation(price_list)
    price_list._history_user = by
    price_list.save()
    return price_list


def _replace_items(price_list: PriceList, items: Sequence[Mapping], by: User | None) -> bool:
    """Make the list's items exactly ``items`` (dicts of item_code, unit, unit_price).

    Items are matched by code, so their history reads as the pages' and the admin's do: an item
    whose unit or price changed is *changed*, one no longer listed is *deleted*, a new code is
    *created*, each recorded with ``by``; an item sent unchanged leaves no record. Returns
    whether anything changed.
    """
    seen: dict[str, str] = {}  # lower-case code -> the code as first written
    rows: list[PriceListItem] = []
    errors: list[str] = []
    for index, data in enumerate(items):
        item = PriceListItem(
            price_list=price_list,
            item_code=(data.get("item_code") or "").strip(),
            unit=(data.get("unit") or "").strip(),
            unit_price=data.get("unit_price"),
            **{name: data[name] for name in ITEM_PRICE_FIELDS if data.get(name) is not None},
        )
        first = seen.get(item.item_code.lower())
        if first == item.item_code:
            errors.append(DUPLICATE_ITEM.format(item_code=item.item_code))
        elif first is not None:
            errors.append(DUPLICATE_ITEM_OTHER_CASE.format(item_code=item.item_code, first=first))
        seen.setdefault(item.item_code.lower(), item.item_code)
        try:
            item.full_clean(exclude=["price_list"], validate_constraints=False)
        except ValidationError as exc:
            errors.extend(
                f"Item {index + 1} ({item.item_code or 'no code'}): {field}: {message}"
                for field, messages in exc.message_dict.items()
                for message in messages
            )
        rows.append(item)
    if errors:
        raise ValidationError({"items": errors})
    existing = {item.item_code: item for item in price_list.items.all()}
    gone = existing.keys() - {row.item_code for row in rows}
    for code in gone:  # first, so a code sent in another case can take its place
        _delete_item(existing[code], by)
    changed, created = [], []
    for row in rows:
        item = existing.get(row.item_code)
        if item is None:
            created.append(row)
        elif any(getattr(item, name) != getattr(row, name) for name in ITEM_FIELDS):
            for name in ITEM_FIELDS:
                setattr(item, name, getattr(row, name))
            changed.append(item)
    if changed:
        for item in changed:
            item.version += 1
        bulk_update_with_history(changed, PriceListItem, [*ITEM_FIELDS, "version"], default_user=by)
    if created:
        bulk_create_with_history(created, PriceListItem, default_user=by)
    return bool(changed or created or gone)


def _delete_item(item: PriceListItem, by: User | None) -> None:
    item._history_user = by
    item.delete()


@transaction.atomic
def price_list_create(
    *,
    name: str,
    code: str,
    currency: str,
    description: str = "",
    items: Sequence[Mapping] = (),
    by: User | None = None,
    **derivation,
) -> PriceList:
    """Create a price list (and its items); ``derivation`` may give ``base_price_list``,
    ``factor``, ``surcharge`` and ``rounding``."""
    unknown = set(derivation) - set(DERIVATION_FIELDS)
    if unknown:
        raise TypeError(f"price_list_create() got unexpected fields: {sorted(unknown)}")
    price_list = _save_price_list(
        PriceList(
            name=name,
            code=code,
            currency=currency,
            description=description or "",
            **{k: v for k, v in derivation.items() if v is not None or k == "base_price_list"},
        ),
        by,
    )
    if items:
        _replace_items(price_list, items, by)
        _touch(price_list)
    price_list_changed.send(sender=PriceList, price_list=price_list, action="created")
    return price_list


DERIVATION_FIELDS = ("base_price_list", "factor", "surcharge", "rounding")
PRICE_LIST_FIELDS = ("name", "code", "currency", "description", *DERIVATION_FIELDS)


@transaction.atomic
def price_list_update(
    *,
    price_list: PriceList,
    items: Sequence[Mapping] | None = None,
    by: User | None = None,
    expected_version: versions.Expected = None,
    strict: bool = False,
    **fields,
) -> PriceList:
    """Change a price list; ``items`` (when given) replaces all of its items.

    ``expected_version`` is the version the editor loaded: the change is refused
    (:class:`groups.versions.StaleEdit`) when the list's own fields changed since, or, with
    ``strict`` (the API's ``If-Match``, whose ETag covers the items), when anything did.
    """
    unknown = set(fields) - set(PRICE_LIST_FIELDS)
    if unknown:
        raise TypeError(f"price_list_update() got unexpected fields: {sorted(unknown)}")
    versions.check(price_list, expected_version, fields=None if strict else PRICE_LIST_FIELDS)
    for name, value in fields.items():
        setattr(price_list, name, value)
    _save_price_list(price_list, by)
    if items is not None and _replace_items(price_list, items, by):
        _touch(price_list)
    price_list_changed.send(sender=PriceList, price_list=price_list, action="updated")
    return price_list


def price_list_items_changed(*, price_list: PriceList) -> None:
    """Record that the list's items changed elsewhere (the admin): the list's version counts it."""
    _touch(price_list)


def _touch(price_list: PriceList) -> None:
    """Count a change of the list's items as a new version of the list (its API ETag).

    One UPDATE, no history record (the items have their own); ``price_list`` in memory keeps
    its old version, so callers that show the version read the list again.
    """
    PriceList.objects.filter(pk=price_list.pk).update(
        version=F("version") + 1, updated_at=timezone.now()
    )


def price_list_delete(
    *, price_list: PriceList, by: User | None = None, expected_version: versions.Expected = None
) -> None:
    """Delete a price list and its items; refused while rules use it, or (``expected_version``)
    when it changed since the caller loaded it."""
    price_list._history_user = by
    try:
        with transaction.atomic():
            versions.check(price_list, expected_version)
            price_list_changed.send(sender=PriceList, price_list=price_list, action="deleted")
            price_list.delete()
    except ProtectedError as exc:
        rules = sorted(str(obj) for obj in exc.protected_objects)
        raise ProtectedError(
            PRICE_LIST_IN_USE.format(price_list=price_list.name, rules=", ".join(rules)),
            exc.protected_objects,
        ) from exc


@transaction.atomic
def price_list_item_save(
    *,
    price_list: PriceList,
    item: PriceListItem | None = None,
    item_code: str,
    unit: str,
    unit_price: Decimal | None,
    by: User | None = None,
    expected_version: versions.Expected = None,
    **price,
) -> PriceListItem:
    """Add or change one item of a price list (inline editing), recorded in its history.

    ``price`` may give the item's price model (``pricing_mode``, ``tiers``, ``package_size``,
    ``first_increment``, ``next_increment``, ``minimum_charge``). A change is refused
    (:class:`groups.versions.StaleEdit`) when the item changed since the editor loaded
    ``expected_version``. Either way the list counts a new version.
    """
    unknown = set(price) - set(ITEM_PRICE_FIELDS)
    if unknown:
        raise TypeError(f"price_list_item_save() got unexpected fields: {sorted(unknown)}")
    if item is not None:
        versions.check(item, expected_version)
    item = item or PriceListItem(price_list=price_list)
    item.item_code = (item_code or "").strip()
    item.unit = (unit or "").strip()
    item.unit_price = unit_price
    for name, value in price.items():
        setattr(item, name, value if value is not None or name != "tiers" else [])
    clash = price_list.items.filter(item_code__iexact=item.item_code).exclude(pk=item.pk).first()
    if clash is not None:
        message = ITEM_TAKEN if clash.item_code == item.item_code else ITEM_TAKEN_OTHER_CASE
        raise ValidationError({"item_code": [message.format(code=clash.item_code)]})
    item.full_clean(validate_constraints=False)
    item._history_user = by
    try:
        item.save()
    except IntegrityError as exc:  # added meanwhile by somebody else (this transaction ends)
        raise ValidationError({"item_code": [ITEM_TAKEN.format(code=item.item_code)]}) from exc
    _touch(price_list)
    price_list_changed.send(sender=PriceList, price_list=price_list, action="items_changed")
    return item


@transaction.atomic
def price_list_item_delete(*, item: PriceListItem, by: User | None = None) -> None:
    price_list = item.price_list
    _delete_item(item, by)
    _touch(price_list)
    price_list_changed.send(sender=PriceList, price_list=price_list, action="items_changed")
