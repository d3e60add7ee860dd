"""Every write to customers, groups and memberships.

Services are keyword-only, atomic, validate with ``full_clean()`` before saving and raise
``ValidationError`` with the messages below (tests reuse them). Membership history is kept by
closing rows (``left_at``), never by deleting them.
"""

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from groups import versions
from groups.criteria import attributes
from groups.csvfile import NUL_IN_CELL, has_nul
from groups.models import Customer, CustomerGroup, Membership
from groups.signals import send_membership_changed

GROUP_NAME_TAKEN = "A group named “{name}” already exists (as “{existing}”)."
GROUP_CODE_TAKEN = "The code “{code}” is already used by the group “{existing}”."
GROUP_IN_USE = "“{group}” cannot be deleted while pricing rules use it: {rules}."
CUSTOMER_IN_USE = "“{customer}” cannot be deleted while {things} refer to it: {names}."
GROUP_ARCHIVED = (
    "Archived the group “{group}”: it had members, so its membership history is kept. It no "
    "longer appears in lists{left}."
)
GROUP_DELETED = "Deleted the group “{group}”: it never had a member."
CUSTOMER_ARCHIVED = (
    "Archived the customer “{customer}”: its membership history and usage records are kept. It "
    "no longer appears in lists{left}."
)
CUSTOMER_DELETED = "Deleted the customer “{customer}”: it had no memberships and no usage."
LEFT_NOW = "; {count} current membership{s} ended now"
ARCHIVED_LABEL = "{name} (archived)"
EXTERNAL_ID_TAKEN = "The external ID “{external_id}” already belongs to “{existing}”."
NOT_A_MEMBER = "“{customer}” is not a current member of “{group}”."
UNKNOWN_GROUP_CODES = "Unknown group codes: {codes}."
BULK_TOO_MANY = "At most {limit} external IDs at a time; this list has {count}."
CSV_NO_COLUMN = "The CSV has no “{column}” column (columns found: {found})."
CSV_NOT_TEXT = "The file is not UTF-8 text. Save it as CSV (UTF-8) and upload it again."
CSV_LINE = "Line {line}: {message}"
JOIN_IN_FUTURE = (
    "A membership cannot start in the future ({joined_at}). Leave “member since” empty to add "
    "the customer now."
)
JOIN_TOO_EARLY = "A membership cannot start before {first}."
MEMBERSHIP_OVERLAP = (
    "“{customer}” was already a member of “{group}” from {start} to {end}: a membership "
    "cannot overlap another period of the same customer and group."
)

BULK_LIMIT = 100_000
# The earliest start accepted: the first instant rating supports (pricing.engine.calendar).
JOIN_MIN = datetime(1900, 1, 1, tzinfo=UTC)
# A start entered within this much of the moment it is recorded is not a backdated one (forms
# give minutes, so "now" typed in a form is up to a minute in the past).
BACKDATE_TOLERANCE = timedelta(minutes=1)
User = AbstractBaseUser


# --- Groups -----------------------------------------------------------------------------------


def normalise_name(name: str | None) -> str:
    """A name as stored: no space at either end, and one space wherever the user typed several
    (or tabs, or a line break), so "Summer  Promo" and "Summer Promo" are one name."""
    return " ".join((name or "").split())


def _existing_group_with(*, name: str | None = None, code: str | None = None, exclude=None):
    # Archived groups keep their name and code: history still shows them by it.
    queryset = CustomerGroup.all_objects.all()
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    if name is not None:
        return queryset.filter(name__iexact=normalise_name(name)).first()
    return queryset.filter(code__iexact=code).first()


def unique_group_code(name: str, *, exclude=None) -> str:
    """A code derived from ``name`` (``Summer Promo 2026`` → ``summer-promo-2026``), made unique."""
    base = slugify(name)[:90] or "group"
    code, n = base, 2
    groups = CustomerGroup.all_objects
    queryset = groups.exclude(pk=exclude) if exclude else groups.all()
    while queryset.filter(code__iexact=code).exists():
        code, n = f"{base}-{n}", n + 1
    return code


def _validate_group_identity(group: CustomerGroup) -> None:
    """Friendly messages for the case-insensitive unique constraints on name and code."""
    errors: dict[str, list[str]] = {}
    existing = _existing_group_with(
        name=group.name, exclude=group.pk if not group._state.adding else None
    )
    if existing is not None:
        errors["name"] = [GROUP_NAME_TAKEN.format(name=group.name, existing=_label(existing))]
    existing = _existing_group_with(
        code=group.code, exclude=group.pk if not group._state.adding else None
    )
    if existing is not None:
        errors["code"] = [GROUP_CODE_TAKEN.format(code=group.code, existing=_label(existing))]
    if errors:
        raise ValidationError(errors)


def _save_group(group: CustomerGroup) -> CustomerGroup:
    group.name = normalise_name(group.name)
    group.code = (group.code or "").strip().lower()
    _validate_group_identity(group)
    group.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError as exc:
        # A concurrent request took the name or code between our check and the insert.
        _validate_group_identity(group)
        raise ValidationError(str(exc)) from exc
    return group


