"""Every write to price lists, rules and usage records, including rating that stores prices."""

import copy
import csv
import hashlib
import io
import itertools
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from groups import versions
from groups.csvfile import NUL_IN_CELL, has_nul
from groups.models import Customer
from pricing import batch, decimals, engine
from pricing.clock import billing_tz
from pricing.models import (
    CATEGORY_VALIDATOR,
    ITEM_CODE_VALIDATOR,
    PriceList,
    PriceListItem,
    PricingRule,
    Upload,
    UsageRecord,
    UsageStatus,
)
from pricing.selectors import engine_rules
from pricing.signals import price_list_changed, rule_changed, usage_batch_rated, usage_unrated

PRICE_LIST_CODE_TAKEN = "The code “{code}” is already used by the price list “{existing}”."
PRICE_LIST_IN_USE = "“{price_list}” cannot be deleted while pricing rules use it: {rules}."
RULE_CODE_TAKEN = "The code “{code}” is already used by the rule “{existing}”."
RULE_PRIORITY_NEGATIVE = "Priority cannot be negative."
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
AMOUNT_TOO_LARGE = (
    "The amount (unit price times quantity) is more than Ratecard stores "
    f"({engine.MAX_AMOUNT:,.2f}); split the record."
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


# --- Rules ------------------------------------------------------------------------------------

RULE_FIELDS = {
    "name",
    "code",
    "billing_category",
    "price_list",
    "group",
    "customer",
    "priority",
    "valid_from",
    "valid_to",
    "is_active",
    "description",
}


def _check_rule(rule: PricingRule) -> None:
    """Every check a rule must pass before it is saved, all errors at once, by field.

    Codes are unique whatever their case; priority mirrors its check constraint with a plain
    message instead of the validator's "greater than or equal to 0".
    """
    rule.code = (rule.code or "").strip()
    rule.name = (rule.name or "").strip()
    rule.billing_category = (rule.billing_category or "").strip()
    errors: dict[str, list[ValidationError]] = {}
    if rule.code:
        existing = PricingRule.objects.filter(code__iexact=rule.code).exclude(pk=rule.pk).first()
        if existing is not None:
            message = RULE_CODE_TAKEN.format(code=rule.code, existing=existing.name)
            errors["code"] = [ValidationError(message, code="code_taken")]
    if rule.priority is not None and rule.priority < 0:
        errors["priority"] = [ValidationError(RULE_PRIORITY_NEGATIVE, code="min_value")]
    try:
        rule.full_clean(exclude=list(errors), validate_constraints=False)
    except ValidationError as exc:
        for field, field_errors in exc.error_dict.items():
            errors.setdefault(field, []).extend(field_errors)
    if errors:
        raise ValidationError(errors)


def _save_rule(rule: PricingRule, by: User | None) -> PricingRule:
    _check_rule(rule)
    rule._history_user = by
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"code": [RULE_CODE_TAKEN.format(code=rule.code, existing="another rule")]}
        ) from exc
    return rule


@transaction.atomic
def rule_create(*, by: User | None = None, **fields) -> PricingRule:
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise TypeError(f"rule_create() got unexpected fields: {sorted(unknown)}")
    rule = _save_rule(PricingRule(**fields), by)
    rule_changed.send(sender=PricingRule, rule=rule, action="created")
    return rule


@transaction.atomic
def rule_update(
    *,
    rule: PricingRule,
    by: User | None = None,
    expected_version: versions.Expected = None,
    **fields,
) -> PricingRule:
    """Change a rule; refused (:class:`groups.versions.StaleEdit`) when it changed since the
    editor loaded ``expected_version``."""
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise TypeError(f"rule_update() got unexpected fields: {sorted(unknown)}")
    versions.check(rule, expected_version)
    for name, value in fields.items():
        setattr(rule, name, value)
    _save_rule(rule, by)
    rule_changed.send(sender=PricingRule, rule=rule, action="updated")
    return rule


@transaction.atomic
def rule_delete(
    *, rule: PricingRule, by: User | None = None, expected_version: versions.Expected = None
) -> None:
    versions.check(rule, expected_version)
    rule._history_user = by
    rule_changed.send(sender=PricingRule, rule=rule, action="deleted")
    rule.delete()


@transaction.atomic
def rule_disable(*, rule: PricingRule, by: User | None = None) -> PricingRule:
    rule.is_active = False
    rule._history_user = by
    rule.save(update_fields=["is_active", "updated_at"])
    rule_changed.send(sender=PricingRule, rule=rule, action="disabled")
    return rule


