"""The audit's one write: deleting a selection of empty groups (through groups' services)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, ProtectedError

from groups.models import CustomerGroup
from groups.services import group_delete
from pricing.audit.groups import current_members

#
# The audit's own action is deleting a selection of empty groups; the writes are the groups
# services', this only checks each group is still empty and collects what was refused.

GROUP_NOT_EMPTY = "“{group}” was not deleted: it has members again."
GROUP_GONE = "{count} of the selected groups no longer exist."
MAX_SELECTION = 200


@dataclass
class DeleteOutcome:
    deleted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def empty_groups_delete(*, ids: Sequence, by=None) -> DeleteOutcome:
    """Delete the selected groups that are (still) empty; report the others.

    Each group is locked and re-checked in its own transaction, so a member added meanwhile
    keeps its group; groups that pricing rules use are refused by ``group_delete``.
    """
    outcome = DeleteOutcome()
    wanted = list(dict.fromkeys(ids))[:MAX_SELECTION]
    groups = list(CustomerGroup.objects.filter(pk__in=wanted).order_by("name"))
    if len(groups) < len(wanted):
        outcome.refused.append(GROUP_GONE.format(count=len(wanted) - len(groups)))
    for group in groups:
        with transaction.atomic():
            locked = (
                CustomerGroup.objects.select_for_update()
                .filter(pk=group.pk)
                .annotate(has_members=Exists(current_members()))
                .first()
            )
            if locked is None:
                continue
            if locked.has_members:
                outcome.refused.append(GROUP_NOT_EMPTY.format(group=group.name))
                continue
            try:
                group_delete(group=group, by=by)
            except ProtectedError as exc:
                outcome.refused.append(str(exc.args[0]))
                continue
        outcome.deleted.append(group.name)
    return outcome
