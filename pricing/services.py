"""Every write to price lists, rules and usage records, including rating that stores prices."""

import copy
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from groups.models import Customer, Membership
from pricing import engine
from pricing.models import PriceList, PriceListItem, PricingRule, UsageRecord, UsageStatus
from pricing.selectors import billing_tz, engine_rules

PRICE_LIST_CODE_TAKEN = "The code “{code}” is already used by the price list “{existing}”."
PRICE_LIST_IN_USE = "“{price_list}” cannot be deleted while pricing rules use it: {rules}."
RULE_CODE_TAKEN = "The code “{code}” is already used by the rule “{existing}”."
RULE_PRIORITY_NEGATIVE = "Priority cannot be negative."
DUPLICATE_ITEM = "The item “{item_code}” is listed more than once."

User = AbstractBaseUser


# --- Price lists ------------------------------------------------------------------------------


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
    price_list._history_user = by
    price_list.save()
    return price_list


def _replace_items(price_list: PriceList, items: Sequence[Mapping]) -> None:
    """Make the list's items exactly ``items`` (dicts of item_code, unit, unit_price)."""
    seen: set[str] = set()
    rows: list[PriceListItem] = []
    errors: list[str] = []
    for index, data in enumerate(items):
        item = PriceListItem(
            price_list=price_list,
            item_code=(data.get("item_code") or "").strip(),
            unit=(data.get("unit") or "").strip(),
            unit_price=data.get("unit_price"),
        )
        if item.item_code in seen:
            errors.append(DUPLICATE_ITEM.format(item_code=item.item_code))
        seen.add(item.item_code)
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
    price_list.items.all().delete()
    PriceListItem.objects.bulk_create(rows)


@transaction.atomic
def price_list_create(
    *,
    name: str,
    code: str,
    currency: str,
    description: str = "",
    items: Sequence[Mapping] = (),
    by: User | None = None,
) -> PriceList:
    price_list = _save_price_list(
        PriceList(name=name, code=code, currency=currency, description=description or ""), by
    )
    if items:
        _replace_items(price_list, items)
    return price_list


@transaction.atomic
def price_list_update(
    *,
    price_list: PriceList,
    items: Sequence[Mapping] | None = None,
    by: User | None = None,
    **fields,
) -> PriceList:
    """Change a price list; ``items`` (when given) replaces all of its items."""
    allowed = {"name", "code", "currency", "description"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"price_list_update() got unexpected fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(price_list, name, value)
    _save_price_list(price_list, by)
    if items is not None:
        _replace_items(price_list, items)
    return price_list


def price_list_delete(*, price_list: PriceList, by: User | None = None) -> None:
    """Delete a price list and its items; refused while rules use it."""
    price_list._history_user = by
    try:
        with transaction.atomic():
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
    unit_price: Decimal,
) -> PriceListItem:
    """Add or change one item of a price list (inline editing)."""
    item = item or PriceListItem(price_list=price_list)
    item.item_code = (item_code or "").strip()
    item.unit = (unit or "").strip()
    item.unit_price = unit_price
    clash = price_list.items.filter(item_code=item.item_code).exclude(pk=item.pk).exists()
    if clash:
        raise ValidationError({"item_code": ["This price list already prices that item."]})
    item.full_clean(validate_constraints=False)
    item.save()
    return item


@transaction.atomic
def price_list_item_delete(*, item: PriceListItem) -> None:
    item.delete()


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
    return _save_rule(PricingRule(**fields), by)


