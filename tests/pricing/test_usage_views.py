"""The /usage/ pages: list and filters, CSV upload, an upload's progress and rows, exports."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from pricing import batch, services
from pricing.models import UsageRecord, UsageStatus
from tests import factories

HEADER = "customer,category,item,quantity,occurred_at\n"
GOOD = HEADER + (
    "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\nCUST-0003,retail,SMS,3,2026-03-01T11:00:00Z\n"
)


def _file(text: str, name: str = "usage.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def _stored_batch(text: str = GOOD, user=None) -> str:
    """An upload stored but not rated yet (as if nobody had polled)."""
    return services.usage_upload(file=_file(text), by=user).batch_key


# --- Permissions ------------------------------------------------------------------------------


def test_support_staff_see_usage_but_cannot_upload(support_client, worked_example):
    response = support_client.get("/usage/")
    assert response.status_code == 200
    assert "Upload a CSV file" not in response.content.decode()
    assert support_client.post("/usage/upload/", {"file": _file(GOOD)}).status_code == 403
    assert not UsageRecord.objects.exists()


def test_support_staff_cannot_drive_rating(support_client, worked_example):
    key = _stored_batch()
    assert support_client.post(f"/usage/batches/{key}/rate/").status_code == 403
    page = support_client.get(f"/usage/batches/{key}/").content.decode()
    # Their page only reads progress while somebody else rates.
    assert f'hx-get="/usage/batches/{key}/?part=progress"' in page
    assert "hx-post" not in page


def test_users_without_a_role_see_nothing(client, nobody):
    client.force_login(nobody)
    assert client.get("/usage/").status_code == 403
    assert client.get("/usage/export.csv").status_code == 403


def test_the_upload_checks_the_csrf_token(worked_example, manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.post("/usage/upload/", {"file": _file(GOOD)}).status_code == 403
    assert not UsageRecord.objects.exists()


# --- Upload -----------------------------------------------------------------------------------


def test_a_manager_uploads_a_file_and_lands_on_its_rated_rows(manager_client, worked_example):
    response = manager_client.post("/usage/upload/", {"file": _file(GOOD)}, follow=True)
    assert response.status_code == 200
    key = response.context["summary"].key
    assert response.redirect_chain == [(f"/usage/batches/{key}/", 302)]
    summary = response.context["summary"]
    assert (summary.total, summary.rated, summary.pending) == (2, 2, 0)
    html = response.content.decode()
    assert "Stored 2 usage records" in html
    assert "STD-2026" in html
    assert "12.00 CZK" in html
    assert f"/usage/batches/{key}/export.csv" in html
    assert manager_client.session["recent_uploads"][0]["key"] == key


def test_an_htmx_upload_redirects_the_browser(manager_client, worked_example):
    response = manager_client.post("/usage/upload/", {"file": _file(GOOD)}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/usage/batches/")


def test_a_malformed_file_is_reported_line_by_line_in_place(manager_client, worked_example):
    text = (
        GOOD + "CUST-0002,retail,minute,lots,2026-03-01T10:00:00Z\nGHOST,retail,SMS,1,2026-03-01\n"
    )
    response = manager_client.post("/usage/upload/", {"file": _file(text)}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="upload-form"' in html
    assert "<html" not in html
    assert "Line 4: quantity “lots” is not a number" in html
    assert "Line 5: no customer has the external ID or id “GHOST”." in html
    assert not UsageRecord.objects.exists()


def test_without_javascript_errors_come_back_on_the_full_page(manager_client, worked_example):
    response = manager_client.post("/usage/upload/", {"file": _file(HEADER)})
    assert response.status_code == 422
    assert services.UPLOAD_EMPTY in response.content.decode()
    assert "<html" in response.content.decode()


@override_settings(RATECARD_MAX_UPLOAD_BYTES=300)
def test_an_upload_over_the_limit_is_stopped_with_a_clear_message(manager_client, worked_example):
    text = GOOD + "CUST-0002,retail,minute,1,2026-03-01T10:00:00Z\n" * 20
    response = manager_client.post("/usage/upload/", {"file": _file(text)}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert "uploads are limited to 300 bytes" in html
    assert not UsageRecord.objects.exists()


def test_get_on_the_upload_url_goes_to_the_page(manager_client):
    response = manager_client.get("/usage/upload/")
    assert response.status_code == 302
    assert response["Location"] == "/usage/"


# --- An upload's page: polling, rows, export --------------------------------------------------


def test_the_progress_block_polls_until_nothing_is_pending(manager_client, worked_example):
    key = _stored_batch()
    page = manager_client.get(f"/usage/batches/{key}/").content.decode()
    assert f'hx-post="/usage/batches/{key}/rate/"' in page
    assert 'hx-trigger="every 1s"' in page

    response = manager_client.post(f"/usage/batches/{key}/rate/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith("<section")
    assert "every 1s" not in fragment  # done: the swapped-in block stops polling
    assert "2 rated" in fragment
    assert "usage-batch-rated" in response["HX-Trigger"]
    assert not UsageRecord.objects.filter(status=UsageStatus.PENDING).exists()


def test_a_poll_rates_a_slice_and_keeps_polling(manager_client, worked_example, monkeypatch):
    from pricing.views import usage as views

    monkeypatch.setattr(views, "POLL_CHUNK", 1)
    monkeypatch.setattr(views, "POLL_BUDGET", 0)
    key = _stored_batch()
    response = manager_client.post(f"/usage/batches/{key}/rate/", HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert "1 rated" in fragment
    assert "1 pending" in fragment
    assert 'hx-trigger="every 1s"' in fragment
    assert "HX-Trigger" not in response


def test_without_javascript_a_button_rates_the_next_slice(manager_client, worked_example):
    key = _stored_batch()
    page = manager_client.get(f"/usage/batches/{key}/").content.decode()
    assert "Rate the next records" in page
    response = manager_client.post(f"/usage/batches/{key}/rate/")
    assert response.status_code == 302
    assert response["Location"] == f"/usage/batches/{key}/"


def test_the_rows_fragment_refreshes_after_rating(manager_client, worked_example):
    key = _stored_batch()
    services.usage_rate_pending(batch_key=key)
    response = manager_client.get(f"/usage/batches/{key}/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith("{# Rendered") or html.lstrip().startswith("<div")
    assert 'id="batch-rows"' in html
    assert "STD-2026" in html


def test_the_batch_export_holds_every_row_with_its_line(manager_client, worked_example):
    key = _stored_batch()
    services.usage_rate_pending(batch_key=key)
    response = manager_client.get(f"/usage/batches/{key}/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == batch.EXPORT_HEADER
    assert [(r[0], r[1], r[9], r[12], r[13]) for r in rows[1:]] == [
        ("2", "CUST-0002", "STD-2026", "12.00", "CZK"),
        ("3", "CUST-0003", "STD-2026", "1.50", "CZK"),
    ]


@pytest.mark.parametrize("key", ["nope", "0123456789abcdef", "../../"])
def test_unknown_upload_keys_are_not_found(manager_client, key, db):
    assert manager_client.get(f"/usage/batches/{key}/").status_code == 404


# --- The list and its export ------------------------------------------------------------------


def _records(customer, n: int, **fields):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        factories.usage(customer, occurred_at=start + timedelta(minutes=i), **fields)
        for i in range(n)
    ]


def test_the_list_filters_in_the_url(manager_client, worked_example):
    _records(worked_example["tech_corp"], 3)
    _records(worked_example["startup"], 2, billing_category="roaming")
    services.usage_rate_pending()
    response = manager_client.get("/usage/", {"status": "unrated"}, HTTP_HX_REQUEST="true")
    records = response.context["records"]
    assert {r.customer.name for r in records} == {"Startup XYZ"}
    response = manager_client.get("/usage/", {"q": "CUST-0002"})
    assert len(response.context["records"]) == 3
    assert response.context["pending"] == 0


def test_the_list_pages_without_counting(manager_client, worked_example, monkeypatch):
    from pricing.views import usage as views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    _records(worked_example["tech_corp"], 5)
    first = manager_client.get("/usage/")
    assert first.context["page_obj"].has_next
    assert first.context["page_obj"].paginator is None  # nothing counted the table
    last = manager_client.get("/usage/", {"page": "3"})
    assert len(last.context["records"]) == 1
    assert not last.context["page_obj"].has_next


def test_the_export_streams_the_filtered_records(manager_client, worked_example):
    _records(worked_example["tech_corp"], 3)
    _records(worked_example["startup"], 2)
    response = manager_client.get("/usage/export.csv", {"q": "Startup"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3
    assert {r[1] for r in rows[1:]} == {"CUST-0003"}


# --- Query counts -----------------------------------------------------------------------------


def test_list_queries_do_not_grow_with_rows(manager_client, worked_example):
    _records(worked_example["tech_corp"], 2)
    with CaptureQueriesContext(connection) as few:
        manager_client.get("/usage/")
    _records(worked_example["startup"], 60)
    with CaptureQueriesContext(connection) as many:
        manager_client.get("/usage/")
    assert len(few) == len(many)
    with CaptureQueriesContext(connection) as fragment:
        manager_client.get("/usage/", HTTP_HX_REQUEST="true")
    assert len(fragment) < len(many)


def test_upload_page_queries_do_not_grow_with_rows(manager_client, worked_example):
    small = _stored_batch()
    big = _stored_batch(HEADER + "CUST-0002,retail,minute,1,2026-03-01T10:00:00Z\n" * 80)
    services.usage_rate_pending()
    counts = []
    for key in (small, big):
        for extra in ({}, {"HTTP_HX_REQUEST": "true"}):
            with CaptureQueriesContext(connection) as queries:
                manager_client.get(f"/usage/batches/{key}/", **extra)
            counts.append(len(queries))
    assert counts[:2] == counts[2:]
    with CaptureQueriesContext(connection) as progress:
        manager_client.get(f"/usage/batches/{big}/", {"part": "progress"}, HTTP_HX_REQUEST="true")
    assert len(progress) <= 5


def test_the_amount_total_of_an_upload(manager_client, worked_example):
    key = _stored_batch()
    services.usage_rate_pending(batch_key=key)
    summary = manager_client.get(f"/usage/batches/{key}/").context["summary"]
    assert summary.amounts == [("CZK", Decimal("13.50"))]
