"""In Chromium: a changeset from draft to rollback.

An author saves a rule edit to a changeset, runs its impact, submits; a second manager rejects
it with a comment; the author reopens and edits it; the second manager approves and schedules
it. The clock (``pricing.clock.now``) then passes the instant and the schedule's safety net
publishes it: a record is rated at the old price before and at the new one after. The price
book as of before the instant still shows the old price; the rollback is drafted last.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from pricing.changesets.publish import publish_due
from pricing.clock import billing_today
from pricing.models import Changeset, ChangesetState, PricingRule
from pricing.selectors import evaluate
from tests import factories
from tests.e2e.conftest import shoot, sign_in, wait_for_htmx


@pytest.fixture
def world(transactional_db):
    factories.user("author", role=PRICING_MANAGERS)
    factories.user("reviewer", role=PRICING_MANAGERS)
    factories.user("helpdesk", role=SUPPORT_STAFF)
    customer = factories.customer("Acme Calls", external_id="ACME")
    cheap = factories.price_list("CHEAP", name="Cheap", items={"minute": "1.00"})
    factories.price_list("STEEP", name="Steep", items={"minute": "3.00"})
    factories.price_list("MID", name="Mid", items={"minute": "1.50"})
    rule = factories.rule("RETAIL", name="Retail", price_list=cheap, priority=10)
    yesterday = datetime.combine(billing_today() - timedelta(days=1), datetime.min.time(), UTC)
    factories.usage(customer, quantity=Decimal("10"), occurred_at=yesterday + timedelta(hours=9))
    return {"customer": customer, "rule": rule}


def _as(page, live_server, username):
    page.context.clear_cookies()
    sign_in(page, live_server, username)


def _price(customer) -> Decimal:
    result = evaluate(
        customer=customer,
        billing_category="retail",
        item_code="minute",
        quantity=Decimal("1"),
        occurred_at=timezone.now(),
    ).result
    return result.unit_price


def _edit_rule_into_changeset(page, live_server, rule, price_list: str, changeset: str):
    page.goto(f"{live_server.url}/pricing/rules/{rule.pk}/edit/")
    page.get_by_label("Price list").select_option(label=price_list)
    wait_for_htmx(page)
    page.get_by_label("Changeset", exact=True).select_option(label=changeset)
    page.get_by_role("button", name="Save to changeset").click()
    page.wait_for_url(f"{live_server.url}/pricing/changesets/*/")


@pytest.mark.django_db(transaction=True)
def test_a_changeset_from_draft_through_review_schedule_publish_and_rollback(
    live_server, page, world, page_watch
):
    page.on("dialog", lambda dialog: dialog.accept())
    page_watch.allow(422)  # the rejection without a comment
    rule, customer = world["rule"], world["customer"]

    # The author drafts: the rule keeps its price until publication.
    _as(page, live_server, "author")
    _edit_rule_into_changeset(page, live_server, rule, "Steep (CZK)", "A new changeset")
    changeset = Changeset.objects.get()
    diff = page.locator("table.diff")
    assert diff.get_by_role("row", name="Price list Cheap (CZK) Steep (CZK)").count() == 1
    assert PricingRule.objects.get(pk=rule.pk).price_list.code == "CHEAP"

    # The impact gate over the last 30 days: the stored record would cost 30.00 instead of 10.00.
    page.get_by_role("button", name="Run the impact preview").click()
    page.wait_for_url("**#impact")
    totals = page.get_by_role("table", name="Totals by currency")
    assert totals.get_by_role("row", name="CZK 10.00 30.00 20.00").count() == 1
    assert "Acme Calls" in page.get_by_role("table", name="Biggest movers").inner_text()
    shoot(page, "changeset-draft-impact")
    page.get_by_role("button", name="Submit for review").click()
    page.get_by_text("Submitted for review.").wait_for()

    # The author cannot approve their own changeset.
    assert page.get_by_role("button", name="Approve").count() == 0
    assert page.get_by_text("another pricing manager approves or rejects it").count() == 1

    # A second manager rejects: first without a comment (refused), then with one.
    _as(page, live_server, "reviewer")
    page.goto(f"{live_server.url}/pricing/changesets/{changeset.pk}/")
    page.get_by_role("button", name="Reject").click()
    page.get_by_text("Say why it is rejected").first.wait_for()
    page.get_by_label("Comment").fill("Tripling the price is too steep.")
    page.get_by_role("button", name="Reject").click()
    page.get_by_text("Rejected.", exact=True).wait_for()
    shoot(page, "changeset-rejected")

    # The author reopens it and edits the same change to a gentler price.
    _as(page, live_server, "author")
    page.goto(f"{live_server.url}/pricing/changesets/{changeset.pk}/")
    page.get_by_role("button", name="Reopen to edit").click()
    page.get_by_text("Back to a draft.").wait_for()
    _edit_rule_into_changeset(page, live_server, rule, "Mid (CZK)", f"{changeset.title} (author)")
    assert page.locator("article.change").count() == 1
    assert (
        page.locator("table.diff")
        .get_by_role("row", name="Price list Cheap (CZK) Mid (CZK)")
        .count()
        == 1
    )
    page.get_by_role("button", name="Submit for review").click()
    page.get_by_text("Submitted for review.").wait_for()

    # The reviewer approves and schedules it an hour from now (billing time zone).
    _as(page, live_server, "reviewer")
    page.goto(f"{live_server.url}/pricing/changesets/{changeset.pk}/")
    assert page.get_by_text("Not run yet.").count() == 1  # the edit made the old report stale
    page.get_by_role("button", name="Run the impact preview").click()
    page.wait_for_url("**#impact")
    totals = page.get_by_role("table", name="Totals by currency")
    assert totals.get_by_role("row", name="CZK 10.00 15.00 5.00").count() == 1
    page.get_by_label("Comment").fill("Fine at 1.50.")
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("Approved.", exact=True).wait_for()
    instant = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    page.get_by_label("Publish at").fill(instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule").click()
    page.get_by_text("Scheduled.", exact=True).wait_for()
    assert "Publishes at" in page.locator("#scheduled-for").inner_text()
    shoot(page, "changeset-scheduled")
    assert Changeset.objects.get(pk=changeset.pk).state == ChangesetState.SCHEDULED

    # Before the instant nothing changes; once the clock passes it, the schedule publishes.
    assert _price(customer) == Decimal("1.00")
    before_publish = timezone.now()
    with mock.patch("pricing.clock.now", return_value=instant - timedelta(seconds=1)):
        assert publish_due() == []
    assert _price(customer) == Decimal("1.00")
    with mock.patch("pricing.clock.now", return_value=instant + timedelta(seconds=1)):
        assert publish_due() == [str(changeset.pk)]
    assert _price(customer) == Decimal("1.50")
    page.reload()
    assert page.locator("#changeset-state").get_by_text("Published").count() == 1
    assert "published (scheduled)" in page.locator("#events").inner_text()

    # Support staff see the changeset, without any action, and the price book as of before.
    _as(page, live_server, "helpdesk")
    page.goto(f"{live_server.url}/pricing/changesets/{changeset.pk}/")
    assert page.get_by_role("button", name="Roll back…").count() == 0
    assert page.get_by_role("link", name="Roll back…").count() == 0
    then = before_publish.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    page.goto(f"{live_server.url}/pricing/price-book/?at={then}&customer_q=ACME")
    assert "1.00 CZK" in page.locator("#customer-prices").inner_text()
    shoot(page, "price-book-as-of")
    page.goto(f"{live_server.url}/pricing/price-book/?customer_q=ACME")
    assert "1.50 CZK" in page.locator("#customer-prices").inner_text()

    # The rollback is drafted (not published): a new changeset restoring the cheap list.
    _as(page, live_server, "author")
    page.goto(f"{live_server.url}/pricing/changesets/{changeset.pk}/")
    page.get_by_role("link", name="Roll back…").click()
    page.get_by_text("Rollback drafted").wait_for()
    wait_for_htmx(page)
    inverse = Changeset.objects.get(rollback_of=changeset)
    assert page.url.endswith(f"/pricing/changesets/{inverse.pk}/")
    assert (
        page.locator("table.diff")
        .get_by_role("row", name="Price list Mid (CZK) Cheap (CZK)")
        .count()
        == 1
    )
    assert _price(customer) == Decimal("1.50")
    shoot(page, "changeset-rollback-draft")
    page.locator("#main-nav").get_by_role("link", name="Changesets").click()
    rows = page.get_by_role("row")
    assert rows.filter(has_text="Roll back:").filter(has_text="Draft").count() == 1
    assert rows.filter(has_text=changeset.title).filter(has_text="Published").count() == 1
    shoot(page, "changesets-list")
