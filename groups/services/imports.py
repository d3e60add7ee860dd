"""Customer import from CSV."""

import csv
import io
import re
from dataclasses import dataclass, field
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from groups.criteria import attributes
from groups.csvfile import NUL_IN_CELL, has_nul
from groups.models import Customer, CustomerGroup, Membership
from groups.services.bulk import BULK_LIMIT, CSV_LINE, CSV_NOT_TEXT
from groups.services.common import touch_groups
from groups.signals import send_membership_changed

User = AbstractBaseUser


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
    touch_groups({m.group_id for m in memberships}, now)
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
