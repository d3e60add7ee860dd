"""Reads for pricing: the engine's inputs loaded in a fixed, small number of queries.

``evaluate`` is what every single-record surface calls (the rate API, the simulation, a
customer's effective pricing): three queries whatever the number of rules or memberships.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet

from groups.models import Customer, CustomerGroup, Membership
from pricing import engine
from pricing.models import PriceListItem, PricingRule


@cache
def billing_tz(name: str | None = None) -> ZoneInfo:
    return ZoneInfo(name or settings.BILLING_TIME_ZONE)


RULE_COLUMNS = (
    "id",
    "code",
    "name",
    "billing_category",
    "priority",
    "valid_from",
    "valid_to",
    "is_active",
    "group_id",
    "customer_id",
    "price_list_id",
    "price_list__code",
    "price_list__currency",
    "group__name",
    "customer__name",
)


def engine_rules(
    *,
    categories: Iterable[str] | None = None,
    item_codes: Iterable[str] | None = None,
    rules: QuerySet[PricingRule] | None = None,
) -> list[engine.Rule]:
    """Rules of ``categories`` (all when None) with their prices, in two queries.

    Rows are read as tuples, not model instances: at thousands of rules building models costs
    more than the query. ``item_codes`` narrows the prices loaded to the items being rated,
    which is all a single rating needs; batch rating loads every item once per batch.
    """
    queryset = rules if rules is not None else PricingRule.objects.all()
    if categories is not None:
        queryset = queryset.filter(billing_category__in=list(categories))
    rows = list(queryset.order_by().values_list(*RULE_COLUMNS))
    prices: dict = defaultdict(dict)
    list_ids = {row[10] for row in rows}
    if list_ids:
        items = PriceListItem.objects.filter(price_list_id__in=list_ids)
        if item_codes is not None:
            items = items.filter(item_code__in=list(item_codes))
        for list_id, code, price in items.values_list("price_list_id", "item_code", "unit_price"):
            prices[list_id][code] = price
    return [
        engine.Rule(
            id=rule_id,
            code=code,
            name=name,
            billing_category=category,
            priority=priority,
            valid_from=valid_from,
            valid_to=valid_to,
            is_active=is_active,
            group_id=group_id,
            customer_id=customer_id,
            price_list_id=list_id,
            price_list_code=list_code,
            currency=currency,
            prices=prices[list_id],
            group_name=group_name or "",
            customer_name=customer_name or "",
        )
        for (
            rule_id,
            code,
            name,
            category,
            priority,
            valid_from,
            valid_to,
            is_active,
            group_id,
            customer_id,
            list_id,
            list_code,
            currency,
            group_name,
            customer_name,
        ) in rows
    ]


def memberships_of(customer_id) -> list[tuple[engine.MembershipPeriod, CustomerGroup]]:
    """Every membership period of a customer, past and present, with its group (one query)."""
    rows = Membership.objects.filter(customer_id=customer_id).select_related("group")
    return [(engine.MembershipPeriod(m.group_id, m.joined_at, m.left_at), m.group) for m in rows]


@dataclass
class Evaluation:
    """An engine result with the context the pages and the API show beside it."""

    customer: Customer
    usage: engine.Usage
    result: engine.Result
    groups: list[CustomerGroup]  # the customer's groups at the instant, by name

    @property
    def rated(self) -> bool:
        return self.result.rated


def evaluate(
    *,
    customer: Customer,
    billing_category: str,
    item_code: str,
    quantity: Decimal,
    occurred_at: datetime,
    add_group_ids: Sequence = (),
    remove_group_ids: Sequence = (),
    extra_groups: Sequence[CustomerGroup] = (),
) -> Evaluation:
    """Rate one record without storing anything, with the trace (three queries).

    ``add_group_ids`` / ``remove_group_ids`` make a what-if: the customer is treated as a
    member (or not) of those groups at the instant; ``extra_groups`` supplies their names.
    """
    rules = engine_rules(categories=[billing_category], item_codes=[item_code])
    periods = memberships_of(customer.pk)
    group_by_id = {group.pk: group for _, group in periods}
    group_by_id.update({group.pk: group for group in extra_groups})
    group_ids = engine.groups_at((p for p, _ in periods), occurred_at)
    group_ids = (group_ids | frozenset(add_group_ids)) - frozenset(remove_group_ids)
    usage = engine.Usage(
        customer_id=customer.pk,
        billing_category=billing_category,
        item_code=item_code,
        quantity=quantity,
        occurred_at=occurred_at,
        customer_name=customer.name,
    )
    result = engine.RuleBook(rules, tz=billing_tz()).rate(usage, group_ids=group_ids)
    groups = sorted(
        (group_by_id[gid] for gid in group_ids if gid in group_by_id), key=lambda g: g.name
    )
    return Evaluation(customer=customer, usage=usage, result=result, groups=groups)


def categories_in_use() -> list[str]:
    """Billing categories that at least one rule prices, alphabetically."""
    return list(
        PricingRule.objects.order_by("billing_category")
        .values_list("billing_category", flat=True)
        .distinct()
    )
