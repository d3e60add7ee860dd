"""Every write to changesets: drafting changes, the review's state machine, rebase, rollback.

States: draft → submitted → approved → scheduled / published, or rejected / withdrawn; a
rejected changeset is reopened as a draft to be edited. With ``RATECARD_REQUIRE_APPROVAL`` off
a draft (or a submitted changeset) may be published without review; on, only an approved one.
Publishing itself is in :mod:`pricing.changesets.publish`.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pricing import clock
from pricing.changesets import snapshots
from pricing.clock import billing_tz
from pricing.models import (
    ChangeAction,
    ChangeKind,
    Changeset,
    ChangesetChange,
    ChangesetEvent,
    ChangesetState,
    PriceList,
    PriceListItem,
    PricingRule,
)

S = ChangesetState
WRONG_STATE = "“{title}” is {state}: it cannot be {verb} (only when {allowed})."
NOT_EDITABLE = "“{title}” is {state}: only a draft can be edited. Reopen it first."
OWN_APPROVAL = "You wrote “{title}”: another pricing manager must approve or reject it."
BYPASS_NOTE = "Approved by its own author, a superuser: the four eyes were bypassed."
COMMENT_REQUIRED = "Say why it is rejected: the author reads this."
NOTHING_TO_SUBMIT = "“{title}” holds no changes yet."
SCHEDULE_IN_PAST = "Choose an instant in the future (it is now {now:%Y-%m-%d %H:%M})."
NEEDS_APPROVAL = "“{title}” must be approved by another pricing manager before it is published."
UNKNOWN_TARGET = "That {kind} no longer exists."

_STATE_WORDS = {state.value: state.label.lower() for state in ChangesetState}


def acting_user(by):
    """Who acted, as the trail records it (nobody for the scheduler or an anonymous caller)."""
    return by if by is not None and getattr(by, "is_authenticated", False) else None


def record_event(changeset: Changeset, action: str, by, comment: str = "") -> None:
    """One line of the changeset's trail."""
    ChangesetEvent.objects.create(
        changeset=changeset, action=action, by=acting_user(by), comment=comment or ""
    )


def locked_row(changeset: Changeset) -> Changeset:
    """The changeset's row, locked for this transaction, with its current state."""
    return Changeset.objects.select_for_update().get(pk=changeset.pk)


def require_state(changeset: Changeset, allowed, verb: str) -> None:
    """Refuse ``verb`` unless the changeset is in one of the ``allowed`` states, saying so."""
    if changeset.state not in allowed:
        raise ValidationError(
            WRONG_STATE.format(
                title=changeset.title,
                state=_STATE_WORDS[changeset.state],
                verb=verb,
                allowed=" or ".join(_STATE_WORDS[s] for s in allowed),
            ),
            code="wrong_state",
        )


def publishable_states() -> tuple[str, ...]:
    if settings.RATECARD_REQUIRE_APPROVAL:
        return (S.APPROVED,)
    return (S.DRAFT, S.SUBMITTED, S.APPROVED)


# --- Creating and editing ---------------------------------------------------------------------


@transaction.atomic
def changeset_create(*, title: str, description: str = "", by=None) -> Changeset:
    changeset = Changeset(title=(title or "").strip(), description=description or "")
    changeset.author = acting_user(by)
    changeset.full_clean(exclude=["author"], validate_constraints=False)
    changeset.save()
    record_event(changeset, "created", by)
    return changeset


def _editable(changeset: Changeset) -> Changeset:
    locked = locked_row(changeset)
    if not locked.editable:
        raise ValidationError(
            NOT_EDITABLE.format(title=locked.title, state=_STATE_WORDS[locked.state]),
            code="wrong_state",
        )
    return locked


def _stale_impact(changeset: Changeset) -> None:
    """The impact report no longer describes the changes: run it again."""
    Changeset.objects.filter(pk=changeset.pk).update(impact_report=None, impact_work=None)


def _put(changeset, *, kind, action, target, label, before, after, base_version, by):
    """Add the change, or replace this changeset's earlier change of the same object."""
    _stale_impact(changeset)
    existing = changeset.changes.filter(kind=kind, target_id=target).first() if target else None
    if existing is not None:
        # The object's base stays the one first drafted from; only the proposal moves. Creating
        # then deleting in one draft leaves nothing.
        if existing.action == ChangeAction.CREATE and action == ChangeAction.DELETE:
            existing.delete()
            return None
        if existing.action == ChangeAction.CREATE:
            action = ChangeAction.CREATE
        existing.action = action
        existing.after = after
        existing.label = label
        existing.save(update_fields=["action", "after", "label"])
        return existing
    return ChangesetChange.objects.create(
        changeset=changeset,
        kind=kind,
        action=action,
        target_id=target,
        label=label,
        before=before,
        after=after,
        base_version=base_version,
        created_by=acting_user(by),
    )


