"""Changesets: drafting, the review's state machine, publishing, conflicts, scheduling, rollback."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.roles import PRICING_MANAGERS
from pricing import services
from pricing.changesets import publish as pub
from pricing.changesets import services as cs
from pricing.models import ChangeAction, ChangesetState, PriceList, PricingRule
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def author():
    return factories.user("author", role=PRICING_MANAGERS)


@pytest.fixture
def reviewer():
    return factories.user("reviewer", role=PRICING_MANAGERS)


def _draft_priority(rule, author, priority=500, title="Raise"):
    changeset = cs.changeset_create(title=title, by=author)
    cs.change_rule(
        changeset=changeset, action=ChangeAction.UPDATE, rule=rule, by=author, priority=priority
    )
    return changeset


def test_a_draft_changes_nothing_until_published(author, reviewer):
    """Drafting, submitting and approving leave the rule as it was; publishing changes it,
    through the service, with the changeset named in the rule's history."""
    rule = factories.rule(priority=10)
    changeset = _draft_priority(rule, author)
    cs.changeset_submit(changeset=changeset, by=author)
    cs.changeset_approve(changeset=changeset, by=reviewer, comment="ok")
    rule.refresh_from_db()
    assert rule.priority == 10
    pub.changeset_publish(changeset=changeset, by=reviewer)
    rule.refresh_from_db()
    assert rule.priority == 500
    assert rule.version == 2
    latest = rule.history.order_by("-history_date").first()
    assert latest.history_change_reason.startswith(f"changeset {str(changeset.pk)[:8]}")
    assert latest.history_user == reviewer
    changeset.refresh_from_db()
    assert changeset.state == ChangesetState.PUBLISHED
    assert changeset.published_by == reviewer
    assert list(changeset.events.values_list("action", flat=True)) == [
        "created",
        "submitted",
        "approved",
        "published",
    ]


def test_the_author_cannot_approve_their_own_changeset(author):
    changeset = _draft_priority(factories.rule(), author)
    cs.changeset_submit(changeset=changeset, by=author)
    with pytest.raises(ValidationError, match="another pricing manager"):
        cs.changeset_approve(changeset=changeset, by=author)
    changeset.refresh_from_db()
    assert changeset.state == ChangesetState.SUBMITTED


def test_a_superuser_bypass_is_allowed_only_by_the_setting_and_recorded(settings):
    boss = factories.user("boss", superuser=True)
    changeset = _draft_priority(factories.rule(), boss)
    cs.changeset_submit(changeset=changeset, by=boss)
    with pytest.raises(ValidationError):
        cs.changeset_approve(changeset=changeset, by=boss)
    settings.RATECARD_APPROVAL_SUPERUSER_BYPASS = True
    cs.changeset_approve(changeset=changeset, by=boss)
    changeset.refresh_from_db()
    assert changeset.state == ChangesetState.APPROVED
    assert changeset.approval_bypassed
    assert changeset.events.get(action="approved").comment == cs.BYPASS_NOTE


def test_rejecting_needs_a_comment_and_a_rejected_changeset_is_reopened_to_edit(author, reviewer):
    rule = factories.rule()
    changeset = _draft_priority(rule, author)
    cs.changeset_submit(changeset=changeset, by=author)
    with pytest.raises(ValidationError, match="Say why"):
        cs.changeset_reject(changeset=changeset, by=reviewer, comment=" ")
    cs.changeset_reject(changeset=changeset, by=reviewer, comment="too high")
    with pytest.raises(ValidationError, match="only a draft can be edited"):
        cs.change_rule(changeset=changeset, action="update", rule=rule, by=author, priority=300)
    cs.changeset_reopen(changeset=changeset, by=author)
    cs.change_rule(changeset=changeset, action="update", rule=rule, by=author, priority=300)
    assert changeset.changes.get().after["priority"] == 300


@pytest.mark.parametrize(
    ("transition", "kwargs"),
    [
        (cs.changeset_approve, {}),
        (cs.changeset_reject, {"comment": "no"}),
        (cs.changeset_unschedule, {}),
        (cs.changeset_rollback, {}),
    ],
)
def test_transitions_from_a_draft_are_refused_with_a_clear_message(
    author, reviewer, transition, kwargs
):
    changeset = _draft_priority(factories.rule(), author)
    with pytest.raises(ValidationError) as exc:
        transition(changeset=changeset, by=reviewer, **kwargs)
    assert "draft" in " ".join(exc.value.messages)
    changeset.refresh_from_db()
    assert changeset.state == ChangesetState.DRAFT


def test_approval_required_refuses_publishing_a_draft(settings, author):
    settings.RATECARD_REQUIRE_APPROVAL = True
    rule = factories.rule(priority=10)
    changeset = _draft_priority(rule, author)
    with pytest.raises(ValidationError, match="must be approved"):
        pub.changeset_publish(changeset=changeset, by=author)
    rule.refresh_from_db()
    assert rule.priority == 10


