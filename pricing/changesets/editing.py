"""Editing into a changeset from the rule and price list forms.

With ``RATECARD_REQUIRE_APPROVAL`` on, a pricing manager's save goes to a changeset (direct
saves are refused; superusers keep them); off, "Save to changeset" sits beside the direct save.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from pricing.changesets import services as changesets
from pricing.models import Changeset, ChangesetState

NEW = "new"
DRAFTS_OFFERED = 20
UNKNOWN_CHANGESET = "Pick one of the draft changesets, or a new one."
DIRECT_SAVES_OFF = (
    "Changes here need a second pair of eyes: save them to a changeset, which another pricing "
    "manager approves before it is published."
)


def direct_saves_allowed(user) -> bool:
    return not settings.RATECARD_REQUIRE_APPROVAL or bool(getattr(user, "is_superuser", False))


def drafts() -> list[Changeset]:
    """The drafts a form offers to save into, newest first."""
    return list(
        Changeset.objects.filter(state=ChangesetState.DRAFT)
        .select_related("author")
        .order_by("-created_at")[:DRAFTS_OFFERED]
    )


def chosen_changeset(data, user) -> Changeset:
    """The draft picked in the form (``changeset``), or a new one (``changeset_title`` or a
    title naming who and when)."""
    choice = (data.get("changeset") or NEW).strip()
    if choice == NEW:
        title = (data.get("changeset_title") or "").strip() or (
            f"Changes by {user.get_username()} on {timezone.localdate():%Y-%m-%d}"
        )
        return changesets.changeset_create(title=title[:200], by=user)
    try:
        changeset = Changeset.objects.filter(pk=choice).first()
    except ValidationError:
        changeset = None
    if changeset is None:
        raise ValidationError({"changeset": [UNKNOWN_CHANGESET]})
    return changeset


def changeset_picker(request) -> dict:
    """What a form's "Save to changeset" needs: the drafts, and whether direct saves stay."""
    if not request.user.has_perm("pricing.change_changeset"):
        return {"changeset_drafts": None, "direct_saves": True}
    return {
        "changeset_drafts": drafts(),
        "direct_saves": direct_saves_allowed(request.user),
        "chosen_changeset": (
            request.POST.get("changeset", "")
            if request.method == "POST"
            else request.GET.get("changeset", "")
        ),
    }


def direct_edit(view):
    """Refuse a page's direct write (POST) when changes need approval: 403 saying to use a
    changeset. GETs (forms, confirmations) still answer."""
    from functools import wraps

    from django.core.exceptions import PermissionDenied

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST" and not direct_saves_allowed(request.user):
            raise PermissionDenied(DIRECT_SAVES_OFF)
        return view(request, *args, **kwargs)

    return wrapper


def check_direct_edit_api(request) -> None:
    """The API's form of :func:`direct_edit`: 403 with the reason."""
    from rest_framework.exceptions import PermissionDenied

    if not direct_saves_allowed(request.user):
        raise PermissionDenied(DIRECT_SAVES_OFF + " (POST /api/v1/changesets)")