@transaction.atomic
def group_create(
    *,
    name: str,
    code: str = "",
    description: str = "",
    expires_on=None,
    by: User | None = None,
) -> CustomerGroup:
    """Create a group; its code is derived from the name when not given."""
    name = normalise_name(name)
    group = CustomerGroup(
        name=name,
        code=(code or "").strip().lower() or unique_group_code(name),
        description=description or "",
        expires_on=expires_on,
    )
    group._history_user = by
    return _save_group(group)


@transaction.atomic
def group_update(
    *,
    group: CustomerGroup,
    by: User | None = None,
    expected_version: versions.Expected = None,
    **fields,
) -> CustomerGroup:
    """Change a group's definition (name, code, description, planned expiry).

    Refused (:class:`groups.versions.StaleEdit`) when the definition changed since the editor
    loaded ``expected_version``.
    """
    allowed = {"name", "code", "description", "expires_on"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"group_update() got unexpected fields: {sorted(unknown)}")
    versions.check(group, expected_version)
    for name, value in fields.items():
        setattr(group, name, value if value is not None or name == "expires_on" else "")
    if "code" in fields and not (group.code or "").strip():
        group.code = unique_group_code(group.name, exclude=group.pk)
    group._history_user = by
    return _save_group(group)


class Removal(StrEnum):
    """What removing a group or customer did."""

    DELETED = "deleted"  # it never had a membership (or, for a customer, usage): gone
    ARCHIVED = "archived"  # hidden from lists; its history kept


@dataclass(frozen=True)
class Removed:
    outcome: Removal
    message: str


def _label(obj: Customer | CustomerGroup) -> str:
    return ARCHIVED_LABEL.format(name=obj.name) if obj.is_archived else obj.name


def _refuse_while_rules_use(obj: Customer | CustomerGroup, message: str, **names) -> None:
    """Rules point at groups and customers (``pricing_rules``): neither goes while one does."""
    rules = list(obj.pricing_rules.order_by("code"))
    if rules:
        shown = ", ".join(str(rule) for rule in rules)
        raise ProtectedError(message.format(rules=shown, names=shown, **names), set(rules))


def _archive(obj: Customer | CustomerGroup, *, by: User | None, memberships) -> int:
    """End the open memberships, then hide ``obj`` (its history records who and when)."""
    now = timezone.now()
    left = memberships.current().update(left_at=now, left_by=by)
    obj.archived_at, obj.archived_by = now, by
    obj._history_user = by
    obj.save(update_fields=["archived_at", "archived_by", "updated_at"])
    return left


def _left(count: int) -> str:
    return LEFT_NOW.format(count=count, s="" if count == 1 else "s") if count else ""


def group_delete(
    *, group: CustomerGroup, by: User | None = None, expected_version: versions.Expected = None
) -> Removed:
    """Remove a group: deleted if it never had a member, archived (history kept) otherwise.

    Archiving ends its current memberships now and hides it from every list; its membership
    history stays, for customers' pages and the audit. Refused while pricing rules use it.
    """
    group._history_user = by
    with transaction.atomic():
        versions.check(group, expected_version)
        _refuse_while_rules_use(group, GROUP_IN_USE, group=group.name)
        memberships = Membership.objects.filter(group=group)
        if memberships.exists():
            left = _archive(group, by=by, memberships=memberships)
            if left:
                _touch_groups([group.pk], group.archived_at)
            message = GROUP_ARCHIVED.format(group=group.name, left=_left(left))
            return Removed(Removal.ARCHIVED, message)
        group.delete()
    return Removed(Removal.DELETED, GROUP_DELETED.format(group=group.name))


@transaction.atomic
def groups_mark_reviewed(*, ids: Sequence, by: User | None) -> list[str]:
    """Record that somebody reviewed the members of several groups now (one statement).

    Returns the names of the groups marked, by name; ids of groups gone meanwhile are skipped.
    """
    groups = CustomerGroup.objects.filter(pk__in=list(ids))
    names = sorted(groups.values_list("name", flat=True))
    groups.update(reviewed_at=timezone.now(), reviewed_by=by)
    return names


@transaction.atomic
def group_mark_reviewed(*, group: CustomerGroup, by: User | None) -> CustomerGroup:
    """Record that somebody reviewed the group's members now."""
    CustomerGroup.objects.filter(pk=group.pk).update(reviewed_at=timezone.now(), reviewed_by=by)
    group.refresh_from_db(fields=["reviewed_at", "reviewed_by"])
    return group


# --- Customers --------------------------------------------------------------------------------


def _clean_external_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _save_customer(customer: Customer) -> Customer:
    customer.name = (customer.name or "").strip()
    customer.external_id = _clean_external_id(customer.external_id)
    customer.email = (customer.email or "").strip()
    if customer.external_id:
        existing = (
            Customer.all_objects.filter(external_id=customer.external_id)
            .exclude(pk=customer.pk)
            .first()
        )
        if existing is not None:
            raise ValidationError(
                {
                    "external_id": [
                        EXTERNAL_ID_TAKEN.format(
                            external_id=customer.external_id, existing=_label(existing)
                        )
                    ]
                }
            )
    customer.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError as exc:
        raise ValidationError(
            {
                "external_id": [
                    EXTERNAL_ID_TAKEN.format(
                        external_id=customer.external_id, existing="another customer"
                    )
                ]
            }
        ) from exc
    return customer