def test_without_approval_required_a_draft_publishes_directly(settings, author):
    settings.RATECARD_REQUIRE_APPROVAL = False
    rule = factories.rule(priority=10)
    pub.changeset_publish(changeset=_draft_priority(rule, author), by=author)
    rule.refresh_from_db()
    assert rule.priority == 500


def test_a_moved_base_is_a_conflict_naming_who_and_nothing_is_applied(author):
    other = factories.user("other", role=PRICING_MANAGERS)
    rule = factories.rule(priority=10)
    untouched = factories.rule(priority=20)
    changeset = _draft_priority(rule, author)
    cs.change_rule(changeset=changeset, action="update", rule=untouched, by=author, priority=21)
    services.rule_update(rule=PricingRule.objects.get(pk=rule.pk), by=other, name="Renamed")
    with pytest.raises(pub.ChangesetConflict) as exc:
        pub.changeset_publish(changeset=changeset, by=author)
    [conflict] = exc.value.conflicts
    assert conflict.who == "other"
    assert "Name" in conflict.fields
    assert "was changed by other" in conflict.message
    untouched.refresh_from_db()
    assert untouched.priority == 20
    # After a rebase the proposal stands on the new base and publishes.
    cs.changeset_rebase(changeset=changeset, by=author)
    pub.changeset_publish(changeset=changeset, by=author)
    rule.refresh_from_db()
    assert (rule.name, rule.priority) == ("Renamed", 500)


def test_price_list_items_change_together_and_roll_back(author, reviewer):
    price_list = factories.price_list(items={"minute": "1.00", "sms": "0.50"})
    changeset = cs.changeset_create(title="Prices", by=author)
    cs.change_price_list(
        changeset=changeset,
        action="update",
        price_list=price_list,
        by=author,
        name="Cheaper",
        items=[
            {"item_code": "minute", "unit": "minute", "unit_price": Decimal("0.80")},
            {"item_code": "gb", "unit": "GB", "unit_price": Decimal("5")},
        ],
    )
    pub.changeset_publish(changeset=changeset, by=author)
    price_list.refresh_from_db()
    assert price_list.name == "Cheaper"
    assert {i.item_code: i.unit_price for i in price_list.items.all()} == {
        "minute": Decimal("0.800000"),
        "gb": Decimal("5.000000"),
    }
    inverse = cs.changeset_rollback(changeset=changeset, by=author)
    assert inverse.state == ChangesetState.DRAFT
    assert inverse.rollback_of == changeset
    price_list.refresh_from_db()
    assert price_list.name == "Cheaper"  # a rollback is drafted, not published
    cs.changeset_submit(changeset=inverse, by=author)
    cs.changeset_approve(changeset=inverse, by=reviewer)
    pub.changeset_publish(changeset=inverse, by=reviewer)
    price_list.refresh_from_db()
    assert price_list.name.startswith("Price list")
    assert {i.item_code: i.unit_price for i in price_list.items.all()} == {
        "minute": Decimal("1.000000"),
        "sms": Decimal("0.500000"),
    }


def test_created_rule_is_deleted_by_the_rollback_and_a_deleted_one_recreated(author):
    keep = factories.price_list()
    gone = factories.rule(code="OLD", price_list=keep)
    changeset = cs.changeset_create(title="Swap", by=author)
    cs.change_rule(
        changeset=changeset,
        action="create",
        by=author,
        name="New",
        code="NEW",
        billing_category="retail",
        price_list=keep,
        priority=5,
        valid_from=timezone.localdate(),
    )
    cs.change_rule(changeset=changeset, action="delete", rule=gone, by=author)
    pub.changeset_publish(changeset=changeset, by=author)
    assert set(PricingRule.objects.values_list("code", flat=True)) == {"NEW"}
    inverse = cs.changeset_rollback(changeset=changeset, by=author)
    pub.changeset_publish(changeset=inverse, by=author)
    assert set(PricingRule.objects.values_list("code", flat=True)) == {"OLD"}


def test_a_change_that_no_longer_validates_undoes_the_whole_publication(author):
    taken = factories.price_list()
    rule = factories.rule(priority=1)
    changeset = _draft_priority(rule, author)
    cs.change_rule(
        changeset=changeset,
        action="create",
        by=author,
        name="Dup",
        code="DUP",
        billing_category="retail",
        price_list=taken,
        priority=5,
        valid_from=timezone.localdate(),
    )
    factories.rule(code="dup")  # the code is taken meanwhile
    with pytest.raises(ValidationError, match="DUP"):
        pub.changeset_publish(changeset=changeset, by=author)
    rule.refresh_from_db()
    assert rule.priority == 1
    assert not PricingRule.objects.filter(code="DUP").exists()


def test_scheduled_publication_happens_when_the_clock_reaches_the_instant(author):
    rule = factories.rule(priority=10)
    changeset = _draft_priority(rule, author)
    at = timezone.now() + timedelta(hours=2)
    scheduled = cs.changeset_schedule(changeset=changeset, at=at, by=author)
    assert scheduled.publish_work.params["run_after"] == at.isoformat()
    assert pub.publish_due() == []
    rule.refresh_from_db()
    assert rule.priority == 10
    with mock.patch("pricing.clock.now", return_value=at + timedelta(seconds=1)):
        assert pub.publish_due() == [str(changeset.pk)]
        assert pub.publish_due() == []  # idempotent
    rule.refresh_from_db()
    assert rule.priority == 500
    changeset.refresh_from_db()
    assert changeset.state == ChangesetState.PUBLISHED


