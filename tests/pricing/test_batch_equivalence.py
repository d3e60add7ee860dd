"""Batch rating gives exactly the single-record engine's answer (``pricing.selectors.evaluate``).

Hypothesis builds small worlds where ties, boundaries and history matter: rules with equal
priorities, validity starting or ending on the records' days (around a DST change when the
billing time zone is not UTC), memberships that start, end and start again exactly at a record's
instant, price lists that miss items. Every record is then rated three ways: stored and rated
by ``rate_usage``'s batch path, stored and rated at once by ``usage_records_create`` (the API
path), and rated alone by ``evaluate``; all three must agree on status, rule, price list, unit
price, amount, currency and the unrated reason.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing import batch, engine, services
from pricing.models import PriceListItem, UsageRecord, UsageStatus
from pricing.selectors import evaluate
from tests import factories

DAYS = [date(2026, 3, 28) + timedelta(days=n) for n in range(3)]  # 29 March: DST in Europe
OFFSETS = [
    timedelta(hours=-2),
    timedelta(microseconds=-1),
    timedelta(0),
    timedelta(hours=5),
]
PIVOT = datetime(2026, 3, 29, tzinfo=UTC)
# Hypothesis shrinks towards the first value of a list: start from the middle of the window,
# where rules are valid and memberships change, not from its empty edge.
INSTANTS = sorted(
    {
        datetime.combine(day, datetime.min.time(), tzinfo=UTC) + offset
        for day in DAYS
        for offset in OFFSETS
    },
    key=lambda at: abs(at - PIVOT),
)
CATEGORIES = ["retail", "iot"]
ITEMS = ["minute", "SMS"]
PRICES = [Decimal(v) for v in ("0", "0.005", "0.333333", "1.25", "2.5", "19.999999")]
QUANTITIES = [Decimal(v) for v in ("0.000001", "0.5", "1", "3", "10.25", "333.333333")]

settings_ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


TIERS = [
    [{"up_to": "1", "unit_price": "2.5"}, {"up_to": None, "unit_price": "0.333333"}],
    [
        {"up_to": "0.5", "unit_price": "0"},
        {"up_to": "10", "unit_price": "1.25"},
        {"up_to": None, "unit_price": "1"},
    ],
]


@st.composite
def prices(draw) -> dict:
    """An item's price: every mode, with or without increments and a minimum charge."""
    mode = draw(st.sampled_from(["per_unit", "per_unit", "graduated", "volume", "package"]))
    price = {"pricing_mode": mode, "unit_price": draw(st.sampled_from(PRICES))}
    if mode in ("graduated", "volume"):
        price["tiers"] = draw(st.sampled_from(TIERS))
        price["unit_price"] = Decimal(price["tiers"][0]["unit_price"])
    if mode == "package":
        price["package_size"] = draw(st.sampled_from([Decimal("1"), Decimal("3")]))
    if draw(st.booleans()):
        first = draw(st.sampled_from([Decimal("1"), Decimal("0.5")]))
        price["first_increment"] = first
        price["next_increment"] = draw(st.sampled_from([None, first, Decimal("0.25")]))
    if draw(st.booleans()):
        price["minimum_charge"] = draw(st.sampled_from([Decimal("0.30"), Decimal("5")]))
    return price


@st.composite
def worlds(draw):
    n_customers = draw(st.integers(1, 2))
    n_groups = draw(st.integers(1, 2))
    memberships = []
    for customer in range(n_customers):
        for group in range(n_groups):
            # Zero to two periods, the second starting where (or after) the first ended.
            bounds = sorted(draw(st.lists(st.sampled_from(INSTANTS), max_size=3, unique=True)))
            while len(bounds) >= 2:
                joined, left = bounds.pop(0), bounds.pop(0)
                memberships.append((customer, group, joined, left))
            if bounds:
                memberships.append((customer, group, bounds[0], None))
    price_lists = [
        {
            item: draw(prices())
            for item in draw(st.sampled_from([ITEMS, ITEMS, ITEMS[:1], ITEMS[1:], []]))
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    # A list may be derived from an earlier one (its own items override the base's).
    bases = [draw(st.none() | st.just(n - 1)) if n else None for n in range(len(price_lists))]
    rules = []
    for _ in range(draw(st.integers(2, 8))):
        valid_from = draw(st.sampled_from([DAYS[0] - timedelta(days=1), *DAYS]))
        valid_to = draw(st.sampled_from([None, None, *[d for d in DAYS if d >= valid_from]]))
        target = draw(
            st.sampled_from(["everyone"])
            | st.tuples(st.just("group"), st.integers(0, n_groups - 1))
            | st.tuples(st.just("customer"), st.integers(0, n_customers - 1))
        )
        rules.append(
            {
                "category": draw(st.sampled_from(CATEGORIES)),
                "price_list": draw(st.integers(0, len(price_lists) - 1)),
                "priority": draw(st.integers(0, 1)),
                "valid_from": valid_from,
                "valid_to": valid_to,
                "is_active": draw(st.sampled_from([True, True, True, False])),
                "target": target,
            }
        )
    records = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_customers - 1),
                st.sampled_from([*CATEGORIES, *CATEGORIES, "roaming"]),
                st.sampled_from(ITEMS),
                st.sampled_from(QUANTITIES),
                st.sampled_from(INSTANTS)
                | st.sampled_from([m[2] for m in memberships] or [DAYS[0]]),
            ),
            min_size=1,
            max_size=20,
        )
    )
    return n_customers, n_groups, memberships, (price_lists, bases), rules, records


