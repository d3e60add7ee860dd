"""In Chromium: a repeated upload is refused with a link, "Rate now" shows progress, the
Background work page, and a webhook endpoint's page with its delivery log."""

from pathlib import Path

import pytest

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import sign_in, wait_for_htmx
from tests.workers import DB, drain

SHOTS = Path("/tmp/shots-tasks")
GOOD = "customer,category,item,quantity,occurred_at\n" + (
    "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\n" * 3
)


@pytest.fixture
def world(transactional_db):
    from billing.demo import seed_worked_example

    factories.user("pm", role=PRICING_MANAGERS)
    seed_worked_example()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _upload(page, live_server, name: str = "march.csv") -> None:
    page.goto(f"{live_server.url}/usage/")
    page.get_by_label("CSV file", exact=True).set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": GOOD.encode()}
    )
    page.get_by_role("button", name="Upload and rate").click()


@pytest.mark.django_db(transaction=True)
def test_a_repeated_file_is_refused_with_a_link_and_can_be_confirmed(
    live_server, page, world, page_watch
):
    from pricing.models import Upload

    page_watch.allow(422)  # the refusal of the repeat
    sign_in(page, live_server, "pm")
    _upload(page, live_server)
    page.wait_for_url(f"{live_server.url}/usage/batches/*/")
    first = page.url
    _upload(page, live_server, name="march-again.csv")
    errors = page.locator("#upload-errors")
    errors.get_by_text("This file was already uploaded as “march.csv”").wait_for()
    wait_for_htmx(page)
    _shot(page, "upload-repeat-refused-1440")
    assert Upload.objects.count() == 1
    # The file stays chosen (hx-preserve): tick the confirmation and send again.
    page.get_by_label("Store it again: this repeat is intended").check()
    page.get_by_role("button", name="Upload again").click()
    page.wait_for_url(f"{live_server.url}/usage/batches/*/")
    assert page.url != first
    assert "A confirmed repeat of" in page.locator("main").inner_text()
    assert Upload.objects.count() == 2
    page.get_by_role("link", name="march.csv").first.click()
    page.wait_for_url(first)


@pytest.mark.django_db(transaction=True)
def test_rate_now_shows_progress_and_the_background_work_page_lists_it(live_server, page, world):
    for _ in range(4):
        factories.usage(factories.customer())
    sign_in(page, live_server, "pm")
    page.get_by_role("button", name="Rate now").click()
    work = page.locator(".work-status")
    work.get_by_text("Rating pending usage").wait_for()
    assert "Queued" in work.inner_text()
    _shot(page, "dashboard-rate-now-1440")
    page.goto("about:blank")
    drain(DB)
    page.goto(f"{live_server.url}/work/")
    table = page.locator("#work-table")
    assert "Rating pending usage" in table.inner_text()
    assert "Done" in table.inner_text()
    assert "pm" in table.inner_text()
    _shot(page, "background-work-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "background-work-390")


@pytest.mark.django_db(transaction=True)
def test_a_manager_registers_a_webhook_and_sends_a_test_event(live_server, page, world):
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/webhooks/")
    page.get_by_role("link", name="Add an endpoint").first.click()
    page.get_by_label("URL").fill("http://127.0.0.1:9/nobody-listens")
    page.get_by_label("rule.changed").check()
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_url(f"{live_server.url}/webhooks/*/")
    page.get_by_role("button", name="Send a test event").click()
    page.get_by_text("A test event is on its way").wait_for()
    url = page.url
    page.goto("about:blank")
    drain(DB)
    page.goto(url)
    log = page.locator("#delivery-log")
    assert "endpoint.test" in log.inner_text()
    assert "Pending" in log.inner_text()  # nothing listens: retried later
    page.get_by_text("Show").click()
    _shot(page, "webhook-endpoint-1440")


@pytest.mark.django_db(transaction=True)
def test_a_large_export_becomes_background_work_with_a_download(live_server, page, world, settings):
    """Issue 22 item 8 in the browser: the export link of a large list opens the export's
    progress (never a short file); when it is written, its link downloads every record."""
    settings.RATECARD_EXPORT_INLINE_ROWS = 2
    customer = factories.customer()
    for _ in range(5):
        factories.usage(customer)
    sign_in(page, live_server, "pm")
    page.goto(f"{live_server.url}/usage/")
    page.get_by_role("link", name="Download these records (CSV)").click()
    page.wait_for_url(f"{live_server.url}/work/*/")
    assert "Exporting usage records" in page.locator(".work-status").inner_text()
    url = page.url
    page.goto("about:blank")
    drain(DB)
    page.goto(url)
    link = page.get_by_role("link", name="(5 records)")
    _shot(page, "export-ready-1440")
    with page.expect_download() as download_info:
        link.click()
    with open(download_info.value.path(), encoding="utf-8") as file:
        assert len(file.read().splitlines()) == 6
