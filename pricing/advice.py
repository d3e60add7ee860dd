"""Advice on a rule being written: warnings the rule form shows without refusing anything.

A rule whose validity has already ended is legitimate (a promotion for last week: its late
usage and uploads are still to be rated), but it prices only the customers who were members
of its group during its window, so the form says how many that is.
"""

from datetime import date

from groups.models import CustomerGroup, Membership
from pricing import engine
from pricing.clock import billing_tz
from pricing.engine import days_window

RULE_ENDED = (
    "Valid to ({valid_to}) is already past. The rule still prices usage of its window that is "
    "rated from now on (late records, uploads); usage already rated keeps its price."
)
WINDOW_MEMBERS = "{count} customers were members of “{group}” at some time from {first} to {last}."
WINDOW_ONE_MEMBER = "1 customer was a member of “{group}” at some time from {first} to {last}."
WINDOW_NOBODY = (
    "Nobody was a member of “{group}” from {first} to {last}, so the rule would price nobody. "
    "Record the members' real start (“member since”) on the group page first."
)


def members_during(group: CustomerGroup, first: date, last: date) -> int:
    """How many customers were members of ``group`` at some instant of billing days
    ``first`` to ``last`` (the days' instants in the billing time zone)."""
    start, end = days_window(first, last, billing_tz())
    return (
        Membership.objects.filter(group=group)
        .during(start, end)
        .values("customer_id")
        .distinct()
        .count()
    )


def rule_advice(
    *,
    valid_from: date | None,
    valid_to: date | None,
    group: CustomerGroup | None,
    today: date,
    **_ignored,
) -> list[str]:
    """Warnings for a rule with these dates and target on ``today`` (no query unless past)."""
    if valid_from is None or valid_to is None or valid_to < valid_from:
        return []
    if engine.not_ended(True, valid_to, today):  # the engine's "ended", not restated here
        return []
    warnings = [RULE_ENDED.format(valid_to=valid_to.isoformat())]
    if group is not None:
        count = members_during(group, valid_from, valid_to)
        window = {
            "group": group.name,
            "first": valid_from.isoformat(),
            "last": valid_to.isoformat(),
        }
        if count == 1:
            warnings.append(WINDOW_ONE_MEMBER.format(**window))
        elif count:
            warnings.append(WINDOW_MEMBERS.format(count=f"{count:,}", **window))
        else:
            warnings.append(WINDOW_NOBODY.format(**window))
    return warnings
