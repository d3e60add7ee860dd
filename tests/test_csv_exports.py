"""Every CSV the product writes goes through one writer that defuses spreadsheet formulas, and a
download that cannot be read whole says so instead of ending early as if it were complete."""

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from groups.csvfile import EXPORT_INCOMPLETE, csv_download, safe_cell
from pricing import services
from pricing.models import UsageRecord
from tests import factories

ROOT = Path(__file__).resolve().parent.parent


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_starting_like_a_formula_is_written_as_text(start):
    assert safe_cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"


def test_numbers_dates_and_plain_text_are_written_as_they_are():
    assert safe_cell(Decimal("-1.5")) == Decimal("-1.5")
    assert safe_cell(-3) == -3
    assert safe_cell("Tech Corp") == "Tech Corp"
    assert safe_cell(None) == ""


def test_only_the_shared_writer_creates_csv_writers():
    """One writer for every CSV: no module writes CSV without the formula guard."""
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("billing", "groups", "pricing")
        for path in (ROOT / app).rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\(", path.read_text())
        and path.relative_to(ROOT).as_posix() != "groups/csvfile.py"
    ]
    assert offenders == []


@pytest.mark.django_db
def test_the_usage_export_defuses_customer_names_and_external_ids(manager_client):
    customer = factories.customer("=cmd|' /C calc'!A0", external_id="+SUM(A1)")
    factories.usage(customer)
    rows = _rows(manager_client.get("/usage/export.csv"))
    assert rows[1][1] == "'+SUM(A1)"
    assert rows[1][3] == "'=cmd|' /C calc'!A0"


@pytest.mark.django_db
def test_the_upload_export_defuses_customer_names_and_external_ids(manager_client):
    customer = factories.customer("@evil", external_id="-2+3")
    upload = services.usage_upload(
        file=io.BytesIO(
            b"customer,category,item,quantity,occurred_at\n-2+3,retail,minute,1,2026-03-01T10:00:00Z\n"
        )
    )
    response = manager_client.get(f"/usage/batches/{upload.batch_key}/export.csv")
    rows = _rows(response)
    assert rows[1][1:4] == ["'-2+3", str(customer.pk), "'@evil"]


def _store_unreadable_record(customer) -> None:
    """A record stored before range checks existed: its instant is in 1 BC (UTC)."""
    record = factories.usage(customer, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    value = "0000-12-31 23:00:00" if connection.vendor == "sqlite" else "0001-12-31 23:00:00+00 BC"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {UsageRecord._meta.db_table} SET occurred_at = %s WHERE id = %s",
            [value, record.pk.hex if connection.vendor == "sqlite" else record.pk],
        )


@pytest.mark.django_db
def test_an_export_that_cannot_read_its_records_fails_instead_of_sending_a_header_alone(manager):
    """Before, an unreadable record made /usage/export.csv answer 200 with the header only."""
    _store_unreadable_record(factories.customer())
    client = Client(raise_request_exception=False)
    client.force_login(manager)
    response = client.get("/usage/export.csv")
    assert response.status_code == 500
    assert not response.get("Content-Type", "").startswith("text/csv")


def test_a_download_failing_part_way_ends_with_a_line_saying_it_is_incomplete():
    def rows():
        yield ["a", "b"]
        yield ["1", "2"]
        yield ["3", "4"]
        raise OSError("connection lost")

    response = csv_download(rows(), "x.csv")
    lines = []
    chunks = iter(response.streaming_content)
    with pytest.raises(OSError, match="connection lost"):  # noqa: PT012 (the stream raises)
        while True:
            lines.append(next(chunks).decode())
    assert lines[:3] == ["a,b\r\n", "1,2\r\n", "3,4\r\n"]
    assert lines[-1].strip() == EXPORT_INCOMPLETE
