"""The pure rating engine: every rule of the semantics, and a brute-force cross-check."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.engine import (
    MembershipPeriod,
    Outcome,
    Rule,
    RuleBook,
    Usage,
    groups_at,
    round_amount,
)

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_rule(code: str, priority: int, **fields) -> Rule:
    fields.setdefault("billing_category", "retail")
    fields.setdefault("valid_from", date(2026, 1, 1))
    fields.setdefault("price_list_id", f"pl-{code}")
    fields.setdefault("price_list_code", f"PL-{code}")
    fields.setdefault("currency", "CZK")
    fields.setdefault("prices", {"minute": Decimal("1.00")})
    return Rule(id=code, code=code, priority=priority, **fields)


def usage(item: str = "minute", quantity: str = "1", at: datetime = T, **fields) -> Usage:
    fields.setdefault("customer_id", "c1")
    fields.setdefault("billing_category", "retail")
    return Usage(item_code=item, quantity=Decimal(quantity), occurred_at=at, **fields)


def outcomes(result) -> dict[str, Outcome]:
    return {entry.rule.code: entry.outcome for entry in result.trace}


def test_worked_example_startup_rule_beats_standard():
    """A customer in Standard (10) and Startup Program (50) is rated by the Startup rule."""
    standard = make_rule("STD", 10, group_id="standard", prices={"minute": Decimal("1.20")})
    startup = make_rule("STARTUP", 50, group_id="startup", prices={"minute": Decimal("0.80")})
    vip = make_rule("VIP", 100, group_id="vip", prices={"minute": Decimal("0.60")})
    book = RuleBook([standard, startup, vip])

    result = book.rate(usage(quantity="10"), group_ids=frozenset({"standard", "startup"}))

    assert result.rated
    assert result.rule.code == "STARTUP"
    assert result.unit_price == Decimal("0.80")
    assert result.amount == Decimal("8.00")
    assert outcomes(result) == {
        "VIP": Outcome.NOT_A_MEMBER,
        "STARTUP": Outcome.WON,
        "STD": Outcome.OUTRANKED,
    }


def test_worked_example_vip_customer_gets_vip_rule():
    """VIP (100) customers are rated by the VIP rule."""
    book = RuleBook(
        [
            make_rule("STD", 10, group_id="standard"),
            make_rule("VIP", 100, group_id="vip", prices={"minute": Decimal("0.60")}),
        ]
    )
    result = book.rate(usage(), group_ids=frozenset({"vip"}))
    assert result.rule.code == "VIP"
    assert result.unit_price == Decimal("0.60")


def test_only_rules_of_the_records_category_are_candidates():
    book = RuleBook([make_rule("WHOLESALE", 100, billing_category="wholesale")])
    result = book.rate(usage())
    assert not result.rated
    assert result.trace == []
    assert "no retail rules at all" in result.reason


def test_validity_is_inclusive_on_both_ends_in_the_billing_time_zone():
    """valid_to is inclusive; the day is the record's day in the billing time zone."""
    rule = make_rule("R", 1, valid_from=date(2026, 3, 1), valid_to=date(2026, 3, 31))
    book = RuleBook([rule])
    assert book.rate(usage(at=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))).rated
    assert book.rate(usage(at=datetime(2026, 3, 31, 23, 59, tzinfo=UTC))).rated
    late = book.rate(usage(at=datetime(2026, 4, 1, 0, 0, tzinfo=UTC)))
    assert outcomes(late) == {"R": Outcome.EXPIRED}
    early = book.rate(usage(at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC)))
    assert outcomes(early) == {"R": Outcome.NOT_YET_VALID}

    # 23:30 UTC on 31 March is already 1 April in Prague: the rule has expired there.
    prague = RuleBook([rule], tz=ZoneInfo("Europe/Prague"))
    result = prague.rate(usage(at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)))
    assert outcomes(result) == {"R": Outcome.EXPIRED}
    assert result.day == date(2026, 4, 1)


def test_inactive_rules_are_never_eligible():
    book = RuleBook([make_rule("OFF", 100, is_active=False), make_rule("ON", 1)])
    result = book.rate(usage())
    assert result.rule.code == "ON"
    assert outcomes(result)["OFF"] == Outcome.INACTIVE


