"""The "expiring soon" finding: promotion groups whose planned expiry falls in the next days.

At the end of its expiry day (billing time zone) the schedule ends a group's open memberships
(:func:`pricing.criteria.expire_groups`), so every rule that targets it and would still be live
the day after stops applying to anybody. Which rules those are is the engine's ``not_ended``
(:func:`pricing.engine.not_ended`) on the day after expiry: one query for a page of groups.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Q

from pricing import engine
from pricing.audit.findings import AuditClock
from pricing.models import PricingRule

EXPIRING_DAYS = 14


def expiring_q(clock: AuditClock) -> Q:
    """Groups whose planned expiry is today or within the next ``EXPIRING_DAYS`` days."""
    return Q(expires_on__gte=clock.today, expires_on__lte=clock.today + timedelta(EXPIRING_DAYS))


def attach_stopping_rules(groups: list) -> None:
    """Set ``rules_stopping`` on each group: its rules still live the day after its expiry."""
    dated = [g for g in groups if g.expires_on is not None]
    by_group: dict = defaultdict(list)
    rules = PricingRule.objects.filter(group_id__in=[g.pk for g in dated], is_active=True).only(
        "pk", "code", "name", "group_id", "is_active", "valid_from", "valid_to", "priority"
    )
    expiry = {g.pk: g.expires_on for g in dated}
    for rule in rules.order_by("-priority", "code"):
        if engine.not_ended(rule.is_active, rule.valid_to, engine.day_after(expiry[rule.group_id])):
            by_group[rule.group_id].append(rule)
    for group in groups:
        group.rules_stopping = by_group.get(group.pk, [])
