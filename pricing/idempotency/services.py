"""Running a request once per ``Idempotency-Key`` (see the package's docstring)."""

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from pricing.idempotency.models import IdempotentRequest

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_INVALID = "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice)."
KEY_REUSED = (
    "This Idempotency-Key was already used for a different request. Use a new key for a new "
    "request; send the same body to get the first answer again."
)


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = KEY_REUSED
    default_code = "idempotency_key_reused"


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.content_type or ""):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(request._request.body)  # read (and kept) before the parsers run
    return digest.hexdigest()


def _replay(stored: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(request: Request, run: Callable[[], Response]) -> Response | HttpResponse:
    """``run()`` once per key: its successful answer is kept with the key, in its transaction."""
    key = request.headers.get(KEY_HEADER)
    if key is None or not request.user.is_authenticated:
        return run()
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise ValidationError({KEY_HEADER: [KEY_INVALID]})
    fingerprint = _fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                entry = IdempotentRequest.objects.create(
                    user=request.user, key=key, fingerprint=fingerprint, status=0, body=""
                )
        except IntegrityError:
            # Answered before (or just now, by a request we waited for).
            stored = IdempotentRequest.objects.get(user=request.user, key=key)
            if stored.fingerprint != fingerprint:
                raise KeyReused() from None
            return _replay(stored)
        response = run()  # raises on a failure: the key goes with the rolled-back work
        if not 200 <= response.status_code < 300:
            transaction.set_rollback(True)
            return response
        entry.status = response.status_code
        entry.body = JSONRenderer().render(response.data).decode()
        entry.save(update_fields=["status", "body"])
    return response


def prune(*, now=None) -> int:
    """Forget keys older than ``RATECARD_IDEMPOTENCY_HOURS``; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.RATECARD_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
