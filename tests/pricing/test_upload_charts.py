"""Each upload's page draws its rated amount per billing day per currency and its unrated
records per day (issue 21's pictures), with the numbers as a table; one aggregate query."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing import charts
from pricing.batch import batch_records
from pricing.models import Upload
from tests.pricing.test_uploads import HEADER, _upload

LINES = HEADER + (
    "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\n"
    "CUST-0003,retail,SMS,3,2026-03-01T11:00:00Z\n"
    "CUST-0002,retail,minute,5,2026-03-03T09:00:00Z\n"
    "CUST-0001,retail,fax,1,2026-03-03T12:00:00Z\n"
)


def test_an_upload_is_drawn_per_day_with_its_unrated_records(
    manager_client, worked_example, run_queue
):
    _upload(manager_client, text=LINES)
    run_queue()
    key = Upload.objects.get().batch_key
    page = manager_client.get(f"/usage/batches/{key}/").content.decode()
    assert f'hx-get="/usage/batches/{key}/charts/"' in page  # loaded into the page
    with CaptureQueriesContext(connection) as queries:
        found, days = charts.upload_charts(batch_records(key))
    assert len(queries) == 1
    assert days == 3  # 1 to 3 March, the empty 2nd included
    rated, unrated = found
    assert rated.title == "Rated amount per day, CZK"
    assert [row[0] for row in unrated.rows] == ["03-01", "03-02", "03-03"]
    assert [row[1] for row in unrated.rows] == ["0", "0", "1"]
    amounts = {}
    for record in batch_records(key).filter(status="rated"):
        day = f"03-0{record.occurred_at.day}"
        amounts[day] = amounts.get(day, 0) + record.amount
    assert [row[1] for row in rated.rows] == [
        charts.money(amounts.get(day, 0)) for day in ("03-01", "03-02", "03-03")
    ]
    fragment = manager_client.get(f"/usage/batches/{key}/charts/", HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert "<svg" in html
    assert "<table" in html  # the numbers for screen readers
    assert "Unrated records per day" in html
    full = manager_client.get(f"/usage/batches/{key}/charts/").content.decode()
    assert "usage.csv per day" in full


def test_support_staff_see_an_uploads_charts(support_client, manager_client, worked_example):
    _upload(manager_client, text=LINES)
    key = Upload.objects.get().batch_key
    assert support_client.get(f"/usage/batches/{key}/charts/").status_code == 200
