"""The audit's findings about rules, in plain Python: what the audit's SQL must answer.

The audit (``pricing.audit``) finds these with set-based SQL for speed; these definitions are
what that SQL is property-tested against (``tests/pricing/test_audit_properties.py``). All are
judged on one billing day ``today``, with the groups' current members (open memberships) and
the active customers. Words used:

- A rule **can apply** to somebody when it is in force and targets everyone, an active
  customer, or a group with at least one current member.
- Two rules **share an item** when their price lists price a common item code (the same list
  counts): rules that share no item never compete, since the engine passes over a rule whose
  list lacks the item.

Findings:

- **tie**: two different rules that can apply, same category and priority, sharing an item,
  that can reach one customer: either targets everyone, both target one customer or one group,
  one targets a customer who is a current member of the other's group, or their two groups have
  a common current member. Precedence then rests on a tie-break nobody chose.
- **shadowed**: a rule R that has not ended, and an everyone-rule S (enabled, not ended, of the
  same category, higher priority, whose list prices every item R's prices) whose validity covers
  what is left of R's (S starts no later than R or than today, and S has no end or, R having
  one, ends no earlier): wherever R is eligible S is too, ranks higher and has a price.
- **hidden**: a customer rule C that can apply, and a group rule G that can apply, same category,
  ``C.priority > G.priority``, C's customer a current member of G's group, sharing an item: for
  those items the customer never gets its group's price.
- **never applies**: an enabled rule that has ended, or whose group has no current member, or
  whose customer is inactive.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import combinations

from pricing.engine.rules import Status, in_force, not_ended, status_on


@dataclass(frozen=True)
class AuditedRule:
    """A rule as the audit sees it: its terms, its target and the item codes its list prices."""

    id: Hashable
    billing_category: str
    priority: int
    valid_from: date
    valid_to: date | None
    is_active: bool
    price_list_id: Hashable
    items: frozenset[str]
    group_id: Hashable | None = None
    customer_id: Hashable | None = None


@dataclass(frozen=True)
class World:
    """Everything the findings depend on besides the rules."""

    today: date
    members: Mapping[Hashable, frozenset]  # group id -> its current members
    active_customers: frozenset

    def members_of(self, group_id) -> frozenset:
        return self.members.get(group_id, frozenset())


def can_apply(rule: AuditedRule, world: World) -> bool:
    if not in_force(rule.is_active, rule.valid_from, rule.valid_to, world.today):
        return False
    if rule.customer_id is not None:
        return rule.customer_id in world.active_customers
    if rule.group_id is not None:
        return bool(world.members_of(rule.group_id))
    return True


def share_item(a: AuditedRule, b: AuditedRule) -> bool:
    return a.price_list_id == b.price_list_id or not a.items.isdisjoint(b.items)


def _reach_one_customer(a: AuditedRule, b: AuditedRule, world: World) -> bool:
    everyone_a = a.group_id is None and a.customer_id is None
    everyone_b = b.group_id is None and b.customer_id is None
    if everyone_a or everyone_b:
        return True
    if a.customer_id is not None and a.customer_id == b.customer_id:
        return True
    if a.group_id is not None and a.group_id == b.group_id:
        return True
    if a.customer_id is not None and b.group_id is not None:
        return a.customer_id in world.members_of(b.group_id)
    if b.customer_id is not None and a.group_id is not None:
        return b.customer_id in world.members_of(a.group_id)
    if a.group_id is not None and b.group_id is not None:
        return not world.members_of(a.group_id).isdisjoint(world.members_of(b.group_id))
    return False


def tie_pairs(rules: Iterable[AuditedRule], world: World) -> set[tuple]:
    """Every tied pair, both ways round: ``(rule_id, partner_id)``."""
    applicable = [rule for rule in rules if can_apply(rule, world)]
    pairs: set[tuple] = set()
    for a, b in combinations(applicable, 2):
        if (
            a.billing_category == b.billing_category
            and a.priority == b.priority
            and share_item(a, b)
            and _reach_one_customer(a, b, world)
        ):
            pairs.update({(a.id, b.id), (b.id, a.id)})
    return pairs


def shadow_pairs(rules: Iterable[AuditedRule], world: World) -> set[tuple]:
    """``(shadowed rule id, shadowing everyone-rule id)`` for every shadowed rule."""
    rules = list(rules)
    today = world.today
    pairs: set[tuple] = set()
    for shadow in rules:
        if shadow.group_id is not None or shadow.customer_id is not None:
            continue
        if not not_ended(shadow.is_active, shadow.valid_to, today):
            continue
        for rule in rules:
            if rule.id == shadow.id or not not_ended(rule.is_active, rule.valid_to, today):
                continue
            if rule.billing_category != shadow.billing_category:
                continue
            if shadow.priority <= rule.priority:
                continue
            covers_items = shadow.price_list_id == rule.price_list_id or rule.items <= shadow.items
            starts_in_time = shadow.valid_from <= max(rule.valid_from, today)
            lasts = shadow.valid_to is None or (
                rule.valid_to is not None and shadow.valid_to >= rule.valid_to
            )
            if covers_items and starts_in_time and lasts:
                pairs.add((rule.id, shadow.id))
    return pairs


def hidden_pairs(rules: Iterable[AuditedRule], world: World) -> set[tuple]:
    """``(customer rule id, group rule id)`` for every group rule a customer rule hides."""
    applicable = [rule for rule in rules if can_apply(rule, world)]
    pairs: set[tuple] = set()
    for deal in applicable:
        if deal.customer_id is None:
            continue
        for group_rule in applicable:
            if (
                group_rule.group_id is not None
                and group_rule.billing_category == deal.billing_category
                and group_rule.priority < deal.priority
                and deal.customer_id in world.members_of(group_rule.group_id)
                and share_item(deal, group_rule)
            ):
                pairs.add((deal.id, group_rule.id))
    return pairs


def never_applies(rules: Iterable[AuditedRule], world: World) -> set:
    """The ids of enabled rules that can price nothing, now or later."""
    found = set()
    for rule in rules:
        if not rule.is_active:
            continue
        ended = status_on(True, rule.valid_from, rule.valid_to, world.today) == Status.EXPIRED
        empty_group = rule.group_id is not None and not world.members_of(rule.group_id)
        inactive = rule.customer_id is not None and rule.customer_id not in world.active_customers
        if ended or empty_group or inactive:
            found.add(rule.id)
    return found


PAIRS = {"tie": tie_pairs, "shadowed": shadow_pairs, "hidden": hidden_pairs}
