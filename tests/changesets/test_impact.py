"""The impact gate: the changeset applied in memory is the rule book publishing would make."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.roles import PRICING_MANAGERS
from pricing.changesets import impact, proposed
from pricing.changesets import publish as pub
from pricing.changesets import services as cs
from pricing.clock import billing_today
from pricing.selectors import engine_rules
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def author():
    return factories.user("author", role=PRICING_MANAGERS)


def _comparable(rule):
    return (
        rule.code,
        rule.billing_category,
        rule.priority,
        rule.valid_from,
        rule.valid_to,
        rule.is_active,
        rule.group_id,
        rule.customer_id,
        rule.price_list_id,
        rule.currency,
        dict(rule.prices),
    )


def test_the_proposed_rule_book_is_what_publishing_makes(author):
    """Rule edits, a disabled rule, a created rule and new item prices of a base list (which
    a derived list follows): the proposal in memory equals the rule book read back after the
    publication."""
    base = factories.price_list("BASE", items={"minute": "1.00", "sms": "0.20"})
    derived = factories.price_list("DERIVED", items={}, base_price_list=base, factor=Decimal("0.5"))
    group = factories.group()
    edited = factories.rule("EDITED", price_list=base, priority=5)
    disabled = factories.rule("DISABLED", price_list=derived, priority=6)
    factories.rule("UNTOUCHED", price_list=derived, priority=7, group=group)
    factories.rule("OTHER-CAT", billing_category="wholesale", priority=1)
    changeset = cs.changeset_create(title="Mixed", by=author)
    cs.change_rule(
        changeset=changeset, action="update", rule=edited, by=author, priority=50, group=group
    )
    cs.change_rule(changeset=changeset, action="disable", rule=disabled, by=author)
    cs.change_rule(
        changeset=changeset,
        action="create",
        by=author,
        name="Created",
        code="CREATED",
        billing_category="retail",
        price_list=derived,
        priority=60,
        valid_from=date(2026, 1, 1),
    )
    cs.change_price_list(
        changeset=changeset,
        action="update",
        price_list=base,
        by=author,
        items=[
            {"item_code": "minute", "unit": "minute", "unit_price": "2.00"},
            {"item_code": "gb", "unit": "GB", "unit_price": "3"},
        ],
    )
    prop = proposed.proposal(changeset)
    assert prop.categories == ["retail"]
    assert sorted(map(_comparable, prop.before), key=str) == sorted(
        map(_comparable, engine_rules(categories=["retail"])), key=str
    )
    pub.changeset_publish(changeset=changeset, by=author)
    assert sorted(map(_comparable, prop.after), key=str) == sorted(
        map(_comparable, engine_rules(categories=["retail"])), key=str
    )


def test_the_gate_reports_deltas_and_new_findings(author):
    """A price raised for everyone moves the customer's amount; a second rule at the same
    priority is reported as a new tie."""
    customer = factories.customer("Acme")
    cheap = factories.price_list("CHEAP", items={"minute": "1.00"})
    rule = factories.rule("EVERYONE", price_list=cheap, priority=10)
    today = billing_today()
    occurred = datetime.combine(today - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    for _ in range(3):
        factories.usage(
            customer, quantity=Decimal("10"), occurred_at=occurred + timedelta(hours=12)
        )
    changeset = cs.changeset_create(title="Raise", by=author)
    cs.change_price_list(
        changeset=changeset,
        action="update",
        price_list=cheap,
        by=author,
        items=[{"item_code": "minute", "unit": "minute", "unit_price": "1.50"}],
    )
    cs.change_rule(
        changeset=changeset,
        action="create",
        by=author,
        name="Twin",
        code="TWIN",
        billing_category="retail",
        price_list=cheap,
        priority=10,
        valid_from=date(2026, 1, 1),
    )
    start, end = impact.default_window()
    changeset = impact.impact_start(changeset=changeset, start=start, end=end, by=author)
    data = changeset.impact_report
    report = data["report"]
    assert report["records"] == 3
    [total] = report["totals"]
    assert (total["before"], total["after"]) == ("30.00", "45.00")
    assert report["customers"][0]["customer"]["name"] == "Acme"
    kinds = {(f["kind"], tuple(sorted(f["rules"]))) for f in data["findings"]}
    assert ("tie", ("EVERYONE", "TWIN")) in kinds
    assert rule.pk  # the rule itself is unchanged until published
    assert changeset.impact_work is None


def test_a_large_window_runs_as_background_work_with_progress(author, settings, run_queue):
    settings.RATECARD_IMPACT_INLINE_RECORDS = 1
    customer = factories.customer()
    rule = factories.rule(priority=3)
    today = billing_today()
    at = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    for _ in range(3):
        factories.usage(customer, occurred_at=at - timedelta(days=1))
    changeset = cs.changeset_create(title="Big", by=author)
    cs.change_rule(changeset=changeset, action="disable", rule=rule, by=author)
    start, end = impact.default_window()
    changeset = impact.impact_start(changeset=changeset, start=start, end=end, by=author)
    assert changeset.impact_work is not None
    assert changeset.impact_report is None
    run_queue()
    changeset.refresh_from_db()
    work = changeset.impact_work
    assert work.state == "succeeded"
    assert (work.progress_done, work.progress_total) == (3, 3)
    assert changeset.impact_report["report"]["became_unrated"] == 3