@transaction.atomic
def customer_create(
    *,
    name: str,
    external_id: str | None = None,
    email: str = "",
    is_active: bool = True,
    group_codes: Sequence[str] | None = None,
    by: User | None = None,
    **extra,
) -> Customer:
    """Create a customer, optionally placing it in the groups with these codes.

    ``extra``: any of the attributes ``country``, ``segment``, ``signed_up_on``, ``attributes``.
    """
    customer = Customer(
        name=name,
        external_id=external_id,
        email=email or "",
        is_active=is_active,
        **attributes.normalised(extra),
    )
    customer._history_user = by
    _save_customer(customer)
    if group_codes is not None:
        customer_set_groups(customer=customer, group_codes=group_codes, by=by)
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    group_codes: Sequence[str] | None = None,
    by: User | None = None,
    **fields,
) -> Customer:
    """Change a customer's details and, when ``group_codes`` is given, its memberships."""
    allowed = {"name", "external_id", "email", "is_active", *attributes.IMPORT_COLUMNS}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"customer_update() got unexpected fields: {sorted(unknown)}")
    fields = attributes.normalised(fields)
    for name, value in fields.items():
        setattr(customer, name, value)
    customer._history_user = by
    _save_customer(customer)
    if group_codes is not None:
        customer_set_groups(customer=customer, group_codes=group_codes, by=by)
    return customer


@transaction.atomic
def customer_delete(*, customer: Customer, by: User | None = None) -> Removed:
    """Remove a customer: deleted if it never had a membership nor usage, archived otherwise.

    Archiving ends its current memberships now and hides it from every list; its membership
    history and usage records (with their prices) stay. Refused while pricing rules target it.
    """
    _refuse_while_rules_use(
        customer, CUSTOMER_IN_USE, customer=customer.name, things="pricing rules"
    )
    memberships = Membership.objects.filter(customer=customer)
    if memberships.exists() or customer.usage_records.exists():
        open_groups = set(memberships.current().values_list("group_id", flat=True))
        left = _archive(customer, by=by, memberships=memberships)
        _touch_groups(open_groups, customer.archived_at)
        message = CUSTOMER_ARCHIVED.format(customer=customer.name, left=_left(left))
        return Removed(Removal.ARCHIVED, message)
    customer._history_user = by
    customer.delete()
    return Removed(Removal.DELETED, CUSTOMER_DELETED.format(customer=customer.name))


@transaction.atomic
def customer_set_groups(
    *, customer: Customer, group_codes: Sequence[str], by: User | None = None
) -> list[CustomerGroup]:
    """Make the customer's current groups exactly those with ``group_codes`` (any case)."""
    wanted_codes = {code.strip().lower() for code in group_codes if code and code.strip()}
    groups = list(CustomerGroup.objects.filter(code__in=wanted_codes)) if wanted_codes else []
    # Codes are stored lower-case, so a case-insensitive match is an exact one on lower().
    missing = wanted_codes - {g.code.lower() for g in groups}
    if missing:
        raise ValidationError(
            {"group_codes": [UNKNOWN_GROUP_CODES.format(codes=", ".join(sorted(missing)))]}
        )
    wanted = {g.pk: g for g in groups}
    current = {m.group_id: m for m in Membership.objects.current().filter(customer=customer)}
    now = timezone.now()
    for group_id in set(current) - set(wanted):
        _close(current[group_id], by=by, at=now)
    for group_id in set(wanted) - set(current):
        membership_add(group=wanted[group_id], customer=customer, by=by, at=now)
    _touch_groups(set(current) ^ set(wanted), now)
    return groups


# --- Memberships ------------------------------------------------------------------------------


def _touch_groups(group_ids: Iterable, at: datetime) -> None:
    ids = list(group_ids)
    if ids:
        CustomerGroup.objects.filter(pk__in=ids).update(members_changed_at=at)


def _close(membership: Membership, *, by: User | None, at: datetime) -> None:
    membership.left_at = max(at, membership.joined_at)
    membership.left_by = by
    membership.save(update_fields=["left_at", "left_by"])
    send_membership_changed(
        change="left",
        group_id=membership.group_id,
        customer_ids=[membership.customer_id],
        at=membership.left_at,
    )


def _shown(instant: datetime | None) -> str:
    """An instant in messages, in the current (billing) time zone, to the minute."""
    return timezone.localtime(instant).strftime("%Y-%m-%d %H:%M") if instant else "now"


def check_join_start(joined_at: datetime, *, now: datetime) -> datetime:
    """A chosen start ("member since"): not in the future, not before :data:`JOIN_MIN`."""
    if timezone.is_naive(joined_at):
        joined_at = timezone.make_aware(joined_at)
    if joined_at > now:
        raise ValidationError({"joined_at": [JOIN_IN_FUTURE.format(joined_at=_shown(joined_at))]})
    if joined_at < JOIN_MIN:
        raise ValidationError(
            {"joined_at": [JOIN_TOO_EARLY.format(first=JOIN_MIN.date().isoformat())]}
        )
    return joined_at