@transaction.atomic
def change_rule(
    *,
    changeset: Changeset,
    action: str,
    rule: PricingRule | None = None,
    by=None,
    base_version: int | None = None,
    **fields,
) -> ChangesetChange | None:
    """Draft a rule's creation (``fields``), edit (``fields``), deletion, disabling or enabling.

    The proposal is checked as the service would check it on publication (``rule_validate``),
    so a draft never holds a rule that could not be saved as it stands today.
    """
    from pricing import services

    changeset = _editable(changeset)
    if action == ChangeAction.CREATE:
        services.rule_validate(**fields)
        after = snapshots.rule_snapshot(PricingRule(**fields))
        return _put(
            changeset,
            kind=ChangeKind.RULE,
            action=action,
            target=None,
            label=f"{after['code']} ({after['name']})",
            before=None,
            after=after,
            base_version=None,
            by=by,
        )
    if rule is None:
        raise ValidationError(UNKNOWN_TARGET.format(kind="rule"))
    previous = changeset.changes.filter(kind=ChangeKind.RULE, target_id=rule.pk).first()
    proposed_base = previous.after if previous is not None and previous.after else None
    current = snapshots.rule_snapshot(rule)
    if action == ChangeAction.UPDATE:
        # Fields not given keep what this changeset already proposes (the API sends only what
        # changes), then the whole proposal is checked as the service would check it.
        given = snapshots.rule_snapshot(rule, **fields)
        after = {**(proposed_base or current), **{k: given[k] for k in fields}}
        services.rule_validate(rule=rule, **snapshots.rule_fields(after))
    elif action in (ChangeAction.DISABLE, ChangeAction.ENABLE):
        after = dict(proposed_base or current, is_active=action == ChangeAction.ENABLE)
    else:
        after = None
    return _put(
        changeset,
        kind=ChangeKind.RULE,
        action=action,
        target=rule.pk,
        label=str(rule),
        before=current,
        after=after,
        base_version=base_version if base_version is not None else rule.version,
        by=by,
    )


@transaction.atomic
def change_price_list(
    *,
    changeset: Changeset,
    action: str,
    price_list: PriceList | None = None,
    items=None,
    by=None,
    base_version: int | None = None,
    **fields,
) -> ChangesetChange | None:
    """Draft a price list's creation, edit (its fields and, with ``items``, all of its items:
    prices, tiers, increments) or deletion."""
    changeset = _editable(changeset)
    if items is not None:
        _check_items(items)
    if action == ChangeAction.CREATE:
        after = snapshots.list_snapshot(PriceList(**fields), items=items or [])
        return _put(
            changeset,
            kind=ChangeKind.PRICE_LIST,
            action=action,
            target=None,
            label=f"{after['name']} ({after['currency']})",
            before=None,
            after=after,
            base_version=None,
            by=by,
        )
    if price_list is None:
        raise ValidationError(UNKNOWN_TARGET.format(kind="price list"))
    current = snapshots.list_snapshot(price_list)
    previous = changeset.changes.filter(kind=ChangeKind.PRICE_LIST, target_id=price_list.pk).first()
    start = previous.after if previous is not None and previous.after else current
    if action == ChangeAction.UPDATE:
        after = dict(start)
        after.update(snapshots.list_snapshot(items=[], **fields) if fields else {})
        for name in snapshots.LIST_SNAPSHOT_FIELDS:
            if name not in fields:
                after[name] = start[name]
        after["items"] = (
            snapshots.list_snapshot(items=items)["items"] if items is not None else start["items"]
        )
    else:
        after = None
    return _put(
        changeset,
        kind=ChangeKind.PRICE_LIST,
        action=action,
        target=price_list.pk,
        label=str(price_list),
        before=current,
        after=after,
        base_version=base_version if base_version is not None else price_list.version,
        by=by,
    )


