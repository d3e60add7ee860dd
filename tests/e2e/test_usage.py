"""A pricing manager uploads usage in Chromium, watches it being rated, and downloads the result."""

import pytest

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx

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


@pytest.mark.django_db(transaction=True)
def test_upload_progress_rows_and_download(live_server, page, world, monkeypatch):
    """The upload page polls, the bar reaches 100%, rows show rule and amount, CSV downloads."""
    from pricing.views import usage as views

    # Rate two records per poll so the progress is visible for a few seconds.
    monkeypatch.setattr(views, "UPLOAD_BUDGET", 0)
    monkeypatch.setattr(views, "POLL_BUDGET", 0)
    monkeypatch.setattr(views, "POLL_CHUNK", 2)
    sign_in(page, live_server, "pm")
    _upload(page, live_server, GOOD)
    page.wait_for_url(f"{live_server.url}/usage/batches/*/")
    assert "Stored 10 usage records" in page.locator("#messages").inner_text()
    progress = page.locator("#batch-progress")
    assert "pending" in progress.inner_text()
    progress.get_by_text("Rated 10 of 10 (100%)").wait_for(timeout=20_000)
    wait_for_htmx(page)
    rows = page.locator("#batch-rows tbody tr")
    rows.first.wait_for()
    assert rows.count() == 10
    assert "STD-2026" in rows.first.inner_text()
    assert "12.00 CZK" in rows.first.inner_text()
    assert "Total 78.00 CZK" in progress.inner_text()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the rated records (CSV)").click()
    with open(download_info.value.path(), encoding="utf-8") as file:
        content = file.read()
    assert content.splitlines()[0].startswith("line,customer_external_id")
    assert len(content.splitlines()) == 11


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
