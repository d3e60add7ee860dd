"""Reads for pricing: the engine's inputs loaded in a fixed, small number of queries.

``evaluate`` is what every single-record surface calls (the rate API, the simulation): two
queries whatever the number of rules or memberships, the rules coming from the process's cached
rule book (:mod:`pricing.rulecache`), checked by one query.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from django.db.models import QuerySet

from groups.models import Customer, CustomerGroup, Membership
from pricing import engine, rulecache
from pricing.models import PriceList, PriceListItem, PricingRule, item_price

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
    "price_list__base_price_list_id",
)

ITEM_COLUMNS = (
    "price_list_id",
    "item_code",
    "pricing_mode",
    "unit_price",
    "tiers",
    "package_size",
    "first_increment",
    "next_increment",
    "minimum_charge",
)


def list_prices(
    list_ids: Iterable, *, derived: bool, item_codes: Iterable[str] | None = None, using=None
) -> dict:
    """Every list's effective prices (its own items over its base chain's, derived by the
    engine: :func:`pricing.engine.resolve_lists`), by list id.

    One query for the items; one more, only when some list is ``derived``, for the lists'
    derivations (every list: chains are short and lists are few).
    """
    manager = PriceList.objects.using(using) if using else PriceList.objects
    specs: dict = {}
    wanted = set(list_ids)
    if derived:
        for pk, code, base, factor, surcharge, rounding in manager.values_list(
            "pk", "code", "base_price_list_id", "factor", "surcharge", "rounding"
        ):
            specs[pk] = [code, {}, base, factor, surcharge, rounding]
        for pk in list(wanted):
            seen = set()
            while pk is not None and pk in specs and pk not in seen:
                seen.add(pk)
                wanted.add(pk)
                pk = specs[pk][2]
    items = PriceListItem.objects.using(manager.db).filter(price_list_id__in=wanted)
    if item_codes is not None:
        items = items.filter(item_code__in=list(item_codes))
    own: dict = defaultdict(dict)
    for list_id, code, mode, unit_price, tiers, size, first, step, minimum in items.values_list(
        *ITEM_COLUMNS
    ):
        own[list_id][code] = item_price(
            mode=mode,
            unit_price=unit_price,
            tiers=tiers,
            package_size=size,
            first_increment=first,
            next_increment=step,
            minimum_charge=minimum,
        )
    if not derived:
        return {list_id: own.get(list_id, {}) for list_id in wanted}
    lists = {
        pk: engine.ListSpec(
            code=code,
            items=own.get(pk, {}),
            base_id=base,
            factor=factor,
            surcharge=surcharge,
            rounding=rounding,
        )
        for pk, (code, _, base, factor, surcharge, rounding) in specs.items()
        if pk in wanted
    }
    return engine.resolve_lists(lists)


def engine_rules(
    *,
    categories: Iterable[str] | None = None,
    item_codes: Iterable[str] | None = None,
    rules: QuerySet[PricingRule] | None = None,
    using: str | None = None,
) -> list[engine.Rule]:
    """Rules of ``categories`` (all when None) with their prices, in two queries (three when
    some price list is derived from another).

    Rows are read as tuples, not model instances: at thousands of rules building models costs
    more than the query. ``item_codes`` narrows the prices loaded to the items being rated;
    the cached rule book and batch rating load every item. Rules sharing a price list share
    one read-only mapping of its prices.
    """
    queryset = rules if rules is not None else PricingRule.objects.all()
    if using is not None:
        queryset = queryset.using(using)
    if categories is not None:
        queryset = queryset.filter(billing_category__in=list(categories))
    rows = list(queryset.order_by().values_list(*RULE_COLUMNS))
    list_ids = {row[10] for row in rows}
    prices = (
        list_prices(
            list_ids,
            derived=any(row[15] is not None for row in rows),
            item_codes=item_codes,
            using=queryset.db,
        )
        if list_ids
        else {}
    )
    frozen = {list_id: MappingProxyType(prices.get(list_id, {})) for list_id in list_ids}
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
            prices=frozen[list_id],
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
            _base,
        ) in rows
    ]


def _group_ref(db: str, **values) -> CustomerGroup:
    """A group loaded with only the fields given (``from_db`` wants them in model order)."""
    names = [f.attname for f in CustomerGroup._meta.concrete_fields if f.attname in values]
    return CustomerGroup.from_db(db, names, [values[name] for name in names])


def memberships_of(customer_ids: Iterable, instants: Sequence[datetime] = ()) -> dict:
    """Every membership period of these customers, by customer, in one query: lists of
    ``(period, group)`` with the group loaded with its id, code and name.

    Given ``instants``, only the periods that can hold one of them are read (those overlapping
    the span from the earliest to the latest, :meth:`MembershipQuerySet.during`): a customer's
    years of history are not loaded to rate this morning's calls.
    """
    periods = Membership.objects.filter(customer_id__in=list(customer_ids))
    if instants:
        periods = periods.during(min(instants), max(instants) + timedelta(microseconds=1))
    rows = periods.order_by().values_list(
        "customer_id", "group_id", "joined_at", "left_at", "group__code", "group__name"
    )
    db = rows.db
    found: dict = defaultdict(list)
    groups: dict = {}
    for customer_id, group_id, joined_at, left_at, code, name in rows:
        group = groups.get(group_id)
        if group is None:
            group = groups[group_id] = _group_ref(db, id=group_id, code=code, name=name)
        found[customer_id].append((engine.MembershipPeriod(group_id, joined_at, left_at), group))
    return found


def _groups_at(periods: Sequence, instant: datetime) -> dict:
    """The groups (by id) whose period holds ``instant``: the engine's own rule
    (:meth:`pricing.engine.MembershipPeriod.contains`)."""
    return {period.group_id: group for period, group in periods if period.contains(instant)}


def customer_groups_at(customer_id, instant: datetime) -> dict:
    """The groups (by id) a customer belonged to at ``instant``, in one query.

    The groups carry their id, code and name, what the pages and the API show; other fields load
    on access.
    """
    return _groups_at(memberships_of([customer_id], [instant]).get(customer_id, ()), instant)


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
    """Rate one record without storing anything, with the trace (two queries).

    The rules come from the cached rule book (one query checks it is current; two more rebuild
    it after a change); the customer's groups at the instant take one
    (:func:`customer_groups_at`). The trace is computed when read (:class:`pricing.engine.Trace`).

    ``add_group_ids`` / ``remove_group_ids`` make a what-if: the customer is treated as a
    member (or not) of those groups at the instant; ``extra_groups`` supplies their names.
    """
    book = rulecache.rule_book()
    member_of = customer_groups_at(customer.pk, occurred_at)
    return _evaluation(
        book,
        member_of,
        RateRequest(customer, billing_category, item_code, quantity, occurred_at),
        add_group_ids=add_group_ids,
        remove_group_ids=remove_group_ids,
        extra_groups=extra_groups,
    )


@dataclass(frozen=True)
class RateRequest:
    """One record to rate without storing it (:func:`evaluate_many`)."""

    customer: Customer
    billing_category: str
    item_code: str
    quantity: Decimal
    occurred_at: datetime


def evaluate_many(requests: Sequence[RateRequest], *, trace: bool = True) -> list[Evaluation]:
    """:func:`evaluate` for many records at once, in their order, in two queries whatever their
    number: the rule book's check, and every membership of their customers.

    Without ``trace``, records are rated through the book's index
    (:func:`pricing.rulecache.rating_index`, the engine's answers without walking every rule of
    the category), and the results carry no trace.
    """
    if not trace:
        return [
            Evaluation(
                customer=request.customer,
                usage=usage,
                result=result,
                groups=_by_name(_groups_at(held, request.occurred_at).values()),
            )
            for request, usage, result, held in rate_quickly(requests)
        ]
    book = rulecache.rule_book()
    periods = memberships_of(
        {request.customer.pk for request in requests},
        [request.occurred_at for request in requests],
    )
    return [
        _evaluation(
            book, _groups_at(periods.get(request.customer.pk, ()), request.occurred_at), request
        )
        for request in requests
    ]


def rate_quickly(requests: Sequence[RateRequest], *, steps: bool = True) -> Iterator[tuple]:
    """Records rated by the engine without a trace, in two queries whatever their number (the
    cached book's check, every membership of their customers), through the book's index
    (:func:`pricing.rulecache.rating_index`): ``(request, usage, result, periods)`` per record,
    in order, ``periods`` the customer's ``(MembershipPeriod, group)`` pairs as read. Without
    ``steps``, rated results carry no arithmetic (what storing them needs)."""
    index = rulecache.rating_index()
    periods = memberships_of(
        {request.customer.pk for request in requests},
        [request.occurred_at for request in requests],
    )
    keys: dict = {}  # a customer's key and periods as the index reads them (ids as text)
    for request in requests:
        customer = request.customer
        held = periods.get(customer.pk, ())
        found = keys.get(customer.pk)
        if found is None:
            found = keys[customer.pk] = (
                str(customer.pk),
                [(str(p.group_id), p.joined_at, p.left_at) for p, _ in held],
            )
        key, span = found
        usage = engine.Usage(
            customer_id=key,
            billing_category=request.billing_category,
            item_code=request.item_code,
            quantity=request.quantity,
            occurred_at=request.occurred_at,
            customer_name=customer.name,
        )
        yield request, usage, index.rate(usage, span, steps=steps), held


def _usage(request: RateRequest) -> engine.Usage:
    return engine.Usage(
        customer_id=request.customer.pk,
        billing_category=request.billing_category,
        item_code=request.item_code,
        quantity=request.quantity,
        occurred_at=request.occurred_at,
        customer_name=request.customer.name,
    )


def _by_name(groups) -> list[CustomerGroup]:
    return sorted(groups, key=lambda g: g.name)


def _evaluation(
    book,
    member_of: dict,
    request: RateRequest,
    *,
    add_group_ids: Sequence = (),
    remove_group_ids: Sequence = (),
    extra_groups: Sequence[CustomerGroup] = (),
) -> Evaluation:
    group_ids = (frozenset(member_of) | frozenset(add_group_ids)) - frozenset(remove_group_ids)
    group_by_id = {**member_of, **{group.pk: group for group in extra_groups}}
    usage = _usage(request)
    result = book.rate(usage, group_ids=group_ids)
    groups = _by_name(group_by_id[gid] for gid in group_ids if gid in group_by_id)
    return Evaluation(customer=request.customer, usage=usage, result=result, groups=groups)


def categories_in_use() -> list[str]:
    """Billing categories that at least one rule prices, alphabetically."""
    return list(
        PricingRule.objects.order_by("billing_category")
        .values_list("billing_category", flat=True)
        .distinct()
    )