def _joins(memberships) -> list:
    """Instants where a membership starts or ends, so records land exactly on a boundary."""
    return [at for m in memberships for at in m[2:] if at is not None]


def _build(world):
    n_customers, n_groups, memberships, price_lists, rules, records = world
    customers = [factories.customer() for _ in range(n_customers)]
    groups = [factories.group() for _ in range(n_groups)]
    for customer, group, joined, left in memberships:
        factories.membership(groups[group], customers[customer], joined_at=joined, left_at=left)
    price_lists, bases = price_lists
    lists = []
    for items, base in zip(price_lists, bases, strict=True):
        derived = {}
        if base is not None:
            derived = {"base_price_list": lists[base], "factor": Decimal("0.8"), "rounding": 3}
        price_list = factories.price_list(items={}, **derived)
        for code, price in items.items():
            PriceListItem.objects.create(price_list=price_list, item_code=code, unit=code, **price)
        lists.append(price_list)
    for spec in rules:
        target = spec["target"]
        factories.rule(
            billing_category=spec["category"],
            price_list=lists[spec["price_list"]],
            priority=spec["priority"],
            valid_from=spec["valid_from"],
            valid_to=spec["valid_to"],
            is_active=spec["is_active"],
            group=groups[target[1]] if target[0] == "group" else None,
            customer=customers[target[1]] if target[0] == "customer" else None,
        )
    inputs = []
    for customer, category, item, quantity, at in records:
        at = at if isinstance(at, datetime) else datetime.combine(at, datetime.min.time(), UTC)
        inputs.append(
            {
                "customer": customers[customer],
                "billing_category": category,
                "item_code": item,
                "quantity": quantity,
                "occurred_at": at,
            }
        )
    return inputs


def _stored(record: UsageRecord) -> tuple:
    return (
        record.billed_quantity,
        record.price_terms_id,
        record.breakdown(),
        record.status,
        record.rule_id,
        record.rule_code,
        record.price_list_id,
        record.price_list_code,
        record.unit_price,
        record.amount,
        record.currency,
        record.unrated_reason,
    )


def _expected(data) -> tuple:
    result = evaluate(**data).result
    if not result.rated:
        return (
            None,
            None,
            None,
            UsageStatus.UNRATED,
            None,
            "",
            None,
            "",
            None,
            None,
            "",
            result.reason,
        )
    rule = result.rule
    price = rule.prices[data["item_code"]]
    detailed = not price.simple
    return (
        result.charge.billed_quantity if detailed else None,
        engine.terms_key(engine.terms(price)) if detailed else None,
        # Every rated record shows the engine's breakdown (worked out from the stored terms).
        result.charge.breakdown(),
        UsageStatus.RATED,
        rule.id,
        rule.code,
        rule.price_list_id,
        rule.price_list_code,
        result.unit_price,
        result.amount,
        result.currency,
        "",
    )


def _check_world(world, *, sweep: bool = False) -> None:
    with transaction.atomic():
        inputs = _build(world)
        pending = [
            factories.usage(
                data["customer"],
                billing_category=data["billing_category"],
                item_code=data["item_code"],
                quantity=data["quantity"],
                occurred_at=data["occurred_at"],
            )
            for data in inputs
        ]
        if sweep:  # the table read by block ranges (PostgreSQL), not the queue
            rated = batch.rate_pending(chunk_size=3, sweep=True).rated
        else:
            rated = services.usage_rate_pending(chunk_size=3)
        assert rated == len(pending)
        created = services.usage_records_create(records=inputs)
        for record, api_record, data in zip(pending, created, inputs, strict=True):
            record.refresh_from_db()
            api_record.refresh_from_db()
            expected = _expected(data)
            assert _stored(record) == expected
            assert _stored(api_record) == expected
        transaction.set_rollback(True)


@pytest.mark.django_db
@settings_
@given(world=worlds())
def test_batch_and_api_rating_equal_evaluate_in_utc(world):
    """Batch (rate_usage) and API (usage_records_create) rating match evaluate, record by record."""
    _check_world(world)


@pytest.mark.django_db
@settings_
@given(world=worlds(), zone=st.sampled_from(["Europe/Prague", "America/New_York"]))
def test_batch_and_api_rating_equal_evaluate_in_other_time_zones(world, zone):
    """Validity days follow the billing time zone in batch rating as in evaluate, DST included."""
    with override_settings(BILLING_TIME_ZONE=zone):
        _check_world(world)


@pytest.mark.postgres
@pytest.mark.django_db
@settings(settings_, max_examples=50)
@given(world=worlds(), zone=st.sampled_from(["UTC", "Europe/Prague", "America/New_York"]))
def test_a_sweep_equals_evaluate(world, zone):
    """A sweep computes billing days in the database: they must be the engine's, DST included."""
    if connection.vendor != "postgresql":
        pytest.skip("sweeps are PostgreSQL's")
    with override_settings(BILLING_TIME_ZONE=zone):
        _check_world(world, sweep=True)
