"""API test helpers: JSON clients authenticated by token, as integrations call the API."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests import factories

JSON = "application/json"


class Api:
    """A JSON client; with a user it sends ``Authorization: Token <key>`` on every request."""

    def __init__(self, user=None) -> None:
        headers = {}
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            headers["HTTP_AUTHORIZATION"] = f"Token {token.key}"
        self.client = Client(**headers)

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {})

    def post(self, path: str, data=None):
        return self.client.post(path, data if data is not None else {}, content_type=JSON)

    def put(self, path: str, data=None):
        return self.client.put(path, data if data is not None else {}, content_type=JSON)

    def patch(self, path: str, data=None):
        return self.client.patch(path, data if data is not None else {}, content_type=JSON)

    def delete(self, path: str):
        return self.client.delete(path)

    def call(self, method: str, path: str, data=None):
        if method == "GET":
            return self.get(path)
        if method == "DELETE":
            return self.delete(path)
        return getattr(self, method.lower())(path, data)


@pytest.fixture
def anonymous_api(db) -> Api:
    return Api()


@pytest.fixture
def nobody_api(nobody) -> Api:
    return Api(nobody)


@pytest.fixture
def support_api(support) -> Api:
    return Api(support)


@pytest.fixture
def manager_api(manager) -> Api:
    return Api(manager)


@pytest.fixture
def superuser_api(superuser) -> Api:
    return Api(superuser)


@pytest.fixture
def world(db) -> dict:
    """One of everything: a rule on its own price list and group, spare objects to delete."""
    group = factories.group("Gold", code="gold")
    member = factories.customer("Member Ltd", external_id="M-1")
    factories.membership(group, member)
    rule = factories.rule("GOLD-RETAIL", group=group)
    return {
        "group": group,
        "member": member,
        "rule": rule,
        "price_list": rule.price_list,
        "spare_group": factories.group("Spare", code="spare"),
        "spare_customer": factories.customer("Spare Customer", external_id="S-1"),
        "spare_price_list": factories.price_list("SPARE-PL"),
        "usage": factories.usage(member),
        "endpoint": _endpoint(),
        "changeset": _changeset(rule),
    }


def _changeset(rule):
    from pricing.changesets import services

    changeset = services.changeset_create(title="Raise gold")
    services.change_rule(changeset=changeset, action="update", rule=rule, priority=300)
    return changeset


def _endpoint():
    from billing.events import services

    return services.endpoint_create(
        url="http://127.0.0.1:9/hooks/gold", event_types=["rule.changed"]
    )
