"""Issue 21 item 1: the rule form warns, without refusing, about a validity already over.

A promotion for last week is a rule whose ``valid_to`` has passed: legitimate, but it prices
only the customers who were members of its group during its window, so the form says how many.
"""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import Membership
from pricing import advice
from pricing.clock import billing_today
from pricing.models import PricingRule
from tests import factories
from tests.pricing.test_rule_views import form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def price_list(db):
    return factories.price_list("PROMO", name="Promo", items={"minute": "0.10"})


@pytest.fixture
def last_week():
    today = billing_today()
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def _at(day, hour=12):
    return timezone.make_aware(datetime.combine(day, datetime.min.time()).replace(hour=hour))


@pytest.fixture
def promo_group(last_week):
    """Two customers were members during last week (one left mid-week); one joined today."""
    monday, _ = last_week
    group = factories.group("Last week promo")
    Membership.objects.create(
        group=group, customer=factories.customer("Stayed"), joined_at=_at(monday - timedelta(1))
    )
    Membership.objects.create(
        group=group,
        customer=factories.customer("Left"),
        joined_at=_at(monday),
        left_at=_at(monday + timedelta(days=2)),
    )
    Membership.objects.create(
        group=group, customer=factories.customer("Today"), joined_at=timezone.now()
    )
    return group


def _validate(client, data):
    url = reverse("pricing:rule_create")
    return client.post(url, {**data, "_validate": "1"}, HTTP_HX_REQUEST="true")


def test_a_past_validity_warns_with_the_members_of_the_window(
    manager_client, price_list, promo_group, last_week
):
    monday, sunday = last_week
    data = form_data(
        price_list,
        target_kind="group",
        group=str(promo_group.pk),
        valid_from=monday.isoformat(),
        valid_to=sunday.isoformat(),
    )
    body = _validate(manager_client, data).content.decode()
    assert 'id="rule-form-warnings"' in body
    assert advice.RULE_ENDED.format(valid_to=sunday.isoformat()) in body
    assert (
        advice.WINDOW_MEMBERS.format(
            count="2", group=promo_group.name, first=monday.isoformat(), last=sunday.isoformat()
        )
        in body
    )


def test_a_window_nobody_was_in_says_so_and_a_current_rule_says_nothing(
    manager_client, price_list, last_week
):
    monday, sunday = last_week
    empty = factories.group("Nobody then")
    Membership.objects.create(group=empty, customer=factories.customer("Late"))
    data = form_data(
        price_list,
        target_kind="group",
        group=str(empty.pk),
        valid_from=monday.isoformat(),
        valid_to=sunday.isoformat(),
    )
    body = _validate(manager_client, data).content.decode()
    assert "Nobody was a member of" in body
    current = {**data, "valid_to": (billing_today() + timedelta(days=3)).isoformat()}
    body = _validate(manager_client, current).content.decode()
    assert "already past" not in body
    assert "Nobody was a member" not in body


def test_a_past_rule_is_saved_and_the_warning_follows_it(
    manager_client, price_list, promo_group, last_week
):
    """A warning, not a refusal: the rule is created and its page repeats the advice."""
    monday, sunday = last_week
    data = form_data(
        price_list,
        code="LAST-WEEK",
        target_kind="group",
        group=str(promo_group.pk),
        valid_from=monday.isoformat(),
        valid_to=sunday.isoformat(),
    )
    response = manager_client.post(reverse("pricing:rule_create"), data, follow=True)
    assert response.status_code == 200
    assert PricingRule.objects.filter(code="LAST-WEEK").exists()
    body = response.content.decode()
    assert "is already past" in body
    assert "2 customers were members" in body


def test_members_during_counts_customers_once(promo_group, last_week):
    monday, sunday = last_week
    customer = Membership.objects.get(customer__name="Left").customer
    # A second, later period of the same customer in the window still counts one customer.
    Membership.objects.create(
        group=promo_group,
        customer=customer,
        joined_at=_at(monday + timedelta(days=3)),
        left_at=_at(monday + timedelta(days=4)),
    )
    assert advice.members_during(promo_group, monday, sunday) == 2
    # This week: the one who stayed and the one who joined today.
    assert advice.members_during(promo_group, sunday + timedelta(days=1), billing_today()) == 2
