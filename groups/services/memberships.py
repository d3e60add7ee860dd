"""Memberships: add (backdated or not), remove, with their history."""

from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from groups.models import Customer, CustomerGroup, Membership
from groups.services.common import close_membership, is_backdated, touch_groups
from groups.signals import send_membership_changed

NOT_A_MEMBER = "“{customer}” is not a current member of “{group}”."
JOIN_IN_FUTURE = (
    "A membership cannot start in the future ({joined_at}). Leave “member since” empty to add "
    "the customer now."
)
JOIN_TOO_EARLY = "A membership cannot start before {first}."
MEMBERSHIP_OVERLAP = (
    "“{customer}” was already a member of “{group}” from {start} to {end}: a membership "
    "cannot overlap another period of the same customer and group."
)

# The earliest start accepted: the first instant rating supports (pricing.engine.calendar).
JOIN_MIN = datetime(1900, 1, 1, tzinfo=UTC)
User = AbstractBaseUser


# --- Memberships ------------------------------------------------------------------------------


def _shown(instant: datetime | None) -> str:
    """An instant in messages, in the current (billing) time zone, to the minute."""
    return timezone.localtime(instant).strftime("%Y-%m-%d %H:%M") if instant else "now"


def check_join_start(joined_at: datetime, *, now: datetime) -> datetime:
    """A chosen start ("member since"): not in the future, not before :data:`JOIN_MIN`."""
    if timezone.is_naive(joined_at):
        joined_at = timezone.make_aware(joined_at)
    if joined_at > now:
        raise ValidationError({"joined_at": [JOIN_IN_FUTURE.format(joined_at=_shown(joined_at))]})
    if joined_at < JOIN_MIN:
        raise ValidationError(
            {"joined_at": [JOIN_TOO_EARLY.format(first=JOIN_MIN.date().isoformat())]}
        )
    return joined_at


def _overlap_error(clash: Membership, customer: Customer, group: CustomerGroup):
    return ValidationError(
        {
            "joined_at": [
                MEMBERSHIP_OVERLAP.format(
                    customer=customer.name,
                    group=group.name,
                    start=_shown(clash.joined_at),
                    end=_shown(clash.left_at),
                )
            ]
        }
    )


def membership_add(
    *,
    group: CustomerGroup,
    customer: Customer,
    by: User | None = None,
    at: datetime | None = None,
    joined_at: datetime | None = None,
) -> tuple[Membership, bool]:
    """Make ``customer`` a current member of ``group``; idempotent.

    Returns ``(membership, created)``. ``at`` is the moment of the change (now by default).
    ``joined_at`` is a start somebody chose ("member since"): it may not be in the future nor
    overlap another period of the pair; when earlier than now it is recorded as backdated, with
    who did it. A current member whose membership started later than ``joined_at`` has that
    start moved back (``created`` is False); one who was a member since then already is left
    as is.

    Concurrent calls for the same pair leave exactly one open membership: the database's
    partial unique constraint decides (and, on PostgreSQL, an exclusion constraint keeps
    periods from overlapping), and the loser returns the winner's row instead of failing.
    """
    now = at or timezone.now()
    if joined_at is not None:
        return _membership_add_since(
            group=group, customer=customer, by=by, now=now, joined_at=joined_at
        )
    existing = Membership.objects.current().filter(group=group, customer=customer).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            membership = _join(group, customer, by=by, now=now, joined_at=now)
    except IntegrityError:
        return _the_winner(group, customer), False
    return membership, True


def _membership_add_since(
    *, group: CustomerGroup, customer: Customer, by, now: datetime, joined_at: datetime
) -> tuple[Membership, bool]:
    joined_at = check_join_start(joined_at, now=now)
    backdated = is_backdated(joined_at, now)
    try:
        with transaction.atomic():
            periods = list(
                Membership.objects.select_for_update()
                .filter(group=group, customer=customer)
                .order_by("joined_at", "pk")
            )
            current = next((p for p in periods if p.left_at is None), None)
            if current is not None and current.joined_at <= joined_at:
                return current, False  # a member since then already
            end = current.joined_at if current is not None else None
            for period in periods:
                if period is not current and _overlaps(period, joined_at, end):
                    raise _overlap_error(period, customer, group)
            if current is not None:
                current.joined_at = joined_at
                current.backdated_at, current.backdated_by = now, by
                current.save(update_fields=["joined_at", "backdated_at", "backdated_by"])
                touch_groups([group.pk], now)
                return current, False
            membership = _join(
                group, customer, by=by, now=now, joined_at=joined_at, backdated=backdated
            )
    except IntegrityError:
        # Somebody else added the pair (or an overlapping period) meanwhile: show that instead.
        return _the_winner(group, customer), False
    return membership, True


def _join(
    group: CustomerGroup,
    customer: Customer,
    *,
    by,
    now: datetime,
    joined_at: datetime,
    backdated: bool = False,
) -> Membership:
    """Open the membership (inside the caller's transaction), stamp the group, announce it."""
    membership = Membership.objects.create(
        group=group,
        customer=customer,
        joined_at=joined_at,
        joined_by=by,
        backdated_at=now if backdated else None,
        backdated_by=by if backdated else None,
    )
    touch_groups([group.pk], now)
    send_membership_changed(
        change="joined", group_id=group.pk, customer_ids=[customer.pk], at=joined_at
    )
    return membership


def _the_winner(group: CustomerGroup, customer: Customer) -> Membership:
    """The open membership a concurrent add created while ours failed on the constraint (the
    IntegrityError is raised again if there is none: it was something else)."""
    existing = Membership.objects.current().filter(group=group, customer=customer).first()
    if existing is None:
        raise
    return existing


def _overlaps(period: Membership, start: datetime, end: datetime | None) -> bool:
    """Whether ``period`` shares an instant with ``[start, end)`` (``end`` None: open-ended).

    The same rule as ``MembershipQuerySet.overlapping``, for rows already loaded.
    """
    period_end = period.left_at
    if period_end is not None and period_end <= period.joined_at:
        return False  # empty
    return (end is None or period.joined_at < end) and (period_end is None or start < period_end)


@transaction.atomic
def membership_remove(
    *, group: CustomerGroup, customer: Customer, by: User | None = None
) -> Membership:
    """End the customer's current membership of the group (history keeps the period)."""
    membership = (
        Membership.objects.current()
        .select_for_update()
        .filter(group=group, customer=customer)
        .first()
    )
    if membership is None:
        raise ValidationError(NOT_A_MEMBER.format(customer=customer.name, group=group.name))
    now = timezone.now()
    close_membership(membership, by=by, at=now)
    touch_groups([group.pk], now)
    return membership


@transaction.atomic
def group_end_promotion(*, group: CustomerGroup, by: User | None = None) -> int:
    """Remove every current member of the group at once; returns how many left."""
    now = timezone.now()
    current = Membership.objects.current().filter(group=group)
    leaving = list(current.values_list("customer_id", flat=True))
    count = current.update(left_at=now, left_by=by)
    if count:
        touch_groups([group.pk], now)
        send_membership_changed(change="left", group_id=group.pk, customer_ids=leaving, at=now)
    return count
