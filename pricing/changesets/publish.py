"""Publishing a changeset: every change through the ordinary services, in one transaction.

First every object a change was drafted from is locked and compared with the version the
change was drafted from (:func:`groups.versions.check`, the stale-edit check of the pages and
the API): any that moved makes a conflict, named with who changed it and when, and nothing is
written. Then the changes are applied with the same services as direct edits (the same
validation, history, events and rule-book invalidation); a validation error there also undoes
everything. Two publishes of changesets touching one object serialise on that object's row lock:
the second sees the version the first wrote and reports the conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from groups import versions
from pricing import clock
from pricing.changesets import snapshots
from pricing.changesets.services import (
    NEEDS_APPROVAL,
    S,
    acting_user,
    locked_row,
    publishable_states,
    record_event,
    require_state,
)
from pricing.models import (
    ChangeAction,
    ChangeKind,
    Changeset,
    ChangesetChange,
    PriceList,
    PriceListItem,
    PricingRule,
)
from pricing.signals import changeset_published

CONFLICTS = (
    "“{title}” was not published: {count} of the objects it changes moved since it was drafted."
)
CONFLICT_CHANGED = "{label} was changed by {who} at {when:%Y-%m-%d %H:%M}"
CONFLICT_GONE = "{label} no longer exists"
CONFLICT_INVALID = "{label}: {message}"
# Apply order: lists before the rules that use them; deletions of rules before the lists.
_ORDER = {
    (ChangeKind.PRICE_LIST, ChangeAction.CREATE): 0,
    (ChangeKind.PRICE_LIST, ChangeAction.UPDATE): 1,
    (ChangeKind.RULE, ChangeAction.DELETE): 2,
    (ChangeKind.RULE, ChangeAction.CREATE): 3,
    (ChangeKind.RULE, ChangeAction.UPDATE): 3,
    (ChangeKind.RULE, ChangeAction.DISABLE): 3,
    (ChangeKind.RULE, ChangeAction.ENABLE): 3,
    (ChangeKind.PRICE_LIST, ChangeAction.DELETE): 4,
}


@dataclass(frozen=True)
class Conflict:
    """An object whose base moved since the change to it was drafted."""

    change_id: int
    label: str
    kind: str
    who: str
    when: datetime | None
    message: str
    fields: tuple[str, ...] = ()


class ChangesetConflict(ValidationError):
    """Publishing refused: the conflicts, nothing written."""

    def __init__(self, changeset: Changeset, conflicts: list[Conflict]) -> None:
        self.changeset = changeset
        self.conflicts = conflicts
        super().__init__(
            [CONFLICTS.format(title=changeset.title, count=len(conflicts))]
            + [c.message for c in conflicts],
            code="conflict",
        )


def _model(change: ChangesetChange):
    return PricingRule if change.kind == ChangeKind.RULE else PriceList


def conflicts_of(changeset: Changeset, *, lock: bool = False) -> list[Conflict]:
    """The changes whose object moved or disappeared since drafting (locking the rows when
    ``lock``, in a fixed order so two publishes cannot deadlock)."""
    found = []
    changes = sorted(
        changeset.changes.exclude(target_id=None).exclude(action=ChangeAction.CREATE),
        key=lambda c: (c.kind, str(c.target_id)),
    )
    # One query per model for the current versions (the page shows conflicts on every view);
    # only a moved object costs more (its history says who moved it).
    current = {
        model: dict(
            model.objects.filter(
                pk__in=[c.target_id for c in changes if _model(c) is model]
            ).values_list("pk", "version")
        )
        for model in (PricingRule, PriceList)
    }
    for change in changes:
        model = _model(change)
        version = current[model].get(change.target_id)
        if not lock and version == change.base_version:
            continue
        obj = model.objects.filter(pk=change.target_id).first() if version is not None else None
        if obj is None:
            _, who, when = versions.changes_since(model, change.target_id, None)
            found.append(
                Conflict(
                    change.pk,
                    change.label,
                    change.kind,
                    who,
                    when,
                    CONFLICT_GONE.format(label=change.label),
                )
            )
            continue
        try:
            if lock:
                # The price list's version counts its items too: the change replaces them.
                try:
                    versions.check(obj, change.base_version)
                except model.DoesNotExist:  # deleted since it was read above
                    found.append(
                        Conflict(
                            change.pk,
                            change.label,
                            change.kind,
                            "",
                            None,
                            CONFLICT_GONE.format(label=change.label),
                        )
                    )
                    continue
            elif obj.version != change.base_version:
                raise versions.StaleEdit(
                    obj, obj.version, *versions.changes_since(model, obj.pk, change.base_version)
                )
        except versions.StaleEdit as exc:
            who = exc.who or "somebody"
            found.append(
                Conflict(
                    change.pk,
                    change.label,
                    change.kind,
                    who,
                    exc.when,
                    CONFLICT_CHANGED.format(
                        label=change.label, who=who, when=timezone.localtime(exc.when)
                    )
                    if exc.when
                    else f"{change.label} was changed by {who}",
                    tuple(c.label for c in exc.changes or ()),
                )
            )
    return found


def _reason(changeset: Changeset) -> str:
    return f"changeset {str(changeset.pk)[:8]}: {changeset.title}"[:100]


def _apply(change: ChangesetChange, by) -> None:
    from pricing import services

    model = _model(change)
    obj = model.objects.filter(pk=change.target_id).first() if change.target_id else None
    if change.kind == ChangeKind.RULE:
        if change.action == ChangeAction.CREATE:
            rule = services.rule_create(by=by, **snapshots.rule_fields(change.after))
            change.target_id = rule.pk
            change.save(update_fields=["target_id"])
        elif change.action == ChangeAction.UPDATE:
            services.rule_update(rule=obj, by=by, **snapshots.rule_fields(change.after))
        elif change.action == ChangeAction.DISABLE:
            services.rule_disable(rule=obj, by=by)
        elif change.action == ChangeAction.ENABLE:
            services.rule_enable(rule=obj, by=by)
        else:
            services.rule_delete(rule=obj, by=by)
        return
    if change.action == ChangeAction.DELETE:
        services.price_list_delete(price_list=obj, by=by)
        return
    fields, items = snapshots.list_fields(change.after)
    if change.action == ChangeAction.CREATE:
        created = services.price_list_create(items=items, by=by, **fields)
        change.target_id = created.pk
        change.save(update_fields=["target_id"])
    else:
        services.price_list_update(price_list=obj, items=items, by=by, **fields)


def _mark_history(changeset: Changeset, changes: list[ChangesetChange]) -> None:
    """Name the changeset on every history record its publication wrote: one event."""
    reason = _reason(changeset)
    since = changeset.published_at
    rules = [c.target_id for c in changes if c.kind == ChangeKind.RULE]
    lists = [c.target_id for c in changes if c.kind == ChangeKind.PRICE_LIST]
    for history, filters in (
        (PricingRule.history, {"id__in": rules}),
        (PriceList.history, {"id__in": lists}),
        (PriceListItem.history, {"price_list_id__in": lists}),
    ):
        history.filter(history_date__gte=since, history_change_reason=None, **filters).update(
            history_change_reason=reason
        )


def changeset_publish(*, changeset: Changeset, by=None, scheduled: bool = False) -> Changeset:
    """Publish now, all or nothing; raises :class:`ChangesetConflict` (nothing written) when a
    base moved, ``ValidationError`` when a change no longer passes the services' checks."""
    with transaction.atomic():
        changeset = locked_row(changeset)
        allowed = (S.SCHEDULED,) if scheduled else (*publishable_states(), S.SCHEDULED)
        if changeset.state in (S.DRAFT, S.SUBMITTED) and changeset.state not in allowed:
            raise ValidationError(NEEDS_APPROVAL.format(title=changeset.title), code="wrong_state")
        require_state(changeset, allowed, "published")
        conflicts = conflicts_of(changeset, lock=True)
        if conflicts:
            raise ChangesetConflict(changeset, conflicts)
        changeset.published_at = timezone.now()
        changes = sorted(changeset.changes.all(), key=lambda c: (_ORDER[(c.kind, c.action)], c.pk))
        for change in changes:
            try:
                _apply(change, by)
            except ProtectedError as exc:  # a list still used by rules (not by this changeset)
                raise ValidationError(
                    CONFLICT_INVALID.format(label=change.label, message=exc.args[0]),
                    code="invalid",
                ) from exc
            except ValidationError as exc:
                messages = (
                    [f"{k}: {m}" for k, ms in exc.message_dict.items() for m in ms]
                    if hasattr(exc, "error_dict")
                    else exc.messages
                )
                raise ValidationError(
                    [CONFLICT_INVALID.format(label=change.label, message=m) for m in messages],
                    code="invalid",
                ) from exc
        _mark_history(changeset, changes)
        changeset.state = S.PUBLISHED
        changeset.published_by = acting_user(by)
        changeset.save()
        record_event(changeset, "published" if not scheduled else "published (scheduled)", by)
        changeset_published.send(sender=Changeset, changeset=changeset)
    return changeset