def _check_items(items) -> None:
    """The checks the services run on items before saving them (each field, the engine's price
    checks, codes listed once whatever their case), so a draft holds only savable items."""
    from pricing.services import DUPLICATE_ITEM

    errors, seen = [], set()
    for index, data in enumerate(items):
        fields = snapshots.item_snapshot(data)
        values = dict(snapshots.list_fields({"items": [fields]})[1][0])
        item = PriceListItem(**values)
        code = (item.item_code or "").strip()
        if code.lower() in seen:
            errors.append(DUPLICATE_ITEM.format(item_code=code))
        seen.add(code.lower())
        try:
            item.full_clean(exclude=["price_list"], validate_constraints=False)
        except ValidationError as exc:
            errors.extend(
                f"Item {index + 1} ({code or 'no code'}): {field}: {message}"
                for field, messages in exc.message_dict.items()
                for message in messages
            )
    if errors:
        raise ValidationError({"items": errors})


@transaction.atomic
def change_remove(*, change: ChangesetChange, by=None) -> None:
    changeset = _editable(change.changeset)
    record_event(changeset, "change_removed", by, str(change))
    change.delete()
    _stale_impact(changeset)


# --- The review -------------------------------------------------------------------------------


@transaction.atomic
def changeset_submit(*, changeset: Changeset, by=None) -> Changeset:
    changeset = locked_row(changeset)
    require_state(changeset, (S.DRAFT,), "submitted")
    if not changeset.changes.exists():
        raise ValidationError(NOTHING_TO_SUBMIT.format(title=changeset.title))
    changeset.state = S.SUBMITTED
    changeset.submitted_at = timezone.now()
    changeset.save(update_fields=["state", "submitted_at", "updated_at"])
    record_event(changeset, "submitted", by)
    return changeset


def _review(changeset: Changeset, by, comment: str, state: str, verb: str) -> Changeset:
    changeset = locked_row(changeset)
    require_state(changeset, (S.SUBMITTED,), verb)
    user = acting_user(by)
    own = user is not None and changeset.author_id == user.pk
    bypass = own and user.is_superuser and settings.RATECARD_APPROVAL_SUPERUSER_BYPASS
    if own and not bypass:
        raise ValidationError(OWN_APPROVAL.format(title=changeset.title), code="own_changeset")
    changeset.state = state
    changeset.reviewed_by = user
    changeset.reviewed_at = timezone.now()
    changeset.review_comment = comment or ""
    changeset.approval_bypassed = bool(bypass)
    changeset.save()
    if bypass:
        comment = f"{BYPASS_NOTE} {comment or ''}".strip()
    record_event(changeset, verb, by, comment)
    return changeset


@transaction.atomic
def changeset_approve(*, changeset: Changeset, by=None, comment: str = "") -> Changeset:
    return _review(changeset, by, comment, S.APPROVED, "approved")


@transaction.atomic
def changeset_reject(*, changeset: Changeset, by=None, comment: str = "") -> Changeset:
    if not (comment or "").strip():
        raise ValidationError({"comment": [COMMENT_REQUIRED]})
    return _review(changeset, by, comment, S.REJECTED, "rejected")


@transaction.atomic
def changeset_reopen(*, changeset: Changeset, by=None) -> Changeset:
    """A rejected (or submitted, approved) changeset back to a draft its author can edit; any
    approval given is void."""
    changeset = locked_row(changeset)
    require_state(changeset, (S.REJECTED, S.SUBMITTED, S.APPROVED), "reopened")
    changeset.state = S.DRAFT
    changeset.reviewed_by = None
    changeset.reviewed_at = None
    changeset.approval_bypassed = False
    changeset.save()
    record_event(changeset, "reopened", by)
    return changeset


@transaction.atomic
def changeset_withdraw(*, changeset: Changeset, by=None) -> Changeset:
    changeset = locked_row(changeset)
    require_state(
        changeset, (S.DRAFT, S.SUBMITTED, S.APPROVED, S.SCHEDULED, S.REJECTED), "withdrawn"
    )
    changeset.state = S.WITHDRAWN
    changeset.scheduled_for = None
    changeset.save()
    record_event(changeset, "withdrawn", by)
    return changeset


@transaction.atomic
def changeset_rebase(*, changeset: Changeset, by=None) -> Changeset:
    """Take the objects' current versions as the changeset's base (the proposals stay): the
    author has looked at the conflicts and keeps the changes. Voids any approval."""
    changeset = locked_row(changeset)
    require_state(changeset, (S.DRAFT, S.SUBMITTED, S.APPROVED, S.REJECTED), "rebased")
    for change in changeset.changes.exclude(target_id=None).exclude(action=ChangeAction.CREATE):
        model = PricingRule if change.kind == ChangeKind.RULE else PriceList
        obj = model.objects.filter(pk=change.target_id).first()
        if obj is None:
            change.delete()  # nothing left to change
            continue
        current = (
            snapshots.rule_snapshot(obj) if model is PricingRule else snapshots.list_snapshot(obj)
        )
        if change.after is not None:
            # What the change changed is laid over the current object; the rest follows it.
            ours = {k: v for k, v in change.after.items() if (change.before or {}).get(k) != v}
            change.after = {**current, **ours}
        change.base_version = obj.version
        change.before = current
        change.save(update_fields=["base_version", "before", "after"])
    if changeset.state != S.DRAFT:
        changeset.state = S.DRAFT
        changeset.reviewed_by = None
        changeset.reviewed_at = None
        changeset.save()
    _stale_impact(changeset)
    record_event(changeset, "rebased", by)
    return changeset


