"""Nothing lost under concurrency and faults: one open membership, clean 503s."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError, connection
from django.test import Client
from psycopg_pool import PoolTimeout

from groups import services as group_services
from groups.models import Membership
from tests import factories
from tests.concurrency import at_once


@pytest.mark.urls("tests.urls_faults")
def test_lost_database_connection_gives_a_503_page(manager_client):
    response = manager_client.get("/page/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"temporarily unavailable" in response.content


@pytest.mark.urls("tests.urls_faults")
def test_lost_database_connection_gives_503_json_on_the_api(manager_client):
    response = manager_client.get("/api/v1/fault")
    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable. Try again in a moment."}


@pytest.mark.urls("tests.urls_faults")
def test_a_bad_query_is_not_mistaken_for_an_outage(manager):
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(manager)
    assert client.get("/bad-query/").status_code == 500


def _pool_timeout() -> OperationalError:
    """What Django raises when the pool waited its timeout for a connection (an outage)."""
    error = OperationalError("couldn't get a connection after 10.00 sec")
    error.__cause__ = PoolTimeout("couldn't get a connection after 10.00 sec")
    return error


def _sessions_unreachable(monkeypatch) -> None:
    """Every session load meets the pool timeout, as during an outage longer than it."""

    def load(self):
        raise _pool_timeout()

    monkeypatch.setattr(SessionStore, "load", load)


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/groups/", "/", "/usage/export.csv", "/audit/export.csv"])
def test_a_pool_timeout_loading_the_session_is_a_503_page(manager, monkeypatch, path):
    """The session loads in middleware, before any view: it used to be a 500 there."""
    client = _client(manager)
    _sessions_unreachable(monkeypatch)
    response = client.get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"temporarily unavailable" in response.content


def test_a_pool_timeout_loading_the_session_is_503_json_on_the_api(manager, monkeypatch):
    client = _client(manager)
    _sessions_unreachable(monkeypatch)
    response = client.get("/api/v1/groups")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"detail": "The database is unavailable. Try again in a moment."}


def test_a_pool_timeout_saving_the_session_is_a_503(manager, monkeypatch):
    """Signing in changes the session, which is saved after the view, in middleware."""

    def save(self, must_create=False):
        raise _pool_timeout()

    client = Client(raise_request_exception=False)
    monkeypatch.setattr(SessionStore, "save", save)
    response = client.post(
        "/accounts/login/", {"username": manager.username, "password": "secret-pass-123"}
    )
    assert response.status_code == 503


def test_a_lost_connection_during_an_export_is_a_503_not_a_short_file(manager, monkeypatch):
    """The export reads its first records inside the view, where the outage becomes a 503."""
    from pricing import batch

    def export_rows(queryset, *, lines=False):
        yield batch.EXPORT_HEADER
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(batch, "export_rows", export_rows)
    response = _client(manager).get("/usage/export.csv")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_other_errors_outside_views_are_still_500s(manager, monkeypatch):
    def load(self):
        raise OperationalError("no such column: session_data")

    client = _client(manager)
    monkeypatch.setattr(SessionStore, "load", load)
    assert client.get("/groups/").status_code == 500


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL concurrency")
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_adds_leave_exactly_one_open_membership():
    """20 threads add the same customer to the same group at once: all succeed, one row."""
    group, customer = factories.group(), factories.customer()

    def add():
        membership, created = group_services.membership_add(group=group, customer=customer)
        return membership.pk, created

    results, errors = at_once(*[add] * 20)

    assert errors == []
    assert len(results) == 20
    assert sum(created for _, created in results) == 1
    assert len({pk for pk, _ in results}) == 1
    assert Membership.objects.current().filter(group=group, customer=customer).count() == 1
