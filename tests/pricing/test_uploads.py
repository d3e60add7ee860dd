"""Uploads as records: the list, repeats refused by checksum, row limits, exports in the
background, and "Rate now" on the dashboard."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from background.models import Work, WorkState
from pricing import batch, services
from pricing.models import Upload, UsageRecord, UsageStatus
from tests import factories

HEADER = "customer,category,item,quantity,occurred_at\n"
GOOD = HEADER + (
    "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\nCUST-0003,retail,SMS,3,2026-03-01T11:00:00Z\n"
)
# CUST-0001 (End Customer Ltd) has no price for "fax": that line stays unrated.
WITH_UNRATED = GOOD + "CUST-0001,retail,fax,1,2026-03-01T12:00:00Z\n"


def _file(text: str, name: str = "usage.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def _upload(client, text: str = GOOD, name: str = "usage.csv", **data):
    return client.post(
        "/usage/upload/", {"file": _file(text, name), **data}, HTTP_HX_REQUEST="true"
    )


# --- Repeats ----------------------------------------------------------------------------------


def test_the_same_file_again_is_refused_with_a_link_to_the_earlier_upload(
    manager_client, worked_example
):
    """Issue 21 item 4: a repeat (same SHA-256) is not stored; the answer names and links the
    earlier upload and offers to confirm the repeat."""
    assert _upload(manager_client, name="march.csv").status_code == 200
    earlier = Upload.objects.get()
    response = _upload(manager_client, name="march-copy.csv")
    assert response.status_code == 422
    html = response.content.decode()
    assert "This file was already uploaded as “march.csv”" in html
    assert f'href="/usage/batches/{earlier.batch_key}/"' in html
    assert 'name="repeat"' in html
    assert UsageRecord.objects.count() == 2
    assert Upload.objects.count() == 1


def test_a_confirmed_repeat_is_stored_and_marked_as_a_repeat(manager_client, worked_example):
    _upload(manager_client, name="march.csv")
    response = _upload(manager_client, name="march.csv", repeat="on")
    assert response.status_code == 200
    repeat = Upload.objects.exclude(repeat_of=None).get()
    assert repeat.repeat_of == Upload.objects.get(repeat_of=None)
    assert UsageRecord.objects.count() == 4
    page = manager_client.get(f"/usage/batches/{repeat.batch_key}/").content.decode()
    assert "A confirmed repeat of" in page


def test_the_database_admits_one_original_per_checksum(worked_example):
    """Two requests at once cannot both store the same file as an original."""
    services.usage_upload(file=_file(GOOD))
    with pytest.raises(IntegrityError), transaction.atomic():
        Upload.objects.create(
            batch_key=batch.new_batch_key(),
            file_name="x.csv",
            checksum=Upload.objects.get().checksum,
        )


def test_different_files_are_not_repeats(manager_client, worked_example):
    _upload(manager_client)
    assert _upload(manager_client, text=GOOD + GOOD.splitlines()[1] + "\n").status_code == 200
    assert Upload.objects.count() == 2


# --- Limits -----------------------------------------------------------------------------------


def test_a_file_with_too_many_lines_is_refused_up_front(manager_client, worked_example, settings):
    """Issue 22 item 8: more lines than RATECARD_MAX_UPLOAD_ROWS get a clear 422 (a file of a
    million lines would otherwise outlast the server's timeout), and nothing is stored."""
    settings.RATECARD_MAX_UPLOAD_ROWS = 1
    response = _upload(manager_client)
    assert response.status_code == 422
    assert services.UPLOAD_TOO_MANY_ROWS.format(rows=2, limit=1) in response.content.decode()
    assert not UsageRecord.objects.exists()
    assert not Upload.objects.exists()


# --- The list of uploads and the upload page ------------------------------------------------


def test_uploads_are_listed_with_their_counts_after_signing_in_again(
    client, manager, worked_example, run_queue
):
    """Issue 21 item 6: uploads are records, not session entries: a new session lists them,
    and the unrated count links to those records."""
    client.force_login(manager)
    _upload(client, text=WITH_UNRATED, name="with-fax.csv")
    run_queue()
    client.logout()
    client.force_login(manager)
    upload = Upload.objects.get()
    assert (upload.rows, upload.rated, upload.unrated) == (3, 2, 1)
    html = client.get("/usage/uploads/").content.decode()
    assert "with-fax.csv" in html
    link = f"/usage/?upload={upload.batch_key}&amp;status=unrated"
    assert link in html
    records = client.get(link.replace("&amp;", "&")).context["records"]
    assert [r.item_code for r in records] == ["fax"]
    assert client.get("/usage/").context["recent"] == [upload]


def test_the_upload_page_links_its_unrated_count(manager_client, worked_example, run_queue):
    _upload(manager_client, text=WITH_UNRATED)
    run_queue()
    key = Upload.objects.get().batch_key
    html = manager_client.get(f"/usage/batches/{key}/").content.decode()
    assert f'href="/usage/?upload={key}&amp;status=unrated"' in html


def test_the_upload_filter_ignores_what_is_not_a_batch_key(manager_client, worked_example):
    factories.usage(worked_example["tech_corp"])
    response = manager_client.get("/usage/", {"upload": "nonsense"})
    assert response.status_code == 200
    assert response.context["records"] == []


def test_the_upload_list_queries_do_not_grow_with_uploads(manager_client, worked_example):
    _upload(manager_client)
    with CaptureQueriesContext(connection) as few:
        manager_client.get("/usage/uploads/")
    for n in range(6):
        _upload(manager_client, text=GOOD + f"CUST-0002,retail,minute,{n + 1},2026-03-02\n")
    with CaptureQueriesContext(connection) as many:
        manager_client.get("/usage/uploads/")
    assert len(few) == len(many)
    with CaptureQueriesContext(connection) as fragment:
        manager_client.get("/usage/uploads/", HTTP_HX_REQUEST="true")
    assert len(fragment) <= len(many)


# --- Exports ----------------------------------------------------------------------------------


def test_a_large_export_is_written_in_the_background_and_downloaded_whole(
    manager_client, worked_example, run_queue, settings
):
    """Issue 22 item 8: past RATECARD_EXPORT_INLINE_ROWS the export is background work; its
    page links the finished file, which holds every record."""
    settings.RATECARD_EXPORT_INLINE_ROWS = 2
    for _ in range(5):
        factories.usage(worked_example["tech_corp"])
    response = manager_client.get("/usage/export.csv", {"q": "CUST-0002"})
    assert response.status_code == 302
    work = Work.objects.get()
    assert response["Location"] == f"/work/{work.pk}/"
    run_queue()
    work.refresh_from_db()
    assert (work.state, work.result["rows"]) == (WorkState.SUCCEEDED, 5)
    page = manager_client.get(f"/work/{work.pk}/").content.decode()
    assert f"/usage/exports/{work.pk}.csv" in page
    download = manager_client.get(f"/usage/exports/{work.pk}.csv")
    assert download["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == batch.EXPORT_HEADER
    assert len(rows) == 6
    # Written again (at least once), the file is replaced, not appended to.
    Work.objects.filter(pk=work.pk).update(state=WorkState.QUEUED, task_result_id="")
    run_queue()
    again = manager_client.get(f"/usage/exports/{work.pk}.csv")
    assert len(list(csv.reader(io.StringIO(b"".join(again.streaming_content).decode())))) == 6


def test_a_large_upload_export_keeps_file_order_in_the_background(
    manager_client, worked_example, run_queue, settings
):
    settings.RATECARD_EXPORT_INLINE_ROWS = 1
    _upload(manager_client)
    run_queue()
    key = Upload.objects.get().batch_key
    assert manager_client.get(f"/usage/batches/{key}/export.csv").status_code == 302
    run_queue()
    work = Work.objects.get(task_path="pricing.tasks.export_usage")
    download = manager_client.get(f"/usage/exports/{work.pk}.csv")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == ["2", "3"]


def test_an_export_that_is_not_ready_is_not_found(manager_client, db):
    from uuid import uuid4

    assert manager_client.get(f"/usage/exports/{uuid4()}.csv").status_code == 404


# --- "Rate now" on the dashboard ------------------------------------------------------------


def test_rate_now_on_the_dashboard_rates_pending_usage_with_progress(
    manager_client, worked_example, run_queue
):
    """Issue 21: pricing managers rate pending usage from the dashboard and follow progress."""
    for _ in range(3):
        factories.usage(worked_example["tech_corp"])
    page = manager_client.get("/").content.decode()
    assert "Rate now" in page
    response = manager_client.post("/usage/rate/", HTTP_HX_REQUEST="true")
    work = Work.objects.get()
    assert 'hx-trigger="every 1s"' in response.content.decode()
    assert f"/work/{work.pk}/" in response.content.decode()
    # While it runs the dashboard shows its progress instead of the button.
    assert "Rate now" not in manager_client.get("/").content.decode()
    run_queue()
    assert not UsageRecord.objects.filter(status=UsageStatus.PENDING).exists()
    assert manager_client.post("/usage/rate/").status_code == 302  # nothing left: back home


def test_rate_now_without_javascript_opens_the_works_page(manager_client, worked_example):
    factories.usage(worked_example["tech_corp"])
    response = manager_client.post("/usage/rate/")
    assert response["Location"] == f"/work/{Work.objects.get().pk}/"


def test_support_staff_get_no_rate_now(support_client, worked_example):
    factories.usage(worked_example["tech_corp"])
    assert "Rate now" not in support_client.get("/").content.decode()
    assert support_client.post("/usage/rate/").status_code == 403


def test_dashboard_queries_do_not_depend_on_running_work(manager_client, worked_example):
    factories.usage(worked_example["tech_corp"])
    with CaptureQueriesContext(connection) as idle:
        manager_client.get("/")
    services.usage_rate_backlog_start()
    with CaptureQueriesContext(connection) as running:
        manager_client.get("/")
    assert len(running) <= len(idle) + 2
