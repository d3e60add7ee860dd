"""The price book as of an instant: the rules and prices in force then, from the history.

django-simple-history keeps every version of rules, price lists and their items; ``as_of``
reads the version current at the instant (one query per model). The rows become the engine's
inputs (:class:`pricing.engine.Rule`, :class:`pricing.engine.ListSpec`), so a customer's price
then is the engine's own answer (:class:`pricing.engine.RuleBook`), with the groups the
customer belonged to at that instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from groups.models import Customer, CustomerGroup
from pricing import engine
from pricing.clock import billing_tz
from pricing.models import PriceList, PriceListItem, PricingRule, item_price
from pricing.selectors import customer_groups_at


@dataclass
class CustomerPrice:
    billing_category: str
    item_code: str
    result: engine.Result


def price_text(value: Decimal) -> str:
    """A unit price as written by people: at least two decimals, no trailing zeros beyond."""
    value = value.normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return format(value, "f")


@dataclass
class BookRow:
    rule: engine.Rule
    prices: list[tuple[str, str, str]]  # item code, unit price as text, mode


@dataclass
class PriceBook:
    at: datetime
    day: date
    rules: list[engine.Rule]  # in force on the day, by category in evaluation order
    customer: Customer | None = None
    groups: list[CustomerGroup] = field(default_factory=list)
    prices: list[CustomerPrice] = field(default_factory=list)

    @property
    def rows(self) -> list[BookRow]:
        return [
            BookRow(
                rule,
                [
                    (code, price_text(price.unit_price), price.mode.value)
                    for code, price in sorted(rule.prices.items())
                ],
            )
            for rule in self.rules
        ]


def _as_of(model, at: datetime) -> list:
    """Each object's history record current at ``at`` (one query), deleted ones left out."""
    records = model.history.filter(history_date__lte=at).latest_of_each()
    return [record for record in records if record.history_type != "-"]


def rules_as_of(at: datetime) -> list[engine.Rule]:
    """Every rule that existed at ``at``, as it was then, with its list's prices then."""
    rules = _as_of(PricingRule, at)
    lists = {pl.id: pl for pl in _as_of(PriceList, at)}
    own: dict = {}
    for item in _as_of(PriceListItem, at):
        own.setdefault(item.price_list_id, {})[item.item_code] = item_price(
            mode=item.pricing_mode,
            unit_price=item.unit_price,
            tiers=item.tiers,
            package_size=item.package_size,
            first_increment=item.first_increment,
            next_increment=item.next_increment,
            minimum_charge=item.minimum_charge,
        )
    resolved = engine.resolve_lists(
        {
            pk: engine.ListSpec(
                code=pl.code,
                items=own.get(pk, {}),
                base_id=pl.base_price_list_id if pl.base_price_list_id in lists else None,
                factor=pl.factor if pl.factor is not None else Decimal(1),
                surcharge=pl.surcharge if pl.surcharge is not None else Decimal(0),
                rounding=pl.rounding if pl.rounding is not None else 2,
            )
            for pk, pl in lists.items()
        }
    )
    group_names = dict(
        CustomerGroup.all_objects.filter(
            pk__in={r.group_id for r in rules if r.group_id}
        ).values_list("pk", "name")
    )
    customer_names = dict(
        Customer.all_objects.filter(
            pk__in={r.customer_id for r in rules if r.customer_id}
        ).values_list("pk", "name")
    )
    result = []
    for rule in rules:
        price_list = lists.get(rule.price_list_id)
        result.append(
            engine.Rule(
                id=rule.id,
                code=rule.code,
                name=rule.name,
                billing_category=rule.billing_category,
                priority=rule.priority,
                valid_from=rule.valid_from,
                valid_to=rule.valid_to,
                is_active=rule.is_active,
                group_id=rule.group_id,
                customer_id=rule.customer_id,
                price_list_id=rule.price_list_id,
                price_list_code=price_list.code if price_list else "",
                currency=price_list.currency if price_list else "",
                prices=resolved.get(rule.price_list_id, {}),
                group_name=group_names.get(rule.group_id, ""),
                customer_name=customer_names.get(rule.customer_id, ""),
            )
        )
    return result


def price_book_as_of(at: datetime, customer: Customer | None = None) -> PriceBook:
    """The rules in force at ``at`` and, for ``customer``, the price of every item then."""
    tz = billing_tz()
    book = engine.RuleBook(rules_as_of(at), tz=tz)
    day = engine.billing_day(at, tz)
    in_force = [
        rule
        for category in book.categories
        for rule in book.rules_for(category)
        if rule.in_force(day)
    ]
    result = PriceBook(at=at, day=day, rules=in_force)
    if customer is None:
        return result
    groups = customer_groups_at(customer.pk, at)
    result.customer = customer
    result.groups = sorted(groups.values(), key=lambda g: g.name)
    group_ids = frozenset(groups)
    for category in book.categories:
        items = sorted({code for rule in book.rules_for(category) for code in rule.prices})
        for item in items:
            usage = engine.Usage(
                customer_id=customer.pk,
                billing_category=category,
                item_code=item,
                quantity=Decimal(1),
                occurred_at=at,
                customer_name=customer.name,
            )
            outcome = book.rate(usage, group_ids=group_ids, trace=False)
            result.prices.append(CustomerPrice(category, item, outcome))
    return result