def _overlap_error(clash: Membership, customer: Customer, group: CustomerGroup):
    return ValidationError(
        {
            "joined_at": [
                MEMBERSHIP_OVERLAP.format(
                    customer=customer.name,
                    group=group.name,
                    start=_shown(clash.joined_at),
                    end=_shown(clash.left_at),
                )
            ]
        }
    )


def _backdated(joined_at: datetime, now: datetime) -> bool:
    return joined_at < now - BACKDATE_TOLERANCE


def membership_add(
    *,
    group: CustomerGroup,
    customer: Customer,
    by: User | None = None,
    at: datetime | None = None,
    joined_at: datetime | None = None,
) -> tuple[Membership, bool]:
    """Make ``customer`` a current member of ``group``; idempotent.

    Returns ``(membership, created)``. ``at`` is the moment of the change (now by default).
    ``joined_at`` is a start somebody chose ("member since"): it may not be in the future nor
    overlap another period of the pair; when earlier than now it is recorded as backdated, with
    who did it. A current member whose membership started later than ``joined_at`` has that
    start moved back (``created`` is False); one who was a member since then already is left
    as is.

    Concurrent calls for the same pair leave exactly one open membership: the database's
    partial unique constraint decides (and, on PostgreSQL, an exclusion constraint keeps
    periods from overlapping), and the loser returns the winner's row instead of failing.
    """
    now = at or timezone.now()
    if joined_at is not None:
        return _membership_add_since(
            group=group, customer=customer, by=by, now=now, joined_at=joined_at
        )
    existing = Membership.objects.current().filter(group=group, customer=customer).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                group=group, customer=customer, joined_at=now, joined_by=by
            )
            _touch_groups([group.pk], now)
            send_membership_changed(
                change="joined", group_id=group.pk, customer_ids=[customer.pk], at=now
            )
    except IntegrityError:
        existing = Membership.objects.current().filter(group=group, customer=customer).first()
        if existing is None:
            raise
        return existing, False
    return membership, True


def _membership_add_since(
    *, group: CustomerGroup, customer: Customer, by, now: datetime, joined_at: datetime
) -> tuple[Membership, bool]:
    joined_at = check_join_start(joined_at, now=now)
    backdated = _backdated(joined_at, now)
    try:
        with transaction.atomic():
            periods = list(
                Membership.objects.select_for_update()
                .filter(group=group, customer=customer)
                .order_by("joined_at", "pk")
            )
            current = next((p for p in periods if p.left_at is None), None)
            if current is not None and current.joined_at <= joined_at:
                return current, False  # a member since then already
            end = current.joined_at if current is not None else None
            for period in periods:
                if period is not current and _overlaps(period, joined_at, end):
                    raise _overlap_error(period, customer, group)
            if current is not None:
                current.joined_at = joined_at
                current.backdated_at, current.backdated_by = now, by
                current.save(update_fields=["joined_at", "backdated_at", "backdated_by"])
                _touch_groups([group.pk], now)
                return current, False
            membership = Membership.objects.create(
                group=group,
                customer=customer,
                joined_at=joined_at,
                joined_by=by,
                backdated_at=now if backdated else None,
                backdated_by=by if backdated else None,
            )
            _touch_groups([group.pk], now)
            send_membership_changed(
                change="joined", group_id=group.pk, customer_ids=[customer.pk], at=joined_at
            )
    except IntegrityError:
        # Somebody else added the pair (or an overlapping period) meanwhile: show that instead.
        existing = Membership.objects.current().filter(group=group, customer=customer).first()
        if existing is None:
            raise
        return existing, False
    return membership, True


def _overlaps(period: Membership, start: datetime, end: datetime | None) -> bool:
    """Whether ``period`` shares an instant with ``[start, end)`` (``end`` None: open-ended).

    The same rule as ``MembershipQuerySet.overlapping``, for rows already loaded.
    """
    period_end = period.left_at
    if period_end is not None and period_end <= period.joined_at:
        return False  # empty
    return (end is None or period.joined_at < end) and (period_end is None or start < period_end)


@transaction.atomic
def membership_remove(
    *, group: CustomerGroup, customer: Customer, by: User | None = None
) -> Membership:
    """End the customer's current membership of the group (history keeps the period)."""
    membership = (
        Membership.objects.current()
        .select_for_update()
        .filter(group=group, customer=customer)
        .first()
    )
    if membership is None:
        raise ValidationError(NOT_A_MEMBER.format(customer=customer.name, group=group.name))
    now = timezone.now()
    _close(membership, by=by, at=now)
    _touch_groups([group.pk], now)
    return membership


@transaction.atomic
def group_end_promotion(*, group: CustomerGroup, by: User | None = None) -> int:
    """Remove every current member of the group at once; returns how many left."""
    now = timezone.now()
    current = Membership.objects.current().filter(group=group)
    leaving = list(current.values_list("customer_id", flat=True))
    count = current.update(left_at=now, left_by=by)
    if count:
        _touch_groups([group.pk], now)
        send_membership_changed(change="left", group_id=group.pk, customer_ids=leaving, at=now)
    return count