def test_customer_rule_applies_only_to_its_customer():
    book = RuleBook([make_rule("DEAL", 100, customer_id="c2"), make_rule("ALL", 1)])
    result = book.rate(usage(customer_id="c1"))
    assert result.rule.code == "ALL"
    assert outcomes(result)["DEAL"] == Outcome.OTHER_CUSTOMER
    assert book.rate(usage(customer_id="c2")).rule.code == "DEAL"


def test_group_membership_is_taken_at_the_records_instant():
    """Eligible when joined_at <= t < left_at; left_at itself is already outside."""
    book = RuleBook([make_rule("PROMO", 100, group_id="promo"), make_rule("ALL", 1)])
    joined, left = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    periods = [MembershipPeriod("promo", joined, left)]
    assert book.rate(usage(at=joined), periods).rule.code == "PROMO"
    assert book.rate(usage(at=left - timedelta(seconds=1)), periods).rule.code == "PROMO"
    assert book.rate(usage(at=left), periods).rule.code == "ALL"
    assert book.rate(usage(at=joined - timedelta(seconds=1)), periods).rule.code == "ALL"


def test_ties_break_customer_then_group_then_everyone_then_later_start_then_code():
    everyone = make_rule("A-ALL", 50)
    group = make_rule("B-GROUP", 50, group_id="g")
    customer = make_rule("C-CUST", 50, customer_id="c1")
    book = RuleBook([everyone, group, customer])
    result = book.rate(usage(), group_ids=frozenset({"g"}))
    assert [e.rule.code for e in result.trace] == ["C-CUST", "B-GROUP", "A-ALL"]
    assert result.rule.code == "C-CUST"

    older = make_rule("OLD", 5, valid_from=date(2025, 1, 1))
    newer = make_rule("NEW", 5, valid_from=date(2026, 2, 1))
    assert RuleBook([older, newer]).rate(usage()).rule.code == "NEW"

    assert RuleBook([make_rule("ZED", 5), make_rule("ALPHA", 5)]).rate(usage()).rule.code == (
        "ALPHA"
    )


def test_rule_without_the_item_is_passed_over_for_the_next():
    """A promotion list may price only some items; the rest fall back to lower rules."""
    promo = make_rule("PROMO", 100, prices={"GB": Decimal("10")})
    standard = make_rule("STD", 10, prices={"GB": Decimal("25"), "SMS": Decimal("0.50")})
    book = RuleBook([promo, standard])
    sms = book.rate(usage(item="SMS"))
    assert sms.rule.code == "STD"
    assert outcomes(sms) == {"PROMO": Outcome.NO_PRICE, "STD": Outcome.WON}
    assert book.rate(usage(item="GB")).rule.code == "PROMO"


def test_amount_is_rounded_half_up_to_cents_in_the_lists_currency():
    rule = make_rule("R", 1, prices={"minute": Decimal("0.125")}, currency="EUR")
    result = RuleBook([rule]).rate(usage(quantity="1"))
    assert result.amount == Decimal("0.13")
    assert result.currency == "EUR"
    assert round_amount(Decimal("0.333333"), Decimal("3")) == Decimal("1.00")
    assert round_amount(Decimal("0.005"), Decimal("1")) == Decimal("0.01")


def test_unrated_reason_names_the_nearest_miss():
    """Unrated records explain themselves in words a support agent can read out."""
    expired = make_rule("STD-2026", 10, valid_to=date(2026, 2, 28))
    result = RuleBook([expired]).rate(
        usage(item="SMS", customer_name="Tech Corp", at=datetime(2026, 3, 1, 9, tzinfo=UTC))
    )
    assert not result.rated
    assert result.amount is None
    assert result.reason == (
        "No active retail rule prices item SMS for Tech Corp on 2026-03-01; "
        "nearest: STD-2026 expired on 2026-02-28."
    )