@transaction.atomic
def rule_enable(*, rule: PricingRule, by: User | None = None) -> PricingRule:
    rule.is_active = True
    rule._history_user = by
    rule.save(update_fields=["is_active", "updated_at"])
    rule_changed.send(sender=PricingRule, rule=rule, action="enabled")
    return rule


def rule_validate(*, rule: PricingRule | None = None, **fields) -> None:
    """Run rule_create's (or, with ``rule``, rule_update's) checks without saving anything.

    For inline form validation: raises the same ``ValidationError`` the write would. ``rule``
    itself is left untouched; the checks run on a copy.
    """
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise TypeError(f"rule_validate() got unexpected fields: {sorted(unknown)}")
    candidate = copy.copy(rule) if rule is not None else PricingRule()
    for name, value in fields.items():
        setattr(candidate, name, value)
    _check_rule(candidate)


# --- Rating that stores -----------------------------------------------------------------------
# The batch machinery lives in pricing/batch.py; these are the services every surface calls.


@dataclass
class RatingContext:
    """Rules and memberships loaded once for a set of records, rated in memory (batch index)."""

    index: engine.RatingIndex
    members: batch.MembershipCache

    @classmethod
    def load(
        cls,
        *,
        categories: Iterable[str],
        customer_ids: Iterable,
        item_codes: Iterable[str] | None = None,
    ) -> "RatingContext":
        """Two queries for rules and prices, one per 5,000 customers for memberships."""
        rules = engine_rules(categories=set(categories), item_codes=item_codes)
        index = engine.RatingIndex(batch.keyed_rules(rules), tz=billing_tz())
        # Only these customers' memberships: a request never loads everybody's.
        members = batch.MembershipCache(index.group_keys, preload=False)
        members.ensure(batch.db_key(pk) for pk in set(customer_ids))
        return cls(index=index, members=members)

    def rate(self, record: UsageRecord, *, customer_name: str = "") -> engine.Result:
        """The engine's answer for one record (through the index, no trace)."""
        key = batch.db_key(record.customer_id)
        usage = engine.Usage(
            customer_id=key,
            billing_category=record.billing_category,
            item_code=record.item_code,
            quantity=record.quantity,
            occurred_at=record.occurred_at,
            customer_name=customer_name,
        )
        return self.index.rate(usage, self.members.periods.get(key, ()))


def apply_result(record: UsageRecord, result: engine.Result, *, at: datetime) -> None:
    """Embed the engine's answer in the record (codes and prices copied, not referenced)."""
    record.rated_at = at
    if result.rated and result.rule is not None:
        record.status = UsageStatus.RATED
        record.rule_id = _uuid(result.rule.id)
        record.rule_code = result.rule.code
        record.price_list_id = _uuid(result.rule.price_list_id)
        record.price_list_code = result.rule.price_list_code
        record.unit_price = result.unit_price
        record.amount = result.amount
        charge = result.charge
        detailed = charge is not None and not result.rule.prices[record.item_code].simple
        record.billed_quantity = charge.billed_quantity if detailed else None
        record.price_breakdown = charge.breakdown() if detailed else None
        record.currency = result.currency or ""
        record.unrated_reason = ""
    else:
        record.status = UsageStatus.UNRATED
        record.rule_id = None
        record.rule_code = ""
        record.price_list_id = None
        record.price_list_code = ""
        record.unit_price = None
        record.amount = None
        record.billed_quantity = None
        record.price_breakdown = None
        record.currency = ""
        record.unrated_reason = result.reason


def _uuid(value) -> uuid.UUID | None:
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))


RATED_FIELDS = [
    "status",
    "rule",
    "rule_code",
    "price_list",
    "price_list_code",
    "unit_price",
    "amount",
    "billed_quantity",
    "price_breakdown",
    "currency",
    "rated_at",
    "unrated_reason",
]


class AmountTooLarge(Exception):
    """Records whose amount would exceed ``engine.MAX_AMOUNT`` (args: their indexes)."""


