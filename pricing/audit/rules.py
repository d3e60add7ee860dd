"""The rule findings: rules that never apply, and the pairwise findings' pages (each rule with
the rules involved, strongest first)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.lookups import Exact

from groups.models import Customer
from pricing import rules_sql
from pricing.audit.findings import AuditClock
from pricing.audit.groups import current_members
from pricing.audit.pairs import IDS_SQL, PAIRS_SQL, table
from pricing.engine import Status, precedence_key
from pricing.models import PricingRule
from pricing.rules_sql import precedence_sql

PARTNERS_SHOWN = 3


def never_applies_q(clock: AuditClock) -> Q:
    """Enabled rules that price nothing: ended, or their group empty, or their customer inactive.

    Both target checks probe one index for the rules that have such a target; a join on
    ``customer__is_active`` made PostgreSQL hash all 100,000 customers for a handful of rules.
    """
    empty_group = ~Exists(current_members("group_id"))
    # A scalar subquery: PostgreSQL turns an EXISTS under OR into a hash of every inactive
    # customer, found by reading the whole customer table.
    inactive_customer = Exact(
        Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("is_active")[:1]),
        False,
    )
    return rules_sql.status_q(Status.EXPIRED, clock.today) | (
        Q(is_active=True)
        & ((Q(group__isnull=False) & empty_group) | (Q(customer__isnull=False) & inactive_customer))
    )


def rule_finding_q(key: str, clock: AuditClock) -> Q:
    """The condition, over ``PricingRule``, that puts a rule in finding ``key``."""
    if key == "never_applies":
        return never_applies_q(clock)
    if key in IDS_SQL:
        ids = IDS_SQL[key](clock)
        return Q(pk__in=RawSQL(f"SELECT rule_id FROM ({ids.text}) audit_ids", ids.params))
    raise KeyError(key)


def rule_partners(
    key: str, clock: AuditClock, ids: Sequence | None = None, *, limit: int = PARTNERS_SHOWN
) -> tuple[dict, dict]:
    """The rules involved with each rule of finding ``key``, in one query.

    Returns ``({rule_id: [partner_id, ...]}, {rule_id: partner count})``: at most ``limit``
    partners per rule, strongest first (the engine's order), so a page of 25 rules reads at
    most 75 partners however many there are. ``ids`` restricts the work to one page's rules.
    """
    partners: dict = defaultdict(list)
    counts: dict = {}
    if key not in PAIRS_SQL or (ids is not None and not ids):
        return partners, counts
    pairs = PAIRS_SQL[key](clock, None if ids is None else list(ids))
    rule = table(PricingRule)
    sql = (
        "SELECT rule_id, partner_id, n FROM (SELECT p.rule_id, p.partner_id, "
        "COUNT(*) OVER (PARTITION BY p.rule_id) AS n, ROW_NUMBER() OVER (PARTITION BY p.rule_id "
        f"ORDER BY {precedence_sql('r')}) AS rn "
        f"FROM ({pairs.text}) p JOIN {rule} r ON r.id = p.partner_id) ranked "
        "WHERE rn <= %s ORDER BY rule_id, rn"
    )
    to_python = PricingRule._meta.pk.to_python
    with connection.cursor() as cursor:
        cursor.execute(sql, [*pairs.params, limit])
        for rule_id, partner_id, n in cursor.fetchall():
            rule_id = to_python(rule_id)
            partners[rule_id].append(to_python(partner_id))
            counts[rule_id] = n
    return partners, counts


def rule_rows(ids: Sequence, key: str, clock: AuditClock) -> list[PricingRule]:
    """One page of rules with why they are listed and the rules involved.

    At most three queries whatever the page size: the rules (targets joined, the empty-group
    flag annotated), their strongest partners, and those partner rules.
    """
    if not ids:
        return []
    rules = {
        rule.pk: rule
        for rule in PricingRule.objects.filter(pk__in=ids)
        .select_related("price_list", "group", "customer")
        .annotate(group_is_empty=Q(group__isnull=False) & ~Exists(current_members("group_id")))
    }
    partners, counts = rule_partners(key, clock, ids)
    wanted = {pid for pids in partners.values() for pid in pids}
    by_id = (
        {
            p.pk: p
            for p in PricingRule.objects.filter(pk__in=wanted).select_related("group", "customer")
        }
        if wanted
        else {}
    )
    rows = []
    for pk in ids:
        rule = rules.get(pk)
        if rule is None:
            continue
        rule.audit_status = rule.status_on(clock.today)
        rule.reasons = never_applies_reasons(rule, clock)
        rule.partners = [by_id[p] for p in partners.get(pk, ()) if p in by_id]
        rule.partner_count = counts.get(pk, 0)
        rule.more_partners = max(0, rule.partner_count - len(rule.partners))
        if key == "tie" and rule.partners:
            rule.tie_winner, rule.tie_reason = tie_break(rule, rule.partners[0])
        rows.append(rule)
    return rows


def _rank_key(rule: PricingRule) -> tuple:
    """The engine's evaluation order (:func:`pricing.engine.precedence_key`)."""
    return precedence_key(rule.priority, rule.target_kind, rule.valid_from, rule.code)


def tie_break(a: PricingRule, b: PricingRule) -> tuple[PricingRule, str]:
    """Which of two equal-priority rules the engine tries first, and on what ground."""
    winner = min(a, b, key=_rank_key)
    ka, kb = _rank_key(a), _rank_key(b)
    if ka[1] != kb[1]:
        kind = "a customer" if winner.customer_id else "a group"
        reason = f"targets {kind} (customer before group before everyone)"
    elif ka[2] != kb[2]:
        reason = "starts later"
    else:
        reason = "comes first in code order"
    return winner, reason


def never_applies_reasons(rule: PricingRule, clock: AuditClock) -> list[str]:
    """Why an enabled rule can price nothing (needs ``group_is_empty`` annotated)."""
    if not rule.is_active:
        return []
    reasons = []
    if rule.status_on(clock.today) == Status.EXPIRED:
        reasons.append(f"its validity ended on {rule.valid_to.isoformat()}")
    if getattr(rule, "group_is_empty", False):
        reasons.append(f"its group {rule.group.name} has no members")
    if rule.customer_id and not rule.customer.is_active:
        reasons.append(f"its customer {rule.customer.name} is inactive")
    return reasons
