"""The audit: empty and stale groups, and the rules they leave dead or in conflict.

Selectors: every finding is one set-based query (``Exists`` / ``Subquery`` annotations, or a SQL
self-join for the pairwise rule checks; "customers in no group" fetches the customers without a
membership first), so the number of queries a page makes does not grow with the number of
groups, rules, customers or memberships. Python only ever touches the rows of
one page (and, streaming, the rows of a CSV export). The one write the audit owns, deleting a
selection of empty groups, goes through ``groups.services.group_delete``.

Words used below, all judged at one instant ``now`` and its calendar day ``today`` in the billing
time zone (``BILLING_TIME_ZONE``, the zone that decides rule validity):

- A rule is **in force** when it is enabled (``is_active``) and ``valid_from <= today <=
  valid_to`` (an empty ``valid_to`` is open-ended). It is **live** when it is enabled and its
  validity has not ended (``valid_to`` empty or ``>= today``): in force or scheduled. It is
  **dead** when it is disabled or its validity has ended.
- A **current member** of a group is a customer with an open membership (``left_at`` empty).
- Two rules **share an item** when their price lists price at least one common item code (the
  same list counts). Rules that share no item never compete: the engine passes over a rule whose
  list lacks the item being rated.

Groups
  ``empty``            no current member.
  ``unused``           no rule, in any state, targets the group.
  ``dead_rules_only``  at least one rule targets the group and none of them is live.
  ``past_expiry``      ``expires_on`` is before today, yet the group still has a current member
                       or a live rule (a promotion nobody switched off).
  ``review_overdue``   the last review (``reviewed_at``, or ``created_at`` for a group never
                       reviewed) is more than ``RATECARD_REVIEW_OVERDUE_DAYS`` days (default 90)
                       before ``now``.
  ``stale_membership`` the last membership change (``members_changed_at``, kept by the
                       membership services, or ``created_at`` for a group whose members never
                       changed) is more than ``RATECARD_STALE_MEMBERSHIP_DAYS`` days before
                       ``now``, while at least one rule targeting the group is in force.

Customers
  ``no_group``         an active customer with no current membership, while some billing
                       category has a group rule in force and no direct rule of this customer in
                       force: in that category the customer only gets everyone-rules.

Rules
  ``never_applies``    an enabled rule whose validity has ended, or that targets a group with no
                       current member, or that targets an inactive customer.
  ``shadowed``         a live rule R for which another rule S exists with: the same category;
                       S targets everyone; S is enabled; ``S.priority > R.priority``; S's list
                       prices every item R's list prices; and S's validity covers what is left of
                       R's (``S.valid_from <= max(R.valid_from, today)`` and S open-ended or, R
                       having an end, ``S.valid_to >= R.valid_to``). Wherever R is eligible S is
                       too, ranks higher and has a price, so R can never win.
  ``tie``              two different rules in force, same category, same priority, sharing an
                       item, that can both apply to one customer: one targets everyone (and the
                       other can apply to somebody), both target the same customer, one targets
                       customer X and the other a group X is a current member of, or both target
                       groups with a common current member (or the same group with members). A
                       rule targeting an empty group or an inactive customer applies to nobody,
                       so it ties with nothing. The engine then orders them by target (customer,
                       group, everyone), later ``valid_from``, code: a tie-break nobody chose.
  ``hidden``           a direct customer rule C in force for an active customer X, and a group
                       rule G in force, same category, ``C.priority > G.priority``, X a current
                       member of G's group, sharing an item: for those items X never gets the
                       price its group would give (often a forgotten individual deal). Listed by
                       the customer rule, which is what to review.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    ProtectedError,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, RowNumber
from django.db.models.lookups import Exact
from django.urls import reverse
from django.utils import timezone
from django_filters import FilterSet

from groups.models import Customer, CustomerGroup, Membership
from groups.services import group_delete
from pricing.clock import billing_tz
from pricing.filters_audit import FILTERSETS
from pricing.models import PriceListItem, PricingRule

GROUP, CUSTOMER, RULE = "group", "customer", "rule"


@dataclass(frozen=True)
class Finding:
    """One kind of problem the audit reports, with the words the page and the CSV use."""

    key: str
    subject: str  # GROUP, CUSTOMER or RULE: what a row of its list is
    title: str
    explanation: str
    fix: str


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "empty",
        GROUP,
        "Empty groups",
        "These groups have no current members, so no rule targeting them prices anybody.",
        "Delete the group if it is no longer needed (groups still used by rules are kept), or "
        "open it and add its members.",
    ),
    Finding(
        "unused",
        GROUP,
        "Unused groups",
        "No pricing rule targets these groups: membership changes nothing about prices.",
        "Create a rule for the group, or delete it if it was only a container nobody needs.",
    ),
    Finding(
        "dead_rules_only",
        GROUP,
        "Groups with dead rules only",
        "Every rule targeting these groups has expired or is disabled, so the groups no longer "
        "change any price.",
        "Renew or re-enable a rule if the group should still get its prices; otherwise delete "
        "the dead rules and the group.",
    ),
    Finding(
        "past_expiry",
        GROUP,
        "Past planned expiry",
        "The planned expiry date of these groups has passed, but they still have members or "
        "rules that have not ended: a promotion nobody switched off.",
        "End the promotion (removes every member, kept in the membership history) and end or "
        "disable its rules, or move the planned expiry if it should run longer.",
    ),
    Finding(
        "review_overdue",
        GROUP,
        "Review overdue",
        "Nobody has reviewed who belongs to these groups for more than {review_days} days "
        "(groups never reviewed count from their creation).",
        "Check the members, fix them if needed, then mark the group reviewed.",
    ),
    Finding(
        "stale_membership",
        GROUP,
        "Stale membership",
        "No member joined or left these groups for more than {stale_days} days, while rules "
        "targeting them are in force: customers who should have left may still get their "
        "prices.",
        "Check the members are still right; remove those who no longer qualify.",
    ),
    Finding(
        "no_group",
        CUSTOMER,
        "Customers in no group",
        "These active customers belong to no group although group rules are in force for "
        "categories where they have no rule of their own: there they only get everyone-rules.",
        "Add the customer to the groups they belong in, or give them their own rule.",
    ),
    Finding(
        "never_applies",
        RULE,
        "Rules that never apply",
        "These enabled rules cannot price anything: their validity has ended, their group has "
        "no members, or their customer is inactive.",
        "Disable the rule, or fix what it depends on (renew it, add members, reactivate the "
        "customer).",
    ),
    Finding(
        "shadowed",
        RULE,
        "Shadowed rules",
        "An everyone-rule of the same category with a higher priority prices every item these "
        "rules price and is valid whenever they are: these rules can never win.",
        "Raise the rule's priority above the everyone-rule, or disable it.",
    ),
    Finding(
        "tie",
        RULE,
        "Ties",
        "Two rules in force with the same category and priority can apply to the same customer "
        "and price the same items: which one wins rests on a tie-break (customer before group "
        "before everyone, then the later start, then the code) nobody chose.",
        "Give one of the two rules a higher priority.",
    ),
    Finding(
        "hidden",
        RULE,
        "Hidden group rules",
        "A customer's own rule has a higher priority than a rule of one of the customer's "
        "groups, so the customer never gets the group's price for the items both price: often "
        "a forgotten individual deal.",
        "Check the individual deal is still wanted; end or disable it otherwise.",
    ),
)
FINDINGS_BY_KEY = {finding.key: finding for finding in FINDINGS}


@dataclass(frozen=True)
class AuditClock:
    """The instant the audit is judged at, and the cut-offs derived from the settings."""

    now: datetime
    today: date
    review_days: int
    stale_days: int

    @property
    def review_cutoff(self) -> datetime:
        return self.now - timedelta(days=self.review_days)

    @property
    def stale_cutoff(self) -> datetime:
        return self.now - timedelta(days=self.stale_days)


def audit_clock(now: datetime | None = None) -> AuditClock:
    now = now or timezone.now()
    return AuditClock(
        now=now,
        today=now.astimezone(billing_tz()).date(),
        review_days=getattr(settings, "RATECARD_REVIEW_OVERDUE_DAYS", 90),
        stale_days=getattr(settings, "RATECARD_STALE_MEMBERSHIP_DAYS", 180),
    )


def explanation(finding: Finding, clock: AuditClock) -> str:
    return finding.explanation.format(review_days=clock.review_days, stale_days=clock.stale_days)


# --- Rule states as Q objects -----------------------------------------------------------------


def _live_q(today: date, prefix: str = "") -> Q:
    return Q(**{f"{prefix}is_active": True}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gte": today})
    )


def _in_force_q(today: date, prefix: str = "") -> Q:
    return _live_q(today, prefix) & Q(**{f"{prefix}valid_from__lte": today})


def _current_members(group_ref: str = "pk") -> QuerySet[Membership]:
    return Membership.objects.filter(group=OuterRef(group_ref), left_at__isnull=True)


# --- Groups -----------------------------------------------------------------------------------


def groups_with_flags(clock: AuditClock) -> QuerySet[CustomerGroup]:
    """Groups annotated with what the group findings need, one correlated EXISTS each.

    EXISTS stops at the first matching row (the partial unique index on open memberships and
    the rule's group index answer them), so flagging 10,000 groups reads a few rows per group
    rather than counting a million memberships.
    """
    rules = PricingRule.objects.filter(group=OuterRef("pk"))
    return CustomerGroup.objects.annotate(
        has_members=Exists(_current_members()),
        has_rules=Exists(rules),
        has_live_rules=Exists(rules.filter(_live_q(clock.today))),
        has_rules_in_force=Exists(rules.filter(_in_force_q(clock.today))),
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
        case "review_overdue":
            return Q(last_review__lt=clock.review_cutoff)
        case "stale_membership":
            return Q(last_change__lt=clock.stale_cutoff, has_rules_in_force=True)
    raise KeyError(key)


GROUP_KEYS = tuple(f.key for f in FINDINGS if f.subject == GROUP)
RULES_SHOWN = 3
RULE_KEYS = tuple(f.key for f in FINDINGS if f.subject == RULE)


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
                Subquery(rules.filter(_live_q(clock.today)).annotate(n=Count("pk")).values("n")),
                0,
            ),
            last_change=Coalesce("members_changed_at", "created_at"),
        )
    }
    by_group: dict = defaultdict(list)
    strongest_first = [F("priority").desc(), F("code").asc()]
    for rule in (
        PricingRule.objects.filter(group_id__in=ids)
        .only("pk", "code", "name", "group_id", "is_active", "valid_from", "valid_to")
        # The three a row shows, however many rules a group has.
        .annotate(rank=Window(RowNumber(), partition_by=F("group_id"), order_by=strongest_first))
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


# --- Customers --------------------------------------------------------------------------------


# Up to this many customers in no group are looked up by id; more, and the lists filter with
# the anti-join as a subquery instead.
NO_GROUP_IDS_MAX = 1000


def _customers_without_membership(clock: AuditClock) -> list | RawSQL:
    """Active customers with no open membership, while some group rule is in force.

    An anti-join of the customers with the open memberships grouped by customer: PostgreSQL
    merges one pass over the open-membership index with the customers. (A correlated NOT
    EXISTS made it probe the index once per customer, 100,000 probes, and for a page of the
    list it walked every customer in name order doing so.) The ids are fetched here, in one
    query, because the planner cannot know how few rows the anti-join leaves (it assumes half
    the customers) and would plan the list around that guess; when there are more than
    ``NO_GROUP_IDS_MAX``, the anti-join is returned as SQL for the caller's query instead.
    """
    customer, membership, rule = _t(Customer), _t(Membership), _t(PricingRule)
    if connection.vendor == "postgresql":
        without_membership = (
            f"SELECT c.id FROM {customer} c LEFT JOIN (SELECT customer_id FROM {membership} "
            "WHERE left_at IS NULL GROUP BY customer_id) m ON m.customer_id = c.id "
            "WHERE m.customer_id IS NULL"
        )
    else:
        # SQLite probes an index in-process for next to nothing, and the grouped subquery
        # would be materialised first: there NOT EXISTS is twice as fast.
        without_membership = (
            f"SELECT c.id FROM {customer} c WHERE NOT EXISTS (SELECT 1 FROM {membership} m "
            "WHERE m.customer_id = c.id AND m.left_at IS NULL)"
        )
    sql = (
        f"{without_membership} AND c.is_active "
        # Evaluated once, first: without a group rule in force nobody misses a group.
        f"AND EXISTS (SELECT 1 FROM {rule} r WHERE r.group_id IS NOT NULL AND r.is_active "
        "AND r.valid_from <= %s AND (r.valid_to IS NULL OR r.valid_to >= %s))"
    )
    params = [_day(clock.today), _day(clock.today)]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} LIMIT %s", [*params, NO_GROUP_IDS_MAX + 1])
        ids = [row[0] for row in cursor.fetchall()]
    if len(ids) > NO_GROUP_IDS_MAX:
        return RawSQL(sql, params)
    to_python = Customer._meta.pk.to_python
    return [to_python(pk) for pk in ids]


def customers_in_no_group(clock: AuditClock) -> QuerySet[Customer]:
    """Active customers with no current membership who miss a group-priced category.

    Runs one query at once (the customers with no open membership, see
    ``_customers_without_membership``); the queryset then only checks the categories of
    those customers, and only customers with direct rules need that.
    """
    in_force = PricingRule.objects.filter(_in_force_q(clock.today))
    group_rules = in_force.filter(group__isnull=False)
    direct = in_force.filter(customer=OuterRef("pk"))
    missed = group_rules.exclude(
        billing_category__in=in_force.filter(customer=OuterRef(OuterRef("pk"))).values(
            "billing_category"
        )
    )
    return Customer.objects.filter(pk__in=_customers_without_membership(clock)).filter(
        ~Exists(direct) | Exists(missed)
    )


def customer_rows(ids: Sequence, clock: AuditClock) -> list[Customer]:
    """One page of customers, each with the categories where it only gets everyone-rules.

    Three queries: the customers, the categories with group rules in force, and the page's
    direct rules in force.
    """
    if not ids:
        return []
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=ids)}
    group_categories = sorted(
        set(
            PricingRule.objects.filter(_in_force_q(clock.today), group__isnull=False)
            .order_by()
            .values_list("billing_category", flat=True)
            .distinct()
        )
    )
    direct: dict = defaultdict(set)
    for customer_id, category in (
        PricingRule.objects.filter(_in_force_q(clock.today), customer_id__in=ids)
        .order_by()
        .values_list("customer_id", "billing_category")
    ):
        direct[customer_id].add(category)
    rows = []
    for pk in ids:
        customer = customers.get(pk)
        if customer is None:
            continue
        customer.missed_categories = [c for c in group_categories if c not in direct[pk]]
        rows.append(customer)
    return rows


# --- Rules: never applies ---------------------------------------------------------------------


def never_applies_q(clock: AuditClock) -> Q:
    """Enabled rules that price nothing: ended, or their group empty, or their customer inactive.

    Both target checks probe one index for the rules that have such a target; a join on
    ``customer__is_active`` made PostgreSQL hash all 100,000 customers for a handful of rules.
    """
    empty_group = ~Exists(_current_members("group_id"))
    # A scalar subquery: PostgreSQL turns an EXISTS under OR into a hash of every inactive
    # customer, found by reading the whole customer table.
    inactive_customer = Exact(
        Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("is_active")[:1]),
        False,
    )
    return Q(is_active=True) & (
        Q(valid_to__lt=clock.today)
        | (Q(group__isnull=False) & empty_group)
        | (Q(customer__isnull=False) & inactive_customer)
    )


# --- Rules: pairwise findings in SQL ----------------------------------------------------------
#
# Tie, shadowed and hidden compare rules with rules. The ORM cannot join a table to itself on
# arbitrary columns, so each is one SQL statement over small CTEs of the rules that matter,
# joined on category (and priority), and checked against memberships through the partial unique
# index on open memberships (group_id, customer_id). Each builder returns either the ids of the
# rules in the finding or, for one page of rules, their (rule_id, partner_id) pairs. Callers use
# the ids inside a larger ORM query (``pk__in``), so they cost no round trip of their own. The
# SQL is plain enough for SQLite and PostgreSQL alike (CTEs, ``AS MATERIALIZED``).


@dataclass
class _Sql:
    sql: str
    params: list = field(default_factory=list)


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


def _in_ids(column: str, ids: Sequence, params: list) -> str:
    if not ids:
        return "1 = 0"
    pk = PricingRule._meta.pk
    params.extend(pk.get_db_prep_value(i, connection) for i in ids)
    return f"{column} IN ({', '.join(['%s'] * len(ids))})"


def _shares_item(a_list: str, b_list: str) -> str:
    item = _t(PriceListItem)
    return (
        f"({a_list} = {b_list} OR EXISTS (SELECT 1 FROM {item} ai JOIN {item} bi "
        f"ON bi.item_code = ai.item_code AND bi.price_list_id = {b_list} "
        f"WHERE ai.price_list_id = {a_list}))"
    )


def _current_membership(group: str, customer: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM {_t(Membership)} m WHERE m.group_id = {group} "
        f"AND m.customer_id = {customer} AND m.left_at IS NULL)"
    )


def _applicable_cte(today: date, params: list) -> str:
    """``applicable``: rules in force that can apply to somebody (everyone, an active customer,
    or a group with at least one current member).

    Whether a group has a member is asked once per distinct group (``member_groups``), not once
    per rule; an inactive customer is looked up by primary key for customer rules only (as an
    ``EXISTS``, PostgreSQL hashed every customer to answer it).
    """
    rule, customer, membership = _t(PricingRule), _t(Customer), _t(Membership)
    in_force = "r.is_active AND r.valid_from <= %s AND (r.valid_to IS NULL OR r.valid_to >= %s)"
    params.extend([_day(today), _day(today)] * 2)
    return (
        # DISTINCT inside a derived table keeps the membership probe per group.
        f"member_groups AS MATERIALIZED (SELECT g.gid FROM (SELECT DISTINCT r.group_id AS gid "
        f"FROM {rule} r WHERE {in_force} AND r.group_id IS NOT NULL) g "
        f"WHERE EXISTS (SELECT 1 FROM {membership} gm WHERE gm.group_id = g.gid "
        f"AND gm.left_at IS NULL)), "
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
    with all memberships at once. (Counting, per bucket, the customers two rules reach in one
    pass was measured too: faster on SQLite at 100 members a group, three to four times slower
    at 1,000, and spilling to disk on PostgreSQL.)
    """
    m = _t(Membership)
    return (
        f"EXISTS (SELECT 1 FROM {m} m1 WHERE m1.group_id = a.gid AND m1.left_at IS NULL "
        f"AND EXISTS (SELECT 1 FROM {m} m2 WHERE m2.group_id = b.gid "
        "AND m2.customer_id = m1.customer_id AND m2.left_at IS NULL))"
    )


def _reach_one_customer_sql(*, groups: bool) -> str:
    """Rules a and b (same bucket) can apply to one customer, the group-pair case aside or only.

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


def tie_ids_sql(clock: AuditClock) -> _Sql:
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
    return _Sql(sql, params)


def tie_pairs_sql(clock: AuditClock, subject_ids: Sequence | None = None) -> _Sql:
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
        return _Sql(sql, params)
    subject = _in_ids("a.id", subject_ids, params)
    sql = (
        f"WITH {applicable} SELECT a.id AS rule_id, b.id AS partner_id FROM applicable a "
        f"JOIN applicable b ON {_tie_partner_sql()} WHERE {subject}"
    )
    return _Sql(sql, params)


def _shadow_sql(clock: AuditClock, subject_ids: Sequence | None, pairs: bool) -> _Sql:
    """Live rules shadowed by an everyone-rule.

    The everyone-rules are few: a CTE of them lets SQLite index them by category on the fly
    instead of walking a quarter of all rules per rule through the (category, active) index.
    Price-list coverage ("S's list prices every item R's list prices") is a double NOT EXISTS.
    """
    rule, item = _t(PricingRule), _t(PriceListItem)
    today = _day(clock.today)
    params: list = [today, today]
    subject = "" if subject_ids is None else " AND " + _in_ids("r.id", subject_ids, params)
    params.append(today)
    shadows = (
        "s.cat = r.cat AND s.prio > r.prio AND s.id <> r.id "
        "AND (s.vf <= r.vf OR s.vf <= %s) AND (s.vt IS NULL OR s.vt >= r.vt) "
        f"AND (s.plid = r.plid OR NOT EXISTS (SELECT 1 FROM {item} ri "
        f"WHERE ri.price_list_id = r.plid AND NOT EXISTS (SELECT 1 FROM {item} si "
        f"WHERE si.price_list_id = s.plid AND si.item_code = ri.item_code)))"
    )
    ctes = (
        f"WITH everyone AS MATERIALIZED (SELECT id, billing_category AS cat, priority AS prio, "
        f"valid_from AS vf, valid_to AS vt, price_list_id AS plid FROM {rule} "
        f"WHERE is_active AND group_id IS NULL AND customer_id IS NULL "
        f"AND (valid_to IS NULL OR valid_to >= %s)), "
        f"candidates AS MATERIALIZED (SELECT r.id, r.billing_category AS cat, r.priority AS prio, "
        f"r.valid_from AS vf, r.valid_to AS vt, r.price_list_id AS plid FROM {rule} r "
        f"WHERE r.is_active AND (r.valid_to IS NULL OR r.valid_to >= %s){subject}) "
    )
    if pairs:
        select = "SELECT r.id AS rule_id, s.id AS partner_id FROM candidates r JOIN everyone s ON "
        sql = f"{ctes}{select}{shadows}"
    else:
        select = "SELECT r.id AS rule_id FROM candidates r WHERE EXISTS (SELECT 1 FROM everyone s "
        sql = f"{ctes}{select}WHERE {shadows})"
    return _Sql(sql, params)


def shadow_ids_sql(clock: AuditClock) -> _Sql:
    return _shadow_sql(clock, None, pairs=False)


def shadow_pairs_sql(clock: AuditClock, subject_ids: Sequence | None = None) -> _Sql:
    return _shadow_sql(clock, subject_ids, pairs=True)


def _hidden_sql(clock: AuditClock, subject_ids: Sequence | None) -> _Sql:
    """Customer rules in force outranking a group rule of one of the customer's groups.

    Driven by the (few) customer rules; each is checked against the group rules of its
    category through one probe of the open-membership index.
    """
    params: list = []
    applicable = _applicable_cte(clock.today, params)
    subject = "" if subject_ids is None else " AND " + _in_ids("c.id", subject_ids, params)
    sql = (
        f"WITH {applicable} SELECT c.id AS rule_id, g.id AS partner_id FROM applicable c "
        f"JOIN applicable g ON g.cat = c.cat AND g.prio < c.prio AND g.gid IS NOT NULL "
        f"WHERE c.cid IS NOT NULL{subject} AND {_current_membership('g.gid', 'c.cid')} "
        f"AND {_shares_item('c.plid', 'g.plid')}"
    )
    return _Sql(sql, params)


def hidden_ids_sql(clock: AuditClock) -> _Sql:
    return _hidden_sql(clock, None)


def hidden_pairs_sql(clock: AuditClock, subject_ids: Sequence | None = None) -> _Sql:
    return _hidden_sql(clock, subject_ids)


IDS_SQL = {"tie": tie_ids_sql, "shadowed": shadow_ids_sql, "hidden": hidden_ids_sql}
PAIRS_SQL = {"tie": tie_pairs_sql, "shadowed": shadow_pairs_sql, "hidden": hidden_pairs_sql}
PARTNERS_SHOWN = 3


def rule_finding_q(key: str, clock: AuditClock) -> Q:
    """The condition, over ``PricingRule``, that puts a rule in finding ``key``."""
    if key == "never_applies":
        return never_applies_q(clock)
    if key in IDS_SQL:
        ids = IDS_SQL[key](clock)
        return Q(pk__in=RawSQL(f"SELECT rule_id FROM ({ids.sql}) audit_ids", ids.params))
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
    rule = _t(PricingRule)
    sql = (
        "SELECT rule_id, partner_id, n FROM (SELECT p.rule_id, p.partner_id, "
        "COUNT(*) OVER (PARTITION BY p.rule_id) AS n, ROW_NUMBER() OVER (PARTITION BY p.rule_id "
        "ORDER BY r.priority DESC, CASE WHEN r.customer_id IS NOT NULL THEN 0 "
        "WHEN r.group_id IS NOT NULL THEN 1 ELSE 2 END, r.valid_from DESC, r.code) AS rn "
        f"FROM ({pairs.sql}) p JOIN {rule} r ON r.id = p.partner_id) ranked "
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
        .annotate(group_is_empty=Q(group__isnull=False) & ~Exists(_current_members("group_id")))
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
    """The engine's evaluation order: priority, customer > group > everyone, later start, code."""
    kind = 0 if rule.customer_id else 1 if rule.group_id else 2
    return (-rule.priority, kind, -rule.valid_from.toordinal(), rule.code)


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
    if rule.valid_to is not None and rule.valid_to < clock.today:
        reasons.append(f"its validity ended on {rule.valid_to.isoformat()}")
    if getattr(rule, "group_is_empty", False):
        reasons.append(f"its group {rule.group.name} has no members")
    if rule.customer_id and not rule.customer.is_active:
        reasons.append(f"its customer {rule.customer.name} is inactive")
    return reasons


# --- Summary, lists and pages -----------------------------------------------------------------


# The counts that cost a pass over every customer ("no_group") or compare rules with rules
# (the pairwise findings; "tie" also intersects group memberships). The page asks for each in
# a request of its own, so its first response does not wait for them (``pricing.views.audit``).
DEFERRED_COUNTS = frozenset({"no_group", "shadowed", "tie", "hidden"})


def audit_summary(
    clock: AuditClock,
    known: dict[str, int] | None = None,
    *,
    defer: Iterable[str] = (),
) -> dict[str, int | None]:
    """The count of every finding, in at most four queries (groups, customers in two, rules).

    ``known`` holds counts the caller already has (the unfiltered list on screen counted its
    rows), so a heavy finding is not computed twice in one request. Findings in ``defer`` that
    are not known are left out (``None``): the caller gets them from ``finding_count``.
    """
    counts: dict[str, int | None] = dict(known or {})
    skip = set(counts) | set(defer)
    group_keys = [key for key in GROUP_KEYS if key not in skip]
    if group_keys:
        counts.update(
            groups_with_flags(clock)
            .order_by()
            .aggregate(
                **{key: Count("pk", filter=group_finding_q(key, clock)) for key in group_keys}
            )
        )
    if "no_group" not in skip:
        counts["no_group"] = customers_in_no_group(clock).order_by().count()
    rule_keys = [key for key in RULE_KEYS if key not in skip]
    if rule_keys:
        counts.update(
            PricingRule.objects.order_by().aggregate(
                **{key: Count("pk", filter=rule_finding_q(key, clock)) for key in rule_keys}
            )
        )
    return {f.key: counts.get(f.key) for f in FINDINGS}


def finding_count(key: str, clock: AuditClock) -> int:
    """How many rows finding ``key`` has, unfiltered (one query; two for "no_group")."""
    return finding_queryset(key, clock).order_by().count()


def finding_queryset(key: str, clock: AuditClock) -> QuerySet:
    """Every row of finding ``key`` (groups, customers or rules), not yet filtered or ordered."""
    finding = FINDINGS_BY_KEY[key]
    if finding.subject == GROUP:
        return groups_with_flags(clock).filter(group_finding_q(key, clock))
    if finding.subject == CUSTOMER:
        return customers_in_no_group(clock)
    return PricingRule.objects.filter(rule_finding_q(key, clock))


def finding_list(key: str, data, clock: AuditClock) -> tuple[FilterSet, QuerySet]:
    """Finding ``key`` filtered and ordered by its FilterSet bound to ``data`` (the URL)."""
    filterset = FILTERSETS[FINDINGS_BY_KEY[key].subject](
        data=data, queryset=finding_queryset(key, clock)
    )
    return filterset, filterset.qs


def finding_rows(key: str, ids: Sequence, clock: AuditClock) -> list:
    """The display rows of one page of finding ``key``, in the order of ``ids``."""
    subject = FINDINGS_BY_KEY[key].subject
    if subject == GROUP:
        return group_rows(ids, clock)
    if subject == CUSTOMER:
        return customer_rows(ids, clock)
    return rule_rows(ids, key, clock)


@dataclass
class ListPage:
    """One page of a finding list: ids in order, the total, and page arithmetic."""

    number: int
    per_page: int
    count: int
    ids: list
    rows: list = field(default_factory=list)

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_other_pages(self) -> bool:
        return self.num_pages > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.count else 0

    @property
    def end_index(self) -> int:
        return min(self.count, self.number * self.per_page)


def page_of(queryset: QuerySet, number, per_page: int) -> ListPage:
    """The ids of one page and the total, in one query (``COUNT(*) OVER ()``).

    A separate COUNT would run a finding's query twice; for the pairwise rule findings that is
    most of the page's time. A page past the end falls back to the last page (two more queries).
    """
    try:
        number = max(1, int(number))
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * per_page
    rows = list(
        queryset.annotate(audit_total=Window(Count("pk"))).values_list("pk", "audit_total")[
            start : start + per_page
        ]
    )
    if rows:
        return ListPage(number, per_page, rows[0][1], [pk for pk, _ in rows])
    if number == 1:
        return ListPage(1, per_page, 0, [])
    count = queryset.count()
    last = max(1, -(-count // per_page))
    ids = list(queryset.values_list("pk", flat=True)[(last - 1) * per_page : last * per_page])
    return ListPage(last, per_page, count, ids)


# --- Actions ----------------------------------------------------------------------------------
#
# The audit's own action is deleting a selection of empty groups; the writes are the groups
# services', this only checks each group is still empty and collects what was refused.

GROUP_NOT_EMPTY = "“{group}” was not deleted: it has members again."
GROUP_GONE = "{count} of the selected groups no longer exist."
MAX_SELECTION = 200


@dataclass
class DeleteOutcome:
    deleted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def empty_groups_delete(*, ids: Sequence, by=None) -> DeleteOutcome:
    """Delete the selected groups that are (still) empty; report the others.

    Each group is locked and re-checked in its own transaction, so a member added meanwhile
    keeps its group; groups that pricing rules use are refused by ``group_delete``.
    """
    outcome = DeleteOutcome()
    wanted = list(dict.fromkeys(ids))[:MAX_SELECTION]
    groups = list(CustomerGroup.objects.filter(pk__in=wanted).order_by("name"))
    if len(groups) < len(wanted):
        outcome.refused.append(GROUP_GONE.format(count=len(wanted) - len(groups)))
    for group in groups:
        with transaction.atomic():
            locked = (
                CustomerGroup.objects.select_for_update()
                .filter(pk=group.pk)
                .annotate(has_members=Exists(_current_members()))
                .first()
            )
            if locked is None:
                continue
            if locked.has_members:
                outcome.refused.append(GROUP_NOT_EMPTY.format(group=group.name))
                continue
            try:
                group_delete(group=group, by=by)
            except ProtectedError as exc:
                outcome.refused.append(str(exc.args[0]))
                continue
        outcome.deleted.append(group.name)
    return outcome


# --- Export -----------------------------------------------------------------------------------

CSV_HEADER = ("finding", "subject", "id", "code", "name", "details", "link")


def export_rows(clock: AuditClock, keys: Iterable[str], data=None) -> Iterator[tuple]:
    """Rows for the CSV export: every finding in ``keys``, filtered by ``data`` if given.

    One query per finding (two for the pairwise rule findings), streamed in chunks.
    """
    for key in keys:
        finding = FINDINGS_BY_KEY[key]
        _, queryset = finding_list(key, data or {}, clock)
        if finding.subject == GROUP:
            yield from _export_groups(finding, queryset)
        elif finding.subject == CUSTOMER:
            yield from _export_customers(finding, queryset)
        else:
            yield from _export_rules(finding, queryset, clock)


def _export_groups(finding: Finding, queryset: QuerySet) -> Iterator[tuple]:
    rows = queryset.with_member_count().values(
        "pk", "code", "name", "member_count", "last_change", "last_review", "expires_on"
    )
    for g in rows.iterator(chunk_size=2000):
        details = (
            f"members: {g['member_count']}; "
            f"last membership change: {g['last_change']:%Y-%m-%d}; "
            f"last review: {g['last_review']:%Y-%m-%d}"
        )
        if g["expires_on"]:
            details += f"; planned expiry: {g['expires_on']:%Y-%m-%d}"
        link = reverse("groups:group_detail", args=[g["pk"]])
        yield (finding.key, GROUP, g["pk"], g["code"], g["name"], details, link)


def _export_customers(finding: Finding, queryset: QuerySet) -> Iterator[tuple]:
    rows = queryset.values("pk", "external_id", "name", "email")
    for c in rows.iterator(chunk_size=2000):
        link = reverse("groups:customer_detail", args=[c["pk"]])
        yield (finding.key, CUSTOMER, c["pk"], c["external_id"] or "", c["name"], c["email"], link)


def _export_rules(finding: Finding, queryset: QuerySet, clock: AuditClock) -> Iterator[tuple]:
    partners, counts = rule_partners(finding.key, clock)
    codes = dict(
        PricingRule.objects.filter(pk__in={p for ps in partners.values() for p in ps})
        .values_list("pk", "code")
        .iterator()
    )
    rows = (
        queryset.select_related("group", "customer")
        .annotate(group_is_empty=Q(group__isnull=False) & ~Exists(_current_members("group_id")))
        .iterator(chunk_size=2000)
    )
    for rule in rows:
        details = (
            f"{rule.billing_category}; priority {rule.priority}; {rule.target_label}; "
            f"valid {rule.valid_from:%Y-%m-%d} to "
            f"{rule.valid_to.strftime('%Y-%m-%d') if rule.valid_to else 'open end'}"
        )
        reasons = never_applies_reasons(rule, clock) if finding.key == "never_applies" else []
        if reasons:
            details += "; " + "; ".join(reasons)
        involved = [codes[p] for p in partners.get(rule.pk, ()) if p in codes]
        if involved:
            more = counts.get(rule.pk, 0) - len(involved)
            details += "; involved: " + ", ".join(involved) + (f" and {more} more" if more else "")
        link = reverse("pricing:rule_detail", args=[rule.pk])
        yield (finding.key, RULE, rule.pk, rule.code, rule.name, details, link)
