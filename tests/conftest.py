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


@pytest.fixture(params=["default", "rq"], ids=["db-backend", "rq-backend"])
def work_backend(request, settings):
    """Background work through each real backend in turn: the database, then RQ on Redis.

    Yields the alias; ``tests.workers.drain(alias)`` runs what was queued.
    """
    from tests import workers

    if request.param == workers.RQ:
        workers.require_redis()
        workers.clear_rq()
    settings.RATECARD_WORK_BACKEND = request.param
    yield request.param
    if request.param == workers.RQ:
        workers.clear_rq()


@pytest.fixture
def run_queue(work_backend, django_capture_on_commit_callbacks):
    """Run queued background work until none is left, including the work that tasks start
    (their on-commit enqueues are captured inside the test's transaction and run here).

    Work and webhook deliveries recorded by a request (whose on-commit enqueue never fires
    inside the test's transaction) are enqueued first, as the commit would have.
    """
    from background.models import Work, WorkState
    from background.services import work_enqueue
    from billing.events.services import deliveries_due
    from tests.workers import drain

    def run() -> int:
        total = 0
        for work in Work.objects.filter(state=WorkState.QUEUED, task_result_id=""):
            work_enqueue(work_id=work.pk)
        deliveries_due()
        while True:
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                total += drain(work_backend)
            if not callbacks:
                return total

    return run


@pytest.fixture(scope="session", autouse=True)
def _live_server_shares_the_connection_on_sqlite():
    """Before any test that starts ``live_server`` (see ``tests/live.py``)."""
    from tests.live import share_connection_with_the_live_server

    share_connection_with_the_live_server()
