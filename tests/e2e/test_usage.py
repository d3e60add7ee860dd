"""A pricing manager uploads usage in Chromium, watches it being rated, and downloads the result."""

from pathlib import Path

import pytest

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from tests import factories
from tests.e2e.conftest import sign_in
from tests.workers import DB, drain

GOOD = (
    "customer,category,item,quantity,occurred_at\n"
    + "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\n" * 6
    + "CUST-0003,retail,SMS,3,2026-03-01T11:00:00Z\n" * 4
)


@pytest.fixture
def world(transactional_db):
    from billing.demo import seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)  # also recreates the roles a flush removed
    factories.user("agent", role=SUPPORT_STAFF)
    seed_worked_example()


def _upload(page, live_server, text: str) -> None:
    page.goto(f"{live_server.url}/usage/")
    page.get_by_label("CSV file", exact=True).set_input_files(
        {"name": "usage.csv", "mimeType": "text/csv", "buffer": text.encode()}
    )
    page.get_by_role("button", name="Upload and rate").click()


SHOTS = Path("/tmp/shots-tasks")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _run_workers() -> None:
    """What a worker process does (its loop, on the database backend), run here.

    Nothing polls meanwhile: the browser is elsewhere, so the live server and this loop never
    use the shared test connection at the same time.
    """
    drain(DB)


@pytest.mark.django_db(transaction=True)
def test_upload_progress_rows_and_download(live_server, page, world):
    """The upload page follows its rating work, then shows rows, total and the CSV download."""
    sign_in(page, live_server, "pm")
    _upload(page, live_server, GOOD)
    page.wait_for_url(f"{live_server.url}/usage/batches/*/")
    assert "Stored 10 usage records from usage.csv" in page.locator("#messages").inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "usage.csv"
    work = page.locator(".work-status")
    assert "Rating usage.csv" in work.inner_text()
    assert "Waiting for a worker" in work.inner_text()
    _shot(page, "upload-queued-1440")
    url = page.url
    page.goto("about:blank")
    _run_workers()
    page.goto(url)
    summary = page.locator("#batch-summary")
    assert "10 rated" in summary.inner_text()
    assert "Total 78.00 CZK" in summary.inner_text()
    assert "Done" in page.locator(".work-status").inner_text()
    rows = page.locator("#batch-rows tbody tr")
    assert rows.count() == 10
    assert "STD-2026" in rows.first.inner_text()
    assert "12.00 CZK" in rows.first.inner_text()
    _shot(page, "upload-rated-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "upload-rated-390")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the rated records (CSV)").click()
    with open(download_info.value.path(), encoding="utf-8") as file:
        content = file.read()
    assert content.splitlines()[0].startswith("line,customer_external_id")
    assert len(content.splitlines()) == 11


@pytest.mark.django_db(transaction=True)
def test_closing_the_browser_during_an_upload_no_longer_stops_its_rating(
    live_server, browser, page, world
):
    """Rating used to be driven by the open page's polling; now it is background work: the
    browser is closed right after the upload, a worker rates the file, and a new session
    finds it rated, listed among the uploads."""
    from pricing.models import Upload, UsageRecord, UsageStatus

    sign_in(page, live_server, "pm")
    _upload(page, live_server, GOOD)
    page.wait_for_url(f"{live_server.url}/usage/batches/*/")
    url = page.url
    page.context.close()  # the tab, the window, the browser session: gone
    assert UsageRecord.objects.filter(status=UsageStatus.PENDING).count() == 10
    _run_workers()
    assert not UsageRecord.objects.filter(status=UsageStatus.PENDING).exists()
    upload = Upload.objects.get()
    assert (upload.rated, upload.unrated) == (10, 0)

    context = browser.new_context()
    again = context.new_page()
    sign_in(again, live_server, "pm")
    again.goto(f"{live_server.url}/usage/uploads/")
    again.get_by_role("link", name="usage.csv").click()
    again.wait_for_url(url)
    assert "10 rated" in again.locator("#batch-summary").inner_text()
    _shot(again, "uploads-after-closing-1440")
    context.close()


@pytest.mark.django_db(transaction=True)
def test_a_malformed_file_is_reported_in_place(live_server, page, world, page_watch):
    page_watch.allow(422)  # the refusal this test provokes
    sign_in(page, live_server, "pm")
    bad = GOOD + "CUST-0002,retail,minute,ten,2026-03-01T10:00:00Z\n"
    _upload(page, live_server, bad)
    alert = page.locator("#upload-errors .alert")
    alert.wait_for()
    assert "Line 12: quantity “ten” is not a number" in alert.inner_text()
    assert page.url == f"{live_server.url}/usage/"
    from pricing.models import UsageRecord

    assert not UsageRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_support_staff_see_usage_without_the_upload_form(live_server, page, world):
    sign_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/usage/")
    assert page.get_by_role("heading", name="Usage records").is_visible()
    assert page.get_by_label("CSV file", exact=True).count() == 0
