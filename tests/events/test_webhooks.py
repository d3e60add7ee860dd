"""Outbound events: the outbox, signatures, retries with backoff, and a real local receiver."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from billing.events import services, signing, types
from billing.events.models import Delivery, DeliveryState, Endpoint, Event
from groups import services as group_services
from pricing import services as pricing_services
from tests import factories
from tests.events.receiver import Receiver


class Rollback(Exception):
    pass


def _rolled_back(call) -> None:
    """Run ``call`` in a transaction that is then rolled back."""
    with transaction.atomic():
        call()
        raise Rollback


def _deliver_everything(run_queue, rounds: int = 10) -> None:
    """Run the workers and the schedule's webhook job until nothing is pending."""
    for _ in range(rounds):
        run_queue()
        if not Delivery.objects.filter(state=DeliveryState.PENDING).exists():
            return
        services.deliveries_due()
    raise AssertionError("deliveries still pending")


@pytest.mark.parametrize("failures", [2])
def test_a_local_receiver_gets_each_event_once_after_two_failures(
    run_queue, settings, manager, django_capture_on_commit_callbacks, failures
):
    """The issue's webhook test: signatures verify, the receiver fails twice then succeeds,
    each event is delivered successfully exactly once, and a rolled-back change sends nothing."""
    settings.RATECARD_WEBHOOK_BACKOFF_SECONDS = 0
    group, alice, bob = factories.group(name="VIP"), factories.customer(), factories.customer()
    with Receiver(failures=failures) as receiver:
        endpoint = services.endpoint_create(
            url=receiver.url,
            event_types=[types.MEMBERSHIP_JOINED, types.RULE_CHANGED],
            by=manager,
        )
        receiver.secret = endpoint.secret
        with django_capture_on_commit_callbacks(execute=True):
            group_services.membership_add(group=group, customer=alice, by=manager)
        with django_capture_on_commit_callbacks(execute=True):
            factories.price_list(code="STD")
            rule = pricing_services.rule_create(
                name="VIP retail",
                code="VIP-RETAIL",
                billing_category="retail",
                price_list=factories.price_list(code="VIP-PL"),
                group=group,
                by=manager,
            )
        with pytest.raises(Rollback):
            _rolled_back(
                lambda: group_services.membership_add(group=group, customer=bob, by=manager)
            )
        _deliver_everything(run_queue)
        # A delivery task run again (at least once) sends nothing already delivered.
        from billing.events import tasks

        assert tasks.deliver_endpoint.call(endpoint_id=str(endpoint.pk)) == {
            "sent": 0,
            "delivered": 0,
        }

    assert receiver.invalid == 0
    events = list(Event.objects.order_by("created_at"))
    assert [e.type for e in events] == [types.MEMBERSHIP_JOINED, types.RULE_CHANGED]
    assert set(receiver.successes.values()) == {1}
    assert set(receiver.successes) == {str(e.pk) for e in events}
    assert set(receiver.attempts.values()) == {failures + 1}
    assert not any(
        body["data"].get("customer", {}).get("id") == str(bob.pk)
        for body in receiver.bodies.values()
    ), "nothing for the rolled-back membership"
    for delivery in Delivery.objects.all():
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
            DeliveryState.SUCCEEDED,
            failures + 1,
            200,
        )
    joined = next(b for b in receiver.bodies.values() if b["type"] == types.MEMBERSHIP_JOINED)
    assert joined["data"]["group"] == {"id": str(group.pk), "code": group.code, "name": "VIP"}
    assert joined["data"]["customer"]["id"] == str(alice.pk)
    assert joined["data"]["joined_by"] == "pm"
    changed = next(b for b in receiver.bodies.values() if b["type"] == types.RULE_CHANGED)
    assert changed["data"]["action"] == "created"
    assert changed["data"]["rule"]["id"] == str(rule.pk)
    assert changed["data"]["rule"]["code"] == "VIP-RETAIL"
    headers = receiver.headers[str(events[0].pk)]
    assert headers["Ratecard-Event-Type"] == types.MEMBERSHIP_JOINED
    assert headers["Content-Type"] == "application/json"


