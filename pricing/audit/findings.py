"""What the audit looks for, and the instant it is judged at.

The words the page and the CSV use for each finding are here; what the pairwise rule findings
mean is defined in :mod:`pricing.engine.findings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from pricing.clock import billing_tz
from pricing.engine import billing_day

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
        "expiring_soon",
        GROUP,
        "Expiring within 14 days",
        "The planned expiry of these groups falls within the next 14 days. At the end of that "
        "day (billing time zone) their members are removed automatically, and the rules listed "
        "stop applying to anybody.",
        "Move the planned expiry if the promotion should run longer; otherwise nothing to do.",
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
        today=billing_day(now, billing_tz()),
        review_days=getattr(settings, "RATECARD_REVIEW_OVERDUE_DAYS", 90),
        stale_days=getattr(settings, "RATECARD_STALE_MEMBERSHIP_DAYS", 180),
    )


def explanation(finding: Finding, clock: AuditClock) -> str:
    return finding.explanation.format(review_days=clock.review_days, stale_days=clock.stale_days)


GROUP_KEYS = tuple(f.key for f in FINDINGS if f.subject == GROUP)
RULE_KEYS = tuple(f.key for f in FINDINGS if f.subject == RULE)
# The counts that cost a pass over every customer ("no_group") or compare rules with rules
# (the pairwise findings; "tie" also intersects group memberships). The page asks for each in
# a request of its own, so its first response does not wait for them (``pricing.views.audit``).
DEFERRED_COUNTS = frozenset({"no_group", "shadowed", "tie", "hidden"})
