"""Every write of outbound events: endpoints, recording events (the outbox), deliveries.

Recording runs inside the caller's transaction: an event and its deliveries commit with the
change, or vanish with it. Delivery tasks are enqueued on commit; the schedule enqueues them
again for retries (``deliveries_due``). A delivery is claimed with a lease (its next attempt is
pushed ``LEASE`` ahead) so two workers never send it at once; a worker that dies mid-send lets
the lease run out and the delivery is tried again (receivers dedupe by event id).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.events import signing, types
from billing.events.models import Delivery, DeliveryState, Endpoint, Event

logger = logging.getLogger(__name__)

NO_EVENT_TYPES = "Choose at least one event type."
UNKNOWN_EVENT_TYPES = "Unknown event types: {types}."
LEASE = timedelta(seconds=60)
USER_AGENT = "Ratecard-Webhooks/1.0"
GAVE_UP = "Gave up after {hours:g} hours of failed attempts."


# --- Endpoints --------------------------------------------------------------------------------


def _clean_types(event_types: Iterable[str]) -> list[str]:
    chosen = sorted({t for t in event_types if t})
    if not chosen:
        raise ValidationError({"event_types": [NO_EVENT_TYPES]})
    unknown = set(chosen) - set(types.EVENT_TYPE_NAMES)
    if unknown:
        raise ValidationError(
            {"event_types": [UNKNOWN_EVENT_TYPES.format(types=", ".join(sorted(unknown)))]}
        )
    return chosen


@transaction.atomic
def endpoint_create(
    *, url: str, event_types: Sequence[str], description: str = "", by=None
) -> Endpoint:
    endpoint = Endpoint(
        url=(url or "").strip(),
        description=(description or "").strip(),
        event_types=_clean_types(event_types),
        created_by=by if by is not None and by.is_authenticated else None,
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str,
    event_types: Sequence[str],
    description: str = "",
    is_active: bool = True,
) -> Endpoint:
    endpoint.url = (url or "").strip()
    endpoint.description = (description or "").strip()
    endpoint.event_types = _clean_types(event_types)
    endpoint.is_active = is_active
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint) -> None:
    endpoint.delete()


# --- Recording events (inside the change's transaction) -------------------------------------


@dataclass(frozen=True)
class Draft:
    """An event to record: its type, its ``data`` (the object as the API shows it), and an
    optional unique key (recorded once however often the cause runs)."""

    type: str
    data: dict
    key: str | None = None


def subscribers(event_type: str) -> list[Endpoint]:
    """Active endpoints subscribed to ``event_type`` (endpoints are few: filtered here)."""
    return [e for e in Endpoint.objects.filter(is_active=True) if event_type in e.event_types]


def events_record(drafts: Sequence[Draft], *, endpoints: Sequence[Endpoint] | None = None) -> int:
    """Record events of one type and a pending delivery per subscribed endpoint, in the
    current transaction; delivery tasks are enqueued when it commits. Returns how many events
    were recorded (none when no endpoint wants them: nobody would receive them)."""
    if not drafts:
        return 0
    event_type = drafts[0].type
    targets = list(endpoints) if endpoints is not None else subscribers(event_type)
    if not targets:
        return 0
    now = timezone.now()
    events = []
    for draft in drafts:
        event = Event(type=draft.type, key=draft.key, created_at=now, payload={})
        event.payload = json.loads(
            json.dumps(
                {
                    "id": str(event.pk),
                    "type": draft.type,
                    "created": now.isoformat(),
                    "data": draft.data,
                },
                cls=DjangoJSONEncoder,
            )
        )
        events.append(event)
    keyed = [e for e in events if e.key]
    if keyed:
        taken = set(
            Event.objects.filter(key__in=[e.key for e in keyed]).values_list("key", flat=True)
        )
        events = [e for e in events if not e.key or e.key not in taken]
    if not events:
        return 0
    try:
        with transaction.atomic():
            Event.objects.bulk_create(events, batch_size=2000)
    except IntegrityError:
        return 0  # recorded meanwhile by a concurrent run of the same cause
    Delivery.objects.bulk_create(
        [
            Delivery(event=event, endpoint=endpoint, next_attempt_at=now, created_at=now)
            for event in events
            for endpoint in targets
        ],
        batch_size=2000,
    )
    for endpoint in targets:
        transaction.on_commit(partial(enqueue_delivery, endpoint_id=endpoint.pk))
    return len(events)


def endpoint_send_test(*, endpoint: Endpoint, by=None) -> Delivery:
    """ "Send a test event": one ``endpoint.test`` event for this endpoint only."""
    who = by.get_username() if by is not None and by.is_authenticated else None
    with transaction.atomic():
        events_record(
            [Draft(types.ENDPOINT_TEST, {"endpoint_id": str(endpoint.pk), "sent_by": who})],
            endpoints=[endpoint],
        )
    return endpoint.deliveries.select_related("event").order_by("-pk").first()


# --- Delivering --------------------------------------------------------------------------------


def enqueue_delivery(*, endpoint_id) -> bool:
    from billing.events import tasks

    task = tasks.deliver_endpoint.using(
        backend=settings.RATECARD_WORK_BACKEND, queue_name=settings.RATECARD_WORK_QUEUE
    )
    try:
        task.enqueue(endpoint_id=str(endpoint_id))
    except Exception:
        logger.exception(
            "could not enqueue deliveries for %s; the schedule will retry", endpoint_id
        )
        return False
    return True


def deliveries_due(*, now=None) -> int:
    """Enqueue delivery for every endpoint with a delivery due (the schedule's job).

    An endpoint with a delivery attempted within the lease is being served by a task already:
    it gets no second one, so a slow endpoint is not sent to by ever more tasks at once.
    """
    now = now or timezone.now()
    pending = Delivery.objects.filter(state=DeliveryState.PENDING)
    busy = pending.filter(last_attempt_at__gt=now - LEASE, next_attempt_at__gt=now).values(
        "endpoint_id"
    )
    endpoint_ids = (
        pending.filter(next_attempt_at__lte=now)
        .exclude(endpoint_id__in=busy)
        .order_by()  # the model's ordering would make DISTINCT keep one row per delivery
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    return sum(enqueue_delivery(endpoint_id=pk) for pk in list(endpoint_ids))


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: base x 2^(attempts-1), at most 6 hours."""
    base = settings.RATECARD_WEBHOOK_BACKOFF_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


def _claim(endpoint_id) -> Delivery | None:
    """Take the endpoint's next due delivery (oldest first) under a lease."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(endpoint_id=endpoint_id, state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + LEASE
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    return Delivery.objects.select_related("event", "endpoint").get(pk=delivery.pk)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer that is not 2xx: retried later


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST and return (status code, error text); a status of None means no answer."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.RATECARD_WEBHOOK_TIMEOUT) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
        return exc.code, f"HTTP {exc.code}: {detail}".strip()
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:500]


def delivery_attempt(delivery: Delivery) -> bool:
    """Send one delivery (already claimed) and record the outcome; True when delivered."""
    body = json.dumps(delivery.event.payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.sign(body, delivery.endpoint.secret),
        "Ratecard-Event-Id": str(delivery.event_id),
        "Ratecard-Event-Type": delivery.event.type,
        "Ratecard-Delivery-Attempt": str(delivery.attempts),
    }
    status, error = _post(delivery.endpoint.url, body, headers)
    now = timezone.now()
    fields: dict = {"last_status_code": status, "last_error": error[:2000]}
    delivered = status is not None and 200 <= status < 300
    if delivered:
        fields.update(state=DeliveryState.SUCCEEDED, delivered_at=now, last_error="")
    else:
        window = timedelta(hours=settings.RATECARD_WEBHOOK_RETRY_HOURS)
        retry_at = now + backoff(delivery.attempts)
        if retry_at - delivery.event.created_at > window:
            fields.update(
                state=DeliveryState.FAILED,
                last_error=(
                    error + " " + GAVE_UP.format(hours=window.total_seconds() / 3600)
                ).strip()[:2000],
            )
        else:
            fields.update(next_attempt_at=retry_at)
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(**fields)
    return delivered


def deliver_endpoint(*, endpoint_id, budget: float | None = None) -> dict:
    """Send the endpoint's due deliveries one by one, oldest first, for up to ``budget``
    seconds; if some remain due, the task is enqueued again."""
    import time

    budget = settings.RATECARD_WEBHOOK_TASK_SECONDS if budget is None else budget
    started = time.monotonic()
    sent = delivered = 0
    while time.monotonic() - started < budget:
        delivery = _claim(endpoint_id)
        if delivery is None:
            return {"sent": sent, "delivered": delivered}
        sent += 1
        delivered += delivery_attempt(delivery)
    enqueue_delivery(endpoint_id=endpoint_id)
    return {"sent": sent, "delivered": delivered, "more": True}


EVENTS_KEPT = timedelta(days=30)


def events_prune(*, older_than: timedelta = EVENTS_KEPT) -> int:
    """Delete events older than ``older_than`` with no delivery still pending (and their log)."""
    cutoff = timezone.now() - older_than
    pending = Delivery.objects.filter(state=DeliveryState.PENDING).values("event_id")
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).exclude(pk__in=pending).delete()
    return deleted
