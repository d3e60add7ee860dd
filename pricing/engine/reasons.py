"""The sentences rating writes: why a rule won, why another did not, why nothing priced a record.

Stored with unrated records and shown in traces, so a support agent can read them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pricing.engine.prices import ItemPrice, describe, format_price  # noqa: F401 - public here too
from pricing.engine.rules import Rule, Status


class Outcome(StrEnum):
    WON = "won"
    OUTRANKED = "outranked"
    NOT_A_MEMBER = "not a member"
    OTHER_CUSTOMER = "other customer"
    NOT_YET_VALID = "not yet valid"
    EXPIRED = "expired"
    INACTIVE = "inactive"
    NO_PRICE = "no price for item"


# A rule that is not in force on the day, by its status.
OUTCOME_OF_STATUS = {
    Status.DISABLED: Outcome.INACTIVE,
    Status.SCHEDULED: Outcome.NOT_YET_VALID,
    Status.EXPIRED: Outcome.EXPIRED,
}


def rated_reason(rule: Rule, item_code: str, price: ItemPrice) -> str:
    return (
        f"{rule.code} (priority {rule.priority}, {rule.target_label}) prices "
        f"{item_code} at {describe(price, rule.currency)}."
    )


def outcome_reason(outcome: Outcome, rule: Rule, item_code: str, day: date, winner: Rule | None):
    match outcome:
        case Outcome.WON:
            return (
                f"Highest-ranked eligible rule; {rule.price_list_code or 'its price list'} "
                f"prices {item_code}."
            )
        case Outcome.OUTRANKED:
            assert winner is not None
            return f"Eligible, but {winner.code} ranks higher."
        case Outcome.NOT_A_MEMBER:
            return f"The customer was not a member of {rule.group_name or 'the group'} then."
        case Outcome.OTHER_CUSTOMER:
            return f"Applies only to {rule.target_label}."
        case Outcome.NOT_YET_VALID:
            return f"Valid from {rule.valid_from.isoformat()}, after {day.isoformat()}."
        case Outcome.EXPIRED:
            assert rule.valid_to is not None
            return f"Expired on {rule.valid_to.isoformat()}."
        case Outcome.INACTIVE:
            return "The rule is disabled."
        case Outcome.NO_PRICE:
            return (
                f"{rule.price_list_code or 'Its price list'} has no price for "
                f"{item_code}; passed over."
            )
    raise AssertionError(outcome)  # pragma: no cover


def too_large_reason(rule: Rule, item_code: str, price: ItemPrice, limit: Decimal) -> str:
    return (
        f"{rule.code} prices {item_code} at {describe(price, rule.currency)}, but the "
        f"amount would exceed the largest Ratecard stores ({limit:,.2f}); split the record."
    )


def unrated_reason(
    *,
    category: str,
    item_code: str,
    customer_id,
    customer_name: str,
    day: date,
    rules: Sequence[Rule],
    group_ids: frozenset,
) -> str:
    """A sentence a support agent can read out, naming the nearest miss when there is one."""
    who = customer_name or "this customer"
    base = f"No active {category} rule prices item {item_code} for {who} on {day.isoformat()}"
    if not rules:
        return f"{base}; there are no {category} rules at all."
    nearest = _nearest_miss(customer_id, day, rules, group_ids)
    return f"{base}; nearest: {nearest}." if nearest else f"{base}."


def _nearest_miss(customer_id, day: date, rules: Sequence[Rule], group_ids: frozenset):
    """The miss most likely to explain the outcome, most actionable first."""
    for rule in rules:
        if rule.in_force(day) and rule.targets(customer_id, group_ids):
            price_list = rule.price_list_code or "its list"
            return f"{rule.code} applies but {price_list} has no price for it"

    def applies(rule: Rule) -> bool:
        return rule.customer_id is None or rule.customer_id == customer_id

    expired = [r for r in rules if r.status_on(day) == Status.EXPIRED and applies(r)]
    if expired:
        rule = max(expired, key=lambda r: (r.valid_to, -r.priority))
        return f"{rule.code} expired on {rule.valid_to.isoformat()}"  # type: ignore[union-attr]
    scheduled = [r for r in rules if r.status_on(day) == Status.SCHEDULED and applies(r)]
    if scheduled:
        rule = min(scheduled, key=lambda r: (r.valid_from, -r.priority))
        return f"{rule.code} starts on {rule.valid_from.isoformat()}"
    group_rules = [r for r in rules if r.group_id is not None and r.is_active]
    if group_rules:
        rule = group_rules[0]
        return f"{rule.code} needs membership of {rule.group_name or 'its group'}"
    disabled = [r for r in rules if not r.is_active]
    if disabled:
        return f"{disabled[0].code} is disabled"
    return None
