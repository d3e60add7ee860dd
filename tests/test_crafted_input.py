"""Crafted input gets a 4xx with a message, never a 500 (issue 22, item 9).

A NUL byte in any search parameter or CSV cell, JSON nested deeper than Python can read, a bulk
confirmation over its limit and an upload over the size limit (which the CSRF check used to
meet first). Dates beyond the supported range are in ``test_supported_range.py``.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from billing.middleware import NUL_IN_PARAMETERS
from billing.parsers import TOO_DEEP
from groups import services as group_services
from groups.csvfile import NUL_IN_CELL
from groups.models import Customer, Membership
from pricing.models import UsageRecord
from tests import factories
from tests.api.conftest import Api
from tests.test_permission_matrix import MANAGER, MATRIX, concrete, page_patterns

pytestmark = pytest.mark.django_db


def _manager_pages() -> list:
    patterns = page_patterns()
    return [
        pytest.param(concrete(patterns[name]), id=name)
        for name, methods in sorted(MATRIX.items())
        if MANAGER in methods.get("GET", ())
    ]


@pytest.mark.parametrize("path", _manager_pages())
def test_a_nul_byte_in_any_query_parameter_is_a_400_on_every_page(manager, path):
    """PostgreSQL refuses NUL in text: every page says so before any query sees it."""
    client = Client(raise_request_exception=False)
    client.force_login(manager)
    for query in ("q=a%00b", "page=1&customer=%00", "a%00=1"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.status_code)
        assert NUL_IN_PARAMETERS in response.content.decode()


@pytest.mark.parametrize(
    "path",
    ["/api/v1/groups?search=%00", "/api/v1/customers?search=x%00", "/api/v1/usage-records?q=%00"],
)
def test_a_nul_byte_in_an_api_query_is_a_400_in_json(manager, path):
    response = Api(manager).get(path)
    assert response.status_code == 400
    assert response.json() == {"detail": NUL_IN_PARAMETERS}


def test_a_nul_byte_in_a_usage_csv_names_the_line(manager_client):
    factories.customer(external_id="C-1")
    text = "customer,category,item,quantity,occurred_at\nC-1,retail,minute,1,2026-03-01T10:00:00Z\n"
    text += "C-1\x00,retail,minute,1,2026-03-01T10:00:00Z\n"
    upload = SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv")
    response = manager_client.post(reverse("pricing:usage_upload"), {"file": upload})
    assert response.status_code == 422
    assert response.context["upload_errors"] == [f"Line 3: {NUL_IN_CELL}"]
    assert not UsageRecord.objects.exists()


def test_a_nul_byte_in_a_customer_import_names_the_line(support_client):
    raw = b"name,external_id\nGood Ltd,G-1\nBad\x00 Ltd,B-1\n"
    plan = group_services.customer_import_plan(raw=raw)
    assert plan.errors == [f"Line 3: {NUL_IN_CELL}"]
    upload = SimpleUploadedFile("customers.csv", raw, content_type="text/csv")
    response = support_client.post(reverse("groups:customer_import"), {"csv_file": upload})
    assert response.status_code == 200  # the preview, listing the line and offering no import
    assert NUL_IN_CELL in response.content.decode()
    assert not Customer.objects.exists()


def test_a_nul_byte_in_a_bulk_membership_csv_is_a_message(support_client):
    group = factories.group()
    upload = SimpleUploadedFile("ids.csv", b"external_id\nA-1\nA\x002\n", content_type="text/csv")
    response = support_client.post(
        reverse("groups:member_bulk", args=[group.pk]), {"csv_file": upload, "mode": "add"}
    )
    assert response.status_code == 422
    assert f"Line 3: {NUL_IN_CELL}" in response.content.decode()


@pytest.mark.parametrize("depth", [1_500, 100_000])
def test_json_nested_too_deeply_is_a_400(manager, depth):
    """The JSON decoder's RecursionError used to escape as a 500."""
    client = Api(manager).client
    body = "[" * depth + "]" * depth
    response = client.post("/api/v1/groups", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": TOO_DEEP}


def test_a_bulk_confirmation_over_the_limit_is_refused_with_a_message(support_client, monkeypatch):
    """The confirm step is a plain form: posting more IDs than the preview allows is a 422."""
    monkeypatch.setattr(group_services, "BULK_LIMIT", 3)
    group = factories.group()
    customer = factories.customer(external_id="A-1")
    ids = "\n".join(["A-1", "A-2", "A-3", "A-4"])
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = support_client.post(
            reverse("groups:member_bulk", args=[group.pk]),
            {"confirm": "1", "mode": "add", "ids": ids},
            **headers,
        )
        assert response.status_code == 422
        assert "At most 3 external IDs at a time; this list has 4." in response.content.decode()
    assert not Membership.objects.filter(customer=customer).exists()


@override_settings(RATECARD_MAX_UPLOAD_BYTES=4096)
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_an_upload_over_the_size_limit_is_a_message_with_csrf_checks_on(manager, htmx):
    """The size guard stopped the body in the CSRF check and escaped as a 500; now it is a 422.

    The CSRF token comes first in the form (or in the header, from htmx), so it is still read.
    """
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(manager)
    client.get(reverse("pricing:usage"))
    token = client.cookies["csrftoken"].value
    upload = SimpleUploadedFile("usage.csv", b"x" * 20_000, content_type="text/csv")
    data = {"file": upload} if htmx else {"csrfmiddlewaretoken": token, "file": upload}
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_X_CSRFTOKEN": token} if htmx else {}
    response = client.post(reverse("pricing:usage_upload"), data, **headers)
    assert response.status_code == 422
    assert "uploads are limited to 4 KiB" in response.content.decode()
    assert not UsageRecord.objects.exists()
