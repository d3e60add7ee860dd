"""``POST /api/v1/usage-records`` with ``Content-Type: text/csv``: the same records as a JSON list.

The first line names the columns, as in an upload on the usage page (``customer``, or
``customer_id`` / ``external_id``; ``billing_category``; ``item_code``; ``quantity``;
``occurred_at``, with the same aliases); each later line is one record, validated exactly as a
JSON record is (errors by index: index 0 is the line after the header). A file that cannot be
read as such a table is a 400 naming the line.
"""

import csv
import io
import uuid

from django.core.exceptions import ValidationError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from pricing import services

CSV_NOT_TEXT = services.UPLOAD_NOT_TEXT.replace("upload it", "send it")
CSV_EMPTY = "The CSV holds no header line: its first line must name the columns."
CSV_UNREADABLE = "Line {line}: {reason}"


class CsvRecords(list):
    """Records read from CSV (the answer is a summary: counts and ids)."""


def _customer_fields(value: str) -> dict[str, str]:
    """A ``customer`` cell holds an id or an external ID, as in uploads."""
    try:
        return {"customer_id": str(uuid.UUID(value))}
    except ValueError:
        return {"external_id": value}


class UsageCsvParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> CsvRecords:
        try:
            text = stream.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ParseError(CSV_NOT_TEXT) from None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next((line for line in reader if any(cell.strip() for cell in line)), None)
            if header is None:
                raise ParseError(CSV_EMPTY)
            try:
                columns = services.usage_header_map(header)
            except ValidationError as exc:
                raise ParseError(exc.messages[0]) from None
            records = CsvRecords()
            for line in reader:
                if not any(cell.strip() for cell in line):
                    continue
                if len(line) != len(header):
                    message = services.LINE_COLUMN_COUNT.format(
                        expected=len(header), found=len(line)
                    )
                    raise ParseError(CSV_UNREADABLE.format(line=reader.line_num, reason=message))
                records.append(_record(line, columns))
        except csv.Error as exc:
            raise ParseError(CSV_UNREADABLE.format(line=reader.line_num, reason=exc)) from None
        return records


FIELDS = {
    "category": "billing_category",
    "item": "item_code",
    "quantity": "quantity",
    "occurred_at": "occurred_at",
    "customer_id": "customer_id",
    "external_id": "external_id",
}


def _record(line: list[str], columns: dict[str, int]) -> dict[str, str]:
    record = {}
    for role, index in columns.items():
        value = line[index].strip()
        if not value:
            continue  # as if the key were left out of a JSON record
        if role == "customer":
            record.update(_customer_fields(value))
        else:
            record[FIELDS[role]] = value
    return record
