"""Who may do what on every page: one table, checked for every URL pattern and HTTP method.

The URL patterns come from the resolver, so a new page without an entry here fails
``test_every_page_is_in_the_matrix`` until somebody decides who may use it. For each
pattern and for GET and POST, every role is tried:

- anonymous visitors are sent to the login page;
- a role the table allows gets neither 403 nor 405 nor a server error (the object in the URL
  does not exist, so 404 is a fine answer; so are form errors and redirects);
- a signed-in role the table does not allow gets 403;
- a method the page does not serve gets 405 whoever asks.

The API has its own matrix in ``tests/api``; the Django admin is Django's.
"""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests import factories

NOBODY, SUPPORT, MANAGER, SUPERUSER = "nobody", "support", "manager", "superuser"
SIGNED_IN = frozenset({NOBODY, SUPPORT, MANAGER, SUPERUSER})
STAFF = frozenset({SUPPORT, MANAGER, SUPERUSER})  # both roles (and superusers)
MANAGERS = frozenset({MANAGER, SUPERUSER})

# URL name -> {method: roles allowed}. A method missing from a row is answered with 405.
MATRIX: dict[str, dict[str, frozenset]] = {
    "dashboard": {"GET": SIGNED_IN},
    "logout": {"POST": SIGNED_IN},
    # Everybody signed in changes their own password.
    "password_change": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    # Groups: everybody with a role reads; managers define; both manage members and reviews.
    "groups:group_list": {"GET": STAFF},
    "groups:group_create": {"GET": MANAGERS, "POST": MANAGERS},
    "groups:group_detail": {"GET": STAFF},
    "groups:group_edit": {"GET": MANAGERS, "POST": MANAGERS},
    "groups:group_review": {"POST": STAFF},
    "groups:group_delete": {"GET": MANAGERS, "POST": MANAGERS},
    "groups:group_history": {"GET": STAFF},
    "groups:group_members_chart": {"GET": STAFF},
    # Criteria: both roles see them and refresh members; managers define them.
    "groups:group_criteria": {"GET": STAFF, "POST": MANAGERS},
    "groups:group_criteria_row": {"GET": MANAGERS},
    "groups:group_criteria_refresh": {"POST": STAFF},
    "groups:member_list": {"GET": STAFF},
    "groups:member_search": {"GET": STAFF},
    "groups:member_add": {"POST": STAFF},
    "groups:member_remove": {"GET": STAFF, "POST": STAFF},
    "groups:member_bulk": {"GET": STAFF, "POST": STAFF},
    "groups:member_export": {"GET": STAFF},
    # Customers: support staff create and edit them, and manage their groups.
    "groups:customer_list": {"GET": STAFF},
    "groups:customer_create": {"GET": STAFF, "POST": STAFF},
    "groups:customer_import": {"GET": STAFF, "POST": STAFF},
    "groups:customer_detail": {"GET": STAFF},
    "groups:customer_edit": {"GET": STAFF, "POST": STAFF},
    "groups:customer_history": {"GET": STAFF},
    "groups:customer_group_search": {"GET": STAFF},
    "groups:customer_group_add": {"POST": STAFF},
    "groups:customer_group_remove": {"GET": STAFF, "POST": STAFF},
    # Price lists and rules: read by both roles, changed by managers only.
    "pricing:price_list_list": {"GET": STAFF},
    "pricing:price_list_create": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:price_list_detail": {"GET": STAFF},
    "pricing:price_list_update": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:price_list_delete": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:price_list_item_add": {"POST": MANAGERS},
    "pricing:price_list_item_row": {"GET": STAFF},
    "pricing:price_list_item_edit": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:price_list_item_delete": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:item_price_new": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:item_price_edit": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:item_price_tiers": {"POST": MANAGERS},
    "pricing:item_price_preview": {"POST": MANAGERS},
    "pricing:price_list_export": {"GET": STAFF},
    "pricing:price_list_import": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:rule_list": {"GET": STAFF},
    "pricing:rule_create": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:rule_customer_options": {"GET": MANAGERS},
    "pricing:rule_group_options": {"GET": MANAGERS},
    "pricing:rule_detail": {"GET": STAFF},
    "pricing:rule_impact": {"GET": MANAGERS},
    "pricing:group_rules": {"GET": STAFF},
    "pricing:rule_update": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:rule_disable": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:rule_enable": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:rule_delete": {"GET": MANAGERS, "POST": MANAGERS},
    # Changesets: both roles read (support answers "what was the price then?"); managers draft,
    # review and publish (each step checks its own permission too).
    "pricing:changeset_list": {"GET": STAFF},
    "pricing:changeset_create": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:changeset_detail": {"GET": STAFF},
    "pricing:changeset_impact": {"POST": MANAGERS},
    "pricing:changeset_change_remove": {"POST": MANAGERS},
    "pricing:changeset_step": {"GET": MANAGERS, "POST": MANAGERS},
    "pricing:price_book": {"GET": STAFF},
    "pricing:rule_to_changeset": {"POST": MANAGERS},
    "pricing:price_list_items_to_changeset": {"GET": MANAGERS, "POST": MANAGERS},
    # Audit: both roles look and mark reviews done; only managers delete, end or disable.
    "pricing:audit": {"GET": STAFF},
    "pricing:audit_export": {"GET": STAFF},
    "pricing:audit_delete_groups": {"POST": MANAGERS},
    "pricing:audit_review_group": {"POST": STAFF},
    "pricing:audit_review_groups": {"POST": STAFF},
    "pricing:audit_end_promotion": {"POST": MANAGERS},
    "pricing:audit_disable_rule": {"POST": MANAGERS},
    # Simulation: both roles (support answers "why did I pay this?").
    "pricing:simulate": {"GET": STAFF},
    "pricing:simulate_coverage": {"GET": STAFF},
    "pricing:simulate_customer_search": {"GET": STAFF},
    "pricing:customer_pricing": {"GET": STAFF},
    # Usage: both roles look; managers upload, rate and preview the impact of changes.
    "pricing:usage": {"GET": STAFF},
    # A GET only redirects to /usage/ (which then checks); the upload itself is a POST.
    "pricing:usage_upload": {"GET": SIGNED_IN, "POST": MANAGERS},
    "pricing:usage_export": {"GET": STAFF},
    "pricing:usage_charts": {"GET": STAFF},
    "pricing:customer_paid": {"GET": STAFF},
    "pricing:usage_impact": {"GET": MANAGERS},
    "pricing:usage_impact_options": {"GET": MANAGERS},
    "pricing:usage_batch": {"GET": STAFF},
    "pricing:usage_batch_rate": {"POST": MANAGERS},
    "pricing:usage_batch_charts": {"GET": STAFF},
    "pricing:usage_batch_export": {"GET": STAFF},
    "pricing:upload_list": {"GET": STAFF},
    "pricing:usage_rate_now": {"POST": MANAGERS},
    "pricing:usage_export_download": {"GET": STAFF},
    # Background work: managers see the list; anyone with a role follows a piece of work that
    # a page shows them (an upload's rating, an import).
    "background:work_list": {"GET": MANAGERS},
    "background:work_detail": {"GET": STAFF},
    # Webhooks: pricing managers only (endpoints hold signing secrets).
    "billing:webhook_list": {"GET": MANAGERS},
    "billing:webhook_create": {"GET": MANAGERS, "POST": MANAGERS},
    "billing:webhook_detail": {"GET": MANAGERS},
    "billing:webhook_edit": {"GET": MANAGERS, "POST": MANAGERS},
    "billing:webhook_test": {"POST": MANAGERS},
    "billing:webhook_delete": {"GET": MANAGERS, "POST": MANAGERS},
}

