"""Each audit finding lists what it should and nothing else (selectors in pricing.audit).

The clock is fixed (1 March 2026, noon UTC) so validity windows and review ages do not depend
on the day the tests run.
"""

import itertools
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from pricing import audit
from tests import factories

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TODAY = date(2026, 3, 1)
pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    return audit.audit_clock(now=NOW)


def found(key, clock) -> set:
    """The pks finding ``key`` lists, checked against the summary count."""
    pks = set(audit.finding_queryset(key, clock).values_list("pk", flat=True))
    assert audit.audit_summary(clock)[key] == len(pks)
    return pks


def member(group, customer=None, **fields):
    return factories.membership(group, customer or factories.customer(), **fields)


# --- Groups -----------------------------------------------------------------------------------


def test_empty_lists_groups_without_current_members(clock):
    """A group with no members, or whose members all left, is empty; one member is enough."""
    never = factories.group()
    left = factories.group()
    member(left, left_at=NOW - timedelta(days=1))
    kept = factories.group()
    member(kept)
    assert found("empty", clock) == {never.pk, left.pk}


def test_unused_lists_groups_no_rule_targets(clock):
    """A group no rule targets is unused; a disabled rule still counts as targeting it."""
    unused = factories.group()
    with_disabled = factories.group()
    factories.rule(group=with_disabled, is_active=False)
    with_rule = factories.group()
    factories.rule(group=with_rule)
    assert found("unused", clock) == {unused.pk}


def test_dead_rules_only_needs_rules_and_none_live(clock):
    """Expired and disabled rules only: listed. One scheduled rule, or no rule: not listed."""
    dead = factories.group()
    factories.rule(group=dead, valid_to=date(2026, 2, 28))
    factories.rule(group=dead, is_active=False)
    scheduled = factories.group()
    factories.rule(group=scheduled, valid_to=date(2026, 2, 1))
    factories.rule(group=scheduled, valid_from=date(2026, 4, 1))
    factories.group()  # no rules: "unused", not "dead rules only"
    assert found("dead_rules_only", clock) == {dead.pk}


def test_past_expiry_lists_promotions_still_running(clock):
    """Past the planned expiry with members or a live rule: listed; fully wound down: not."""
    with_members = factories.group(expires_on=date(2026, 2, 28))
    member(with_members)
    with_rule = factories.group(expires_on=date(2026, 2, 1))
    factories.rule(group=with_rule)
    wound_down = factories.group(expires_on=date(2026, 2, 1))
    factories.rule(group=wound_down, valid_to=date(2026, 2, 1))
    member(wound_down, left_at=NOW - timedelta(days=20))
    expires_today = factories.group(expires_on=TODAY)
    member(expires_today)
    assert found("past_expiry", clock) == {with_members.pk, with_rule.pk}


def test_review_overdue_counts_from_review_or_creation(clock):
    """Reviewed more than 90 days ago, or never reviewed and created more than 90 days ago."""
    old_review = factories.group(reviewed_at=NOW - timedelta(days=91))
    factories.group(reviewed_at=NOW - timedelta(days=89))
    never_old = factories.group(created_at=NOW - timedelta(days=120))
    factories.group(created_at=NOW - timedelta(days=10))
    # A recent review counts even on an old group.
    factories.group(created_at=NOW - timedelta(days=400), reviewed_at=NOW - timedelta(days=5))
    assert found("review_overdue", clock) == {old_review.pk, never_old.pk}


def test_review_overdue_follows_the_setting(settings):
    """RATECARD_REVIEW_OVERDUE_DAYS moves the threshold."""
    settings.RATECARD_REVIEW_OVERDUE_DAYS = 30
    group = factories.group(reviewed_at=NOW - timedelta(days=45))
    assert found("review_overdue", audit.audit_clock(now=NOW)) == {group.pk}
    settings.RATECARD_REVIEW_OVERDUE_DAYS = 60
    assert found("review_overdue", audit.audit_clock(now=NOW)) == set()


def test_stale_membership_needs_an_old_change_and_a_rule_in_force(clock, settings):
    """No membership change for longer than the setting while a rule targeting it is in force."""
    settings.RATECARD_STALE_MEMBERSHIP_DAYS = 180
    clock = audit.audit_clock(now=NOW)
    stale = factories.group(members_changed_at=NOW - timedelta(days=200))
    factories.rule(group=stale)
    never_changed = factories.group(created_at=NOW - timedelta(days=300))
    factories.rule(group=never_changed)
    recent = factories.group(members_changed_at=NOW - timedelta(days=20))
    factories.rule(group=recent)
    only_scheduled = factories.group(members_changed_at=NOW - timedelta(days=200))
    factories.rule(group=only_scheduled, valid_from=date(2026, 6, 1))
    factories.group(members_changed_at=NOW - timedelta(days=200))  # no rule at all
    assert found("stale_membership", clock) == {stale.pk, never_changed.pk}


