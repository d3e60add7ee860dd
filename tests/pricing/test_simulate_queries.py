"""The simulation page's query count does not grow with rules, groups or memberships."""

import pytest

from tests import factories

URL = "/simulate/"


def grow(worked_example, n: int) -> None:
    """n more retail rules for n more groups, and the customer in half of them."""
    startup = worked_example["startup"]
    for i in range(n):
        group = factories.group(f"Grown {i:03d}")
        factories.rule(billing_category="retail", group=group, priority=i % 40)
        if i % 2:
            factories.membership(group, startup)


@pytest.mark.parametrize("n", [0, 30])
def test_simulation_query_count(manager_client, worked_example, django_assert_num_queries, n):
    """Session, user, two permission reads, categories, customer, items, evaluate (3), units."""
    grow(worked_example, n)
    params = {
        "customer": worked_example["startup"].pk,
        "category": "retail",
        "item": "minute",
        "at": "2026-03-01T12:00",
    }
    with django_assert_num_queries(11):
        response = manager_client.get(URL, params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200


@pytest.mark.parametrize("n", [0, 30])
def test_what_if_query_count(manager_client, worked_example, django_assert_num_queries, n):
    """A what-if adds the chosen groups' lookup and a second evaluation (three queries)."""
    grow(worked_example, n)
    params = {
        "customer": worked_example["startup"].pk,
        "category": "retail",
        "item": "minute",
        "at": "2026-03-01T12:00",
        "add": [worked_example["vip"].pk],
        "remove": [worked_example["standard"].pk],
        "q": "Startup",
    }
    with django_assert_num_queries(17):
        response = manager_client.get(URL, params)
    assert response.context["simulation"].what_if is not None