def test_events_are_recorded_in_the_changes_transaction_only_for_subscribers(db):
    """No endpoint wants price lists: no event. A rolled-back change leaves no event."""
    services.endpoint_create(url="http://127.0.0.1:9/h", event_types=[types.RULE_CHANGED])
    factories.price_list(code="STD")
    pricing_services.price_list_create(name="Other", code="OTHER", currency="CZK")
    assert not Event.objects.exists()
    price_list = factories.price_list(code="P1")
    with pytest.raises(Rollback):
        _rolled_back(
            lambda: pricing_services.rule_create(
                name="R", code="R-1", billing_category="retail", price_list=price_list
            )
        )
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()


def test_a_failed_delivery_waits_longer_each_time_and_gives_up_after_24_hours(db, settings):
    """Exponential backoff: 30 s, 60 s, 120 s, …; past 24 hours from the event: given up."""
    assert [services.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert services.backoff(30) == timedelta(hours=6)
    endpoint = services.endpoint_create(
        url="http://127.0.0.1:9/nothing-listens", event_types=[types.RULE_CHANGED]
    )
    services.events_record([services.Draft(types.RULE_CHANGED, {"x": 1})])
    delivery = services._claim(endpoint.pk)
    assert not services.delivery_attempt(delivery)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING
    assert delivery.last_status_code is None
    assert "Error" in delivery.last_error
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 29 <= wait <= 31
    assert services._claim(endpoint.pk) is None, "not due before its backoff"
    Event.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))
    Delivery.objects.update(next_attempt_at=timezone.now())
    delivery = services._claim(endpoint.pk)
    services.delivery_attempt(delivery)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert "Gave up after 24 hours" in delivery.last_error


def test_a_claimed_delivery_is_not_sent_twice_at_once(db):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/h", event_types=["rule.changed"])
    services.events_record([services.Draft(types.RULE_CHANGED, {"x": 1})])
    assert services._claim(endpoint.pk) is not None
    assert services._claim(endpoint.pk) is None, "leased to the first claimant"