SKIPPED_PREFIXES = ("admin/", "api/")
PUBLIC = {"login"}


def _walk(patterns, prefix="", namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield prefix + str(entry.pattern), name


def page_patterns() -> dict[str, str]:
    """URL name -> route for every page (the API and the Django admin have their own tests)."""
    return {
        name: route
        for route, name in _walk(get_resolver().url_patterns)
        if not route.startswith(SKIPPED_PREFIXES) and name not in PUBLIC
    }


def concrete(route: str) -> str:
    """A path for a route: UUIDs of nothing, item 1, a batch key that does not exist."""
    route = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000000", route)
    route = re.sub(r"<int:\w+>", "1", route)
    route = re.sub(r"<(?:str:)?\w+>", "no-such-key", route)
    return "/" + route


def test_every_page_is_in_the_matrix():
    """A page nobody has decided the roles for fails here."""
    patterns = page_patterns()
    assert set(patterns) - set(MATRIX) == set(), "add these pages to MATRIX"
    assert set(MATRIX) - set(patterns) == set(), "these pages no longer exist"


def _cases():
    for name, route in sorted(page_patterns().items()):
        for method in ("GET", "POST"):
            yield pytest.param(name, route, method, id=f"{method} {name}")


@pytest.fixture
def clients(db):
    from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF

    users = {
        NOBODY: factories.user("m-nobody"),
        SUPPORT: factories.user("m-support", role=SUPPORT_STAFF),
        MANAGER: factories.user("m-manager", role=PRICING_MANAGERS),
        SUPERUSER: factories.user("m-root", superuser=True),
    }
    result = {}
    for role, user in users.items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        result[role] = client
    return result


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "route", "method"), list(_cases()))
def test_page_permissions(clients, name, route, method):
    path = concrete(route)
    allowed = MATRIX.get(name, {}).get(method)

    anonymous = Client(raise_request_exception=False)
    response = anonymous.generic(method, path)
    assert response.status_code == 302, f"anonymous {method} {path}"
    assert response["Location"].startswith(reverse("login"))

    for role, client in clients.items():
        status = client.generic(method, path).status_code
        if allowed is None:
            assert status == 405, f"{role} {method} {path}: {status}, expected 405"
        elif role in allowed:
            assert status not in (403, 405), f"{role} {method} {path}: {status}"
            assert status < 500, f"{role} {method} {path}: {status}"
        else:
            assert status == 403, f"{role} {method} {path}: {status}, expected 403"