@transaction.atomic
def usage_records_create(
    *, records: Sequence[Mapping], by: User | None = None
) -> list[UsageRecord]:
    """Store usage records and rate them at once, all or nothing.

    Each mapping holds ``customer`` (a Customer), ``billing_category``, ``item_code``,
    ``quantity`` and ``occurred_at``. Rated in memory by the batch index (the engine's answer),
    then inserted set-based (:func:`pricing.batch.insert_records`: ``COPY`` on PostgreSQL).
    Customer names make unrated reasons read
    well. A record whose amount the engine cannot store (``Result.too_large``) stores nothing
    and raises :class:`AmountTooLarge`, which the API answers with a 400.
    """
    now = timezone.now()
    objects = [
        UsageRecord(
            customer=data["customer"],
            billing_category=data["billing_category"],
            item_code=data["item_code"],
            quantity=data["quantity"],
            occurred_at=data["occurred_at"],
            created_by=by,
        )
        for data in records
    ]
    if not objects:
        return []
    context = RatingContext.load(
        categories={r.billing_category for r in objects},
        customer_ids={r.customer_id for r in objects},
        item_codes={r.item_code for r in objects},
    )
    too_large = []
    for index, record in enumerate(objects):
        result = context.rate(record, customer_name=record.customer.name)
        if result.too_large:
            too_large.append(index)
        apply_result(record, result, at=now)
    if too_large:
        raise AmountTooLarge(too_large)
    batch.insert_records(objects)
    for record in objects:
        record._state.adding, record._state.db = False, "default"  # as bulk_create leaves them
    unrated = [record for record in objects if record.status == UsageStatus.UNRATED]
    if unrated:
        usage_unrated.send(sender=UsageRecord, records=unrated)
    return objects


def usage_rate_pending(
    *,
    chunk_size: int = batch.DEFAULT_CHUNK_SIZE,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    batch_key: str | None = None,
    time_budget: float | None = None,
    backlog: int | None = None,
    queue_range: tuple[int, int] | None = None,
) -> int:
    """Rate pending records in chunks until none are left (or ``limit`` / ``time_budget``).

    Each chunk is found, rated and written in its own transaction (from the queue with ``SELECT
    ... FOR UPDATE SKIP LOCKED``, or, for a large backlog on PostgreSQL, by sweeping the table:
    see ``pricing.batch``); only rows still pending are ever written, so two runners at once
    never rate the same record twice, and an interrupted run resumes where it stopped.
    ``batch_key`` limits the run to one upload; ``backlog`` is the caller's fresh
    ``pending_count`` of it, if it took one. ``queue_range`` (inclusive queue entry ids, see
    ``batch.queue_bounds``) limits the run to part of the backlog, so several background tasks
    can share one. Returns the number of records rated (rated or unrated).
    """
    scope = batch.Scope(
        batch.batch_id_range(batch_key) if batch_key else None, queue_range=queue_range
    )
    report = batch.rate_pending(
        chunk_size=chunk_size,
        limit=limit,
        progress=progress,
        workers=workers,
        scope=scope,
        time_budget=time_budget,
        backlog=backlog,
    )
    return report.rated


def resolve_customers(
    *, ids: Iterable = (), external_ids: Iterable[str] = ()
) -> tuple[dict, dict[str, Customer]]:
    """Look customers up by id and external ID in two queries: ``(by_id, by_external_id)``."""
    id_list, ext_list = list(set(ids)), list(set(external_ids))
    by_id = {c.pk: c for c in Customer.objects.filter(pk__in=id_list)} if id_list else {}
    by_ext = (
        {c.external_id: c for c in Customer.objects.filter(external_id__in=ext_list)}
        if ext_list
        else {}
    )
    return by_id, by_ext


# --- Usage uploads (CSV) ----------------------------------------------------------------------

UPLOAD_TOO_LARGE = (
    "The file is {size}; uploads are limited to {limit}. Split it into smaller files."
)
UPLOAD_EMPTY = "The file holds no usage records."
UPLOAD_NOT_TEXT = "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
UPLOAD_MISSING_COLUMNS = (
    "The first line must name the columns; missing: {missing}. Expected: customer (external ID "
    "or id), category, item, quantity, occurred_at."
)
UPLOAD_TOO_MANY_ROWS = (
    "The file has {rows:,} lines; an upload may hold at most {limit:,}. Split it into smaller "
    "files."
)
UPLOAD_REPEAT = (
    "This file was already uploaded as “{name}” on {when} by {who}. Storing it again would rate "
    "its records twice."
)
UPLOAD_LINE = "Line {line}: {message}"
UPLOAD_MORE_ERRORS = "… and {count} more lines with errors. Nothing was stored."
LINE_COLUMN_COUNT = "expected {expected} values, found {found}."
LINE_EMPTY_VALUE = "{column} is empty."
LINE_UNKNOWN_CUSTOMER = "no customer has the external ID or id “{value}”."
LINE_BAD_QUANTITY = "quantity “{value}” is not a number (use a dot for decimals, e.g. 1.5)."
LINE_QUANTITY_NOT_POSITIVE = "quantity must be greater than zero."
LINE_QUANTITY_INVALID = "quantity “{value}”: {reason}"
LINE_BAD_TIME = (
    "occurred_at “{value}” is not a date and time such as 2026-03-01T14:30:00+01:00 "
    "(without an offset it is read in the billing time zone)."
)
LINE_TIME_OUT_OF_RANGE = "occurred_at “{value}”: {reason}"
LINE_BAD_CATEGORY = "category “{value}”: {reason}"
LINE_BAD_ITEM = "item “{value}”: {reason}"
MAX_REPORTED_ERRORS = 100
UPLOAD_BUFFER = 5000  # lines validated, resolved and stored together

