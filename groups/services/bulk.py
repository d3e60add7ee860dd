"""Bulk membership changes: many customers added or removed at once."""

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from groups.csvfile import NUL_IN_CELL, has_nul
from groups.models import Customer, CustomerGroup, Membership
from groups.services.common import is_backdated, touch_groups
from groups.services.memberships import check_join_start
from groups.signals import send_membership_changed

BULK_TOO_MANY = "At most {limit} external IDs at a time; this list has {count}."
CSV_NO_COLUMN = "The CSV has no “{column}” column (columns found: {found})."
CSV_NOT_TEXT = "The file is not UTF-8 text. Save it as CSV (UTF-8) and upload it again."
CSV_LINE = "Line {line}: {message}"

BULK_LIMIT = 100_000
User = AbstractBaseUser


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
    backdated = plan.joined_at is not None and is_backdated(plan.joined_at, now)
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
        touch_groups([group.pk], now)
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
