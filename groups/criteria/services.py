"""Writes of criteria groups: saving criteria, starting refreshes, ending expired groups."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from groups.criteria import conditions as kinds
from groups.criteria.models import GroupCriteria
from groups.criteria.refresh import Spec
from groups.models import Customer, CustomerGroup, Membership
from groups.signals import send_membership_changed

CRITERIA_STALE = (
    "These criteria were changed by somebody else since you opened them (now version "
    "{current}). Reload the page and make your change again."
)
UNKNOWN_CUSTOMERS = "Unknown customers: {ids}."
BOTH_LISTS = "A customer cannot be on both lists: {names}."
STAY_TOO_LONG = "Keep the minimum stay to at most 3650 days."
NO_CRITERIA = "This group has no criteria yet: save some first."
REFRESH_KEY = "groups.criteria-refresh:{group}"


def _customer_ids(values: Iterable, field: str) -> list[uuid.UUID]:
    ids = []
    for value in values:
        if isinstance(value, Customer):
            ids.append(value.pk)
            continue
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            found = Customer.objects.filter(external_id=str(value).strip()).first()
            if found is None:
                raise ValidationError({field: UNKNOWN_CUSTOMERS.format(ids=value)}) from None
            ids.append(found.pk)
    ids = list(dict.fromkeys(ids))
    known = set(Customer.all_objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [str(pk) for pk in ids if pk not in known]
    if missing:
        raise ValidationError({field: UNKNOWN_CUSTOMERS.format(ids=", ".join(missing))})
    return ids


def _check_cycles(group: CustomerGroup, conditions: list[dict]) -> None:
    """Refuse criteria whose group conditions lead back to ``group`` (refreshes would chase)."""
    edges: dict[str, set[str]] = {
        str(gid): kinds.referenced_groups(conds)
        for gid, conds in GroupCriteria.objects.exclude(group=group).values_list(
            "group_id", "conditions"
        )
    }
    target = str(group.pk)
    for start in kinds.referenced_groups(conditions):
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == target:
                other = CustomerGroup.all_objects.filter(pk=start).first()
                raise ValidationError(
                    {"conditions": kinds.GROUP_CYCLE.format(other=other or start)}
                )
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))


def criteria_check(
    *,
    group: CustomerGroup,
    conditions,
    always_include: Iterable = (),
    never_include: Iterable = (),
    minimum_stay_days: int = 0,
) -> Spec:
    """The criteria validated and normalised (what a preview evaluates and a save stores).

    Raises one ``ValidationError`` with every problem, keyed by field.
    """
    errors: dict[str, list[str]] = {}
    cleaned: list[dict] = []
    always: list = []
    never: list = []
    try:
        cleaned = kinds.validate_conditions(conditions, group_id=group.pk)
        _check_cycles(group, cleaned)
    except ValidationError as error:
        errors["conditions"] = error.messages
    try:
        always = _customer_ids(always_include, "always_include")
        never = _customer_ids(never_include, "never_include")
        both = set(always) & set(never)
        if both:
            names = Customer.all_objects.filter(pk__in=both).values_list("name", flat=True)
            raise ValidationError({"never_include": BOTH_LISTS.format(names=", ".join(names))})
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if not isinstance(minimum_stay_days, int) or not 0 <= minimum_stay_days <= 3650:
        errors["minimum_stay_days"] = [STAY_TOO_LONG]
    if errors:
        raise ValidationError(errors)
    return Spec(conditions=cleaned, always=always, never=never, minimum_stay_days=minimum_stay_days)


@transaction.atomic
def criteria_save(
    *,
    group: CustomerGroup,
    conditions,
    enabled: bool = True,
    always_include: Iterable = (),
    never_include: Iterable = (),
    minimum_stay_days: int = 0,
    by: User | None = None,
    version: int | None = None,
) -> GroupCriteria:
    """Create or change the group's criteria (a new version each time), all validated first.

    ``version`` is the one the editor loaded: an older one is refused (somebody else saved in
    between). Nothing changes membership here: the preview shows what a refresh would do.
    """
    criteria = GroupCriteria.objects.select_for_update().filter(group=group).first()
    if criteria is not None and version is not None and version != criteria.version:
        raise ValidationError(CRITERIA_STALE.format(current=criteria.version))
    spec = criteria_check(
        group=group,
        conditions=conditions,
        always_include=always_include,
        never_include=never_include,
        minimum_stay_days=minimum_stay_days,
    )
    if criteria is None:
        criteria = GroupCriteria(group=group)
    else:
        criteria.version += 1
    criteria.conditions = spec.conditions
    criteria.enabled = bool(enabled)
    criteria.minimum_stay_days = spec.minimum_stay_days
    criteria.updated_by = by if getattr(by, "is_authenticated", False) else None
    criteria.full_clean(exclude=["group"])
    criteria._history_user = criteria.updated_by
    criteria.save()
    criteria.always_include.set(spec.always)
    criteria.never_include.set(spec.never)
    return criteria


def criteria_refresh_start(*, group: CustomerGroup, by=None):
    """Start refreshing one group as background work (one at a time per group)."""
    from background.services import work_start
    from groups.criteria import tasks

    if not GroupCriteria.objects.filter(group=group).exists():
        raise ValidationError(NO_CRITERIA)
    return work_start(
        task=tasks.refresh_group,
        title=f"Refreshing the members of {group.name}",
        params={"group_id": str(group.pk)},
        by=by,
        dedupe_key=REFRESH_KEY.format(group=group.pk),
    )


@transaction.atomic
def group_expire(*, group: CustomerGroup, at: datetime) -> int:
    """End the group's open memberships at ``at`` (the end of its planned expiry day).

    A membership that started after ``at`` ends when it started (it never counted). Recorded as
    an expiry in the history; running it again finds no open membership (idempotent).
    """
    current = Membership.objects.current().filter(group=group)
    leaving = list(current.values_list("customer_id", flat=True))
    if not leaving:
        return 0
    count = current.update(left_at=Greatest(F("joined_at"), at), left_by=None, left_reason="expiry")
    # The stamp of rating inputs must move forward even when ``at`` is in the past.
    CustomerGroup.all_objects.filter(pk=group.pk).update(members_changed_at=timezone.now())
    send_membership_changed(change="left", group_id=group.pk, customer_ids=leaving, at=at)
    return count


KEPT_BY_CRITERIA = (
    "“{group}” keeps its members by its criteria: the next refresh removes anyone added by hand "
    "who does not meet them, unless they are on its always-include list (the Criteria card)."
)
NEVER_INCLUDED = "{names} on its never-include list: the next refresh removes them again."


def manual_add_warning(group: CustomerGroup, customer_ids: Iterable) -> str:
    """What somebody adding members by hand to a criteria group should know ("" otherwise).

    Two queries at most; the criteria themselves are not evaluated here (the card's preview
    says who would join and leave).
    """
    criteria = GroupCriteria.objects.enabled().filter(group=group).first()
    if criteria is None:
        return ""
    ids = list(customer_ids)
    always = set(criteria.always_include.filter(pk__in=ids).values_list("pk", flat=True))
    never = list(
        criteria.never_include.filter(pk__in=ids).order_by("name").values_list("name", flat=True)
    )
    if not never and always.issuperset(ids):
        return ""
    warning = KEPT_BY_CRITERIA.format(group=group.name)
    if never:
        shown = ", ".join(f"“{name}”" for name in never[:3])
        more = f" and {len(never) - 3} more" if len(never) > 3 else ""
        verb = "is" if len(never) == 1 else "are"
        warning += " " + NEVER_INCLUDED.format(names=f"{shown}{more} {verb}")
    return warning
