"""Who is asking: the client address that login throttling (django-axes) keys lock-outs by."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request`` (``AXES_CLIENT_IP_CALLABLE``).

    Without a proxy (``DJANGO_BEHIND_PROXY`` off) it is the connecting address, ``REMOTE_ADDR``;
    an ``X-Forwarded-For`` header is then only the client's own claim and is ignored.

    Behind the documented TLS-terminating proxy the connecting address is always the proxy's,
    which would make five wrong passwords from anyone lock an account for everyone. There the
    client is the address the proxy appended to ``X-Forwarded-For``: its right-most entry, or
    the ``RATECARD_PROXY_COUNT``-th from the right behind a chain of trusted proxies. Entries
    further left were written by the client and are never trusted. A request without a usable
    entry (one that did not come through the proxy) falls back to the connecting address.
    """
    remote = request.META.get("REMOTE_ADDR")
    if not settings.RATECARD_BEHIND_PROXY:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    count = settings.RATECARD_PROXY_COUNT
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
