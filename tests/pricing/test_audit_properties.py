"""The audit's SQL finds exactly the rules the engine's definitions name.

``pricing.engine.findings`` defines ties, shadowed rules, hidden group rules and rules that
never apply in plain Python; ``pricing.audit`` finds them with set-based SQL for speed. Hypothesis
builds small worlds (rules of a few categories and priorities, price lists sharing some items,
groups with current and past members, inactive customers) and every finding's ids and pairs from
the database must equal the engine's, on SQLite and on PostgreSQL.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing import audit
from pricing.engine import findings
from tests import factories

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 1)
DAYS = st.sampled_from([0, -1, 1, -2, 2]).map(lambda n: TODAY + timedelta(days=n))
ITEMS = ["minute", "SMS", "GB"]
PAST = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def worlds(draw):
    n_customers = draw(st.integers(1, 3))
    n_groups = draw(st.integers(1, 3))
    active = [draw(st.booleans()) or n == 0 for n in range(n_customers)]
    memberships = {
        (c, g): draw(st.sampled_from(["current", "none", "past", "current"]))
        for c in range(n_customers)
        for g in range(n_groups)
    }
    lists = [
        draw(st.sets(st.sampled_from(ITEMS), max_size=3)) for _ in range(draw(st.integers(2, 3)))
    ]
    rules = []
    for _ in range(draw(st.integers(3, 9))):
        valid_from = draw(st.sampled_from([-1, 0, -2, 1, 2]).map(lambda n: TODAY + timedelta(n)))
        rules.append(
            {
                "category": draw(st.sampled_from(["retail", "retail", "iot"])),
                "priority": draw(st.sampled_from([1, 0, 1, 2])),
                "valid_from": valid_from,
                "valid_to": draw(
                    st.sampled_from([None, None, 0, -1, 1, 2])
                    .map(lambda n: None if n is None else TODAY + timedelta(n))
                    .filter(lambda d, v=valid_from: d is None or d >= v)
                ),
                "is_active": draw(st.sampled_from([True, True, True, False])),
                "list": draw(st.integers(0, len(lists) - 1)),
                "target": draw(
                    st.tuples(st.just("group"), st.integers(0, n_groups - 1))
                    | st.tuples(st.just("customer"), st.integers(0, n_customers - 1))
                    | st.just(("everyone", 0))
                ),
            }
        )
    return active, n_groups, memberships, lists, rules


def _build(world):
    """The world in the database, and the engine's view of it."""
    active, n_groups, memberships, lists, specs = world
    customers = [factories.customer(is_active=flag) for flag in active]
    groups = [factories.group() for _ in range(n_groups)]
    members: dict = {g.pk: set() for g in groups}
    for (c, g), state in memberships.items():
        if state == "current":
            factories.membership(groups[g], customers[c], joined_at=PAST)
            members[groups[g].pk].add(customers[c].pk)
        elif state == "past":
            factories.membership(
                groups[g], customers[c], joined_at=PAST, left_at=PAST + timedelta(days=30)
            )
    price_lists = [factories.price_list(items=dict.fromkeys(items, "1")) for items in lists]
    audited = []
    for spec in specs:
        kind, index = spec["target"]
        rule = factories.rule(
            billing_category=spec["category"],
            priority=spec["priority"],
            valid_from=spec["valid_from"],
            valid_to=spec["valid_to"],
            is_active=spec["is_active"],
            price_list=price_lists[spec["list"]],
            group=groups[index] if kind == "group" else None,
            customer=customers[index] if kind == "customer" else None,
        )
        audited.append(
            findings.AuditedRule(
                id=rule.pk,
                billing_category=rule.billing_category,
                priority=rule.priority,
                valid_from=rule.valid_from,
                valid_to=rule.valid_to,
                is_active=rule.is_active,
                price_list_id=rule.price_list_id,
                items=frozenset(lists[spec["list"]]),
                group_id=rule.group_id,
                customer_id=rule.customer_id,
            )
        )
    world_view = findings.World(
        today=TODAY,
        members={pk: frozenset(ids) for pk, ids in members.items()},
        active_customers=frozenset(c.pk for c in customers if c.is_active),
    )
    return audited, world_view


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds())
def test_every_rule_finding_equals_the_engines_definition(world):
    clock = audit.audit_clock(datetime.combine(TODAY, time(12), tzinfo=UTC))
    assert clock.today == TODAY
    with factories.rolled_back():
        rules, view = _build(world)
        for key, pairs_of in findings.PAIRS.items():
            expected_pairs = pairs_of(rules, view)
            found = set(audit.finding_queryset(key, clock).values_list("pk", flat=True))
            assert found == {rule_id for rule_id, _ in expected_pairs}, key
            partners, counts = audit.rule_partners(key, clock, limit=100)
            listed = {(rule_id, p) for rule_id, ps in partners.items() for p in ps}
            assert listed == expected_pairs, key
            assert counts == {
                rule_id: sum(1 for r, _ in expected_pairs if r == rule_id) for rule_id in found
            }
        never = set(audit.finding_queryset("never_applies", clock).values_list("pk", flat=True))
        assert never == findings.never_applies(rules, view)
