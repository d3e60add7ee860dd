"""The audit: empty and stale groups, and the rules they leave dead or in conflict.

Modules, by role: :mod:`.findings` (what is looked for, and the audit's clock), :mod:`.groups`,
:mod:`.customers`, :mod:`.rules` (the findings about each), :mod:`.pairs` (the pairwise rule
findings as SQL), :mod:`.pages` (counts, lists, pages, export) and :mod:`.actions`. The
pairwise findings' meaning is defined in :mod:`pricing.engine.findings`, and the SQL is
property-tested against it.

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
  ``expiring_soon``    ``expires_on`` is today or within the next 14 days: its members will be
                       removed at the end of that day; rules still live the day after (engine
                       ``not_ended``) stop applying.
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
"""

from pricing.audit.actions import (
    GROUP_GONE,
    GROUP_NOT_EMPTY,
    MAX_SELECTION,
    DeleteOutcome,
    empty_groups_delete,
)
from pricing.audit.customers import customers_in_no_group
from pricing.audit.findings import (
    CUSTOMER,
    DEFERRED_COUNTS,
    FINDINGS,
    FINDINGS_BY_KEY,
    GROUP,
    RULE,
    AuditClock,
    Finding,
    audit_clock,
    explanation,
)
from pricing.audit.pages import (
    CSV_HEADER,
    ListPage,
    audit_summary,
    export_rows,
    finding_count,
    finding_list,
    finding_queryset,
    finding_rows,
    page_of,
)
from pricing.audit.rules import rule_partners, tie_break

__all__ = [
    "CSV_HEADER",
    "CUSTOMER",
    "DEFERRED_COUNTS",
    "FINDINGS",
    "FINDINGS_BY_KEY",
    "GROUP",
    "GROUP_GONE",
    "GROUP_NOT_EMPTY",
    "MAX_SELECTION",
    "RULE",
    "AuditClock",
    "DeleteOutcome",
    "Finding",
    "ListPage",
    "audit_clock",
    "audit_summary",
    "customers_in_no_group",
    "empty_groups_delete",
    "explanation",
    "export_rows",
    "finding_count",
    "finding_list",
    "finding_queryset",
    "finding_rows",
    "page_of",
    "rule_partners",
    "tie_break",
]
