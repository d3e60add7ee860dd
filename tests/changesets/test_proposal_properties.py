"""Property: a changeset applied in memory (the impact gate's proposed rule book) is exactly
the rule book that publishing it makes, for any mix of rule and price list changes."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.changesets import proposed
from pricing.changesets import publish as pub
from pricing.changesets import services as cs
from pricing.selectors import engine_rules
from tests import factories

pytestmark = pytest.mark.django_db

PRICES = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def plans(draw):
    n_rules = draw(st.integers(1, 4))
    rules = [
        {
            "priority": draw(st.integers(0, 5)),
            "list": draw(st.integers(0, 1)),
            "change": draw(st.sampled_from(["none", "priority", "disable", "delete", "list"])),
            "new_priority": draw(st.integers(0, 5)),
        }
        for _ in range(n_rules)
    ]
    return {
        "rules": rules,
        "derived_factor": draw(st.sampled_from([None, Decimal("0.5"), Decimal("1.25")])),
        "base_items": draw(
            st.one_of(
                st.none(),
                st.dictionaries(st.sampled_from(["minute", "sms", "gb"]), PRICES, max_size=3),
            )
        ),
        "create": draw(st.booleans()),
    }


def _comparable(rules):
    return sorted(
        (
            r.code,
            r.priority,
            r.valid_from,
            r.valid_to,
            r.is_active,
            r.group_id,
            r.customer_id,
            r.price_list_id,
            r.currency,
            tuple(sorted(r.prices.items())),
        )
        for r in rules
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans())
def test_the_proposal_equals_the_published_rule_book(plan):
    with factories.rolled_back():
        base = factories.price_list(items={"minute": "1.00", "sms": "0.10"})
        other = (
            factories.price_list(items={}, base_price_list=base, factor=plan["derived_factor"])
            if plan["derived_factor"] is not None
            else factories.price_list(items={"minute": "2.00"})
        )
        lists = [base, other]
        changeset = cs.changeset_create(title="property")
        for n, spec in enumerate(plan["rules"]):
            rule = factories.rule(
                f"P{n}", price_list=lists[spec["list"]], priority=spec["priority"]
            )
            change = spec["change"]
            if change == "priority":
                cs.change_rule(
                    changeset=changeset, action="update", rule=rule, priority=spec["new_priority"]
                )
            elif change == "list":
                cs.change_rule(
                    changeset=changeset,
                    action="update",
                    rule=rule,
                    price_list=lists[1 - spec["list"]],
                )
            elif change in ("disable", "delete"):
                cs.change_rule(changeset=changeset, action=change, rule=rule)
        if plan["base_items"] is not None:
            cs.change_price_list(
                changeset=changeset,
                action="update",
                price_list=base,
                items=[
                    {"item_code": code, "unit": code, "unit_price": str(price)}
                    for code, price in plan["base_items"].items()
                ],
            )
        if plan["create"]:
            cs.change_rule(
                changeset=changeset,
                action="create",
                name="Created",
                code="P-NEW",
                billing_category="retail",
                price_list=other,
                priority=3,
                valid_from=date(2026, 1, 1),
            )
        proposal = proposed.proposal(changeset)
        if not changeset.changes.exists():
            return
        pub.changeset_publish(changeset=changeset)
        # Ids aside (a created rule gets its id when published), rule for rule the same.
        assert _comparable(proposal.after) == _comparable(engine_rules(categories=["retail"]))
