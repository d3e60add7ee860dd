"""Shared fixtures: users in each role, signed-in clients, the worked example."""

import pytest
from django.test import Client

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from tests import factories


@pytest.fixture
def manager(db):
    return factories.user("pm", role=PRICING_MANAGERS)


@pytest.fixture
def support(db):
    return factories.user("agent", role=SUPPORT_STAFF)


@pytest.fixture
def superuser(db):
    return factories.user("root", superuser=True)


@pytest.fixture
def nobody(db):
    """A signed-in user with no role at all."""
    return factories.user("norole")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager_client(manager) -> Client:
    return _client_for(manager)


@pytest.fixture
def support_client(support) -> Client:
    return _client_for(support)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return _client_for(superuser)


@pytest.fixture
def worked_example(db):
    """VIP Customers / Standard / Startup Program with their rules and three customers."""
    from billing.demo import seed_worked_example
    from groups.models import Customer, CustomerGroup

    seed_worked_example()
    return {
        "end_customer": Customer.objects.get(name="End Customer Ltd"),
        "tech_corp": Customer.objects.get(name="Tech Corp"),
        "startup": Customer.objects.get(name="Startup XYZ"),
        "vip": CustomerGroup.objects.get(code="vip"),
        "standard": CustomerGroup.objects.get(code="standard"),
        "startup_program": CustomerGroup.objects.get(code="startup-program"),
        "summer": CustomerGroup.objects.get(code="summer-promo-2026"),
    }
