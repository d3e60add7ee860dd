"""The customer finding: active customers in no group while group rules are in force."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from groups.models import Customer, Membership
from pricing.audit.findings import AuditClock
from pricing.audit.pairs import table
from pricing.models import PricingRule
from pricing.rules_sql import in_force_q, in_force_sql, open_membership_sql

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
    customer, membership, rule = table(Customer), table(Membership), table(PricingRule)
    if connection.vendor == "postgresql":
        without_membership = (
            f"SELECT c.id FROM {customer} c LEFT JOIN (SELECT o.customer_id FROM {membership} o "
            f"WHERE {open_membership_sql('o')} GROUP BY o.customer_id) m "
            "ON m.customer_id = c.id WHERE m.customer_id IS NULL"
        )
    else:
        # SQLite probes an index in-process for next to nothing, and the grouped subquery
        # would be materialised first: there NOT EXISTS is twice as fast.
        without_membership = (
            f"SELECT c.id FROM {customer} c WHERE NOT EXISTS (SELECT 1 FROM {membership} m "
            f"WHERE m.customer_id = c.id AND {open_membership_sql('m')})"
        )
    in_force = in_force_sql("r", clock.today)
    sql = (
        f"{without_membership} AND c.is_active "
        # Evaluated once, first: without a group rule in force nobody misses a group.
        f"AND EXISTS (SELECT 1 FROM {rule} r WHERE r.group_id IS NOT NULL AND {in_force})"
    )
    params = in_force.params
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
    in_force = PricingRule.objects.filter(in_force_q(clock.today))
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
            PricingRule.objects.filter(in_force_q(clock.today), group__isnull=False)
            .order_by()
            .values_list("billing_category", flat=True)
            .distinct()
        )
    )
    direct: dict = defaultdict(set)
    for customer_id, category in (
        PricingRule.objects.filter(in_force_q(clock.today), customer_id__in=ids)
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