def test_a_scheduled_publication_in_conflict_goes_back_with_the_reason(author):
    rule = factories.rule(priority=10)
    changeset = _draft_priority(rule, author)
    at = timezone.now() + timedelta(minutes=5)
    cs.changeset_schedule(changeset=changeset, at=at, by=author)
    services.rule_update(rule=PricingRule.objects.get(pk=rule.pk), by=author, name="Moved")
    assert pub.publish_due(now=at) == []
    changeset.refresh_from_db()
    assert changeset.state == ChangesetState.DRAFT
    event = changeset.events.get(action="scheduled publish refused")
    assert "was changed by author" in event.comment


def test_scheduling_in_the_past_is_refused(author):
    changeset = _draft_priority(factories.rule(), author)
    with pytest.raises(ValidationError, match="future"):
        cs.changeset_schedule(
            changeset=changeset, at=timezone.now() - timedelta(minutes=1), by=author
        )


def test_new_price_list_in_a_changeset(author):
    changeset = cs.changeset_create(title="List", by=author)
    cs.change_price_list(
        changeset=changeset,
        action="create",
        by=author,
        name="Fresh",
        code="FRESH",
        currency="EUR",
        items=[{"item_code": "minute", "unit": "minute", "unit_price": "0.1"}],
    )
    assert not PriceList.objects.filter(code="FRESH").exists()
    pub.changeset_publish(changeset=changeset, by=author)
    created = PriceList.objects.get(code="FRESH")
    assert created.items.get().unit_price == Decimal("0.100000")
    assert changeset.changes.get().target_id == created.pk


def test_publishing_records_one_changeset_published_event(author):
    """A subscribed endpoint gets one ``changeset.published`` event with the changes, in the
    publication's transaction."""
    from billing.events import services as events
    from billing.events.models import Event

    events.endpoint_create(url="http://127.0.0.1:9/hooks/cs", event_types=["changeset.published"])
    rule = factories.rule(priority=10)
    changeset = _draft_priority(rule, author)
    pub.changeset_publish(changeset=changeset, by=author)
    event = Event.objects.get(type="changeset.published")
    data = event.payload["data"]
    assert data["changeset"]["id"] == str(changeset.pk)
    assert data["changeset"]["published_by"] == "author"
    assert data["changes"] == [
        {"kind": "rule", "action": "update", "target_id": str(rule.pk), "label": str(rule)}
    ]


def test_partial_edits_of_one_rule_accumulate_in_its_change(author):
    """Two edits of one rule in one draft (as the API sends them): both fields are proposed."""
    rule = factories.rule(priority=10, name="Before")
    changeset = _draft_priority(rule, author, priority=70)
    cs.change_rule(changeset=changeset, action="update", rule=rule, by=author, name="After")
    after = changeset.changes.get().after
    assert (after["priority"], after["name"]) == (70, "After")


def test_deleting_a_list_still_in_use_is_refused_with_a_message_and_nothing_applied(author):
    rule = factories.rule(priority=10)
    changeset = _draft_priority(rule, author)
    cs.change_price_list(
        changeset=changeset, action="delete", price_list=rule.price_list, by=author
    )
    with pytest.raises(ValidationError, match="cannot be deleted while pricing rules use it"):
        pub.changeset_publish(changeset=changeset, by=author)
    rule.refresh_from_db()
    assert rule.priority == 10
    assert PriceList.objects.filter(pk=rule.price_list_id).exists()


def test_the_deferred_task_publishes_once_its_instant_has_passed(
    author, settings, django_capture_on_commit_callbacks
):
    """Scheduling enqueues a task deferred to the instant (database backend): a worker run
    before it publishes nothing; one after it publishes, and a second delivery does nothing."""
    import time

    from django_tasks_db.models import DBTaskResult

    from tests.workers import DB, drain

    settings.RATECARD_WORK_BACKEND = DB
    rule = factories.rule(priority=10)
    changeset = _draft_priority(rule, author)
    at = timezone.now() + timedelta(seconds=2)
    with django_capture_on_commit_callbacks(execute=True):
        scheduled = cs.changeset_schedule(changeset=changeset, at=at, by=author)
    work = scheduled.publish_work
    work.refresh_from_db()
    task = DBTaskResult.objects.get(id=work.task_result_id)
    assert task.run_after == at
    drain(DB)
    rule.refresh_from_db()
    assert rule.priority == 10
    while timezone.now() <= at:
        time.sleep(0.1)
    drain(DB)
    rule.refresh_from_db()
    assert rule.priority == 500
    work.refresh_from_db()
    assert work.result == {"published": True, "state": "published"}
    assert pub.publish_one_scheduled(changeset=changeset) is False
