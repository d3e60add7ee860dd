"""Reads for customers, groups and memberships, joined and annotated for their pages.

Every list here is meant to be paginated by the caller; none of them loads a whole table. The
group list counts members and rules with correlated subqueries, so sorting, filtering and
paginating never aggregate every membership of every group first.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import router
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    Model,
    OuterRef,
    Prefetch,
    ProtectedError,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.deletion import Collector
from django.db.models.functions import Coalesce
from django.utils import timezone

from groups.models import Customer, CustomerGroup, Membership, held_at_q

# Pricing rules point at groups; this app never imports them nor looks their model up. Counts
# and filters go through the reverse relation pricing declares (``related_name``), and pages
# that show the rules load pricing's own fragment.
RULES_RELATION = "pricing_rules"


# --- Customers --------------------------------------------------------------------------------


def customer_search(
    term: str, *, limit: int = 10, exclude_group: CustomerGroup | None = None
) -> QuerySet[Customer]:
    """Customers whose name, external ID or email contains ``term``, for search-as-you-type.

    ``exclude_group`` leaves out its current members (the "add a member" widget). An empty term
    returns nothing rather than the first customers of a 100,000-row table.
    """
    term = (term or "").strip()
    if not term:
        return Customer.objects.none()
    queryset = Customer.objects.search(term)
    if exclude_group is not None:
        queryset = queryset.filter(~_member_of(exclude_group))
    return queryset.order_by("name", "id")[:limit]


def _member_of(group: CustomerGroup) -> Exists:
    """The outer customer is a current member of ``group``: one probe of the open-membership
    index per candidate, however many members the group has (``NOT IN`` would read them all)."""
    return Exists(Membership.objects.current().filter(group=group, customer=OuterRef("pk")))


def customer_for_term(term: str, *, exclude_group: CustomerGroup | None = None) -> Customer | None:
    """The customer that pressing Enter in the "add a member" box means.

    An exact external ID wins (an operator pasting ``CUST-0003`` means that customer); otherwise
    the first search result, which is the one listed first under the box.
    """
    term = (term or "").strip()
    if not term:
        return None
    exact = Customer.objects.filter(external_id=term).first()
    if exact is not None:
        return exact
    return customer_search(term, limit=1, exclude_group=exclude_group).first()


def customer_candidates(
    term: str, *, exclude_group: CustomerGroup | None = None, limit: int = 10
) -> list[Customer]:
    """Search results for the "add a member" box: an exact external ID first, then by name."""
    term = (term or "").strip()
    if not term:
        return []
    results = list(customer_search(term, limit=limit, exclude_group=exclude_group))
    exact = Customer.objects.filter(external_id=term)
    if exclude_group is not None:
        exact = exact.filter(~_member_of(exclude_group))
    exact = exact.first()
    if exact is not None:
        results = [exact, *[c for c in results if c.pk != exact.pk]][:limit]
    return results


def customer_table() -> QuerySet[Customer]:
    """Customers for the list page with their current groups prefetched (one extra query).

    The badges need a group's id and name only, and a page of 50 customers carries hundreds
    of memberships: only those two columns of each group are loaded.
    """
    current = (
        Membership.objects.current()
        .select_related("group")
        .only("pk", "customer_id", "group_id", "group__name")
        .order_by("group__name", "group_id")
    )
    return Customer.objects.prefetch_related(
        Prefetch("memberships", queryset=current, to_attr="current_memberships")
    )


def customer_current_memberships(customer: Customer) -> QuerySet[Membership]:
    """The customer's open memberships with their groups, by group name."""
    return (
        Membership.objects.current()
        .filter(customer=customer)
        .select_related("group", "joined_by", "backdated_by")
        .order_by("group__name", "group_id")
    )


def customer_membership_history(customer: Customer) -> QuerySet[Membership]:
    """Every membership period of a customer, latest change first."""
    return (
        Membership.objects.filter(customer=customer)
        .select_related("group", "joined_by", "left_by", "backdated_by")
        .order_by(Coalesce("left_at", "joined_at").desc(), "-pk")
    )


def group_search(term: str, *, limit: int = 10, exclude_customer: Customer | None = None):
    """Groups whose name, code or description contains ``term``, for the customer page.

    ``exclude_customer`` leaves out the groups it already belongs to.
    """
    term = (term or "").strip()
    if not term:
        return CustomerGroup.objects.none()
    queryset = CustomerGroup.objects.search(term)
    if exclude_customer is not None:
        queryset = queryset.exclude(
            pk__in=Membership.objects.current().filter(customer=exclude_customer).values("group_id")
        )
    return queryset.order_by("name", "id")[:limit]


