"""Signed-in users: their own password, sessions that end when idle, nothing cached (item 13)."""

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import middleware
from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from billing.views import PASSWORD_CHANGED
from tests import factories
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db
OLD, NEW = "secret-pass-123", "a-much-better-pass-42"


def _signed_in(user, password: str = OLD) -> Client:
    """A browser that signed in through the login page (as people do)."""
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": password})
    assert response.status_code == 302
    return client


# --- Password change --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, SUPPORT_STAFF, PRICING_MANAGERS])
def test_every_signed_in_user_changes_their_own_password(role):
    user = factories.user("someone", role=role)
    mine, elsewhere = _signed_in(user), _signed_in(user)
    url = reverse("password_change")
    page = mine.get(url)
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.content.decode()
    response = mine.post(
        url, {"old_password": OLD, "new_password1": NEW, "new_password2": NEW}, follow=True
    )
    assert response.redirect_chain == [(reverse("dashboard"), 302)]
    assert PASSWORD_CHANGED in response.content.decode()
    assert mine.get(reverse("dashboard")).status_code == 200  # this browser stays signed in
    assert elsewhere.get(reverse("dashboard")).status_code == 302  # others are signed out
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert not user.check_password(OLD)
    _signed_in(user, NEW)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"old_password": "wrong", "new_password1": NEW, "new_password2": NEW}, "old_password"),
        ({"old_password": OLD, "new_password1": NEW, "new_password2": NEW + "x"}, "new_password2"),
        (
            {"old_password": OLD, "new_password1": "12345678", "new_password2": "12345678"},
            "new_password2",
        ),
    ],
)
def test_a_wrong_password_change_says_why_beside_the_field(data, field):
    user = factories.user("someone")
    response = _signed_in(user).post(reverse("password_change"), data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert f'id="id_{field}-error"' in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(OLD)


def test_the_navigation_links_to_the_password_change(manager_client):
    html = manager_client.get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("password_change")}"' in html


# --- Idle timeout -----------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(middleware.time, "time", clock)
    return clock


def test_the_idle_timeout_defaults_to_eight_hours():
    assert settings.RATECARD_SESSION_IDLE_TIMEOUT == 8 * 60 * 60
    assert settings.SESSION_COOKIE_AGE == settings.RATECARD_SESSION_IDLE_TIMEOUT


def test_a_session_idle_too_long_is_signed_out_with_a_message(manager, clock):
    client = _signed_in(manager)
    assert client.get(reverse("groups:group_list")).status_code == 200
    clock.now += settings.RATECARD_SESSION_IDLE_TIMEOUT + 1
    response = client.get(reverse("groups:group_list"), follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("login"))
    assert "signed out after 8 hours without activity" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_an_active_session_stays_signed_in(manager, clock):
    client = _signed_in(manager)
    for _ in range(10):
        clock.now += settings.RATECARD_SESSION_IDLE_TIMEOUT - 60
        assert client.get(reverse("dashboard")).status_code == 200


def test_activity_is_written_at_most_once_a_minute(manager, clock):
    """A busy user costs no session write per request: at most one a minute."""
    client = _signed_in(manager)
    client.get(reverse("dashboard"))
    clock.now += 30
    with CaptureQueriesContext(connection) as quiet:
        client.get(reverse("dashboard"))
    clock.now += 61
    with CaptureQueriesContext(connection) as touched:
        client.get(reverse("dashboard"))
    session_writes = [
        q for q in touched.captured_queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]
    ]
    assert len(session_writes) == 1
    assert not [q for q in quiet.captured_queries if "UPDATE" in q["sql"]]


def test_an_idle_htmx_request_is_sent_to_the_login_page_as_a_whole(manager, clock):
    client = _signed_in(manager)
    clock.now += settings.RATECARD_SESSION_IDLE_TIMEOUT + 1
    response = client.get(reverse("groups:group_list"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_an_idle_session_no_longer_opens_the_api(manager, clock):
    client = _signed_in(manager)
    assert client.get("/api/v1/groups").status_code == 200
    clock.now += settings.RATECARD_SESSION_IDLE_TIMEOUT + 1
    assert client.get("/api/v1/groups").status_code in (401, 403)


# --- Nothing cached ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/groups/", "/usage/export.csv", "/audit/export.csv", "/accounts/password/"]
)
def test_signed_in_pages_and_exports_are_no_store(manager_client, path):
    response = manager_client.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_api_answers_are_no_store_with_a_token_too(manager):
    api = Api(manager)
    for path in ("/api/v1/groups", "/api/v1/schema"):
        assert "no-store" in api.get(path)["Cache-Control"]
    assert "no-store" in Api().get("/api/v1/groups")["Cache-Control"]  # even the 401


def test_static_files_stay_cacheable(manager_client):
    response = manager_client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
