"""Issue 21 item 1: a membership can start earlier than it is recorded ("member since").

A backdated start is recorded as such with who did it; it may not be in the future nor overlap
another period of the same customer and group. ``MembershipQuerySet.during`` says who was a
member during a window, and agrees with the engine's ``counts_at``.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from groups import services
from groups.models import Customer, CustomerGroup, Membership
from pricing.engine import counts_at
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
LAST_MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


@pytest.fixture
def pair():
    return factories.group("Black Friday"), factories.customer("Acme")


# --- The service -------------------------------------------------------------------------------


def test_a_backdated_join_is_recorded_with_who_and_when(pair, manager):
    group, customer = pair
    membership, created = services.membership_add(
        group=group, customer=customer, by=manager, at=NOW, joined_at=LAST_MONDAY
    )
    assert created
    membership.refresh_from_db()
    assert membership.joined_at == LAST_MONDAY
    assert membership.joined_by == manager
    assert membership.backdated_at == NOW
    assert membership.backdated_by == manager
    assert membership.is_backdated


def test_a_join_recorded_as_it_happens_is_not_backdated(pair):
    group, customer = pair
    membership, _ = services.membership_add(group=group, customer=customer, at=NOW)
    assert membership.joined_at == NOW
    assert not membership.is_backdated
    # A start typed in a form is the current minute at best: not a backdated one either.
    other = factories.customer("Beta")
    typed = NOW.replace(second=0) - timedelta(seconds=30)
    membership, _ = services.membership_add(group=group, customer=other, at=NOW, joined_at=typed)
    assert not membership.is_backdated


def test_a_start_in_the_future_is_refused(pair):
    group, customer = pair
    with pytest.raises(ValidationError) as caught:
        services.membership_add(
            group=group, customer=customer, at=NOW, joined_at=NOW + timedelta(hours=1)
        )
    assert caught.value.message_dict["joined_at"][0].startswith(
        services.JOIN_IN_FUTURE.split("{")[0]
    )
    assert not Membership.objects.exists()


def test_a_start_overlapping_an_earlier_period_is_refused(pair):
    """Member from 20 to 25 November: a new period from 23 November would overlap it."""
    group, customer = pair
    Membership.objects.create(
        group=group,
        customer=customer,
        joined_at=datetime(2026, 11, 20, tzinfo=UTC),
        left_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    with pytest.raises(ValidationError) as caught:
        services.membership_add(group=group, customer=customer, at=NOW, joined_at=LAST_MONDAY)
    message = caught.value.message_dict["joined_at"][0]
    assert "cannot overlap another period" in message
    assert "2026-11-20" in message
    assert Membership.objects.count() == 1
    # Starting when that period ended is fine: periods exclude their end.
    membership, created = services.membership_add(
        group=group, customer=customer, at=NOW, joined_at=datetime(2026, 11, 25, tzinfo=UTC)
    )
    assert created
    assert membership.is_backdated


def test_a_current_member_who_joined_later_has_the_start_moved_back(pair, manager, support):
    """Added today by support, then "member since last Monday" by the manager: one period,
    starting last Monday, recorded as backdated by the manager; who added it stays."""
    group, customer = pair
    today, _ = services.membership_add(group=group, customer=customer, by=support, at=NOW)
    later = NOW + timedelta(minutes=5)
    membership, created = services.membership_add(
        group=group, customer=customer, by=manager, at=later, joined_at=LAST_MONDAY
    )
    assert not created
    assert membership.pk == today.pk
    membership.refresh_from_db()
    assert membership.joined_at == LAST_MONDAY
    assert membership.joined_by == support
    assert (membership.backdated_at, membership.backdated_by) == (later, manager)
    assert Membership.objects.count() == 1


def test_a_member_since_earlier_stays_as_it_is(pair):
    group, customer = pair
    services.membership_add(group=group, customer=customer, at=LAST_MONDAY)
    membership, created = services.membership_add(
        group=group, customer=customer, at=NOW, joined_at=NOW - timedelta(days=2)
    )
    assert not created
    assert membership.joined_at == LAST_MONDAY
    assert not membership.is_backdated


# --- Bulk ---------------------------------------------------------------------------------------


def test_bulk_add_with_member_since_adds_backdates_and_skips_overlaps(manager):
    group = factories.group("Black Friday")
    new = factories.customer("New", external_id="C-NEW")
    today = factories.customer("Today", external_id="C-TODAY")
    old = factories.customer("Old", external_id="C-OLD")
    clash = factories.customer("Clash", external_id="C-CLASH")
    services.membership_add(group=group, customer=today, at=NOW - timedelta(hours=2))
    services.membership_add(group=group, customer=old, at=datetime(2026, 1, 1, tzinfo=UTC))
    Membership.objects.create(
        group=group,
        customer=clash,
        joined_at=datetime(2026, 11, 20, tzinfo=UTC),
        left_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    ids = ["C-NEW", "C-TODAY", "C-OLD", "C-CLASH"]
    plan = services.membership_bulk_plan(
        group=group, external_ids=ids, mode=services.BulkMode.ADD, joined_at=LAST_MONDAY
    )
    assert [c.name for c in plan.to_add] == ["New"]
    assert [c.name for c in plan.to_backdate] == ["Today"]
    assert [c.name for c in plan.overlapping] == ["Clash"]
    assert plan.already == 1
    services.membership_bulk_apply(
        group=group,
        external_ids=ids,
        mode=services.BulkMode.ADD,
        by=manager,
        joined_at=LAST_MONDAY,
    )
    starts = dict(
        Membership.objects.current().filter(group=group).values_list("customer__name", "joined_at")
    )
    assert starts == {
        "New": LAST_MONDAY,
        "Today": LAST_MONDAY,
        "Old": datetime(2026, 1, 1, tzinfo=UTC),
    }
    added = Membership.objects.get(customer=new)
    assert added.backdated_by == manager
    assert added.is_backdated
    assert not Membership.objects.get(customer=old).is_backdated
    assert not Membership.objects.filter(customer=clash, left_at__isnull=True).exists()


def test_bulk_member_since_in_the_future_is_refused():
    group = factories.group("Black Friday")
    factories.customer("New", external_id="C-NEW")
    with pytest.raises(ValidationError):
        services.membership_bulk_plan(
            group=group,
            external_ids=["C-NEW"],
            mode=services.BulkMode.ADD,
            joined_at=timezone.now() + timedelta(days=1),
        )


# --- The database keeps periods apart (PostgreSQL) ----------------------------------------------


@pytest.mark.postgres
def test_postgresql_refuses_overlapping_periods_whoever_writes_them(pair):
    if connection.vendor != "postgresql":
        pytest.skip("the exclusion constraint is PostgreSQL's")
    group, customer = pair
    Membership.objects.create(
        group=group,
        customer=customer,
        joined_at=datetime(2026, 11, 20, tzinfo=UTC),
        left_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            group=group,
            customer=customer,
            joined_at=datetime(2026, 11, 24, tzinfo=UTC),
            left_at=datetime(2026, 11, 28, tzinfo=UTC),
        )
    # Touching ends do not overlap; another customer is another pair.
    Membership.objects.create(
        group=group, customer=customer, joined_at=datetime(2026, 11, 25, tzinfo=UTC)
    )
    Membership.objects.create(
        group=group, customer=factories.customer("Other"), joined_at=datetime(2026, 11, 21)
    )


@pytest.mark.postgres
def test_the_constraints_index_leads_with_the_customer():
    """A customer's periods are what rating and the pages look up; an index led by the group
    made PostgreSQL scan all of it for one customer (7-13 ms at a million memberships)."""
    if connection.vendor != "postgresql":
        pytest.skip("the exclusion constraint is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'groups_membership_periods_no_overlap'"
        )
        (definition,) = cursor.fetchone()
    assert "(customer_id WITH =, group_id WITH =," in definition


# --- during(): who was a member in a window, against the engine ---------------------------------

BASE = datetime(2026, 11, 1, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=12)


def _at(n: int) -> datetime:
    return BASE + timedelta(minutes=n)


class TestDuringAgreesWithTheEngine(TestCase):
    """``during(start, end)`` returns exactly the periods for which ``counts_at`` holds at some
    instant of ``[start, end)``. Instants are whole minutes on a small grid, so checking every
    minute of the window is exhaustive: every boundary lies on the grid."""

    @settings(max_examples=60, deadline=None)
    @given(
        periods=st.lists(
            st.tuples(minutes, st.one_of(st.none(), st.integers(min_value=0, max_value=12))),
            min_size=1,
            max_size=6,
        ),
        window=st.tuples(minutes, minutes),
    )
    def test_during(self, periods, window):
        group = CustomerGroup.objects.create(name="G", code="g")
        rows = []
        for joined, length in periods:
            left = None if length is None else _at(joined + length)
            customer = Customer.objects.create(name="C")  # one pair per period: any may be open
            rows.append(
                Membership(group=group, customer=customer, joined_at=_at(joined), left_at=left)
            )
        # The property is about the query, not the service: write the rows as they are.
        Membership.objects.bulk_create(rows)
        start, end = _at(window[0]), _at(window[1])
        found = set(
            Membership.objects.filter(group=group).during(start, end).values_list("pk", flat=True)
        )
        expected = {
            row.pk
            for row in Membership.objects.filter(group=group)
            if any(
                counts_at(row.joined_at, row.left_at, _at(n)) for n in range(window[0], window[1])
            )
        }
        assert found == expected


# --- The pages and the API ----------------------------------------------------------------------


def test_group_page_adds_a_member_since_last_monday(manager_client, manager):
    group = factories.group("Black Friday")
    customer = factories.customer("Acme", external_id="C-ACME")
    url = reverse("groups:member_add", args=[group.pk])
    response = manager_client.post(
        url,
        {"customer": str(customer.pk), "joined_at": "2026-11-23T00:00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    membership = Membership.objects.get(group=group, customer=customer)
    assert timezone.localtime(membership.joined_at).strftime("%Y-%m-%d %H:%M") == (
        "2026-11-23 00:00"
    )
    assert membership.backdated_by == manager
    body = response.content.decode()
    assert ">backdated</span>" in body
    assert "member since 2026-11-23 00:00 (backdated)" in body  # the message, out of band
    # The next add keeps the same "member since".
    assert 'value="2026-11-23T00:00"' in body


def test_group_page_shows_a_future_start_beside_the_field(manager_client):
    group = factories.group("Black Friday")
    customer = factories.customer("Acme")
    tomorrow = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = manager_client.post(
        reverse("groups:member_add", args=[group.pk]),
        {"customer": str(customer.pk), "joined_at": tomorrow},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="member-add-since-error"' in body
    assert "cannot start in the future" in body
    assert not Membership.objects.exists()


def test_customer_page_adds_to_a_group_since_a_date(manager_client):
    group = factories.group("Black Friday")
    customer = factories.customer("Acme")
    response = manager_client.post(
        reverse("groups:customer_group_add", args=[customer.pk]),
        {"group": str(group.pk), "joined_at": "2026-11-23T08:30"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(group=group, customer=customer)
    assert membership.is_backdated


def test_bulk_page_previews_and_applies_member_since(manager_client):
    group = factories.group("Black Friday")
    factories.customer("New", external_id="C-NEW")
    url = reverse("groups:member_bulk", args=[group.pk])
    preview = manager_client.post(
        url,
        {"external_ids": "C-NEW", "mode": "add", "joined_at": "2026-11-23T00:00"},
        HTTP_HX_REQUEST="true",
    )
    body = preview.content.decode()
    assert "Member since <strong>2026-11-23 00:00</strong>" in body
    assert not Membership.objects.exists()
    hidden = body.split('name="joined_at" value="')[1].split('"')[0]
    applied = manager_client.post(
        url,
        {"confirm": "1", "mode": "add", "ids": "C-NEW", "joined_at": hidden},
        HTTP_HX_REQUEST="true",
    )
    assert "member since 2026-11-23 00:00" in applied.content.decode()
    membership = Membership.objects.get()
    assert timezone.localtime(membership.joined_at).strftime("%Y-%m-%d %H:%M") == (
        "2026-11-23 00:00"
    )
    assert membership.is_backdated


def test_api_joined_at_backdates_and_refuses_the_future(manager):
    from rest_framework.test import APIClient

    group = factories.group("Black Friday")
    customer = factories.customer("Acme", external_id="C-ACME")
    api = APIClient()
    api.force_authenticate(manager)
    url = f"/api/v1/groups/{group.pk}/customers"
    response = api.post(
        url, {"external_id": "C-ACME", "joined_at": "2026-11-23T00:00:00Z"}, format="json"
    )
    assert response.status_code == 201
    assert response.data["joined_at"] == "2026-11-23T00:00:00Z"
    assert response.data["backdated_at"] is not None
    assert response.data["backdated_by"] == manager.username
    future = (timezone.now() + timedelta(days=1)).isoformat()
    other = factories.customer("Beta", external_id="C-BETA")
    refused = api.post(url, {"customer_id": str(other.pk), "joined_at": future}, format="json")
    assert refused.status_code == 400
    assert "joined_at" in refused.data
    assert not Membership.objects.filter(customer=customer, left_at__isnull=False).exists()


class TestHeldAtAgreesWithTheEngine(TestCase):
    """``held_at_q`` / ``as_of`` (who was a member at an instant, as the monthly chart counts
    them) is ``counts_at`` in ORM form."""

    @settings(max_examples=40, deadline=None)
    @given(
        periods=st.lists(
            st.tuples(minutes, st.one_of(st.none(), st.integers(min_value=0, max_value=12))),
            min_size=1,
            max_size=6,
        ),
        instant=minutes,
    )
    def test_as_of(self, periods, instant):
        group = CustomerGroup.objects.create(name="G", code="g")
        rows = [
            Membership(
                group=group,
                customer=Customer.objects.create(name="C"),
                joined_at=_at(joined),
                left_at=None if length is None else _at(joined + length),
            )
            for joined, length in periods
        ]
        Membership.objects.bulk_create(rows)
        at = _at(instant)
        found = set(Membership.objects.filter(group=group).as_of(at).values_list("pk", flat=True))
        expected = {
            row.pk
            for row in Membership.objects.filter(group=group)
            if counts_at(row.joined_at, row.left_at, at)
        }
        assert found == expected