# --- Bulk membership --------------------------------------------------------------------------

_SPLIT = re.compile(r"[\s,;]+")


class BulkMode:
    ADD = "add"
    REMOVE = "remove"
    SYNC = "sync"
    CHOICES = [
        (ADD, "Add"),
        (REMOVE, "Remove"),
        (SYNC, "Sync (make the members exactly this list)"),
    ]


@dataclass
class BulkPlan:
    """What a bulk membership change would do (dry run) or did (applied)."""

    mode: str
    to_add: list[Customer] = field(default_factory=list)
    to_remove: list[Customer] = field(default_factory=list)
    already: int = 0
    not_members: int = 0
    unknown: list[str] = field(default_factory=list)
    duplicates: int = 0
    applied: bool = False
    # With a chosen start ("member since"): current members whose membership started later get
    # that start moved back; customers with an earlier period that would overlap are skipped.
    joined_at: datetime | None = None
    to_backdate: list[Customer] = field(default_factory=list)
    overlapping: list[Customer] = field(default_factory=list)

    @property
    def change_count(self) -> int:
        return len(self.to_add) + len(self.to_remove) + len(self.to_backdate)


def parse_external_ids(text: str) -> list[str]:
    """External IDs pasted one per line, or separated by commas, semicolons or spaces."""
    return [token for token in _SPLIT.split(text or "") if token]


