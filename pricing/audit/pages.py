"""The audit's pages and export: counts, filtered lists, one page of rows, the CSV rows.

Every finding is one set-based query, so the number of queries a page makes does not grow with
the number of groups, rules, customers or memberships; Python only touches the rows of one page
(and, streaming, the rows of a CSV export).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Exists, Q, QuerySet, Window
from django.urls import reverse
from django_filters import FilterSet

from pricing.audit.customers import customer_rows, customers_in_no_group
from pricing.audit.expiring import attach_stopping_rules
from pricing.audit.findings import (
    CUSTOMER,
    FINDINGS,
    FINDINGS_BY_KEY,
    GROUP,
    GROUP_KEYS,
    RULE,
    RULE_KEYS,
    AuditClock,
    Finding,
)
from pricing.audit.groups import current_members, group_finding_q, group_rows, groups_with_flags
from pricing.audit.rules import (
    never_applies_reasons,
    rule_finding_q,
    rule_partners,
    rule_rows,
)
from pricing.filters_audit import FILTERSETS
from pricing.models import PricingRule


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
        rows = group_rows(ids, clock)
        if key == "expiring_soon":
            attach_stopping_rules(rows)
        return rows
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
        .annotate(group_is_empty=Q(group__isnull=False) & ~Exists(current_members("group_id")))
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
