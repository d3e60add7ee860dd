"""Webhook signatures, the way Stripe signs its webhooks.

Header ``Ratecard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``, where the HMAC is keyed
with the endpoint's secret over ``"<t>.<raw request body>"``. A receiver recomputes it, compares
in constant time, and rejects a timestamp older than its tolerance (5 minutes is usual), which
stops replays of a captured request.
"""

import hashlib
import hmac
import time

HEADER = "Ratecard-Signature"
TOLERANCE = 300  # seconds


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The ``Ratecard-Signature`` header value for ``body``."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(body: bytes, header: str, secret: str, *, tolerance: int = TOLERANCE, now=None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds.

    What a receiver does (any ``v1`` in the header may match, so secrets can be rolled over).
    """
    try:
        parts = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(value for key, value in parts if key == "t"))
        candidates = [value for key, value in parts if key == "v1"]
    except (ValueError, StopIteration):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(body, secret, timestamp=timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
