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
    """Session, user, two permission reads, categories, customer, items, evaluate (2), units.

    The first simulation after the rules changed also loads them (two queries).
    """
    grow(worked_example, n)
    params = {
        "customer": worked_example["startup"].pk,
        "category": "retail",
        "item": "minute",
        "at": "2026-03-01T12:00",
    }
    with django_assert_num_queries(12):
        response = manager_client.get(URL, params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    with django_assert_num_queries(10):
        response = manager_client.get(URL, params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200


@pytest.mark.parametrize("n", [0, 30])
def test_what_if_query_count(manager_client, worked_example, django_assert_num_queries, n):
    """A what-if adds the chosen groups' lookup and a second evaluation (two queries).

    The first evaluation loads the rules (two queries), the second reuses them.
    """
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