def test_unrated_reason_for_missing_item_and_missing_membership():
    no_item = RuleBook([make_rule("STD", 10, prices={"minute": Decimal(1)})]).rate(
        usage(item="SMS")
    )
    assert "STD applies but PL-STD has no price for it" in no_item.reason
    members_only = RuleBook([make_rule("VIP", 10, group_id="vip", group_name="VIP")]).rate(usage())
    assert "VIP needs membership of VIP" in members_only.reason


def test_trace_lists_every_rule_of_the_category_with_a_reason():
    rules = [
        make_rule("WIN", 90),
        make_rule("LOW", 10),
        make_rule("OFF", 95, is_active=False),
        make_rule("LATER", 99, valid_from=date(2027, 1, 1)),
        make_rule("OLD", 98, valid_to=date(2025, 12, 31), valid_from=date(2025, 1, 1)),
        make_rule("MEMBERS", 97, group_id="g"),
        make_rule("OTHER", 96, customer_id="someone-else"),
        make_rule("NOPRICE", 94, prices={}),
    ]
    result = RuleBook(rules).rate(usage())
    assert [e.outcome for e in result.trace] == [
        Outcome.NOT_YET_VALID,
        Outcome.EXPIRED,
        Outcome.NOT_A_MEMBER,
        Outcome.OTHER_CUSTOMER,
        Outcome.INACTIVE,
        Outcome.NO_PRICE,
        Outcome.WON,
        Outcome.OUTRANKED,
    ]
    assert all(entry.reason for entry in result.trace)


def test_without_trace_the_answer_is_the_same():
    rules = [make_rule("A", 5, group_id="g"), make_rule("B", 3)]
    book = RuleBook(rules)
    with_trace = book.rate(usage(), group_ids=frozenset({"g"}))
    without = book.rate(usage(), group_ids=frozenset({"g"}), trace=False)
    assert (with_trace.rule, with_trace.amount) == (without.rule, without.amount)
    assert without.trace == []


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        RuleBook([]).rate(usage(at=datetime(2026, 1, 1)))


# --- Property-based: the engine equals a brute-force reference ------------------------------

ITEMS = ["minute", "SMS", "GB"]
GROUPS = ["g1", "g2", "g3"]
CUSTOMERS = ["c1", "c2"]
BASE_DAY = date(2026, 1, 1)


@st.composite
def rules_strategy(draw):
    count = draw(st.integers(min_value=0, max_value=8))
    rules = []
    for n in range(count):
        target = draw(st.sampled_from(["everyone", "group", "customer"]))
        start = BASE_DAY + timedelta(days=draw(st.integers(0, 60)))
        end = draw(
            st.one_of(st.none(), st.integers(0, 60).map(lambda d, s=start: s + timedelta(d)))
        )
        items = draw(st.lists(st.sampled_from(ITEMS), unique=True, max_size=3))
        rules.append(
            make_rule(
                f"R{n:02d}",
                draw(st.integers(0, 4)),
                billing_category=draw(st.sampled_from(["retail", "retail", "wholesale"])),
                valid_from=start,
                valid_to=end,
                is_active=draw(st.booleans()) or draw(st.booleans()),
                group_id=draw(st.sampled_from(GROUPS)) if target == "group" else None,
                customer_id=draw(st.sampled_from(CUSTOMERS)) if target == "customer" else None,
                prices={item: Decimal(draw(st.integers(0, 500))) / 100 for item in items},
            )
        )
    return rules


@st.composite
def memberships_strategy(draw):
    periods = []
    for group in GROUPS:
        for _ in range(draw(st.integers(0, 2))):
            joined = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 2000)))
            left = draw(
                st.one_of(
                    st.none(), st.integers(1, 2000).map(lambda h, j=joined: j + timedelta(hours=h))
                )
            )
            periods.append(MembershipPeriod(group, joined, left))
    return periods


