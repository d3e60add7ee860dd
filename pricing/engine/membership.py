"""When a membership counts: a customer is in a group at instant ``t`` when ``joined_at <= t``
and ``t < left_at`` (an open membership has no ``left_at``)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime


def counts_at(joined_at: datetime, left_at: datetime | None, instant: datetime) -> bool:
    """Whether a membership period from ``joined_at`` to ``left_at`` holds ``instant``."""
    return joined_at <= instant and (left_at is None or instant < left_at)


@dataclass(frozen=True, slots=True)
class MembershipPeriod:
    """A customer's membership of one group from ``joined_at`` until ``left_at`` (exclusive)."""

    group_id: Hashable
    joined_at: datetime
    left_at: datetime | None = None

    def contains(self, instant: datetime) -> bool:
        return counts_at(self.joined_at, self.left_at, instant)


def groups_at(memberships: Iterable[MembershipPeriod], instant: datetime) -> frozenset:
    """The ids of the groups the customer belonged to at ``instant``."""
    return frozenset(m.group_id for m in memberships if m.contains(instant))


def groups_of_periods(
    periods: Iterable[tuple[Hashable, datetime, datetime | None]], instant: datetime
) -> frozenset:
    """The same for ``(group_id, joined_at, left_at)`` tuples, as batch rating holds them."""
    return frozenset(group for group, joined, left in periods if counts_at(joined, left, instant))