# Accepted header names (lower case, spaces and dashes read as underscores).
_COLUMNS = {
    "customer": ("customer", "customer_ref"),
    "external_id": ("customer_external_id", "external_id"),
    "customer_id": ("customer_id", "customer_uuid"),
    "category": ("billing_category", "category"),
    "item": ("item_code", "item"),
    "quantity": ("quantity", "qty"),
    "occurred_at": ("occurred_at", "occurred", "timestamp", "time"),
}


@dataclass
class UploadResult:
    batch_key: str
    records: int
    upload: Upload | None = None


class RepeatedUpload(ValidationError):
    """The file (by checksum) was uploaded before; ``earlier`` is that upload."""

    def __init__(self, earlier: Upload) -> None:
        who = earlier.uploaded_by.get_username() if earlier.uploaded_by else "someone"
        when = timezone.localtime(earlier.uploaded_at).strftime("%d %b %Y %H:%M")
        super().__init__(UPLOAD_REPEAT.format(name=earlier.file_name, when=when, who=who))
        self.earlier = earlier


def _digest(file) -> tuple[str, int]:
    """The file's SHA-256 and its number of lines (one pass over its bytes, 1 MiB at a time)."""
    file.seek(0)
    sha, lines, last = hashlib.sha256(), 0, b"\n"
    while block := file.read(1024 * 1024):
        sha.update(block)
        lines += block.count(b"\n")
        last = block[-1:]
    file.seek(0)
    return sha.hexdigest(), lines + (last != b"\n")


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size} bytes"


def upload_too_large_message(size: int) -> str:
    return UPLOAD_TOO_LARGE.format(
        size=human_size(size), limit=human_size(settings.RATECARD_MAX_UPLOAD_BYTES)
    )


def usage_header_map(header: list[str]) -> dict[str, int]:
    """Which column holds what (by ``_COLUMNS``), or a ValidationError naming what is missing."""
    names = [cell.strip().lower().replace(" ", "_").replace("-", "_") for cell in header]
    found: dict[str, int] = {}
    for role, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in names:
                found[role] = names.index(alias)
                break
    missing = [
        name
        for name, present in (
            ("customer", {"customer", "external_id", "customer_id"} & found.keys()),
            ("category", "category" in found),
            ("item", "item" in found),
            ("quantity", "quantity" in found),
            ("occurred_at", "occurred_at" in found),
        )
        if not present
    ]
    if missing:
        raise ValidationError(UPLOAD_MISSING_COLUMNS.format(missing=", ".join(missing)))
    return found


_QUANTITY_VALIDATORS = UsageRecord._meta.get_field("quantity").validators


def _parse_quantity(value: str) -> Decimal:
    try:
        quantity = decimals.parse_decimal(value)
    except decimals.NotADecimal as exc:
        if str(exc) == decimals.NOT_A_NUMBER:
            raise ValueError(LINE_BAD_QUANTITY.format(value=value)) from None
        raise ValueError(LINE_QUANTITY_INVALID.format(value=value, reason=exc)) from None
    if quantity <= 0:
        raise ValueError(LINE_QUANTITY_NOT_POSITIVE)
    # The model field's own validators: digits, decimal places, the upper limit.
    try:
        for validator in _QUANTITY_VALIDATORS:
            validator(quantity)
    except ValidationError as exc:
        reason = exc.messages[0]
        raise ValueError(LINE_QUANTITY_INVALID.format(value=value, reason=reason)) from None
    return quantity


def _parse_instant(value: str, tz) -> datetime:
    """An instant as written (an offset, or the billing zone), in the supported range."""
    try:
        instant = engine.read_instant(datetime.fromisoformat(value), tz)
    except ValueError:
        raise ValueError(LINE_BAD_TIME.format(value=value)) from None
    try:
        return engine.check_instant(instant, tz)
    except engine.OutOfRange as exc:
        raise ValueError(LINE_TIME_OUT_OF_RANGE.format(value=value, reason=exc)) from None