# --- Customers --------------------------------------------------------------------------------


def test_no_group_lists_active_customers_outside_every_group(clock):
    """In no group while a group rule is in force: listed; members, the inactive: not."""
    group = factories.group()
    factories.rule(group=group, billing_category="retail")
    alone = factories.customer()
    left = factories.customer()
    member(group, left, left_at=NOW - timedelta(days=3))
    member(group, factories.customer())
    factories.customer(is_active=False)
    assert found("no_group", clock) == {alone.pk, left.pk}


def test_no_group_ignores_customers_with_their_own_rule_for_every_group_category(clock):
    """A customer with a direct rule in each group-priced category misses nothing."""
    factories.rule(group=factories.group(), billing_category="retail")
    covered = factories.customer()
    factories.rule(customer=covered, billing_category="retail")
    half = factories.customer()
    factories.rule(customer=half, billing_category="retail")
    factories.rule(group=factories.group(), billing_category="roaming")
    assert covered.pk in found("no_group", clock)  # roaming now has a group rule too
    factories.rule(customer=covered, billing_category="roaming")
    assert found("no_group", clock) == {half.pk}


def test_no_group_needs_a_group_rule_in_force(clock):
    """With only everyone-rules, or group rules not in force, nobody misses anything."""
    factories.customer()
    factories.rule(billing_category="retail")
    factories.rule(group=factories.group(), valid_from=date(2026, 5, 1))
    factories.rule(group=factories.group(), is_active=False)
    assert found("no_group", clock) == set()


# --- Rules ------------------------------------------------------------------------------------


def test_never_applies_lists_ended_empty_group_and_inactive_customer_rules(clock):
    """Enabled rules that are over, aim at an empty group or at an inactive customer."""
    ended = factories.rule(valid_to=date(2026, 2, 28))
    empty_group = factories.rule(group=factories.group())
    inactive = factories.rule(customer=factories.customer(is_active=False))
    factories.rule(valid_to=date(2026, 2, 1), is_active=False)  # already disabled
    factories.rule()  # everyone, in force
    with_members = factories.group()
    member(with_members)
    factories.rule(group=with_members)
    factories.rule(customer=factories.customer())
    assert found("never_applies", clock) == {ended.pk, empty_group.pk, inactive.pk}


@pytest.fixture
def lists():
    return {
        "min": factories.price_list(items={"minute": "1.00"}),
        "min_sms": factories.price_list(items={"minute": "0.50", "SMS": "0.20"}),
        "gb": factories.price_list(items={"GB": "9.00"}),
    }


def test_shadowed_by_a_stronger_everyone_rule_covering_items_and_window(clock, lists):
    """Everyone-rule, higher priority, prices every item, valid whenever the rule is."""
    factories.rule(priority=50, price_list=lists["min_sms"])
    shadowed = factories.rule(group=factories.group(), priority=10, price_list=lists["min"])
    # Prices an item the everyone-rule does not: it can still win for GB.
    factories.rule(group=factories.group(), priority=10, price_list=lists["gb"])
    # Higher priority than the everyone-rule.
    factories.rule(group=factories.group(), priority=60, price_list=lists["min"])
    # Another category.
    factories.rule(billing_category="roaming", priority=10, price_list=lists["min"])
    assert found("shadowed", clock) == {shadowed.pk}


def test_shadowed_needs_the_everyone_rule_to_cover_the_whole_window(clock, lists):
    """An everyone-rule ending before the rule, or disabled, shadows nothing."""
    factories.rule(priority=50, price_list=lists["min_sms"], valid_to=date(2026, 6, 30))
    open_ended = factories.rule(priority=10, price_list=lists["min"])
    ends_in_time = factories.rule(priority=10, price_list=lists["min"], valid_to=date(2026, 6, 1))
    factories.rule(priority=90, price_list=lists["min_sms"], is_active=False)
    assert found("shadowed", clock) == {ends_in_time.pk}
    assert open_ended.pk not in found("shadowed", clock)


def test_shadowed_counts_the_window_from_today(clock, lists):
    """An everyone-rule that started after the rule but before today covers what is left."""
    factories.rule(priority=50, price_list=lists["min_sms"], valid_from=date(2026, 2, 1))
    older = factories.rule(priority=10, price_list=lists["min"], valid_from=date(2025, 1, 1))
    later = factories.rule(priority=10, price_list=lists["min"], valid_from=date(2026, 6, 1))
    factories.rule(priority=60, price_list=lists["min"], valid_from=date(2026, 9, 1))
    assert found("shadowed", clock) == {older.pk, later.pk}


