"""The group findings: empty, unused, dead rules only, past planned expiry, review overdue,
stale membership. One query for any number of groups (correlated ``EXISTS`` annotations)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from groups.models import CustomerGroup, Membership
from pricing import rules_sql
from pricing.audit.expiring import expiring_q
from pricing.audit.findings import AuditClock
from pricing.models import PricingRule


def current_members(group_ref: str = "pk") -> QuerySet[Membership]:
    """The current members of the outer query's group (``group_ref``)."""
    return Membership.objects.current().filter(group=OuterRef(group_ref))


def groups_with_flags(clock: AuditClock) -> QuerySet[CustomerGroup]:
    """Groups annotated with what the group findings need, one correlated EXISTS each.

    EXISTS stops at the first matching row (the partial unique index on open memberships and
    the rule's group index answer them), so flagging 10,000 groups reads a few rows per group
    rather than counting a million memberships.
    """
    rules = PricingRule.objects.filter(group=OuterRef("pk"))
    return CustomerGroup.objects.annotate(
        has_members=Exists(current_members()),
        has_rules=Exists(rules),
        has_live_rules=Exists(rules.filter(rules_sql.not_ended_q(clock.today))),
        has_rules_in_force=Exists(rules.filter(rules_sql.in_force_q(clock.today))),
        last_change=Coalesce("members_changed_at", "created_at"),
        last_review=Coalesce("reviewed_at", "created_at"),
    )


def group_finding_q(key: str, clock: AuditClock) -> Q:
    """The condition, over ``groups_with_flags``, that puts a group in finding ``key``."""
    match key:
        case "empty":
            return Q(has_members=False)
        case "unused":
            return Q(has_rules=False)
        case "dead_rules_only":
            return Q(has_rules=True, has_live_rules=False)
        case "past_expiry":
            return Q(expires_on__lt=clock.today) & (Q(has_members=True) | Q(has_live_rules=True))
        case "expiring_soon":
            return expiring_q(clock)
        case "review_overdue":
            return Q(last_review__lt=clock.review_cutoff)
        case "stale_membership":
            return Q(last_change__lt=clock.stale_cutoff, has_rules_in_force=True)
    raise KeyError(key)


RULES_SHOWN = 3


def group_rows(ids: Sequence, clock: AuditClock) -> list[CustomerGroup]:
    """One page of groups with member counts, rule counts and the rules themselves.

    Two queries whatever the page size: the groups annotated (correlated counts, only for these
    ids), and the strongest few rules of each.
    """
    if not ids:
        return []
    rules = PricingRule.objects.filter(group=OuterRef("pk")).order_by().values("group")
    groups = {
        group.pk: group
        for group in CustomerGroup.objects.filter(pk__in=ids)
        .with_member_count()
        .select_related("reviewed_by")
        .annotate(
            rule_count=Coalesce(Subquery(rules.annotate(n=Count("pk")).values("n")), 0),
            live_rule_count=Coalesce(
                Subquery(
                    rules.filter(rules_sql.not_ended_q(clock.today))
                    .annotate(n=Count("pk"))
                    .values("n")
                ),
                0,
            ),
            last_change=Coalesce("members_changed_at", "created_at"),
        )
    }
    by_group: dict = defaultdict(list)
    for rule in (
        PricingRule.objects.filter(group_id__in=ids)
        .only("pk", "code", "name", "group_id", "is_active", "valid_from", "valid_to")
        # The three a row shows, however many rules a group has.
        .annotate(
            rank=Window(
                RowNumber(), partition_by=F("group_id"), order_by=rules_sql.precedence_order()
            )
        )
        .filter(rank__lte=RULES_SHOWN)
        .order_by("group_id", "rank")
    ):
        by_group[rule.group_id].append(rule)
    rows = []
    for pk in ids:
        group = groups.get(pk)
        if group is None:
            continue
        group.rules_involved = by_group.get(pk, [])
        for rule in group.rules_involved:
            rule.audit_status = rule.status_on(clock.today)
        rows.append(group)
    return rows