def _compiled(validator) -> re.Pattern:
    """A RegexValidator's pattern compiled once (its own is lazy, re-resolved on each call)."""
    return re.compile(validator.regex.pattern, validator.regex.flags)


_CATEGORY_RE = _compiled(CATEGORY_VALIDATOR)
_ITEM_RE = _compiled(ITEM_CODE_VALIDATOR)
_TOO_LONG = "Use at most 64 characters."


class _LineParser:
    """Parses one CSV line into ``(ref_kind, ref, category, item, quantity, occurred_at)``.

    Built once per file with the column positions; the same checks as the model's validators,
    without their per-call overhead (an upload has hundreds of thousands of lines).
    """

    def __init__(self, columns: dict[str, int], width: int, tz) -> None:
        self.kind = next(k for k in ("customer", "external_id", "customer_id") if k in columns)
        self.positions = (
            columns[self.kind],
            columns["category"],
            columns["item"],
            columns["quantity"],
            columns["occurred_at"],
        )
        self.width = width
        self.tz = tz

    def __call__(self, row: list[str]) -> tuple:
        """The parsed line, or :class:`LineErrors` with every problem of the line at once."""
        if len(row) != self.width:
            raise LineErrors([LINE_COLUMN_COUNT.format(expected=self.width, found=len(row))])
        if has_nul(row):
            raise LineErrors([NUL_IN_CELL])
        ref_at, category_at, item_at, quantity_at, time_at = self.positions
        ref, category, item = row[ref_at].strip(), row[category_at].strip(), row[item_at].strip()
        quantity, occurred_at = row[quantity_at].strip(), row[time_at].strip()
        problems: list[str] = []
        for value, label in (
            (category, "category"),
            (item, "item"),
            (quantity, "quantity"),
            (occurred_at, "occurred_at"),
            (ref, "customer"),
        ):
            if not value:
                problems.append(LINE_EMPTY_VALUE.format(column=label))
        if category and (len(category) > 64 or not _CATEGORY_RE.search(category)):
            reason = _TOO_LONG if len(category) > 64 else CATEGORY_VALIDATOR.message
            problems.append(LINE_BAD_CATEGORY.format(value=category, reason=reason))
        if item and (len(item) > 64 or not _ITEM_RE.search(item)):
            reason = _TOO_LONG if len(item) > 64 else ITEM_CODE_VALIDATOR.message
            problems.append(LINE_BAD_ITEM.format(value=item, reason=reason))
        parsed_quantity = parsed_instant = None
        if quantity:
            try:
                parsed_quantity = _parse_quantity(quantity)
            except ValueError as exc:
                problems.append(str(exc))
        if occurred_at:
            try:
                parsed_instant = _parse_instant(occurred_at, self.tz)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            # The customer is still checked (with the line's others), so the report gives all
            # of a line's problems at once.
            raise LineErrors(problems, ref=(self.kind, ref) if ref else None)
        return (self.kind, ref, category, item, parsed_quantity, parsed_instant)


class LineErrors(ValueError):
    """Every problem of one CSV line; ``ref`` is its customer reference, still to be checked."""

    def __init__(self, messages: list[str], ref: tuple[str, str] | None = None) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
        self.ref = ref


class _LineReport:
    """The problems of an upload by line, reported in line order, all of a line's at once.

    Customers are checked a buffer at a time, after the lines' own checks, so a line's
    unknown customer is learnt after later lines' problems: problems are kept by line and,
    once a buffer is settled, only the first ``MAX_REPORTED_ERRORS`` lines are kept.
    """

    def __init__(self) -> None:
        self.problems: dict[int, list[str]] = {}
        self.lines = 0  # lines with a problem, reported or not

    def add(self, line: int, message: str) -> None:
        if line not in self.problems:
            self.lines += 1
            self.problems[line] = []
        self.problems[line].append(message)

    def settle(self) -> None:
        """Every line so far is complete: keep the first lines only."""
        if len(self.problems) > MAX_REPORTED_ERRORS:
            kept = sorted(self.problems)[:MAX_REPORTED_ERRORS]
            self.problems = {line: self.problems[line] for line in kept}

    def messages(self) -> list[str]:
        self.settle()
        out = [
            UPLOAD_LINE.format(line=line, message=_joined(self.problems[line]))
            for line in sorted(self.problems)
        ]
        if self.lines > len(out):
            out.append(UPLOAD_MORE_ERRORS.format(count=self.lines - len(out)))
        return out