def test_shadowed_ignores_dead_rules(clock, lists):
    """A disabled or ended rule is not reported as shadowed (never applies covers the ended)."""
    factories.rule(priority=50, price_list=lists["min_sms"])
    factories.rule(priority=10, price_list=lists["min"], is_active=False)
    factories.rule(priority=10, price_list=lists["min"], valid_to=date(2026, 2, 1))
    assert found("shadowed", clock) == set()


def test_tie_between_group_rules_with_a_common_member(clock, lists):
    """Same category and priority, groups sharing a current member: both rules tie."""
    shared = factories.customer()
    a, b, c = factories.group(), factories.group(), factories.group()
    member(a, shared)
    member(b, shared)
    member(c)
    rule_a = factories.rule(group=a, priority=20, price_list=lists["min"])
    rule_b = factories.rule(group=b, priority=20, price_list=lists["min_sms"])
    factories.rule(group=c, priority=20, price_list=lists["min"])  # no common member
    assert found("tie", clock) == {rule_a.pk, rule_b.pk}
    rows = audit.finding_rows("tie", [rule_a.pk], clock)
    assert [p.pk for p in rows[0].partners] == [rule_b.pk]


def test_tie_ignores_former_members_and_different_priorities(clock, lists):
    """A member who left links nothing; another priority or a disabled rule is no tie."""
    former = factories.customer()
    a, b = factories.group(), factories.group()
    member(a, former)
    member(b, former, left_at=NOW - timedelta(days=1))
    member(b)
    factories.rule(group=a, priority=20, price_list=lists["min"])
    factories.rule(group=b, priority=20, price_list=lists["min"])
    factories.rule(group=a, priority=30, price_list=lists["min"])
    factories.rule(group=a, priority=20, price_list=lists["min"], is_active=False)
    assert found("tie", clock) == set()


def test_tie_with_an_everyone_rule_and_between_customer_rules(clock, lists):
    """Everyone ties with any rule that applies to somebody; two rules for one customer tie."""
    everyone = factories.rule(priority=40, price_list=lists["min"])
    populated = factories.group()
    member(populated)
    group_rule = factories.rule(group=populated, priority=40, price_list=lists["min_sms"])
    factories.rule(group=factories.group(), priority=40, price_list=lists["min"])  # empty group
    customer = factories.customer()
    own_a = factories.rule(customer=customer, priority=70, price_list=lists["min"])
    own_b = factories.rule(customer=customer, priority=70, price_list=lists["min_sms"])
    factories.rule(customer=factories.customer(), priority=70, price_list=lists["min"])
    assert found("tie", clock) == {everyone.pk, group_rule.pk, own_a.pk, own_b.pk}


def test_tie_between_a_customer_rule_and_its_group(clock, lists):
    """A customer's rule ties with a rule of a group the customer is in, not of another."""
    customer = factories.customer()
    group, other = factories.group(), factories.group()
    member(group, customer)
    member(other)
    own = factories.rule(customer=customer, priority=15, price_list=lists["min"])
    group_rule = factories.rule(group=group, priority=15, price_list=lists["min"])
    factories.rule(group=other, priority=15, price_list=lists["min"])
    assert found("tie", clock) == {own.pk, group_rule.pk}


def test_tie_between_two_rules_of_one_group_and_none_for_inactive_customers(clock, lists):
    """Two rules of one populated group tie; a rule for an inactive customer ties with nothing,
    not even with a rule for everyone."""
    group = factories.group()
    member(group)
    first = factories.rule(group=group, priority=25, price_list=lists["min"])
    second = factories.rule(group=group, priority=25, price_list=lists["min_sms"])
    factories.rule(customer=factories.customer(is_active=False), priority=35)
    factories.rule(priority=35, price_list=lists["gb"])  # everyone, alone in its bucket
    assert found("tie", clock) == {first.pk, second.pk}


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_tie_found_whichever_rule_has_the_smaller_id(clock, lists, order):
    """Groups A and C share a member, B shares none: the rules of A and C tie, B's does not,
    in every order of the rules' ids (the search looks at larger ids first, then smaller)."""
    a, b, c = factories.group(), factories.group(), factories.group()
    shared = factories.customer()
    member(a, shared)
    member(c, shared)
    member(b)
    member(c)
    ids = [uuid.UUID(int=n + 1) for n in order]
    rule_a, _, rule_c = (
        factories.rule(id=pk, group=group, priority=33, price_list=lists["min"])
        for pk, group in zip(ids, (a, b, c), strict=True)
    )
    assert found("tie", clock) == {rule_a.pk, rule_c.pk}


