"""``Idempotency-Key`` for API writes: a retried request stores nothing twice.

An integration that lost the connection after the server committed cannot know whether its
records were stored. Sent again with the same ``Idempotency-Key`` header (any unique string, up
to 255 characters, e.g. a UUID), the request is not run again: the first answer is returned as
it was, with ``Idempotent-Replayed: true``. Keys belong to the user who sent them and are kept
for ``RATECARD_IDEMPOTENCY_HOURS`` (24 by default).

The key is written in the same transaction as the work it guards: if the work fails, the key is
not kept and the request may be retried; a second request with the key while the first is
running waits for it (the key's unique index) and then gets its answer. The same key with a
different body is refused (422), as Stripe does, since it is almost always a client bug.
"""

from pricing.idempotency.services import KEY_HEADER, idempotent, prune

__all__ = ["KEY_HEADER", "idempotent", "prune"]
