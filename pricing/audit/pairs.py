"""The pairwise rule findings (ties, shadowed rules, hidden group rules) as SQL.

These compare rules with rules. The ORM cannot join a table to itself on arbitrary columns, so
each is one SQL statement over small CTEs of the rules that matter, joined on category (and
priority), and checked against memberships through the partial unique index on open
memberships (group_id, customer_id). Each builder returns either the ids of the rules in the
finding or, for one page of rules, their ``(rule_id, partner_id)`` pairs. Callers use the ids
inside a larger ORM query (``pk__in``), so they cost no round trip of their own. The SQL is
plain enough for SQLite and PostgreSQL alike (CTEs, ``AS MATERIALIZED``).

What each finding means is defined once, in :mod:`pricing.engine.findings`; the conditions on a
single rule or membership come from :mod:`pricing.rules_sql`. ``tests/pricing/
test_audit_properties.py`` checks every statement here against the engine's definitions on
random rules and memberships, on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.db import connection

from groups.models import Customer, Membership
from pricing.audit.findings import AuditClock
from pricing.models import PriceListItem, PricingRule
from pricing.rules_sql import Sql, in_force_sql, not_ended_sql, open_membership_sql


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def in_ids(column: str, ids: Sequence, params: list) -> str:
    """``column IN (...)`` over rule ids (their parameters appended to ``params``)."""
    if not ids:
        return "1 = 0"
    pk = PricingRule._meta.pk
    params.extend(pk.get_db_prep_value(i, connection) for i in ids)
    return f"{column} IN ({', '.join(['%s'] * len(ids))})"


def _shares_item(a_list: str, b_list: str) -> str:
    """The two price lists price a common item code (the same list counts)."""
    item = table(PriceListItem)
    return (
        f"({a_list} = {b_list} OR EXISTS (SELECT 1 FROM {item} ai JOIN {item} bi "
        f"ON bi.item_code = ai.item_code AND bi.price_list_id = {b_list} "
        f"WHERE ai.price_list_id = {a_list}))"
    )


def _current_membership(group: str, customer: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM {table(Membership)} m WHERE m.group_id = {group} "
        f"AND m.customer_id = {customer} AND {open_membership_sql('m')})"
    )


def _applicable_cte(today: date, params: list) -> str:
    """``applicable``: rules that can apply (:func:`pricing.engine.findings.can_apply`): in force,
    and targeting everyone, an active customer, or a group with at least one current member.

    Whether a group has a member is asked once per distinct group (``member_groups``), not once
    per rule; an inactive customer is looked up by primary key for customer rules only (as an
    ``EXISTS``, PostgreSQL hashed every customer to answer it).
    """
    rule, customer, membership = table(PricingRule), table(Customer), table(Membership)
    in_force = in_force_sql("r", today)
    params.extend(in_force.params * 2)
    return (
        # DISTINCT inside a derived table keeps the membership probe per group.
        f"member_groups AS MATERIALIZED (SELECT g.gid FROM (SELECT DISTINCT r.group_id AS gid "
        f"FROM {rule} r WHERE {in_force} AND r.group_id IS NOT NULL) g "
        f"WHERE EXISTS (SELECT 1 FROM {membership} gm WHERE gm.group_id = g.gid "
        f"AND {open_membership_sql('gm')})), "
        f"applicable AS MATERIALIZED (SELECT r.id, r.billing_category AS cat, r.priority AS prio, "
        # A small integer per (category, priority): joining on it is cheaper than on the text
        # category (no collation) and gives PostgreSQL one hashable key.
        f"DENSE_RANK() OVER (ORDER BY r.billing_category, r.priority) AS bucket, "
        f"r.group_id AS gid, r.customer_id AS cid, r.price_list_id AS plid FROM {rule} r "
        f"WHERE {in_force} "
        f"AND (r.customer_id IS NULL OR (SELECT c.is_active FROM {customer} c "
        f"WHERE c.id = r.customer_id)) "
        f"AND (r.group_id IS NULL OR r.group_id IN (SELECT gid FROM member_groups)))"
    )


def _group_overlap_sql() -> str:
    """The pair condition "group rules a and b reach a common current customer".

    Intersects the two groups' open memberships and stops at the first common customer. On
    PostgreSQL that is a merge of two index-only scans of the partial unique index; SQLite
    reads each scanned member's row (``left_at`` is not in the index). The cost grows with the
    number of group-rule pairs it is asked about times the members scanned before a hit, never
    with all memberships at once.
    """
    m = table(Membership)
    return (
        f"EXISTS (SELECT 1 FROM {m} m1 WHERE m1.group_id = a.gid AND {open_membership_sql('m1')} "
        f"AND EXISTS (SELECT 1 FROM {m} m2 WHERE m2.group_id = b.gid "
        f"AND m2.customer_id = m1.customer_id AND {open_membership_sql('m2')}))"
    )


def _reach_one_customer_sql(*, groups: bool) -> str:
    """Rules a and b (same bucket) can reach one customer, the group-pair case aside or only.

    ``groups=False``: the cheap cases (either targets everyone, one customer, one group, or a
    customer of the other's group: one index probe). ``groups=True``: two different groups
    with a common current member, the expensive intersection.
    """
    if groups:
        overlap = _group_overlap_sql()
        return f"(a.gid IS NOT NULL AND b.gid IS NOT NULL AND a.gid <> b.gid AND {overlap})"
    return (
        "((a.gid IS NULL AND a.cid IS NULL) OR (b.gid IS NULL AND b.cid IS NULL) "
        "OR (a.cid IS NOT NULL AND a.cid = b.cid) OR (a.gid IS NOT NULL AND a.gid = b.gid) "
        f"OR (a.cid IS NOT NULL AND b.gid IS NOT NULL AND {_current_membership('b.gid', 'a.cid')}) "
        f"OR (b.cid IS NOT NULL AND a.gid IS NOT NULL AND {_current_membership('a.gid', 'b.cid')}))"
    )


def _tie_partner_sql() -> str:
    """Rule ``b`` is a tie partner of rule ``a`` (both from ``applicable``): the pair condition.

    Symmetric in a and b. The cheap target cases come before the group intersection, so an
    ``OR`` that is already true never intersects two groups.
    """
    return (
        f"b.bucket = a.bucket AND b.id <> a.id AND {_shares_item('a.plid', 'b.plid')} "
        f"AND ({_reach_one_customer_sql(groups=False)} OR {_reach_one_customer_sql(groups=True)})"
    )


def tie_ids_sql(clock: AuditClock) -> Sql:
    """The ids of every rule in a tie: rules in force with at least one tie partner.

    A rule is in the finding as soon as one partner is found, so this asks, per rule, whether a
    partner exists (a semi-join that stops at the first) instead of listing every tied pair.
    Three steps, each only for the rules the earlier ones left:

    1. ``easy``: a partner through the cheap target cases (everyone, one customer, one group,
       a customer of the other's group).
    2. ``upward``: a group rule with a partner of a larger id whose group shares a member.
    3. a group rule with a partner of a smaller id that steps 1 or 2 found tied. A smaller
       partner they did not find tied has, in step 2, already compared its group with this
       rule's and found no common member, so it is not asked again.

    Where groups overlap a lot (the 100,000-customer benchmark: 1,000 groups, each customer in
    ten) that is about one group intersection per group rule, against one per pair of group
    rules in a bucket when every pair was listed; where they rarely overlap, still each pair
    once, never twice.
    """
    params: list = []
    applicable = _applicable_cte(clock.today, params)
    shares = _shares_item("a.plid", "b.plid")
    group_partner = (
        "SELECT 1 FROM group_rules b WHERE b.bucket = a.bucket AND b.gid <> a.gid AND {order} "
        f"AND {shares} AND {_group_overlap_sql()}"
    )
    sql = (
        f"WITH {applicable}, "
        # A join rather than EXISTS: SQLite then indexes the bucket (it scanned every rule per
        # rule for the EXISTS), and a cheap target test fails for most bucket mates anyway.
        "easy AS MATERIALIZED (SELECT DISTINCT a.id FROM applicable a JOIN applicable b "
        "ON b.bucket = a.bucket AND b.id <> a.id "
        # CASE fixes the order: the target test costs next to nothing, the shared-item test
        # reads price-list items.
        f"WHERE CASE WHEN {_reach_one_customer_sql(groups=False)} THEN {shares} ELSE FALSE END), "
        "group_rules AS MATERIALIZED (SELECT a.id, a.bucket, a.gid, a.plid, "
        "EXISTS (SELECT 1 FROM easy e WHERE e.id = a.id) AS easy "
        "FROM applicable a WHERE a.gid IS NOT NULL), "
        "upward AS MATERIALIZED (SELECT a.id FROM group_rules a WHERE NOT a.easy "
        f"AND EXISTS ({group_partner.format(order='b.id > a.id')})) "
        "SELECT id AS rule_id FROM easy "
        "UNION ALL SELECT id FROM upward "
        "UNION ALL SELECT a.id FROM group_rules a WHERE NOT a.easy "
        "AND NOT EXISTS (SELECT 1 FROM upward u WHERE u.id = a.id) "
        "AND EXISTS ("
        + group_partner.format(
            order="b.id < a.id AND (b.easy OR EXISTS (SELECT 1 FROM upward u WHERE u.id = b.id))"
        )
        + ")"
    )
    return Sql(sql, params)


def tie_pairs_sql(clock: AuditClock, subject_ids: Sequence | None = None) -> Sql:
    """``(rule_id, partner_id)`` for every tied pair, both ways round, or for ``subject_ids``'s.

    With ``subject_ids`` only those rules' own pairs are formed (a page's 25 rules and their
    bucket mates), not every pair of their buckets.
    """
    params: list = []
    applicable = _applicable_cte(clock.today, params)
    if subject_ids is None:
        sql = (
            f"WITH {applicable}, pairs AS MATERIALIZED (SELECT a.id AS a_id, b.id AS b_id "
            f"FROM applicable a JOIN applicable b ON {_tie_partner_sql()} AND a.id < b.id) "
            "SELECT a_id AS rule_id, b_id AS partner_id FROM pairs "
            "UNION ALL SELECT b_id, a_id FROM pairs"
        )
        return Sql(sql, params)
    subject = in_ids("a.id", subject_ids, params)
    sql = (
        f"WITH {applicable} SELECT a.id AS rule_id, b.id AS partner_id FROM applicable a "
        f"JOIN applicable b ON {_tie_partner_sql()} WHERE {subject}"
    )
    return Sql(sql, params)


def _shadow_sql(clock: AuditClock, subject_ids: Sequence | None, pairs: bool) -> Sql:
    """Rules shadowed by an everyone-rule (:func:`pricing.engine.findings.shadow_pairs`).

    The everyone-rules are few: a CTE of them lets SQLite index them by category on the fly
    instead of walking a quarter of all rules per rule through the (category, active) index.
    Price-list coverage ("S's list prices every item R's list prices") is a double NOT EXISTS.
    """
    rule, item = table(PricingRule), table(PriceListItem)
    everyone_live = not_ended_sql("e", clock.today)
    candidate_live = not_ended_sql("r", clock.today)
    params: list = [*everyone_live.params, *candidate_live.params]
    subject = "" if subject_ids is None else " AND " + in_ids("r.id", subject_ids, params)
    params.append(connection.ops.adapt_datefield_value(clock.today))
    shadows = (
        "s.cat = r.cat AND s.prio > r.prio AND s.id <> r.id "
        "AND (s.vf <= r.vf OR s.vf <= %s) AND (s.vt IS NULL OR s.vt >= r.vt) "
        f"AND (s.plid = r.plid OR NOT EXISTS (SELECT 1 FROM {item} ri "
        f"WHERE ri.price_list_id = r.plid AND NOT EXISTS (SELECT 1 FROM {item} si "
        f"WHERE si.price_list_id = s.plid AND si.item_code = ri.item_code)))"
    )
    ctes = (
        f"WITH everyone AS MATERIALIZED (SELECT e.id, e.billing_category AS cat, "
        f"e.priority AS prio, e.valid_from AS vf, e.valid_to AS vt, e.price_list_id AS plid "
        f"FROM {rule} e WHERE e.group_id IS NULL AND e.customer_id IS NULL AND {everyone_live}), "
        f"candidates AS MATERIALIZED (SELECT r.id, r.billing_category AS cat, r.priority AS prio, "
        f"r.valid_from AS vf, r.valid_to AS vt, r.price_list_id AS plid FROM {rule} r "
        f"WHERE {candidate_live}{subject}) "
    )
    if pairs:
        select = "SELECT r.id AS rule_id, s.id AS partner_id FROM candidates r JOIN everyone s ON "
        sql = f"{ctes}{select}{shadows}"
    else:
        select = "SELECT r.id AS rule_id FROM candidates r WHERE EXISTS (SELECT 1 FROM everyone s "
        sql = f"{ctes}{select}WHERE {shadows})"
    return Sql(sql, params)


def shadow_ids_sql(clock: AuditClock) -> Sql:
    return _shadow_sql(clock, None, pairs=False)


def shadow_pairs_sql(clock: AuditClock, subject_ids: Sequence | None = None) -> Sql:
    return _shadow_sql(clock, subject_ids, pairs=True)


def _hidden_sql(clock: AuditClock, subject_ids: Sequence | None) -> Sql:
    """Customer rules in force outranking a group rule of one of the customer's groups.

    Driven by the (few) customer rules; each is checked against the group rules of its
    category through one probe of the open-membership index.
    """
    params: list = []
    applicable = _applicable_cte(clock.today, params)
    subject = "" if subject_ids is None else " AND " + in_ids("c.id", subject_ids, params)
    sql = (
        f"WITH {applicable} SELECT c.id AS rule_id, g.id AS partner_id FROM applicable c "
        f"JOIN applicable g ON g.cat = c.cat AND g.prio < c.prio AND g.gid IS NOT NULL "
        f"WHERE c.cid IS NOT NULL{subject} AND {_current_membership('g.gid', 'c.cid')} "
        f"AND {_shares_item('c.plid', 'g.plid')}"
    )
    return Sql(sql, params)


def hidden_ids_sql(clock: AuditClock) -> Sql:
    return _hidden_sql(clock, None)


def hidden_pairs_sql(clock: AuditClock, subject_ids: Sequence | None = None) -> Sql:
    return _hidden_sql(clock, subject_ids)


IDS_SQL = {"tie": tie_ids_sql, "shadowed": shadow_ids_sql, "hidden": hidden_ids_sql}
PAIRS_SQL = {"tie": tie_pairs_sql, "shadowed": shadow_pairs_sql, "hidden": hidden_pairs_sql}