@transaction.atomic
def rule_update(*, rule: PricingRule, by: User | None = None, **fields) -> PricingRule:
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise TypeError(f"rule_update() got unexpected fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(rule, name, value)
    return _save_rule(rule, by)


@transaction.atomic
def rule_delete(*, rule: PricingRule, by: User | None = None) -> None:
    rule._history_user = by
    rule.delete()


@transaction.atomic
def rule_disable(*, rule: PricingRule, by: User | None = None) -> PricingRule:
    rule.is_active = False
    rule._history_user = by
    rule.save(update_fields=["is_active", "updated_at"])
    return rule


@transaction.atomic
def rule_enable(*, rule: PricingRule, by: User | None = None) -> PricingRule:
    rule.is_active = True
    rule._history_user = by
    rule.save(update_fields=["is_active", "updated_at"])
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


@dataclass
class RatingContext:
    """What batch rating loads once: a rule book and the memberships of the batch's customers."""

    book: engine.RuleBook
    periods: Mapping[object, list[engine.MembershipPeriod]]

    @classmethod
    def load(cls, *, categories: Iterable[str], customer_ids: Iterable) -> "RatingContext":
        rules = engine_rules(categories=set(categories))
        periods: dict = defaultdict(list)
        ids = list(set(customer_ids))
        for start in range(0, len(ids), 5000):
            rows = Membership.objects.filter(customer_id__in=ids[start : start + 5000]).values_list(
                "customer_id", "group_id", "joined_at", "left_at"
            )
            for customer_id, group_id, joined_at, left_at in rows:
                periods[customer_id].append(engine.MembershipPeriod(group_id, joined_at, left_at))
        return cls(book=engine.RuleBook(rules, tz=billing_tz()), periods=periods)

    def rate(self, record: UsageRecord, *, customer_name: str = "") -> engine.Result:
        usage = engine.Usage(
            customer_id=record.customer_id,
            billing_category=record.billing_category,
            item_code=record.item_code,
            quantity=record.quantity,
            occurred_at=record.occurred_at,
            customer_name=customer_name,
        )
        return self.book.rate(usage, self.periods.get(record.customer_id, ()), trace=False)


def apply_result(record: UsageRecord, result: engine.Result, *, at: datetime) -> None:
    """Embed the engine's answer in the record (codes and prices copied, not referenced)."""
    record.rated_at = at
    if result.rated and result.rule is not None:
        record.status = UsageStatus.RATED
        record.rule_id = result.rule.id
        record.rule_code = result.rule.code
        record.price_list_id = result.rule.price_list_id
        record.price_list_code = result.rule.price_list_code
        record.unit_price = result.unit_price
        record.amount = result.amount
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
        record.currency = ""
        record.unrated_reason = result.reason


RATED_FIELDS = [
    "status",
    "rule",
    "rule_code",
    "price_list",
    "price_list_code",
    "unit_price",
    "amount",
    "currency",
    "rated_at",
    "unrated_reason",
]


@transaction.atomic
def usage_records_create(
    *, records: Sequence[Mapping], by: User | None = None
) -> list[UsageRecord]:
    """Store usage records and rate them at once, all or nothing.

    Each mapping holds ``customer`` (a Customer), ``billing_category``, ``item_code``,
    ``quantity`` and ``occurred_at``. Customer names are attached so unrated reasons read well.
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
    context = RatingContext.load(
        categories={r.billing_category for r in objects},
        customer_ids={r.customer_id for r in objects},
    )
    for record in objects:
        apply_result(record, context.rate(record, customer_name=record.customer.name), at=now)
    UsageRecord.objects.bulk_create(objects, batch_size=2000)
    return objects


def usage_rate_pending(*, chunk_size: int = 5000, limit: int | None = None, progress=None) -> int:
    """Rate pending records in chunks until none are left (or ``limit`` is reached).

    Each chunk is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL) inside its own
    transaction, so two runners at once never rate the same record twice and an interrupted run
    resumes where it stopped. Returns the number of records rated (rated or unrated).
    """
    done = 0
    while limit is None or done < limit:
        size = chunk_size if limit is None else min(chunk_size, limit - done)
        count = _rate_pending_chunk(size)
        if not count:
            break
        done += count
        if progress is not None:
            progress(done)
    return done


@transaction.atomic
def _rate_pending_chunk(size: int) -> int:
    records = list(
        UsageRecord.objects.filter(status=UsageStatus.PENDING)
        .select_for_update(skip_locked=True)
        .select_related("customer")
        .order_by()[:size]
    )
    if not records:
        return 0
    context = RatingContext.load(
        categories={r.billing_category for r in records},
        customer_ids={r.customer_id for r in records},
    )
    now = timezone.now()
    for record in records:
        apply_result(record, context.rate(record, customer_name=record.customer.name), at=now)
    UsageRecord.objects.bulk_update(records, RATED_FIELDS, batch_size=1000)
    return len(records)


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
