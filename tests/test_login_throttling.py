"""Login throttling keys lock-outs by the client's address, also behind the documented proxy.

Without a proxy the client is the connecting address and ``X-Forwarded-For`` is ignored (a
client cannot dodge a lock-out, or frame somebody else, by sending it). Behind the proxy
(``DJANGO_BEHIND_PROXY=1``) every request connects from the proxy; the client is the address the
proxy appended to ``X-Forwarded-For``, so five wrong passwords from one person no longer lock
the account for everyone.
"""

import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from billing.client import client_ip
from tests import factories

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
WRONG = {"username": "victim", "password": "wrong"}
RIGHT = {"username": "victim", "password": "secret-pass-123"}


def _login(client: Client, data: dict, **meta) -> int:
    return client.post(reverse("login"), data, **meta).status_code


def _fail_five_times(**meta) -> list[int]:
    client = Client()
    return [_login(client, WRONG, **meta) for _ in range(5)]


def test_without_a_proxy_the_client_is_the_connecting_address():
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "198.51.100.7"


@override_settings(RATECARD_BEHIND_PROXY=True, RATECARD_PROXY_COUNT=1)
@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the client's own entry is left of the proxy's
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-address", PROXY),
        ("", PROXY),
    ],
)
def test_behind_the_proxy_the_client_is_the_entry_the_proxy_appended(forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@override_settings(RATECARD_BEHIND_PROXY=True, RATECARD_PROXY_COUNT=2)
def test_behind_a_chain_of_proxies_the_client_is_counted_from_the_right():
    request = RequestFactory().get(
        "/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.0.0.1"
    )
    assert client_ip(request) == "203.0.113.5"


@override_settings(RATECARD_BEHIND_PROXY=True)
def test_behind_the_proxy_one_persons_wrong_passwords_lock_only_them():
    """All requests connect from the proxy; before, the fifth failure locked everybody out."""
    factories.user("victim")
    attacker = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.66"}
    assert _fail_five_times(**attacker) == [200, 200, 200, 200, 429]
    owner = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.20"}
    assert _login(Client(), RIGHT, **owner) == 302
    assert _login(Client(), RIGHT, **attacker) == 429


@override_settings(RATECARD_BEHIND_PROXY=True)
def test_behind_the_proxy_a_client_cannot_dodge_the_lock_by_prefixing_the_header():
    factories.user("victim")
    client = Client()
    statuses = [
        _login(
            client,
            WRONG,
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.66",
        )
        for n in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]


@override_settings(RATECARD_BEHIND_PROXY=False)
def test_without_a_proxy_a_spoofed_forwarded_for_neither_dodges_nor_frames():
    """Varying X-Forwarded-For does not reset the count; sending someone's address locks no one
    else out."""
    factories.user("victim")
    client = Client()
    statuses = [
        _login(client, WRONG, REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        for n in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    # The victim's own address, spoofed by the attacker above, is not locked.
    assert _login(Client(), RIGHT, REMOTE_ADDR="192.0.2.1") == 302