def read_csv_column(raw: bytes, *, column: str = "external_id") -> list[str]:
    """Read one column of an uploaded CSV (UTF-8, with or without BOM).

    A file with a single unnamed column is read as a list of IDs.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(CSV_NOT_TEXT) from exc
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    for number, row in enumerate(rows, start=1):
        if has_nul(row):
            raise ValidationError(CSV_LINE.format(line=number, message=NUL_IN_CELL))
    header = [cell.strip().lower() for cell in rows[0]]
    if column in header:
        index = header.index(column)
        return [row[index].strip() for row in rows[1:] if len(row) > index and row[index].strip()]
    if len(header) == 1:
        return [row[0].strip() for row in rows if row and row[0].strip()]
    raise ValidationError(CSV_NO_COLUMN.format(column=column, found=", ".join(header) or "none"))


def membership_bulk_plan(
    *,
    group: CustomerGroup,
    external_ids: Sequence[str],
    mode: str,
    joined_at: datetime | None = None,
    now: datetime | None = None,
) -> BulkPlan:
    """Work out a bulk change without writing anything (the dry-run preview).

    Queries are set-based: one for the customers named, one for the current members' ids
    (and, with ``joined_at``, their starts and one per 5,000 customers for earlier periods).
    """
    if len(external_ids) > BULK_LIMIT:
        raise ValidationError(BULK_TOO_MANY.format(limit=BULK_LIMIT, count=len(external_ids)))
    if joined_at is not None:
        joined_at = check_join_start(joined_at, now=now or timezone.now())
    unique_ids = list(dict.fromkeys(external_ids))
    plan = BulkPlan(mode=mode, duplicates=len(external_ids) - len(unique_ids), joined_at=joined_at)
    found: dict[str, Customer] = {}
    for start in range(0, len(unique_ids), 5000):
        chunk = unique_ids[start : start + 5000]
        found.update({c.external_id: c for c in Customer.objects.filter(external_id__in=chunk)})
    plan.unknown = [x for x in unique_ids if x not in found]
    member_ids = set(
        Membership.objects.current().filter(group=group).values_list("customer_id", flat=True)
    )
    listed = list(found.values())
    if mode in (BulkMode.ADD, BulkMode.SYNC):
        plan.to_add = [c for c in listed if c.pk not in member_ids]
        plan.already = len(listed) - len(plan.to_add)
        if joined_at is not None:
            _plan_start(plan, group, listed, member_ids)
    if mode == BulkMode.REMOVE:
        plan.to_remove = [c for c in listed if c.pk in member_ids]
        plan.not_members = len(listed) - len(plan.to_remove)
    elif mode == BulkMode.SYNC:
        listed_ids = {c.pk for c in listed}
        gone = member_ids - listed_ids
        plan.to_remove = list(Customer.objects.filter(pk__in=gone)) if gone else []
    return plan


@transaction.atomic
def membership_bulk_apply(
    *,
    group: CustomerGroup,
    external_ids: Sequence[str],
    mode: str,
    by: User | None = None,
    joined_at: datetime | None = None,
) -> BulkPlan:
    """Apply a bulk add / remove / sync in one transaction, recorded in the history.

    The plan is recomputed inside the transaction (with the group row locked) so that what is
    applied matches the database now, not the preview the user saw a minute ago. With
    ``joined_at`` the added memberships start then (recorded as backdated, with who did it) and
    current members who joined later have their start moved back.
    """
    CustomerGroup.objects.select_for_update().filter(pk=group.pk).first()
    now = timezone.now()
    plan = membership_bulk_plan(
        group=group, external_ids=external_ids, mode=mode, joined_at=joined_at, now=now
    )
    start = plan.joined_at or now
    backdated = plan.joined_at is not None and _backdated(plan.joined_at, now)
    if plan.to_add:
        Membership.objects.bulk_create(
            [
                Membership(
                    group=group,
                    customer=c,
                    joined_at=start,
                    joined_by=by,
                    backdated_at=now if backdated else None,
                    backdated_by=by if backdated else None,
                )
                for c in plan.to_add
            ],
            batch_size=2000,
        )
        send_membership_changed(
            change="joined", group_id=group.pk, customer_ids=[c.pk for c in plan.to_add], at=start
        )
    if plan.to_backdate:
        ids = [c.pk for c in plan.to_backdate]
        for first in range(0, len(ids), 5000):
            Membership.objects.current().filter(
                group=group, customer_id__in=ids[first : first + 5000]
            ).update(joined_at=start, backdated_at=now, backdated_by=by)
    if plan.to_remove:
        ids = [c.pk for c in plan.to_remove]
        for start in range(0, len(ids), 5000):
            Membership.objects.current().filter(
                group=group, customer_id__in=ids[start : start + 5000]
            ).update(left_at=now, left_by=by)
        send_membership_changed(change="left", group_id=group.pk, customer_ids=ids, at=now)
    if plan.change_count:
        _touch_groups([group.pk], now)
    plan.applied = True
    return plan


def _plan_start(
    plan: BulkPlan, group: CustomerGroup, listed: list[Customer], member_ids: set
) -> None:
    """With a chosen start: which current members to backdate, who overlaps an earlier period.

    A customer is skipped (``overlapping``) when one of its closed periods of the group shares
    an instant with the period it would get: from ``joined_at`` on for a new member, from
    ``joined_at`` to its current start for a current member.
    """
    joined_at = plan.joined_at
    starts = dict(
        Membership.objects.current()
        .filter(group=group, customer_id__in=[c.pk for c in listed if c.pk in member_ids])
        .values_list("customer_id", "joined_at")
    )
    later = {pk for pk, start in starts.items() if start > joined_at}
    closed: dict = {}
    concerned = [c.pk for c in listed if c.pk not in member_ids or c.pk in later]
    for first in range(0, len(concerned), 5000):
        periods = (
            Membership.objects.filter(
                group=group,
                customer_id__in=concerned[first : first + 5000],
                left_at__isnull=False,
            )
            .overlapping(joined_at, None)
            .values_list("customer_id", "joined_at")
        )
        for customer_id, start in periods:
            closed.setdefault(customer_id, []).append(start)
    clash = {
        pk
        for pk, period_starts in closed.items()
        if pk not in starts or any(start < starts[pk] for start in period_starts)
    }
    plan.overlapping = [c for c in listed if c.pk in clash]
    plan.to_add = [c for c in plan.to_add if c.pk not in clash]
    plan.to_backdate = [c for c in listed if c.pk in later and c.pk not in clash]
    plan.already = len(listed) - len(plan.to_add) - len(plan.to_backdate) - len(plan.overlapping)


# --- Customer import --------------------------------------------------------------------------

IMPORT_MISSING_COLUMNS = "The CSV needs the columns {needed}; missing: {missing}."
IMPORT_EMPTY = "The CSV has no customer rows."
IMPORT_TOO_MANY = "At most {limit} rows at a time; split the file and import each part."
IMPORT_NO_NAME = "Line {line}: the name is empty."
IMPORT_NO_EXTERNAL_ID = "Line {line}: the external ID is empty (imports find customers by it)."
IMPORT_DUPLICATE = "Line {line}: the external ID “{external_id}” is already on line {first}."
IMPORT_FIELD = "Line {line}: {field}: {message}"
IMPORT_UNKNOWN_GROUPS = "Line {line}: unknown group codes: {codes}."
IMPORT_ARCHIVED = (
    "Line {line}: the external ID “{external_id}” belongs to the archived customer “{name}”, "
    "whose history it keeps; use another ID."
)
IMPORT_REJECTED = "The import was not applied: {count} lines have errors. Nothing was stored."
IMPORT_CONFLICT = (
    "Another change created one of these customers while the import ran. Nothing was stored; "
    "preview the file again."
)

IMPORT_REQUIRED_COLUMNS = ("name", "external_id")
IMPORT_OPTIONAL_COLUMNS = ("email", "group_codes", *attributes.IMPORT_COLUMNS)
_IMPORT_ALIASES = {
    "external id": "external_id",
    "externalid": "external_id",
    "group codes": "group_codes",
    "groups": "group_codes",
    "group_code": "group_codes",
}
_CODES_SPLIT = re.compile(r"[\s,;|]+")


@dataclass
class ImportRow:
    """One valid line of a customer import and what it will do."""

    line: int
    name: str
    external_id: str
    email: str
    group_codes: list[str]
    customer: Customer | None = None  # the existing customer with this external ID
    changed: bool = False  # an existing customer whose name or email differs
    new_group_ids: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # the attribute columns the file has


@dataclass
class ImportPlan:
    """What a customer import would do (dry run) or did (applied)."""

    rows: int = 0
    to_create: list[ImportRow] = field(default_factory=list)
    to_update: list[ImportRow] = field(default_factory=list)
    to_join: list[ImportRow] = field(default_factory=list)  # existing, unchanged, new groups
    unchanged: int = 0
    memberships_to_add: int = 0
    errors: list[str] = field(default_factory=list)
    unknown_group_codes: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def change_count(self) -> int:
        return len(self.to_create) + len(self.to_update) + self.memberships_to_add


def _import_header(raw_header: list[str]) -> list[str]:
    names = []
    for cell in raw_header:
        name = cell.strip().lower()
        names.append(_IMPORT_ALIASES.get(name, name))
    return names


def _validate_import_row(line: int, customer: Customer, *, skip=()) -> list[str]:
    """Field checks without touching the database (uniqueness is checked in bulk); ``skip``
    names fields already reported (an empty name)."""
    try:
        customer.full_clean(exclude=list(skip), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return [
            IMPORT_FIELD.format(
                line=line,
                field=Customer._meta.get_field(name).verbose_name,
                message=" ".join(str(m) for m in messages),
            )
            for name, messages in exc.message_dict.items()
        ]
    return []


def customer_import_plan(*, raw: bytes) -> ImportPlan:
    """Read an import CSV (name, external_id, email, group_codes) and work out what it would do.

    Nothing is written. Existing customers are matched by external ID and updated; group codes
    (separated by spaces, ``;`` or ``|``) add memberships and never remove any. Every problem is
    reported with its line number; a plan with errors cannot be applied. Queries are set-based:
    one per 5,000 external IDs, one for the groups, one per 5,000 existing customers for their
    memberships.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(CSV_NOT_TEXT) from exc
    reader = csv.reader(io.StringIO(text))
    header = _import_header(next(reader, []))
    missing = [c for c in IMPORT_REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationError(
            IMPORT_MISSING_COLUMNS.format(
                needed=", ".join(IMPORT_REQUIRED_COLUMNS + IMPORT_OPTIONAL_COLUMNS),
                missing=", ".join(missing),
            )
        )
    index = {
        name: header.index(name)
        for name in (*IMPORT_REQUIRED_COLUMNS, *IMPORT_OPTIONAL_COLUMNS)
        if name in header
    }

    def cell(row: list[str], name: str) -> str:
        position = index.get(name)
        return row[position].strip() if position is not None and position < len(row) else ""

    plan = ImportPlan()
    rows: list[ImportRow] = []
    # Lines already refused still get their group codes checked: all of a line's problems at once.
    rejected_codes: list[tuple[int, list[str]]] = []
    first_line: dict[str, int] = {}
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        plan.rows += 1
        if plan.rows > BULK_LIMIT:
            raise ValidationError(IMPORT_TOO_MANY.format(limit=BULK_LIMIT))
        line = reader.line_num
        if has_nul(row):
            plan.errors.append(CSV_LINE.format(line=line, message=NUL_IN_CELL))
            continue
        name, external_id, email = cell(row, "name"), cell(row, "external_id"), cell(row, "email")
        codes = [c.lower() for c in _CODES_SPLIT.split(cell(row, "group_codes")) if c]
        problems = []
        if not name:
            problems.append(IMPORT_NO_NAME.format(line=line))
        if not external_id:
            problems.append(IMPORT_NO_EXTERNAL_ID.format(line=line))
        elif external_id in first_line:
            problems.append(
                IMPORT_DUPLICATE.format(
                    line=line, external_id=external_id, first=first_line[external_id]
                )
            )
        else:
            first_line[external_id] = line
        skip = [
            field for field, value in (("name", name), ("external_id", external_id)) if not value
        ]
        extra, bad = attributes.read_import_attributes(partial(cell, row), index, line)
        problems += bad
        problems += _validate_import_row(
            line,
            Customer(name=name, external_id=external_id or None, email=email, **extra),
            skip=[*skip, *(set(attributes.IMPORT_COLUMNS) - set(extra))],
        )
        if problems:
            plan.errors += problems
            rejected_codes.append((line, list(dict.fromkeys(codes))))
            continue
        rows.append(
            ImportRow(
                line=line,
                name=name,
                external_id=external_id,
                email=email,
                group_codes=list(dict.fromkeys(codes)),
                extra=extra,
            )
        )
    if not plan.rows:
        raise ValidationError(IMPORT_EMPTY)

    all_codes = {code for row in rows for code in row.group_codes}
    all_codes.update(code for _, codes in rejected_codes for code in codes)
    groups = {g.code.lower(): g for g in CustomerGroup.objects.filter(code__in=all_codes)}
    unknown_all: set[str] = set()
    for line, codes in [*((row.line, row.group_codes) for row in rows), *rejected_codes]:
        unknown = [c for c in codes if c not in groups]
        if unknown:
            unknown_all.update(unknown)
            plan.errors.append(IMPORT_UNKNOWN_GROUPS.format(line=line, codes=", ".join(unknown)))
    plan.unknown_group_codes = sorted(unknown_all)
    if plan.errors:
        plan.errors = _by_line(plan.errors)
        return plan

    existing: dict[str, Customer] = {}
    ids = [row.external_id for row in rows]
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        found = Customer.all_objects.filter(external_id__in=chunk)
        existing.update({c.external_id: c for c in found})
    for row in rows:
        customer = existing.get(row.external_id)
        if customer is not None and customer.is_archived:
            plan.errors.append(
                IMPORT_ARCHIVED.format(
                    line=row.line, external_id=row.external_id, name=customer.name
                )
            )
    if plan.errors:
        return plan
    current: set[tuple] = set()
    existing_pks = [c.pk for c in existing.values()]
    group_ids = [g.pk for g in groups.values()]
    if group_ids:
        for start in range(0, len(existing_pks), 5000):
            current.update(
                Membership.objects.current()
                .filter(customer_id__in=existing_pks[start : start + 5000], group_id__in=group_ids)
                .values_list("customer_id", "group_id")
            )
    for row in rows:
        row.customer = existing.get(row.external_id)
        wanted = [groups[code].pk for code in row.group_codes]
        if row.customer is None:
            row.new_group_ids = wanted
            plan.to_create.append(row)
        else:
            row.new_group_ids = [g for g in wanted if (row.customer.pk, g) not in current]
            row.changed = (row.customer.name, row.customer.email) != (row.name, row.email) or any(
                getattr(row.customer, k) != v for k, v in row.extra.items()
            )
            if row.changed:
                plan.to_update.append(row)
            elif row.new_group_ids:
                plan.to_join.append(row)
            else:
                plan.unchanged += 1
        plan.memberships_to_add += len(row.new_group_ids)
    return plan


def _line_of(message: str) -> int:
    match = re.match(r"Line (\d+)", message)
    return int(match.group(1)) if match else 0


def _by_line(errors: list[str]) -> list[str]:
    """ "Line N: …" messages in line order, one message per line holding all of its problems."""
    merged: dict[int, list[str]] = {}
    for message in errors:
        line = _line_of(message)
        merged.setdefault(line, []).append(message.split(": ", 1)[1].rstrip("."))
    return [f"Line {line}: {'; '.join(parts)}." for line, parts in sorted(merged.items())]


@transaction.atomic
def customer_import_apply(*, raw: bytes, by: User | None = None) -> ImportPlan:
    """Apply a customer import in one transaction: all of it, or nothing when any line is bad.

    The plan is recomputed here, so what is stored matches the database now. Customers and
    memberships are inserted in bulk; memberships record ``by`` as who added them.
    """
    plan = customer_import_plan(raw=raw)
    if not plan.ok:
        raise ValidationError([IMPORT_REJECTED.format(count=len(plan.errors)), *plan.errors])
    now = timezone.now()
    try:
        with transaction.atomic():
            new_customers = [
                Customer(name=row.name, external_id=row.external_id, email=row.email, **row.extra)
                for row in plan.to_create
            ]
            bulk_create_with_history(new_customers, Customer, batch_size=2000, default_user=by)
            for row, customer in zip(plan.to_create, new_customers, strict=True):
                row.customer = customer
            updated = []
            for row in plan.to_update:
                row.customer.name, row.customer.email = row.name, row.email
                for key, value in row.extra.items():
                    setattr(row.customer, key, value)
                row.customer.updated_at = now
                updated.append(row.customer)
            bulk_update_with_history(
                updated,
                Customer,
                ["name", "email", "updated_at", *attributes.IMPORT_COLUMNS],
                batch_size=2000,
                default_user=by,
                manager=Customer.all_objects,
            )
            memberships = [
                Membership(group_id=group_id, customer=row.customer, joined_at=now, joined_by=by)
                for row in (*plan.to_create, *plan.to_update, *plan.to_join)
                for group_id in row.new_group_ids
            ]
            Membership.objects.bulk_create(memberships, batch_size=2000)
            joined: dict = {}
            for membership in memberships:
                joined.setdefault(membership.group_id, []).append(membership.customer.pk)
            for group_id, customer_ids in joined.items():
                send_membership_changed(
                    change="joined", group_id=group_id, customer_ids=customer_ids, at=now
                )
    except IntegrityError as exc:
        raise ValidationError(IMPORT_CONFLICT) from exc
    _touch_groups({m.group_id for m in memberships}, now)
    plan.applied = True
    return plan


def import_summary(plan: ImportPlan) -> str:
    return (
        f"Imported: {len(plan.to_create)} customers created, {len(plan.to_update)} updated, "
        f"{plan.memberships_to_add} memberships added, {plan.unchanged} unchanged."
    )


def customer_import_start(*, raw: bytes, filename: str = "", by: User | None = None):
    """Check an import (all lines valid) and start applying it as background work.

    Raises ``ValidationError`` (with every line's problem) when the file cannot be imported, so
    nothing is queued for a file that would fail.
    """
    from background.services import work_start
    from groups import tasks

    plan = customer_import_plan(raw=raw)
    if not plan.ok:
        raise ValidationError([IMPORT_REJECTED.format(count=len(plan.errors)), *plan.errors])
    return work_start(
        task=tasks.import_customers,
        title=f"Importing customers from {filename or 'a CSV file'} ({plan.rows:,} rows)",
        params={"csv_text": raw.decode("utf-8-sig")},
        by=by,
    )
