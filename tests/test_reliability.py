"""Nothing lost under concurrency and faults: one open membership, clean 503s."""

import pytest
from django.db import connection

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
