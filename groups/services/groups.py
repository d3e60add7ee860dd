"""Writes to groups: create, change, archive or delete."""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from groups import versions
from groups.models import CustomerGroup, Membership
from groups.services.common import (
    Removal,
    Removed,
    archive,
    label,
    left_count,
    refuse_while_rules_use,
    touch_groups,
)

GROUP_NAME_TAKEN = "A group named “{name}” already exists (as “{existing}”)."
GROUP_CODE_TAKEN = "The code “{code}” is already used by the group “{existing}”."
GROUP_IN_USE = "“{group}” cannot be deleted while pricing rules use it: {rules}."
GROUP_ARCHIVED = (
    "Archived the group “{group}”: it had members, so its membership history is kept. It no "
    "longer appears in lists{left}."
)

GROUP_DELETED = "Deleted the group “{group}”: it never had a member."
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
        errors["name"] = [GROUP_NAME_TAKEN.format(name=group.name, existing=label(existing))]
    existing = _existing_group_with(
        code=group.code, exclude=group.pk if not group._state.adding else None
    )
    if existing is not None:
        errors["code"] = [GROUP_CODE_TAKEN.format(code=group.code, existing=label(existing))]
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
        refuse_while_rules_use(group, GROUP_IN_USE, group=group.name)
        memberships = Membership.objects.filter(group=group)
        if memberships.exists():
            left = archive(group, by=by, memberships=memberships)
            if left:
                touch_groups([group.pk], group.archived_at)
            message = GROUP_ARCHIVED.format(group=group.name, left=left_count(left))
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