def reference(rules, customer_id, category, item, quantity, at, periods):
    """Brute force, written independently of the engine: filter, then take the minimum key."""
    day = at.astimezone(UTC).date()
    member_of = {
        p.group_id for p in periods if p.joined_at <= at and (p.left_at is None or at < p.left_at)
    }

    def eligible(rule):
        if rule.billing_category != category or not rule.is_active:
            return False
        if not (rule.valid_from <= day and (rule.valid_to is None or day <= rule.valid_to)):
            return False
        if rule.customer_id is not None:
            return rule.customer_id == customer_id
        if rule.group_id is not None:
            return rule.group_id in member_of
        return True

    def rank(rule):
        kind = 0 if rule.customer_id is not None else 1 if rule.group_id is not None else 2
        return (-rule.priority, kind, -rule.valid_from.toordinal(), rule.code)

    priced = [r for r in rules if eligible(r) and item in r.prices]
    if not priced:
        return None, None
    best = min(priced, key=rank)
    return best.code, round_amount(best.prices[item].unit_price, quantity)


@settings(max_examples=300, deadline=None)
@given(
    rules=rules_strategy(),
    periods=memberships_strategy(),
    customer_id=st.sampled_from(CUSTOMERS),
    item=st.sampled_from(ITEMS),
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10000"), places=3),
    hours=st.integers(0, 24 * 130),
)
def test_engine_matches_brute_force_reference(rules, periods, customer_id, item, quantity, hours):
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hours)
    record = Usage(customer_id, "retail", item, quantity, at)
    result = RuleBook(rules).rate(record, periods)
    expected_code, expected_amount = reference(
        rules, customer_id, "retail", item, quantity, at, periods
    )
    assert (result.rule.code if result.rule else None) == expected_code
    assert result.amount == expected_amount
    assert result.rated == (expected_code is not None)
    # The trace holds every rule of the category, exactly one of them won (when rated).
    assert len(result.trace) == sum(1 for r in rules if r.billing_category == "retail")
    assert sum(1 for e in result.trace if e.outcome == Outcome.WON) == int(result.rated)
    assert groups_at(periods, at) == result.group_ids


def eager_trace(rules, record, group_ids):
    """The trace as a full walk records it: every rule, its outcome and its reason, in order."""
    from pricing.engine import billing_day, ineligibility
    from pricing.engine.reasons import outcome_reason

    day = billing_day(record.occurred_at)
    ordered = sorted(
        (r for r in rules if r.billing_category == record.billing_category), key=Rule.sort_key
    )
    entries, winner = [], None
    for rule in ordered:
        outcome = ineligibility(rule, record.customer_id, group_ids, day)
        if outcome is None:
            if winner is not None:
                outcome = Outcome.OUTRANKED
            elif record.item_code in rule.prices:
                winner, outcome = rule, Outcome.WON
            else:
                outcome = Outcome.NO_PRICE
        reason = outcome_reason(outcome, rule, record.item_code, day, winner)
        entries.append((rule.code, outcome, reason))
    return entries


@settings(max_examples=300, deadline=None)
@given(
    rules=rules_strategy(),
    periods=memberships_strategy(),
    customer_id=st.sampled_from(CUSTOMERS),
    item=st.sampled_from(ITEMS),
    hours=st.integers(0, 24 * 130),
)
def test_lazy_trace_equals_the_full_walk(rules, periods, customer_id, item, hours):
    """Rating stops at the winner; reading the trace later gives what a full walk recorded."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hours)
    record = Usage(customer_id, "retail", item, Decimal(1), at)
    result = RuleBook(rules).rate(record, periods)
    expected = eager_trace(rules, record, result.group_ids)
    assert [(e.rule.code, e.outcome, e.reason) for e in result.trace] == expected
    assert [e.rule.code for e in result.trace[1:]] == [code for code, _, _ in expected[1:]]
    if expected:
        assert result.trace[-1].reason == expected[-1][2]
    kept = result.trace.select(lambda rule: rule.group_id is None)
    assert [(e.rule.code, e.outcome) for e in kept] == [
        (code, outcome)
        for (code, outcome, _), rule in zip(expected, result.trace.rules, strict=True)
        if rule.group_id is None
    ]


def test_trace_compares_equal_to_a_list_of_its_entries():
    book = RuleBook([make_rule("A", 2), make_rule("B", 1)])
    result = book.rate(usage())
    assert result.trace == list(result.trace)
    assert len(result.trace) == 2
    assert result.trace != []
    assert book.rate(usage(billing_category="wholesale")).trace == []
