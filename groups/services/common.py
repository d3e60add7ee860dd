"""What the write modules share: removal results, archiving, closing memberships, labels."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import ProtectedError
from django.utils import timezone

from groups.models import Customer, CustomerGroup, Membership
from groups.signals import send_membership_changed

LEFT_NOW = "; {count} current membership{s} ended now"
ARCHIVED_LABEL = "{name} (archived)"
BACKDATE_TOLERANCE = timedelta(minutes=1)
User = AbstractBaseUser


class Removal(StrEnum):
    """What removing a group or customer did."""

    DELETED = "deleted"  # it never had a membership (or, for a customer, usage): gone
    ARCHIVED = "archived"  # hidden from lists; its history kept


@dataclass(frozen=True)
class Removed:
    outcome: Removal
    message: str


def label(obj: Customer | CustomerGroup) -> str:
    return ARCHIVED_LABEL.format(name=obj.name) if obj.is_archived else obj.name


def refuse_while_rules_use(obj: Customer | CustomerGroup, message: str, **names) -> None:
    """Rules point at groups and customers (``pricing_rules``): neither goes while one does."""
    rules = list(obj.pricing_rules.order_by("code"))
    if rules:
        shown = ", ".join(str(rule) for rule in rules)
        raise ProtectedError(message.format(rules=shown, names=shown, **names), set(rules))


def archive(obj: Customer | CustomerGroup, *, by: User | None, memberships) -> int:
    """End the open memberships, then hide ``obj`` (its history records who and when)."""
    now = timezone.now()
    left = memberships.current().update(left_at=now, left_by=by)
    obj.archived_at, obj.archived_by = now, by
    obj._history_user = by
    obj.save(update_fields=["archived_at", "archived_by", "updated_at"])
    return left


def left_count(count: int) -> str:
    return LEFT_NOW.format(count=count, s="" if count == 1 else "s") if count else ""


def touch_groups(group_ids: Iterable, at: datetime) -> None:
    ids = list(group_ids)
    if ids:
        CustomerGroup.objects.filter(pk__in=ids).update(members_changed_at=at)


def close_membership(membership: Membership, *, by: User | None, at: datetime) -> None:
    membership.left_at = max(at, membership.joined_at)
    membership.left_by = by
    membership.save(update_fields=["left_at", "left_by"])
    send_membership_changed(
        change="left",
        group_id=membership.group_id,
        customer_ids=[membership.customer_id],
        at=membership.left_at,
    )


def is_backdated(joined_at: datetime, now: datetime) -> bool:
    return joined_at < now - BACKDATE_TOLERANCE