def test_the_signature_is_stripes_scheme():
    """t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<body>")); stale or altered bodies fail."""
    import hashlib
    import hmac

    body, secret = b'{"id":"1"}', "whsec_test"
    header = signing.sign(body, secret, timestamp=1_700_000_000)
    expected = hmac.new(secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert signing.verify(body, header, secret, now=1_700_000_100)
    assert not signing.verify(body + b" ", header, secret, now=1_700_000_100)
    assert not signing.verify(body, header, "whsec_other", now=1_700_000_100)
    assert not signing.verify(body, header, secret, now=1_700_000_000 + 301), "replay"
    assert not signing.verify(body, "garbage", secret)


def test_membership_events_cover_bulk_changes_and_leaving(db):
    """Bulk adds, removals and the end of a promotion each record one event per customer."""
    services.endpoint_create(
        url="http://127.0.0.1:9/h", event_types=[types.MEMBERSHIP_JOINED, types.MEMBERSHIP_LEFT]
    )
    group = factories.group()
    customers = [factories.customer(external_id=f"E-{n}") for n in range(3)]
    group_services.membership_bulk_apply(
        group=group, external_ids=["E-0", "E-1", "E-2"], mode="add"
    )
    group_services.membership_remove(group=group, customer=customers[0])
    group_services.group_end_promotion(group=group)
    counts = {
        t: Event.objects.filter(type=t).count()
        for t in (types.MEMBERSHIP_JOINED, types.MEMBERSHIP_LEFT)
    }
    assert counts == {types.MEMBERSHIP_JOINED: 3, types.MEMBERSHIP_LEFT: 3}
    left = Event.objects.filter(type=types.MEMBERSHIP_LEFT).first()
    assert left.payload["data"]["left_at"] is not None


def test_an_upload_that_finishes_rating_sends_its_counts_and_its_unrated_records(
    worked_example, run_queue, manager
):
    """usage_batch.rated (counts) once per upload, usage.unrated per record no rule prices."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    services.endpoint_create(
        url="http://127.0.0.1:9/h", event_types=[types.USAGE_BATCH_RATED, types.USAGE_UNRATED]
    )
    text = (
        "customer,category,item,quantity,occurred_at\n"
        "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\n"
        "CUST-0001,retail,fax,1,2026-03-01T12:00:00Z\n"
    )
    result = pricing_services.usage_upload(
        file=SimpleUploadedFile("march.csv", text.encode()), by=manager
    )
    pricing_services.upload_rate(upload=result.upload, by=manager)
    run_queue()
    rated = Event.objects.get(type=types.USAGE_BATCH_RATED)
    assert rated.payload["data"]["records"] == 2
    assert (rated.payload["data"]["rated"], rated.payload["data"]["unrated"]) == (1, 1)
    assert rated.payload["data"]["upload"]["file_name"] == "march.csv"
    unrated = Event.objects.get(type=types.USAGE_UNRATED)
    assert unrated.payload["data"]["usage_record"]["item_code"] == "fax"
    # Refreshing the counts again (a second run of the task) records nothing more.
    pricing_services.upload_refresh_counts(upload=result.upload)
    assert Event.objects.count() == 2


def test_the_payload_is_json_with_id_type_timestamp_and_data(db):
    services.endpoint_create(url="http://127.0.0.1:9/h", event_types=[types.PRICE_LIST_CHANGED])
    price_list = pricing_services.price_list_create(
        name="Standard",
        code="STD",
        currency="CZK",
        items=[{"item_code": "minute", "unit": "min", "unit_price": "1.2"}],
    )
    event = Event.objects.get()
    body = json.loads(json.dumps(event.payload))
    assert set(body) == {"id", "type", "created", "data"}
    assert body["id"] == str(event.pk)
    assert body["data"]["action"] == "created"
    assert body["data"]["price_list"]["code"] == "STD"
    assert body["data"]["price_list"]["id"] == str(price_list.pk)


def test_a_paused_endpoint_receives_nothing(db):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/h", event_types=["rule.changed"])
    services.endpoint_update(
        endpoint=endpoint, url=endpoint.url, event_types=endpoint.event_types, is_active=False
    )
    factories.rule()
    pricing_services.rule_disable(rule=factories.rule())
    assert not Delivery.objects.exists()
    assert Endpoint.objects.get().is_active is False


def test_old_events_are_pruned_unless_a_delivery_is_pending(db):
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    services.events_record([services.Draft(types.RULE_CHANGED, {"n": 1})])
    services.events_record([services.Draft(types.RULE_CHANGED, {"n": 2})])
    old = timezone.now() - timedelta(days=31)
    Event.objects.update(created_at=old)
    done = Delivery.objects.filter(event__payload__data__n=1).get()
    Delivery.objects.filter(pk=done.pk).update(state=DeliveryState.SUCCEEDED)
    assert services.events_prune() == 2  # the event and its delivery
    assert list(Event.objects.values_list("payload__data__n", flat=True)) == [2]
    assert endpoint.deliveries.count() == 1


def test_an_endpoint_being_served_gets_no_second_delivery_task(db, monkeypatch):
    """The schedule enqueues a task per endpoint with something due, but not for an endpoint
    whose delivery is under lease (a task is sending to it)."""
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/a/h", event_types=["rule.changed"])
    services.events_record([services.Draft(types.RULE_CHANGED, {"n": 1})])
    services.events_record([services.Draft(types.RULE_CHANGED, {"n": 2})])
    sent = []
    monkeypatch.setattr(services, "enqueue_delivery", lambda endpoint_id: sent.append(1) or True)
    assert services.deliveries_due() == 1
    services._claim(endpoint.pk)  # a task is sending the first one
    assert services.deliveries_due() == 0