def test_tie_matches_every_pair_checked_one_by_one(clock, lists):
    """On a tangle of groups, priorities and targets the finding equals a pairwise check."""
    rng = random.Random(7)
    customers = [factories.customer() for _ in range(12)]
    groups = [factories.group() for _ in range(8)]
    members = {g.pk: set() for g in groups}
    for group in groups:
        for customer in rng.sample(customers, rng.randint(0, 3)):
            member(group, customer)
            members[group.pk].add(customer.pk)
    rules = []
    for _ in range(30):
        target = rng.random()
        fields = {"priority": rng.choice([1, 2, 3]), "price_list": lists["min"]}
        if target < 0.7:
            fields["group"] = rng.choice(groups)
        elif target < 0.85:
            fields["customer"] = rng.choice(customers)
        rules.append(factories.rule(**fields))

    def reach(rule) -> set:
        if rule.group_id:
            return members[rule.group_id]
        if rule.customer_id:
            return {rule.customer_id}
        return {c.pk for c in customers}

    live = [r for r in rules if reach(r)]
    expected = {
        r.pk
        for r in live
        for other in live
        if other.pk != r.pk and other.priority == r.priority and reach(r) & reach(other)
    }
    assert expected
    assert found("tie", clock) == expected


def test_tie_partners_of_a_page_match_every_tied_pair(clock, lists):
    """The partners computed for one page's rules are those of the full pair list."""
    shared = factories.customer()
    groups = [factories.group() for _ in range(4)]
    for group in groups[:3]:
        member(group, shared)
    member(groups[3])
    rules = [factories.rule(group=g, priority=60, price_list=lists["min"]) for g in groups]
    everyone = factories.rule(priority=80, price_list=lists["min"])
    alone = factories.rule(group=groups[3], priority=80, price_list=lists["min_sms"])
    every_pair, _ = audit.rule_partners("tie", clock, limit=10)
    page_pairs, counts = audit.rule_partners("tie", clock, [rules[0].pk, alone.pk], limit=10)
    assert set(page_pairs) == {rules[0].pk, alone.pk}
    for pk in page_pairs:
        assert set(page_pairs[pk]) == set(every_pair[pk])
        assert counts[pk] == len(every_pair[pk])
    assert set(every_pair[rules[0].pk]) == {rules[1].pk, rules[2].pk}
    assert every_pair[alone.pk] == [everyone.pk]
    assert rules[3].pk not in every_pair


def test_tie_needs_a_common_item(clock, lists):
    """Rules whose lists share no item never compete for a record."""
    factories.rule(priority=40, price_list=lists["min"])
    factories.rule(priority=40, price_list=lists["gb"])
    assert found("tie", clock) == set()


def test_hidden_group_rule_behind_a_stronger_customer_rule(clock, lists):
    """The customer's own rule outranks the rule of a group the customer is in."""
    customer = factories.customer()
    group = factories.group()
    member(group, customer)
    deal = factories.rule(customer=customer, priority=90, price_list=lists["min"])
    factories.rule(group=group, priority=10, price_list=lists["min_sms"])
    stranger = factories.customer()
    factories.rule(customer=stranger, priority=90, price_list=lists["min"])  # not a member
    weak = factories.customer()
    member(group, weak)
    factories.rule(customer=weak, priority=5, price_list=lists["min"])  # lower priority
    other_items = factories.customer()
    member(group, other_items)
    factories.rule(customer=other_items, priority=90, price_list=lists["gb"])  # no common item
    assert found("hidden", clock) == {deal.pk}


def test_rule_rows_name_the_rules_involved(clock, lists):
    """The page rows carry the partners, strongest first, and why a tie goes one way."""
    factories.rule("EVERY-1", priority=50, price_list=lists["min_sms"])
    factories.rule("EVERY-2", priority=70, price_list=lists["min_sms"])
    shadowed = factories.rule("LOW", priority=10, price_list=lists["min"])
    (row,) = audit.finding_rows("shadowed", [shadowed.pk], clock)
    assert [p.code for p in row.partners] == ["EVERY-2", "EVERY-1"]
    assert row.partner_count == 2

    customer = factories.customer()
    group = factories.group()
    member(group, customer)
    own = factories.rule("OWN", customer=customer, priority=30, price_list=lists["min"])
    factories.rule("GRP", group=group, priority=30, price_list=lists["min"])
    (row,) = audit.finding_rows("tie", [own.pk], clock)
    assert [p.code for p in row.partners] == ["GRP"]
    assert row.tie_winner == own
    assert "customer before group" in row.tie_reason