def group_for_term(term: str, *, exclude_customer: Customer | None = None):
    """The group that pressing Enter in the "add to a group" box means: exact code or name first."""
    term = (term or "").strip()
    if not term:
        return None
    exact = CustomerGroup.objects.filter(Q(code__iexact=term) | Q(name__iexact=term)).first()
    if exact is not None:
        return exact
    return group_search(term, limit=1, exclude_customer=exclude_customer).first()


# --- Groups -----------------------------------------------------------------------------------


def _count_subquery(queryset: QuerySet, group_field: str):
    """``COUNT(*)`` of ``queryset`` per outer group, as a correlated subquery (0 when none).

    ``COUNT(*)`` rather than ``COUNT(id)``: PostgreSQL can then answer the current-member
    count with an index-only scan of the partial unique index on open memberships
    (``group_id, customer_id WHERE left_at IS NULL``) instead of visiting every membership row.
    """
    counts = (
        queryset.filter(**{group_field: OuterRef("pk")})
        .order_by()
        .values(group_field)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def group_table(*, include_archived: bool = False) -> QuerySet[CustomerGroup]:
    """Groups annotated with ``member_count`` and ``rule_count`` for the list page.

    Both counts are correlated subqueries, evaluated only for the rows of the page shown
    (or for every row when the list is sorted by them, which is still one statement).
    Archived groups are left out unless ``include_archived`` (the admin).
    """
    groups = CustomerGroup.all_objects if include_archived else CustomerGroup.objects
    return groups.annotate(
        member_count=_count_subquery(Membership.objects.current(), "group"),
        rule_count=_rule_count(),
    ).select_related("reviewed_by")


def _rule_count():
    """Rules targeting the outer group, counted through the reverse relation (0 when none)."""
    counts = (
        CustomerGroup.objects.filter(pk=OuterRef("pk"))
        .annotate(n=Count(RULES_RELATION))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def group_choices() -> list[tuple]:
    """``(pk, name)`` of every group by name, for filter drop-downs (tuples, no model objects)."""
    return list(CustomerGroup.objects.order_by("name", "pk").values_list("pk", "name"))


def groups_without_rules(queryset: QuerySet[CustomerGroup]) -> QuerySet[CustomerGroup]:
    targeted = CustomerGroup.objects.filter(
        pk=OuterRef("pk"), **{f"{RULES_RELATION}__isnull": False}
    )
    return queryset.filter(~Exists(targeted))


def group_detail(pk) -> CustomerGroup:
    """One group with its reviewer (raises ``DoesNotExist``); the page counts members itself."""
    return CustomerGroup.objects.select_related("reviewed_by").get(pk=pk)


def group_named(name: str, *, exclude=None) -> CustomerGroup | None:
    """The group whose name equals ``name`` in any case (the duplicate-name link)."""
    queryset = CustomerGroup.objects.filter(name__iexact=" ".join((name or "").split()))
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    return queryset.first()


def group_delete_blockers(group: CustomerGroup) -> list[Model]:
    """What stops the group from being deleted: the objects of other apps that protect it.

    Found the way deleting finds them, by Django's deletion collector, without deleting
    anything (memberships cascade and are not loaded). Each reads as itself (``str``).
    """
    collector = Collector(using=router.db_for_write(CustomerGroup))
    try:
        collector.collect([group])
    except ProtectedError as exc:
        return sorted(exc.protected_objects, key=str)
    return []


def group_members(group: CustomerGroup, term: str = "") -> QuerySet[Membership]:
    """Current members, most recently joined first (the ``group, joined_at`` index serves it).

    Recent first means a customer just added shows at the top of the first page.
    """
    # The customers of the page come in a second query (prefetch): joining them in the page
    # query makes PostgreSQL hash-join the whole customer table before it sorts and limits.
    queryset = (
        Membership.objects.current()
        .filter(group=group)
        .select_related("joined_by", "backdated_by")
        .prefetch_related("customer")
        .order_by("-joined_at", "-pk")
    )
    term = (term or "").strip()
    if term:
        queryset = queryset.filter(
            Q(customer__name__icontains=term)
            | Q(customer__external_id__icontains=term)
            | Q(customer__email__icontains=term)
        )
    return queryset


def group_has_history(group: CustomerGroup) -> bool:
    """Whether the group ever had a member (then removing it archives it, keeping history)."""
    return Membership.objects.filter(group=group).exists()


def group_members_by_month(
    group: CustomerGroup, *, months: int = 12, now: datetime | None = None
) -> list[tuple[str, int]]:
    """Members at the end of each of the last ``months`` calendar months, this one up to now.

    Months are those of the current time zone (the billing zone in a request). One query: a
    filtered count per month over the group's membership periods.
    """
    now = timezone.localtime(now)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [first]
    for _ in range(months - 1):
        previous = (starts[0] - timedelta(days=1)).replace(day=1)
        starts.insert(0, previous)
    ends = [*starts[1:], now]
    counts = Membership.objects.filter(group=group).aggregate(
        **{f"m{n}": Count("pk", filter=held_at_q(end)) for n, end in enumerate(ends)}
    )
    return [(start.strftime("%Y-%m"), counts[f"m{n}"]) for n, start in enumerate(starts)]


def group_member_count(group: CustomerGroup) -> int:
    return Membership.objects.current().filter(group=group).count()


def group_membership_history(group: CustomerGroup) -> QuerySet[Membership]:
    """Every membership period of the group, latest change (join or leave) first.

    Customers are prefetched for the page only (see ``group_members``).
    """
    return (
        Membership.objects.filter(group=group)
        .select_related("joined_by", "left_by", "backdated_by")
        .prefetch_related("customer")
        .order_by(Coalesce("left_at", "joined_at").desc(), "-pk")
    )


def group_member_rows(group: CustomerGroup) -> Iterator[tuple]:
    """Current members as plain tuples for the CSV export, streamed from a server-side cursor.

    ``values_list().iterator()`` never builds model instances nor holds every row in memory,
    so a group of 100,000 members exports in constant memory.
    """
    return (
        Membership.objects.current()
        .filter(group=group)
        .order_by("customer__name", "customer_id")
        .values_list(
            "customer__external_id",
            "customer__name",
            "customer__email",
            "customer__is_active",
            "joined_at",
        )
        .iterator(chunk_size=2000)
    )


@dataclass
class AuditEntry:
    """One change to a group's or customer's own fields, from django-simple-history."""

    at: datetime
    user: object
    kind: str  # "created", "changed", "archived", "deleted"
    changes: list[tuple[str, object, object]]  # (field label, old, new)


_AUDIT_KINDS = {"+": "created", "~": "changed", "-": "deleted"}
# Bookkeeping that is no edit of the row: reviews, who archived (the entry says "archived"),
# and the version counter.
_AUDIT_IGNORED = {"reviewed_at", "reviewed_by", "created_at", "archived_by", "version"}


def _audit_trail(obj: Customer | CustomerGroup, *, limit: int) -> list[AuditEntry]:
    """The latest changes to ``obj`` with what changed (one query).

    One extra record is fetched so the oldest entry shown can still be diffed against its
    predecessor without a query per entry.
    """
    records = list(
        obj.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : limit + 1
        ]
    )
    labels = {f.name: f.verbose_name for f in type(obj)._meta.fields}
    entries = []
    for index, record in enumerate(records[:limit]):
        previous = records[index + 1] if index + 1 < len(records) else None
        kind = _AUDIT_KINDS.get(record.history_type, record.history_type)
        changes = []
        if previous is not None and record.history_type == "~":
            delta = record.diff_against(previous, excluded_fields=sorted(_AUDIT_IGNORED))
            changes = [
                (str(labels.get(c.field, c.field)), c.old, c.new)
                for c in delta.changes
                if c.field not in _AUDIT_IGNORED
            ]
            if record.archived_at is not None and previous.archived_at is None:
                kind = "archived"
                changes = [change for change in changes if change[0] != "archived at"]
        entries.append(
            AuditEntry(at=record.history_date, user=record.history_user, kind=kind, changes=changes)
        )
    return entries


def group_audit_trail(group: CustomerGroup, *, limit: int = 10) -> list[AuditEntry]:
    """The latest changes to the group's definition (one query)."""
    return _audit_trail(group, limit=limit)


def customer_audit_trail(customer: Customer, *, limit: int = 10) -> list[AuditEntry]:
    """The latest changes to the customer's details (one query)."""
    return _audit_trail(customer, limit=limit)


# --- Filtered lists ---------------------------------------------------------------------------


def group_list(params):
    """``/groups/``: the FilterSet (search, state filters, sorting) over ``group_table()``."""
    from groups.filters import GroupFilter

    return GroupFilter(params, queryset=group_table())


def customer_list(params):
    """``/customers/``: the FilterSet (search, group, status, sorting) over ``customer_table()``."""
    from groups.filters import CustomerFilter

    return CustomerFilter(params, queryset=customer_table())