def _joined(messages: list[str]) -> str:
    """ "a." and "b." read as "a; b." on one line."""
    if len(messages) == 1:
        return messages[0]
    return "; ".join(m.rstrip(".") for m in messages) + "."


def _resolve_refs(pending: set[tuple[str, str]], known: dict[tuple[str, str], str | None]) -> None:
    """Resolve (kind, ref) customer references not seen yet: two queries at most."""
    external = {ref for kind, ref in pending if kind in ("customer", "external_id")}
    found_ext = {}
    if external:
        found_ext = dict(
            Customer.objects.filter(external_id__in=external).values_list("external_id", "pk")
        )
    by_id: dict[str, uuid.UUID] = {}
    for kind, ref in pending:
        if kind == "customer_id" or (kind == "customer" and ref not in found_ext):
            try:
                by_id[ref] = uuid.UUID(ref)
            except ValueError:
                continue
    found_ids = (
        set(Customer.objects.filter(pk__in=set(by_id.values())).values_list("pk", flat=True))
        if by_id
        else set()
    )
    for kind, ref in pending:
        pk = found_ext.get(ref) if kind in ("customer", "external_id") else None
        if pk is None and kind in ("customer", "customer_id") and by_id.get(ref) in found_ids:
            pk = by_id[ref]
        known[(kind, ref)] = batch.db_key(pk) if pk is not None else None


def _open_text(file) -> io.TextIOWrapper:
    file.seek(0)
    return io.TextIOWrapper(file, encoding="utf-8-sig", newline="")


def _sniff_delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def usage_upload(*, file, by: User | None = None, repeat_confirmed: bool = False) -> UploadResult:
    """Store the records of an uploaded CSV as pending, all or nothing, as one upload batch.

    The upload is recorded (:class:`Upload`: file name, size, SHA-256, rows, who and when) in
    the same transaction. A file whose checksum matches an earlier upload is refused
    (:class:`RepeatedUpload`, naming it) unless ``repeat_confirmed``; a file of more than
    ``RATECARD_MAX_UPLOAD_ROWS`` lines is refused before anything is read into the database.

    Lines are read as a stream, validated, their customers resolved and stored ``UPLOAD_BUFFER``
    at a time inside one transaction; the first error stops storing, reading goes on to report
    the bad lines in line order with all of a line's problems at once (the first
    ``MAX_REPORTED_ERRORS`` lines, then a count), and the transaction is rolled back, so
    nothing of a rejected file is kept. Rating happens afterwards, in chunks
    (``usage_rate_pending(batch_key=...)``), driven by the upload page or ``rate_usage``.
    """
    size = getattr(file, "size", None)
    if size is not None and size > settings.RATECARD_MAX_UPLOAD_BYTES:
        raise ValidationError(upload_too_large_message(size))
    checksum, lines = _digest(file)
    if lines - 1 > settings.RATECARD_MAX_UPLOAD_ROWS:
        raise ValidationError(
            UPLOAD_TOO_MANY_ROWS.format(rows=lines - 1, limit=settings.RATECARD_MAX_UPLOAD_ROWS)
        )
    originals = Upload.objects.filter(checksum=checksum, repeat_of=None)
    earlier = originals.select_related("uploaded_by").first()
    if earlier is not None and not repeat_confirmed:
        raise RepeatedUpload(earlier)
    key = batch.new_batch_key()
    tz = billing_tz()
    report = _LineReport()
    stored = 0
    known: dict[tuple[str, str], str | None] = {}
    buffer: list[tuple[int, tuple]] = []
    bad_refs: list[tuple[int, tuple[str, str]]] = []  # lines with problems, customer unchecked
    now = timezone.now()
    user_id = by.pk if by is not None else None

    def flush() -> None:
        nonlocal stored
        wanted = {(p[0], p[1]) for _, p in buffer} | {ref for _, ref in bad_refs}
        _resolve_refs({ref for ref in wanted if ref not in known}, known)
        rows = []
        for line, (kind, ref, category, item, quantity, occurred_at) in buffer:
            customer = known[(kind, ref)]
            if customer is None:
                report.add(line, LINE_UNKNOWN_CUSTOMER.format(value=ref))
                continue
            rows.append(
                (batch.batch_record_id(key, line), customer, category, item, quantity, occurred_at)
            )
        for line, ref in bad_refs:
            if known[ref] is None:
                report.add(line, LINE_UNKNOWN_CUSTOMER.format(value=ref[1]))
        buffer.clear()
        bad_refs.clear()
        report.settle()
        if not report.lines:
            stored += batch.insert_pending(rows, created_by_id=user_id, at=now)

    with transaction.atomic():
        text = _open_text(file)
        reader = None
        try:
            first = text.readline()
            reader = csv.reader(itertools.chain([first], text), delimiter=_sniff_delimiter(first))
            header = next(reader, None)
            if not header or not any(cell.strip() for cell in header):
                raise ValidationError(UPLOAD_EMPTY)
            parse = _LineParser(usage_header_map(header), len(header), tz)
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                try:
                    parsed = parse(row)
                except LineErrors as exc:
                    for message in exc.messages:
                        report.add(reader.line_num, message)
                    if exc.ref is not None:
                        bad_refs.append((reader.line_num, exc.ref))
                    continue
                buffer.append((reader.line_num, parsed))
                if len(buffer) + len(bad_refs) >= UPLOAD_BUFFER:
                    flush()
            if buffer or bad_refs:
                flush()
        except UnicodeDecodeError:
            raise ValidationError(UPLOAD_NOT_TEXT) from None
        except csv.Error as exc:
            line = reader.line_num if reader is not None else 1
            raise ValidationError(UPLOAD_LINE.format(line=line, message=exc)) from None
        finally:
            text.detach()
        if report.lines:
            raise ValidationError(report.messages())
        if not stored:
            raise ValidationError(UPLOAD_EMPTY)
        upload = Upload(
            batch_key=key,
            file_name=(getattr(file, "name", "") or "upload.csv")[:255],
            size=size if size is not None else 0,
            checksum=checksum,
            repeat_of=earlier,
            rows=stored,
            uploaded_by=by if by is not None and by.is_authenticated else None,
            uploaded_at=now,
        )
        upload.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                upload.save(force_insert=True)
        except IntegrityError:
            # The same file, first uploaded by a request that committed meanwhile.
            first = Upload.objects.filter(checksum=checksum, repeat_of=None).first()
            if first is None:
                raise
            raise RepeatedUpload(first) from None
    return UploadResult(batch_key=key, records=stored, upload=upload)


