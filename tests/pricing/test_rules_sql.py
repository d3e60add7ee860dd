"""Every ORM and SQL form of an engine rule answers exactly as the engine does.

The forms live in ``pricing.rules_sql`` (rules in force, statuses, precedence, memberships
counting at an instant, the billing day in SQL) and in ``groups.models.MembershipQuerySet``
(the membership rules in the ORM: groups imports nothing from pricing). Hypothesis generates
rules, memberships, days, instants and time zones; each form's answer from the database is
compared with the engine's answer for the same data, on SQLite and on PostgreSQL.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groups.models import Membership
from pricing import engine, rules_sql
from pricing.models import PricingRule
from tests import factories

pytestmark = pytest.mark.django_db

CASES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BASE = date(2026, 6, 1)
DAYS = st.integers(-3, 3).map(lambda n: BASE + timedelta(days=n))
# Codes that sort differently by code point and by a language's collation.
CODES = ["a", "B", "b-1", "b.1", "B_2", "Z", "b1", "10", "9"]  # unique in any case


@st.composite
def rule_terms(draw):
    valid_from = draw(DAYS)
    valid_to = draw(st.none() | DAYS.filter(lambda d: d >= valid_from))
    return {
        "is_active": draw(st.booleans()),
        "valid_from": valid_from,
        "valid_to": valid_to,
        "priority": draw(st.integers(0, 2)),
        "target": draw(st.sampled_from(["everyone", "group", "customer"])),
    }


def _create(terms: list[dict], codes: list[str]) -> list[PricingRule]:
    price_list = factories.price_list()
    group, customer = factories.group(), factories.customer()
    return [
        factories.rule(
            code,
            price_list=price_list,
            is_active=t["is_active"],
            valid_from=t["valid_from"],
            valid_to=t["valid_to"],
            priority=t["priority"],
            group=group if t["target"] == "group" else None,
            customer=customer if t["target"] == "customer" else None,
        )
        for t, code in zip(terms, codes, strict=False)
    ]


@CASES
@given(terms=st.lists(rule_terms(), min_size=1, max_size=6), day=DAYS)
def test_status_filters_and_in_force_sql_equal_the_engine(terms, day):
    with factories.rolled_back():
        rules = _create(terms, [f"R{n}" for n in range(len(terms))])
        for status in engine.Status:
            expected = {
                r.pk
                for r in rules
                if engine.status_on(r.is_active, r.valid_from, r.valid_to, day) == status
            }
            assert (
                set(PricingRule.objects.with_status(status, day).values_list("pk", flat=True))
                == expected
            )
        in_force = {
            r.pk for r in rules if engine.in_force(r.is_active, r.valid_from, r.valid_to, day)
        }
        assert set(PricingRule.objects.active_on(day).values_list("pk", flat=True)) == in_force
        not_ended = {r.pk for r in rules if engine.not_ended(r.is_active, r.valid_to, day)}
        assert (
            set(PricingRule.objects.filter(rules_sql.not_ended_q(day)).values_list("pk", flat=True))
            == not_ended
        )
        for form, expected in (
            (rules_sql.in_force_sql, in_force),
            (rules_sql.not_ended_sql, not_ended),
        ):
            condition = form("r", day)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT r.id FROM {PricingRule._meta.db_table} r WHERE {condition}",
                    condition.params,
                )
                found = {PricingRule._meta.pk.to_python(row[0]) for row in cursor.fetchall()}
            assert found == expected


@CASES
@given(terms=st.lists(rule_terms(), min_size=1, max_size=7), codes=st.permutations(CODES))
def test_evaluation_order_in_the_orm_and_in_sql_is_the_engines(terms, codes):
    with factories.rolled_back():
        rules = _create(terms, codes)
        expected = [
            r.code
            for r in sorted(
                rules,
                key=lambda r: engine.precedence_key(
                    r.priority, r.target_kind, r.valid_from, r.code
                ),
            )
        ]
        assert (
            list(PricingRule.objects.in_evaluation_order().values_list("code", flat=True))
            == expected
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.code FROM {PricingRule._meta.db_table} r "
                f"ORDER BY {rules_sql.precedence_sql('r')}"
            )
            assert [row[0] for row in cursor.fetchall()] == expected


INSTANTS = st.integers(-48, 48).map(lambda h: datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=h))


@st.composite
def periods(draw):
    """Membership periods of one customer in one group: consecutive, possibly still open."""
    bounds = sorted(draw(st.lists(INSTANTS, max_size=5, unique=True)))
    found = []
    while len(bounds) >= 2:
        found.append((bounds.pop(0), bounds.pop(0)))
    if bounds:
        found.append((bounds[0], None))
    return found


@CASES
@given(spans=periods(), instant=INSTANTS | st.sampled_from([datetime(2026, 6, 1, tzinfo=UTC)]))
def test_memberships_as_of_an_instant_in_the_orm_and_sql_equal_the_engine(spans, instant):
    with factories.rolled_back():
        group, customer = factories.group(), factories.customer()
        rows = [
            factories.membership(group, customer, joined_at=joined, left_at=left)
            for joined, left in spans
        ]
        expected = {m.pk for m in rows if engine.counts_at(m.joined_at, m.left_at, instant)}
        assert set(Membership.objects.as_of(instant).values_list("pk", flat=True)) == expected
        condition = rules_sql.counts_at_sql("m", instant)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.id FROM {Membership._meta.db_table} m WHERE {condition}",
                condition.params,
            )
            assert {row[0] for row in cursor.fetchall()} == expected
        # Open memberships are the current ones: those that count now and never end.
        open_ = {m.pk for m in rows if m.left_at is None}
        assert set(Membership.objects.current().values_list("pk", flat=True)) == open_
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.id FROM {Membership._meta.db_table} m "
                f"WHERE {rules_sql.open_membership_sql('m')}"
            )
            assert {row[0] for row in cursor.fetchall()} == open_


ZONES = ["UTC", "Europe/Prague", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


@CASES
@given(
    zone=st.sampled_from(ZONES),
    instant=st.integers(-400 * 24, 400 * 24).map(
        lambda h: datetime(2026, 3, 29, tzinfo=UTC) + timedelta(minutes=37 * h)
    ),
)
def test_the_billing_day_in_sql_is_the_engines(zone, instant):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no time zones: rating computes the billing day in Python there")
    day = rules_sql.billing_day_sql("%s::timestamptz", ZoneInfo(zone))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {day.text}", [instant, *day.params])
        assert cursor.fetchone()[0] == engine.billing_day(instant, ZoneInfo(zone))
