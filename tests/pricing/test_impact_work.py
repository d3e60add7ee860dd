"""Impact previews over large windows run as background work and show the same report."""

from datetime import UTC, datetime

import pytest

from background.models import Work, WorkState
from tests import factories

QUERY = {"start": "2026-02-01", "end": "2026-03-31", "rule": "STARTUP-2026", "priority": "5"}


@pytest.fixture
def usage(worked_example):
    at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    for customer in (worked_example["startup"], worked_example["tech_corp"]):
        factories.usage(customer, billing_category="retail", item_code="minute", occurred_at=at)
    from pricing import services

    services.usage_rate_pending()
    return worked_example


def test_a_large_window_is_previewed_by_a_task_with_the_same_report(
    manager_client, usage, run_queue, settings
):
    """Past RATECARD_IMPACT_INLINE_RECORDS the preview is background work; the page follows it
    (its address names the work) and shows the report a small window shows inline."""
    inline = manager_client.get("/usage/impact/", QUERY).context["report"]
    settings.RATECARD_IMPACT_INLINE_RECORDS = 1
    response = manager_client.get("/usage/impact/", QUERY, HTTP_HX_REQUEST="true")
    work = Work.objects.get()
    assert response["HX-Push-Url"] == f"/usage/impact/?work={work.pk}"
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert "work-finished from:body" in html
    assert work.started_by.username == "pm"
    run_queue()
    work.refresh_from_db()
    assert work.state == WorkState.SUCCEEDED
    page = manager_client.get("/usage/impact/", {"work": str(work.pk)})
    report = page.context["report"]
    assert (report.records, report.changed, report.customers_affected) == (
        inline.records,
        inline.changed,
        inline.customers_affected,
    )
    assert report.customers[0].customer.name == "Startup XYZ"
    assert report.customers[0].delta == inline.customers[0].delta
    assert [t.delta for t in report.totals] == [t.delta for t in inline.totals]
    html = page.content.decode()
    assert "<strong>1</strong> would change" in html
    assert "Startup XYZ" in html
    assert page.context["form"].cleaned_data["priority"] == 5
    # Delivered twice, the work is done once.
    from pricing import tasks

    assert tasks.preview_impact.call(work_id=str(work.pk)) == {"skipped": True}


def test_an_unknown_preview_work_is_not_found(manager_client, db):
    assert manager_client.get("/usage/impact/", {"work": "nope"}).status_code == 404
    assert (
        manager_client.get(
            "/usage/impact/", {"work": "00000000-0000-0000-0000-000000000000"}
        ).status_code
        == 404
    )