@transaction.atomic
def upload_refresh_counts(*, upload: Upload) -> Upload:
    """Store the upload's rated and unrated counts as its records are now (one grouped query).

    When this finds the upload newly finished, ``usage_batch_rated`` and ``usage_unrated`` (its
    unrated records) are sent in the same transaction.
    """
    summary = batch.batch_summary(upload.batch_key)
    if summary is None:
        return upload
    was_finished = upload.rows > 0 and upload.pending == 0
    upload.rows, upload.rated, upload.unrated = summary.total, summary.rated, summary.unrated
    Upload.objects.filter(pk=upload.pk).update(
        rows=upload.rows, rated=upload.rated, unrated=upload.unrated
    )
    if upload.pending == 0 and not was_finished:
        usage_batch_rated.send(sender=Upload, upload=upload)
        if upload.unrated:
            records = batch.batch_records(upload.batch_key).filter(status=UsageStatus.UNRATED)
            usage_unrated.send(sender=UsageRecord, records=records)
    return upload


def uploads_refresh_unfinished(*, limit: int = 50) -> int:
    """Refresh the counts of the latest uploads not yet fully rated (after a backlog run)."""
    from django.db.models import F

    unfinished = Upload.objects.filter(rated__lt=F("rows") - F("unrated")).order_by("-uploaded_at")
    count = 0
    for upload in unfinished[:limit]:
        upload_refresh_counts(upload=upload)
        count += 1
    return count


# --- Rating as background work ---------------------------------------------------------------

BACKLOG_KEY = "usage:backlog"


def upload_rate(*, upload: Upload, by: User | None = None):
    """Start (or return the running) background work that rates an upload's pending records.

    The rating carries on when the browser is closed; its progress is the work's.
    """
    from background.services import work_start
    from pricing import tasks

    work = work_start(
        task=tasks.rate_upload,
        title=f"Rating {upload.file_name}",
        params={"upload_id": str(upload.pk)},
        by=by,
        dedupe_key=f"usage:upload:{upload.batch_key}",
        total=upload.pending,
    )
    if upload.work_id != work.pk:
        Upload.objects.filter(pk=upload.pk).update(work=work)
        upload.work = work
    return work


