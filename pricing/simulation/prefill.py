"""A simulation pre-filled from a rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from groups.models import Customer, Membership
from pricing import engine
from pricing.clock import billing_today
from pricing.models import PricingRule
from pricing.simulation.common import item_codes_for, noon_on
from pricing.simulation.one import simulate_url

# --- Pre-filling from a rule -----------------------------------------------------------------


@dataclass
class RulePrefill:
    rule: PricingRule
    customer: Customer | None
    item: str
    at: datetime | None  # None: now
    note: str

    @property
    def url(self) -> str:
        return simulate_url(
            customer=self.customer,
            category=self.rule.billing_category,
            item=self.item,
            quantity=Decimal(1),
            at=self.at,
        )


def prefill_from_rule(rule_id) -> RulePrefill | None:
    """What to simulate to see ``rule_id`` at work: its category, one of its customers, an item.

    The customer is the rule's own customer, or a member of its group on the day simulated
    (first by name). The day is today, or the rule's first (last) day when it is scheduled
    (expired), so the rule is in force. The item is the category's most common item the rule's
    price list prices. None for an unknown rule. Four queries at most.
    """
    rule = PricingRule.objects.with_targets().filter(pk=rule_id).first()
    if rule is None:
        return None
    at: datetime | None = None
    status = rule.status_on(billing_today())
    if status == engine.Status.SCHEDULED:
        at = noon_on(rule.valid_from)
    elif status == engine.Status.EXPIRED:
        at = noon_on(rule.valid_to)
    own_items = set(rule.price_list.items.values_list("item_code", flat=True))
    item = next((code for code in item_codes_for(rule.billing_category) if code in own_items), "")
    customer = rule.customer
    if rule.group_id is not None:
        membership = (
            Membership.objects.as_of(at or timezone.now())
            .filter(group_id=rule.group_id)
            .select_related("customer")
            .order_by("customer__name", "customer_id")
            .first()
        )
        customer = membership.customer if membership else None
        note = (
            f"Simulating {rule.code} for {customer.name}, a member of {rule.group.name}."
            if customer
            else f"{rule.group.name} has no members then; pick a customer to simulate {rule.code}."
        )
    elif customer is not None:
        note = f"Simulating {rule.code} for its customer, {customer.name}."
    else:
        note = f"{rule.code} applies to everyone; pick a customer to simulate it."
    return RulePrefill(rule=rule, customer=customer, item=item, at=at, note=note)
