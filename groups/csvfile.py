"""The one CSV writer of every file Ratecard produces, and the checks every CSV reader shares.

Spreadsheets run a cell that starts like a formula, so a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written with an apostrophe in front (the usual
neutralisation, shown as text by Excel, LibreOffice and Google Sheets). Numbers, dates and
other non-text values are written as they are: ``-1.5`` as a number is not a formula.

Lives in ``groups`` (which imports nothing from the other apps) so that ``pricing`` and
``billing`` use it too.
"""

import csv
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

logger = logging.getLogger(__name__)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The last line of a download that failed after it started: nobody mistakes it for a whole file.
EXPORT_INCOMPLETE = (
    "# EXPORT INCOMPLETE: reading the records failed part-way; this file is not complete. "
    "Download it again."
)
# Rows read before a download's response starts (the header and the first record).
PREFETCH_ROWS = 2
# PostgreSQL cannot hold NUL in text: a file carrying one is refused line by line, never a 500.
NUL_IN_CELL = (
    "a value contains a NUL character (0x00), which is not text; save the file as plain CSV "
    "and upload it again."
)


def has_nul(row: Sequence[str]) -> bool:
    """True when a cell of a CSV line read from a file holds a NUL character."""
    return any("\x00" in cell for cell in row)


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell: text that a spreadsheet would run is neutralised, "" for None."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose ``write`` returns the line, so ``csv.writer`` streams."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Sequence]) -> Iterator[str]:
    """Each row as one CSV line (``\\r\\n`` ended), every cell through :func:`safe_cell`."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])


def csv_download(rows: Iterable[Sequence], filename: str) -> StreamingHttpResponse:
    """A streamed CSV attachment of ``rows`` (header first), in constant memory.

    The header and the first record are read before the response is returned, inside the
    view: a database that is unavailable answers 503 and an unreadable record an error page,
    never a 200 holding the header alone. Should reading fail later, the file's last line says
    it is incomplete and the error goes on up, so the server drops the connection instead of
    ending the file as if it were whole.
    """
    iterator = iter(rows)
    head = list(itertools.islice(iterator, PREFETCH_ROWS))

    def stream() -> Iterator[str]:
        yield from csv_lines(head)
        try:
            yield from csv_lines(iterator)
        except Exception:
            logger.exception("CSV download %s failed part-way", filename)
            yield from csv_lines([[EXPORT_INCOMPLETE]])
            raise

    return StreamingHttpResponse(
        stream(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