def usage_rate_backlog_start(*, by: User | None = None):
    """Start background work rating every pending record, unless some is already under way.

    Returns the work (new or already running), or None when nothing is pending. A large backlog
    is split into parts by queue range (``RATECARD_RATING_PART_SIZE`` records each) so that
    every worker takes a share.
    """
    from background.models import Work
    from background.services import work_start
    from pricing import tasks

    running = (
        Work.objects.active()
        .filter(dedupe_key__startswith=BACKLOG_KEY)
        .order_by("created_at")
        .select_related("parent")
        .first()
    )
    if running is not None:
        return running.parent or running
    pending = batch.pending_count()
    if not pending:
        return None
    return work_start(
        task=tasks.rate_backlog,
        title="Rating pending usage",
        by=by,
        dedupe_key=BACKLOG_KEY,
        total=pending,
    )


def backlog_parts(bounds: tuple[int, int], pending: int) -> list[tuple[int, int]]:
    """Split the queue's id range into consecutive ranges of about ``RATECARD_RATING_PART_SIZE``
    pending records each (at most ``RATECARD_RATING_MAX_PARTS``)."""
    low, high = bounds
    parts = max(
        1,
        min(
            settings.RATECARD_RATING_MAX_PARTS,
            math.ceil(pending / settings.RATECARD_RATING_PART_SIZE),
        ),
    )
    step = math.ceil((high - low + 1) / parts)
    return [(start, min(high, start + step - 1)) for start in range(low, high + 1, step)]


def usage_export_start(*, params: dict, filename: str, title: str, by: User | None = None):
    """Start background work writing a CSV export of usage records (``params``: the filters of
    ``/usage/``, or ``{"upload": key}`` for one upload's records in file order)."""
    from background.services import work_start
    from pricing import tasks

    return work_start(
        task=tasks.export_usage,
        title=title,
        params={"params": params, "filename": filename},
        by=by,
    )


# --- Impact previews over large windows -------------------------------------------------------

# Changed customers a preview keeps (its pictures show them all, its table the first ``top``).
IMPACT_CHART_CUSTOMERS = 5000


def impact_report_json(report) -> dict:
    """An ``ImpactReport`` as JSON (amounts as strings, customers as references)."""

    def money(value) -> str:
        return f"{value}"

    return {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "records": report.records,
        "changed": report.changed,
        "became_rated": report.became_rated,
        "became_unrated": report.became_unrated,
        "customers_affected": report.customers_affected,
        "totals": [
            {
                "currency": t.currency,
                "before": money(t.before),
                "after": money(t.after),
                "delta": money(t.delta),
            }
            for t in report.totals
        ],
        "customers": [
            {
                "customer_key": c.customer_key,
                "customer": (
                    {
                        "pk": str(c.customer.pk),
                        "name": c.customer.name,
                        "external_id": c.customer.external_id,
                    }
                    if c.customer is not None
                    else None
                ),
                "currency": c.currency,
                "records": c.records,
                "changed": c.changed,
                "before": money(c.before),
                "after": money(c.after),
                "delta": money(c.delta),
            }
            for c in report.customers
        ],
    }


def impact_report_from_json(data: dict):
    """The ``ImpactReport`` that :func:`impact_report_json` stored, for the same page to show
    (customers are unsaved stand-ins carrying the id, name and external ID shown)."""
    from datetime import date as _date

    from pricing.impact import CurrencyTotal, CustomerImpact, ImpactReport

    report = ImpactReport(
        start=_date.fromisoformat(data["start"]),
        end=_date.fromisoformat(data["end"]),
        records=data["records"],
        changed=data["changed"],
        became_rated=data["became_rated"],
        became_unrated=data["became_unrated"],
        customers_affected=data["customers_affected"],
    )
    report.totals = [
        CurrencyTotal(
            currency=t["currency"], before=Decimal(t["before"]), after=Decimal(t["after"])
        )
        for t in data["totals"]
    ]
    report.customers = [
        CustomerImpact(
            customer_key=c["customer_key"],
            currency=c["currency"],
            records=c["records"],
            changed=c["changed"],
            before=Decimal(c["before"]),
            after=Decimal(c["after"]),
            customer=(
                Customer(
                    pk=uuid.UUID(c["customer"]["pk"]),
                    name=c["customer"]["name"],
                    external_id=c["customer"]["external_id"],
                )
                if c["customer"]
                else None
            ),
        )
        for c in data["customers"]
    ]
    return report


def impact_preview_start(*, query: dict[str, list[str]], by: User | None = None):
    """Start an impact preview (the impact form's GET parameters) as background work."""
    from background.services import work_start
    from pricing import tasks

    start, end = (query.get("start") or [""])[0], (query.get("end") or [""])[0]
    return work_start(
        task=tasks.preview_impact,
        title=f"Impact preview {start} to {end}",
        params={"query": query},
        by=by,
    )