@transaction.atomic
def changeset_schedule(*, changeset: Changeset, at: datetime, by=None) -> Changeset:
    """Publish at ``at``: background work deferred to that instant, and the periodic safety net
    (:func:`pricing.changesets.publish.publish_due`) should the work be lost."""
    from background.services import work_start
    from pricing.changesets import tasks

    changeset = locked_row(changeset)
    require_state(changeset, (*publishable_states(), S.SCHEDULED), "scheduled")
    now = clock.now()
    if at <= now:
        raise ValidationError({"at": [SCHEDULE_IN_PAST.format(now=timezone.localtime(now))]})
    changeset.state = S.SCHEDULED
    changeset.scheduled_for = at
    changeset.scheduled_by = acting_user(by)
    changeset.publish_work = work_start(
        task=tasks.publish_changeset,
        title=f"Publish changeset “{changeset.title}” at {at:%Y-%m-%d %H:%M %Z}",
        params={"changeset_id": str(changeset.pk), "run_after": at.isoformat()},
        by=by,
    )
    changeset.save()
    record_event(changeset, "scheduled", by, f"for {at.astimezone(billing_tz()):%Y-%m-%d %H:%M %Z}")
    return changeset


@transaction.atomic
def changeset_unschedule(*, changeset: Changeset, by=None) -> Changeset:
    changeset = locked_row(changeset)
    require_state(changeset, (S.SCHEDULED,), "unscheduled")
    changeset.state = S.APPROVED if changeset.reviewed_at else S.DRAFT
    changeset.scheduled_for = None
    changeset.save()
    record_event(changeset, "unscheduled", by)
    return changeset


# --- Rollback ---------------------------------------------------------------------------------


@transaction.atomic
def changeset_rollback(*, changeset: Changeset, by=None) -> Changeset:
    """A new draft holding the inverse of a published changeset, to go through the same impact
    and approval path (nothing is published here)."""
    changeset = locked_row(changeset)
    require_state(changeset, (S.PUBLISHED,), "rolled back")
    inverse = changeset_create(title=f"Roll back: {changeset.title}"[:200], by=by)
    inverse.rollback_of = changeset
    inverse.description = f"Restores what “{changeset.title}” changed."
    inverse.save(update_fields=["rollback_of", "description"])
    for change in changeset.changes.all():
        _invert(inverse, change, by)
    record_event(changeset, "rollback_drafted", by, str(inverse.pk))
    return inverse


def _invert(inverse: Changeset, change: ChangesetChange, by) -> None:
    model = PricingRule if change.kind == ChangeKind.RULE else PriceList
    snap = snapshots.rule_snapshot if model is PricingRule else snapshots.list_snapshot
    current = model.objects.filter(pk=change.target_id).first() if change.target_id else None
    if change.action == ChangeAction.CREATE:
        if current is None:
            return  # deleted since: nothing to undo
        action, after = ChangeAction.DELETE, None
    elif change.action == ChangeAction.DELETE:
        action, after, current = ChangeAction.CREATE, change.before, None
    elif change.action == ChangeAction.DISABLE:
        action, after = ChangeAction.ENABLE, None
    elif change.action == ChangeAction.ENABLE:
        action, after = ChangeAction.DISABLE, None
    else:
        action, after = ChangeAction.UPDATE, change.before
    if current is None and action != ChangeAction.CREATE:
        return
    before = snap(current) if current is not None else None
    if action in (ChangeAction.DISABLE, ChangeAction.ENABLE):
        after = dict(before, is_active=action == ChangeAction.ENABLE)
    ChangesetChange.objects.create(
        changeset=inverse,
        kind=change.kind,
        action=action,
        target_id=current.pk if current is not None else None,
        label=change.label,
        before=before,
        after=after,
        base_version=current.version if current is not None else None,
        created_by=acting_user(by),
    )