def publish_due(*, now: datetime | None = None) -> list[str]:
    """Publish every scheduled changeset whose instant has come (the periodic safety net, and
    the body of the deferred task). A changeset that cannot be published goes back to
    approved, with the reason recorded; returns the ids published."""
    now = now or clock.now()
    published = []
    for changeset in Changeset.objects.due(now).order_by("scheduled_for", "pk"):
        if publish_one_scheduled(changeset=changeset, now=now):
            published.append(str(changeset.pk))
    return published


def publish_one_scheduled(*, changeset: Changeset, now: datetime | None = None) -> bool:
    """Publish ``changeset`` if it is scheduled and due; idempotent (a second delivery finds it
    published, or not yet due, and does nothing)."""
    now = now or clock.now()
    fresh = Changeset.objects.filter(pk=changeset.pk).first()
    if fresh is None or fresh.state != S.SCHEDULED or fresh.scheduled_for > now:
        return False
    try:
        changeset_publish(changeset=fresh, by=fresh.scheduled_by, scheduled=True)
    except ValidationError as exc:
        with transaction.atomic():
            locked = locked_row(fresh)
            if locked.state == S.SCHEDULED:
                locked.state = S.APPROVED if locked.reviewed_at else S.DRAFT
                locked.scheduled_for = None
                locked.save()
                record_event(locked, "scheduled publish refused", None, "\n".join(exc.messages))
        return False
    return True
