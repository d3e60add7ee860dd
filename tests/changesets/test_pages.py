"""The changeset pages and the price book as of an instant."""

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.roles import PRICING_MANAGERS
from pricing import services
from pricing.changesets import publish as pub
from pricing.changesets import services as cs
from pricing.models import Changeset, ChangesetState, PricingRule
from tests import factories

pytestmark = pytest.mark.django_db


def _draft(author, rule, priority=300, title="Raise"):
    changeset = cs.changeset_create(title=title, by=author)
    cs.change_rule(changeset=changeset, action="update", rule=rule, by=author, priority=priority)
    return changeset


def _url(changeset, verb=None):
    if verb:
        return reverse("pricing:changeset_step", args=[changeset.pk, verb])
    return reverse("pricing:changeset_detail", args=[changeset.pk])


def test_the_page_shows_the_field_diff_old_and_new(manager_client, manager):
    rule = factories.rule("DIFF-ME", priority=10)
    changeset = _draft(manager, rule)
    response = manager_client.get(_url(changeset))
    assert response.status_code == 200
    html = response.content.decode()
    assert "DIFF-ME" in html
    assert '<th scope="row" class="fw-normal">Priority</th>' in html
    assert ">10</td>" in html
    assert ">300</td>" in html
    assert "Submit for review" in html


def test_support_staff_see_the_changeset_without_any_action(support_client, manager):
    changeset = _draft(manager, factories.rule())
    html = support_client.get(_url(changeset)).content.decode()
    assert "Raise" in html
    for button in ("Submit for review", "Approve", "Publish now", "Withdraw", "Remove"):
        assert button not in html
    assert support_client.post(_url(changeset, "submit")).status_code == 403


def test_the_author_is_told_another_manager_must_approve(manager_client, manager):
    changeset = _draft(manager, factories.rule())
    cs.changeset_submit(changeset=changeset, by=manager)
    html = manager_client.get(_url(changeset)).content.decode()
    assert "another pricing manager approves or rejects it" in html
    response = manager_client.post(_url(changeset, "approve"), {"comment": "me"})
    assert response.status_code == 422
    assert "another pricing manager must approve" in response.content.decode()
    assert Changeset.objects.get(pk=changeset.pk).state == ChangesetState.SUBMITTED


def test_a_wrong_state_step_is_refused_on_the_page_with_the_reason(manager_client, manager):
    changeset = _draft(manager, factories.rule())
    response = manager_client.post(_url(changeset, "reopen"))
    assert response.status_code == 422
    assert "is draft: it cannot be reopened" in response.content.decode()


def test_publishing_in_conflict_shows_who_changed_what(manager_client, manager):
    rule = factories.rule(priority=10)
    changeset = _draft(manager, rule)
    other = factories.user("colleague", role=PRICING_MANAGERS)
    services.rule_update(rule=rule, by=other, name="Renamed by a colleague")
    response = manager_client.post(_url(changeset, "publish"))
    assert response.status_code == 409
    html = response.content.decode()
    assert "was changed by colleague" in html
    assert "Nothing was applied" in html
    assert PricingRule.objects.get(pk=rule.pk).priority == 10


def test_review_publish_and_rollback_through_the_pages(client, manager):
    reviewer = factories.user("second", role=PRICING_MANAGERS)
    rule = factories.rule(priority=10)
    changeset = _draft(manager, rule)
    client.force_login(manager)
    assert client.post(_url(changeset, "submit")).status_code == 302
    client.force_login(reviewer)
    response = client.post(_url(changeset, "reject"), {"comment": ""})
    assert response.status_code == 422
    assert "Say why" in response.content.decode()
    assert client.post(_url(changeset, "approve"), {"comment": "ok"}).status_code == 302
    at = (timezone.now() + timedelta(days=1)).astimezone(UTC)
    response = client.post(_url(changeset, "schedule"), {"at": at.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    assert Changeset.objects.get(pk=changeset.pk).state == ChangesetState.SCHEDULED
    assert client.post(_url(changeset, "publish")).status_code == 302
    assert PricingRule.objects.get(pk=rule.pk).priority == 300
    response = client.post(_url(changeset, "rollback"))
    inverse = Changeset.objects.get(rollback_of=changeset)
    assert response["Location"] == _url(inverse)


def test_list_and_detail_pages_cost_the_same_queries_whatever_their_size(
    manager_client, manager, django_assert_max_num_queries
):
    rules = [factories.rule() for _ in range(6)]
    one = _draft(manager, rules[0])
    with django_assert_max_num_queries(30) as few:
        manager_client.get(reverse("pricing:changeset_list"))
    for n in range(8):
        _draft(manager, rules[n % 6], title=f"More {n}")
    for rule in rules[1:]:
        cs.change_rule(changeset=one, action="update", rule=rule, by=manager, priority=99)
    with django_assert_max_num_queries(len(few.captured_queries)):
        manager_client.get(reverse("pricing:changeset_list"))
    with django_assert_max_num_queries(40) as detail:
        manager_client.get(_url(_draft(manager, rules[0], title="small")))
    small = len(detail.captured_queries)
    with django_assert_max_num_queries(small):
        manager_client.get(_url(one))


def test_the_price_book_shows_the_price_a_customer_paid_then(support_client, manager):
    """A price changed by a changeset: the book as of before the publish shows the old price,
    as of now the new one, for the customer through their group's rule."""
    customer = factories.customer("Then Ltd")
    group = factories.group("Then group")
    factories.membership(group, customer)
    price_list = factories.price_list("THEN", items={"minute": "1.00"})
    factories.rule("THEN-RULE", price_list=price_list, group=group, priority=5)
    before = timezone.now()
    changeset = cs.changeset_create(title="Price up", by=manager)
    cs.change_price_list(
        changeset=changeset,
        action="update",
        price_list=price_list,
        by=manager,
        items=[{"item_code": "minute", "unit": "minute", "unit_price": "1.75"}],
    )
    pub.changeset_publish(changeset=changeset, by=manager)
    url = reverse("pricing:price_book")
    then = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    old = support_client.get(url, {"at": then, "customer": customer.pk})
    assert old.status_code == 200
    html = old.content.decode()
    assert "THEN-RULE" in html
    assert "1.00 CZK" in html
    now = support_client.get(url, {"customer_q": "Then Ltd"}).content.decode()
    assert "1.75 CZK" in now
    assert Decimal("1.75") == price_list.items.get().unit_price
    assert support_client.get(url, {"at": "not a date"}).status_code == 422


def test_the_price_book_costs_the_same_queries_whatever_the_history(
    support_client, manager, django_assert_max_num_queries
):
    customer = factories.customer("Counted")
    group = factories.group()
    factories.membership(group, customer)
    rule = factories.rule(group=group)
    url = reverse("pricing:price_book")
    params = {"customer": customer.pk}
    with django_assert_max_num_queries(20) as few:
        support_client.get(url, params)
    for n in range(10):
        services.rule_update(rule=rule, by=manager, priority=n + 20)
        other = factories.rule(price_list=factories.price_list(items={"minute": "2", "sms": "1"}))
        services.rule_update(rule=other, by=manager, name=f"Other {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert support_client.get(url, params).status_code == 200
