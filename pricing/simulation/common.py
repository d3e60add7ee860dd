"""What the simulation modules share: limits, labels, items per category, customers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import Count

from groups.models import Customer
from groups.selectors import customer_search
from pricing import clock, engine
from pricing.clock import billing_tz
from pricing.models import PricingRule

# Traces longer than this hide the rules that target other groups or customers unless asked:
# at operator scale a category has a thousand rules, nearly all "not a member".
TRACE_FULL_LIMIT = 100
# At most this many groups are offered as "add to" in the what-if (those whose rules rank highest).
WHAT_IF_ADD_LIMIT = 30
COVERAGE_PAGE_SIZE = 10

OUTCOME_BADGE = {
    engine.Outcome.WON: "text-bg-success",
    engine.Outcome.OUTRANKED: "text-bg-secondary",
    engine.Outcome.NO_PRICE: "text-bg-warning",
    engine.Outcome.NOT_A_MEMBER: "text-bg-light border",
    engine.Outcome.OTHER_CUSTOMER: "text-bg-light border",
    engine.Outcome.NOT_YET_VALID: "text-bg-info",
    engine.Outcome.EXPIRED: "text-bg-dark",
    engine.Outcome.INACTIVE: "text-bg-dark",
}


format_price = engine.format_price


def format_quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def billing_now() -> datetime:
    """Now, in the billing time zone, to the minute (what the date-time input can show)."""
    return clock.billing_now().replace(second=0, microsecond=0)


def noon_on(day: date) -> datetime:
    """Midday of ``day`` in the billing time zone: an instant that surely belongs to that day."""
    return datetime.combine(day, time(12), tzinfo=billing_tz())


def basis_of(rule: engine.Rule) -> str:
    """Why the rule applies to the customer, in words a support agent can read out."""
    if rule.target_kind == engine.CUSTOMER:
        return "as an individual deal"
    if rule.target_kind == engine.GROUP:
        return f"as a member of {rule.group_name}"
    return "as everyone's default price"


# --- Items per category ----------------------------------------------------------------------


def items_by_category(categories: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Item codes priced by the rules of each category, most common first (one query).

    "Most common" is the number of the category's rules whose price list prices the item; ties
    go alphabetically. Categories whose rules price nothing map to an empty list.
    """
    rows = PricingRule.objects.all()
    if categories is not None:
        rows = rows.filter(billing_category__in=list(categories))
    rows = (
        rows.order_by()
        .values_list("billing_category", "price_list__items__item_code")
        .annotate(n=Count("pk"))
    )
    counted: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for category, item_code, n in rows:
        bucket = counted[category]
        if item_code is not None:
            bucket.append((-n, item_code))
    return {category: [code for _, code in sorted(counted[category])] for category in counted}


def item_codes_for(category: str) -> list[str]:
    """The items the rules of ``category`` price, most common first (one query)."""
    return items_by_category([category]).get(category, [])


def customer_choices(term: str, selected: Customer | None = None) -> list[Customer]:
    """The customers offered as radio buttons: the selected one first, then search matches."""
    matches = list(customer_search(term)) if term else []
    if selected is None:
        return matches
    return [selected, *(c for c in matches if c.pk != selected.pk)]
