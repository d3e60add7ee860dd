"""Who would join and who would leave a criteria group, and the refresh that applies it.

Set-based throughout: "who should be a member" is one query over customers (every condition a
subquery or ``EXISTS``, see :mod:`groups.criteria.conditions`), and the joins and the leaves are
that query against the group's open memberships, so a refresh makes the same handful of queries
for ten customers or a hundred thousand, and writes only the memberships that change.

Rules of a refresh:

- a customer should be a member when every condition holds, or it is on the always-include
  list; never when it is on the never-include list, or once the group's planned expiry has
  passed (billing day), or when the customer is archived;
- a member who no longer should be leaves, unless it joined less than the minimum stay ago
  (never-include overrides the minimum stay);
- joins and leaves happen at the refresh's instant and name the criteria version; a second
  refresh finds nothing to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from groups.criteria.conditions import Context, customers_q
from groups.criteria.models import GroupCriteria
from groups.models import Customer, CustomerGroup, Membership
from groups.signals import send_membership_changed

NAMES_SHOWN = 10
REFRESH_SUMMARY = "{group}: {joined} joined, {left} left (criteria v{version})."
INSERT_BATCH = 5_000

_billing_day: list[Callable[[datetime], date]] = []


def install_billing_day(billing_day: Callable[[datetime], date]) -> None:
    """The billing day of an instant (installed by ``pricing``, which owns the calendar)."""
    _billing_day[:] = [billing_day]


def billing_day(instant: datetime) -> date:
    if not _billing_day:
        return instant.date()
    return _billing_day[0](instant)


@dataclass(frozen=True)
class Spec:
    """Criteria as evaluated: saved ones, or the form's unsaved ones for a preview."""

    conditions: list[dict]
    always: list = field(default_factory=list)
    never: list = field(default_factory=list)
    minimum_stay_days: int = 0

    @classmethod
    def of(cls, criteria: GroupCriteria) -> Spec:
        return cls(
            conditions=criteria.conditions,
            always=list(criteria.always_include.values_list("pk", flat=True)),
            never=list(criteria.never_include.values_list("pk", flat=True)),
            minimum_stay_days=criteria.minimum_stay_days,
        )


def expired(group: CustomerGroup, now: datetime) -> bool:
    return group.expires_on is not None and group.expires_on < billing_day(now)


def should_be_members(group: CustomerGroup, spec: Spec, now: datetime) -> QuerySet[Customer]:
    """Customers the criteria want in the group at ``now`` (one query, lists applied)."""
    if expired(group, now):
        return Customer.objects.none()
    wanted = customers_q(spec.conditions, Context(now=now, group_id=group.pk))
    if spec.always:
        wanted |= Q(pk__in=spec.always)
    result = Customer.objects.filter(wanted)
    if spec.never:
        result = result.exclude(pk__in=spec.never)
    return result


def joining(group: CustomerGroup, spec: Spec, now: datetime) -> QuerySet[Customer]:
    open_membership = Membership.objects.current().filter(group=group, customer=OuterRef("pk"))
    return should_be_members(group, spec, now).filter(~Exists(open_membership))


def _not_wanted(group: CustomerGroup, spec: Spec, now: datetime) -> QuerySet[Membership]:
    wanted = should_be_members(group, spec, now).filter(pk=OuterRef("customer_id"))
    return Membership.objects.current().filter(group=group).filter(~Exists(wanted))


def leaving(group: CustomerGroup, spec: Spec, now: datetime) -> QuerySet[Membership]:
    """Open memberships that end: not wanted, and past the minimum stay (or never-include)."""
    stay_over = Q(joined_at__lte=now - timedelta(days=spec.minimum_stay_days))
    if spec.never:
        stay_over |= Q(customer_id__in=spec.never)
    return _not_wanted(group, spec, now).filter(stay_over)


def held(group: CustomerGroup, spec: Spec, now: datetime) -> QuerySet[Membership]:
    """Members who no longer qualify but stay for the minimum stay."""
    return _not_wanted(group, spec, now).exclude(pk__in=leaving(group, spec, now).values("pk"))


@dataclass
class Preview:
    joining: int
    leaving: int
    held: int
    members_after: int
    joining_names: list[str]
    leaving_names: list[str]

    def as_dict(self) -> dict:
        return {
            "joining": self.joining,
            "leaving": self.leaving,
            "held_by_minimum_stay": self.held,
            "members_after": self.members_after,
            "joining_names": self.joining_names,
            "leaving_names": self.leaving_names,
        }


def preview(group: CustomerGroup, spec: Spec, now: datetime | None = None) -> Preview:
    """Counts and the first names of who would join and leave: five queries, any size."""
    now = now or timezone.now()
    joins = joining(group, spec, now)
    leaves = leaving(group, spec, now)
    join_count = joins.count()
    leave_count = leaves.count()
    current = Membership.objects.current().filter(group=group).count()
    return Preview(
        joining=join_count,
        leaving=leave_count,
        held=held(group, spec, now).count() if spec.minimum_stay_days else 0,
        members_after=current + join_count - leave_count,
        joining_names=list(
            joins.order_by("name", "pk").values_list("name", flat=True)[:NAMES_SHOWN]
        ),
        leaving_names=list(
            leaves.order_by("customer__name", "pk").values_list("customer__name", flat=True)[
                :NAMES_SHOWN
            ]
        ),
    )


@transaction.atomic
def refresh(criteria: GroupCriteria, now: datetime | None = None) -> dict:
    """Apply the saved criteria at ``now``: joins and leaves written into the history.

    The group row is locked first, so two refreshes of one group take turns and the second
    finds nothing left to change (the refresh is idempotent).
    """
    now = now or timezone.now()
    group = CustomerGroup.all_objects.select_for_update().get(pk=criteria.group_id)
    criteria = GroupCriteria.objects.get(pk=criteria.pk)
    if not criteria.enabled:
        return {"joined": 0, "left": 0, "version": criteria.version, "skipped": "disabled"}
    spec = Spec.of(criteria)
    join_ids = list(joining(group, spec, now).values_list("pk", flat=True))
    # The criteria are evaluated once for the leaves: their rows are then ended by primary key.
    leaves = list(leaving(group, spec, now).values_list("pk", "customer_id"))
    leave_ids = [customer_id for _, customer_id in leaves]
    left = 0
    for start in range(0, len(leaves), INSERT_BATCH):
        left += Membership.objects.filter(
            pk__in=[pk for pk, _ in leaves[start : start + INSERT_BATCH]]
        ).update(
            left_at=now,
            left_by=None,
            left_reason="criteria",
            left_by_criteria_version=criteria.version,
        )
    Membership.objects.bulk_create(
        [
            Membership(
                group_id=group.pk,
                customer_id=pk,
                joined_at=now,
                joined_by_criteria_version=criteria.version,
            )
            for pk in join_ids
        ],
        batch_size=INSERT_BATCH,
    )
    if join_ids or left:
        CustomerGroup.all_objects.filter(pk=group.pk).update(members_changed_at=now)
        send_membership_changed(change="left", group_id=group.pk, customer_ids=leave_ids, at=now)
        send_membership_changed(change="joined", group_id=group.pk, customer_ids=join_ids, at=now)
    result = {
        "joined": len(join_ids),
        "left": left,
        "version": criteria.version,
        "at": now.isoformat(),
        "summary": REFRESH_SUMMARY.format(
            joined=len(join_ids), left=left, version=criteria.version, group=group.name
        ),
    }
    GroupCriteria.objects.filter(pk=criteria.pk).update(last_refreshed_at=now, last_refresh=result)
    return result
