"""Every API list runs a fixed number of queries, whatever the number of rows on the page.

Counted for a support agent with a token: 1 query for the token and its user and 2 for the
user's permissions (Django's ModelBackend, once per request), then the endpoint's own queries.
"""

import pytest

from tests import factories
from tests.api.conftest import Api

AUTH = 3  # token + user permissions + role permissions


@pytest.fixture
def rows(db):
    """Build ``n`` of everything: groups with members in two groups, rules, lists, usage."""

    def build(n: int):
        shared = factories.group("Shared", code="shared")
        for _ in range(n):
            group = factories.group()
            customer = factories.customer()
            factories.membership(group, customer)
            factories.membership(shared, customer)
            factories.rule(group=group, price_list=factories.price_list(items={"a": "1", "b": "2"}))
            factories.usage(customer)
        return shared

    return build


ENDPOINTS = [
    # path, the endpoint's own queries (what they are)
    ("/api/v1/groups", 2),  # count, page with member_count subquery
    ("/api/v1/customers", 3),  # count, page, current groups (prefetch)
    ("/api/v1/price-lists", 4),  # count, page, items (prefetch), every list's base (depth)
    ("/api/v1/pricing-rules", 2),  # count, page
    ("/api/v1/usage-records", 2),  # count, page joined to the customer
    ("/api/v1/groups/{shared}/customers", 4),  # group, count, page, current groups
    ("/api/v1/groups/{shared}/history", 3),  # group, count, page joined to customer and users
]


@pytest.mark.parametrize("n", [2, 40])
@pytest.mark.parametrize(("path", "own"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_list_query_count_does_not_grow_with_rows(
    rows, support, django_assert_num_queries, n, path, own
):
    """The same count with 2 and 40 rows per page."""
    shared = rows(n)
    api = Api(support)
    url = path.format(shared=shared.pk)
    with django_assert_num_queries(AUTH + own):
        response = api.get(url, {"page_size": 100})
    assert response.status_code == 200
    assert len(response.json()["results"]) >= min(n, 2)
