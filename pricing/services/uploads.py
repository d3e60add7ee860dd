"""Usage uploads: a CSV file validated line by line, stored pending and rated."""

import csv
import hashlib
import io
import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from groups.csvfile import NUL_IN_CELL, has_nul
from groups.models import Customer
from pricing import batch, decimals, engine
from pricing.clock import billing_tz
from pricing.models import (
    CATEGORY_VALIDATOR,
    ITEM_CODE_VALIDATOR,
    Upload,
    UsageRecord,
    UsageStatus,
)
from pricing.signals import usage_batch_rated, usage_unrated

User = AbstractBaseUser

# --- Usage uploads (CSV) ----------------------------------------------------------------------

UPLOAD_TOO_LARGE = (
    "The file is {size}; uploads are limited to {limit}. Split it into smaller files."
)
UPLOAD_EMPTY = "The file holds no usage records."
UPLOAD_NOT_TEXT = "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
UPLOAD_MISSING_COLUMNS = (
    "The first line must name the columns; missing: {missing}. Expected: customer (external ID "
    "or id), category, item, quantity, occurred_at."
)
UPLOAD_TOO_MANY_ROWS = (
    "The file has {rows:,} lines; an upload may hold at most {limit:,}. Split it into smaller "
    "files."
)
UPLOAD_REPEAT = (
    "This file was already uploaded as “{name}” on {when} by {who}. Storing it again would rate "
    "its records twice."
)
UPLOAD_LINE = "Line {line}: {message}"
UPLOAD_MORE_ERRORS = "… and {count} more lines with errors. Nothing was stored."
LINE_COLUMN_COUNT = "expected {expected} values, found {found}."
LINE_EMPTY_VALUE = "{column} is empty."
LINE_UNKNOWN_CUSTOMER = "no customer has the external ID or id “{value}”."
LINE_BAD_QUANTITY = "quantity “{value}” is not a number (use a dot for decimals, e.g. 1.5)."
LINE_QUANTITY_NOT_POSITIVE = "quantity must be greater than zero."
LINE_QUANTITY_INVALID = "quantity “{value}”: {reason}"
LINE_BAD_TIME = (
    "occurred_at “{value}” is not a date and time such as 2026-03-01T14:30:00+01:00 "
    "(without an offset it is read in the billing time zone)."
)
LINE_TIME_OUT_OF_RANGE = "occurred_at “{value}”: {reason}"
LINE_BAD_CATEGORY = "category “{value}”: {reason}"
LINE_BAD_ITEM = "item “{value}”: {reason}"
MAX_REPORTED_ERRORS = 100
UPLOAD_BUFFER = 5000  # lines validated, resolved and stored together

# Accepted header names (lower case, spaces and dashes read as underscores).
_COLUMNS = {
    "customer": ("customer", "customer_ref"),
    "external_id": ("customer_external_id", "external_id"),
    "customer_id": ("customer_id", "customer_uuid"),
    "category": ("billing_category", "category"),
    "item": ("item_code", "item"),
    "quantity": ("quantity", "qty"),
    "occurred_at": ("occurred_at", "occurred", "timestamp", "time"),
}


@dataclass
class UploadResult:
    batch_key: str
    records: int
    upload: Upload | None = None


class RepeatedUpload(ValidationError):
    """The file (by checksum) was uploaded before; ``earlier`` is that upload."""

    def __init__(self, earlier: Upload) -> None:
        who = earlier.uploaded_by.get_username() if earlier.uploaded_by else "someone"
        when = timezone.localtime(earlier.uploaded_at).strftime("%d %b %Y %H:%M")
        super().__init__(UPLOAD_REPEAT.format(name=earlier.file_name, when=when, who=who))
        self.earlier = earlier


def _digest(file) -> tuple[str, int]:
    """The file's SHA-256 and its number of lines (one pass over its bytes, 1 MiB at a time)."""
    file.seek(0)
    sha, lines, last = hashlib.sha256(), 0, b"\n"
    while block := file.read(1024 * 1024):
        sha.update(block)
        lines += block.count(b"\n")
        last = block[-1:]
    file.seek(0)
    return sha.hexdigest(), lines + (last != b"\n")


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size} bytes"


def upload_too_large_message(size: int) -> str:
    return UPLOAD_TOO_LARGE.format(
        size=human_size(size), limit=human_size(settings.RATECARD_MAX_UPLOAD_BYTES)
    )


def usage_header_map(header: list[str]) -> dict[str, int]:
    """Which column holds what (by ``_COLUMNS``), or a ValidationError naming what is missing."""
    names = [cell.strip().lower().replace(" ", "_").replace("-", "_") for cell in header]
    found: dict[str, int] = {}
    for role, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in names:
                found[role] = names.index(alias)
                break
    missing = [
        name
        for name, present in (
            ("customer", {"customer", "external_id", "customer_id"} & found.keys()),
            ("category", "category" in found),
            ("item", "item" in found),
            ("quantity", "quantity" in found),
            ("occurred_at", "occurred_at" in found),
        )
        if not present
    ]
    if missing:
        raise ValidationError(UPLOAD_MISSING_COLUMNS.format(missing=", ".join(missing)))
    return found


_QUANTITY_VALIDATORS = UsageRecord._meta.get_field("quantity").validators


def _parse_quantity(value: str) -> Decimal:
    try:
        quantity = decimals.parse_decimal(value)
    except decimals.NotADecimal as exc:
        if str(exc) == decimals.NOT_A_NUMBER:
            raise ValueError(LINE_BAD_QUANTITY.format(value=value)) from None
        raise ValueError(LINE_QUANTITY_INVALID.format(value=value, reason=exc)) from None
    if quantity <= 0:
        raise ValueError(LINE_QUANTITY_NOT_POSITIVE)
    # The model field's own validators: digits, decimal places, the upper limit.
    try:
        for validator in _QUANTITY_VALIDATORS:
            validator(quantity)
    except ValidationError as exc:
        reason = exc.messages[0]
        raise ValueError(LINE_QUANTITY_INVALID.format(value=value, reason=reason)) from None
    return quantity


def _parse_instant(value: str, tz) -> datetime:
    """An instant as written (an offset, or the billing zone), in the supported range."""
    try:
        instant = engine.read_instant(datetime.fromisoformat(value), tz)
    except ValueError:
        raise ValueError(LINE_BAD_TIME.format(value=value)) from None
    try:
        return engine.check_instant(instant, tz)
    except engine.OutOfRange as exc:
        raise ValueError(LINE_TIME_OUT_OF_RANGE.format(value=value, reason=exc)) from None


def _compiled(validator) -> re.Pattern:
    """A RegexValidator's pattern compiled once (its own is lazy, re-resolved on each call)."""
    return re.compile(validator.regex.pattern, validator.regex.flags)


_CATEGORY_RE = _compiled(CATEGORY_VALIDATOR)
_ITEM_RE = _compiled(ITEM_CODE_VALIDATOR)
_TOO_LONG = "Use at most 64 characters."


class _LineParser:
    """Parses one CSV line into ``(ref_kind, ref, category, item, quantity, occurred_at)``.

    Built once per file with the column positions; the same checks as the model's validators,
    without their per-call overhead (an upload has hundreds of thousands of lines).
    """

    def __init__(self, columns: dict[str, int], width: int, tz) -> None:
        self.kind = next(k for k in ("customer", "external_id", "customer_id") if k in columns)
        self.positions = (
            columns[self.kind],
            columns["category"],
            columns["item"],
            columns["quantity"],
            columns["occurred_at"],
        )
        self.width = width
        self.tz = tz

    def __call__(self, row: list[str]) -> tuple:
        """The parsed line, or :class:`LineErrors` with every problem of the line at once."""
        if len(row) != self.width:
            raise LineErrors([LINE_COLUMN_COUNT.format(expected=self.width, found=len(row))])
        if has_nul(row):
            raise LineErrors([NUL_IN_CELL])
        ref_at, category_at, item_at, quantity_at, time_at = self.positions
        ref, category, item = row[ref_at].strip(), row[category_at].strip(), row[item_at].strip()
        quantity, occurred_at = row[quantity_at].strip(), row[time_at].strip()
        problems: list[str] = []
        for value, label in (
            (category, "category"),
            (item, "item"),
            (quantity, "quantity"),
            (occurred_at, "occurred_at"),
            (ref, "customer"),
        ):
            if not value:
                problems.append(LINE_EMPTY_VALUE.format(column=label))
        if category and (len(category) > 64 or not _CATEGORY_RE.search(category)):
            reason = _TOO_LONG if len(category) > 64 else CATEGORY_VALIDATOR.message
            problems.append(LINE_BAD_CATEGORY.format(value=category, reason=reason))
        if item and (len(item) > 64 or not _ITEM_RE.search(item)):
            reason = _TOO_LONG if len(item) > 64 else ITEM_CODE_VALIDATOR.message
            problems.append(LINE_BAD_ITEM.format(value=item, reason=reason))
        parsed_quantity = parsed_instant = None
        if quantity:
            try:
                parsed_quantity = _parse_quantity(quantity)
            except ValueError as exc:
                problems.append(str(exc))
        if occurred_at:
            try:
                parsed_instant = _parse_instant(occurred_at, self.tz)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            # The customer is still checked (with the line's others), so the report gives all
            # of a line's problems at once.
            raise LineErrors(problems, ref=(self.kind, ref) if ref else None)
        return (self.kind, ref, category, item, parsed_quantity, parsed_instant)


class LineErrors(ValueError):
    """Every problem of one CSV line; ``ref`` is its customer reference, still to be checked."""

    def __init__(self, messages: list[str], ref: tuple[str, str] | None = None) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
        self.ref = ref


class _LineReport:
    """The problems of an upload by line, reported in line order, all of a line's at once.

    Customers are checked a buffer at a time, after the lines' own checks, so a line's
    unknown customer is learnt after later lines' problems: problems are kept by line and,
    once a buffer is settled, only the first ``MAX_REPORTED_ERRORS`` lines are kept.
    """

    def __init__(self) -> None:
        self.problems: dict[int, list[str]] = {}
        self.lines = 0  # lines with a problem, reported or not

    def add(self, line: int, message: str) -> None:
        if line not in self.problems:
            self.lines += 1
            self.problems[line] = []
        self.problems[line].append(message)

    def settle(self) -> None:
        """Every line so far is complete: keep the first lines only."""
        if len(self.problems) > MAX_REPORTED_ERRORS:
            kept = sorted(self.problems)[:MAX_REPORTED_ERRORS]
            self.problems = {line: self.problems[line] for line in kept}

    def messages(self) -> list[str]:
        self.settle()
        out = [
            UPLOAD_LINE.format(line=line, message=_joined(self.problems[line]))
            for line in sorted(self.problems)
        ]
        if self.lines > len(out):
            out.append(UPLOAD_MORE_ERRORS.format(count=self.lines - len(out)))
        return out


def _joined(messages: list[str]) -> str:
    """ "a." and "b." read as "a; b." on one line."""
    if len(messages) == 1:
        return messages[0]
    return "; ".join(m.rstrip(".") for m in messages) + "."


def _resolve_refs(pending: set[tuple[str, str]], known: dict[tuple[str, str], str | None]) -> None:
    """Resolve (kind, ref) customer references not seen yet: two queries at most."""
    external = {ref for kind, ref in pending if kind in ("customer", "external_id")}
    found_ext = {}
    if external:
        found_ext = dict(
            Customer.objects.filter(external_id__in=external).values_list("external_id", "pk")
        )
    by_id: dict[str, uuid.UUID] = {}
    for kind, ref in pending:
        if kind == "customer_id" or (kind == "customer" and ref not in found_ext):
            try:
                by_id[ref] = uuid.UUID(ref)
            except ValueError:
                continue
    found_ids = (
        set(Customer.objects.filter(pk__in=set(by_id.values())).values_list("pk", flat=True))
        if by_id
        else set()
    )
    for kind, ref in pending:
        pk = found_ext.get(ref) if kind in ("customer", "external_id") else None
        if pk is None and kind in ("customer", "customer_id") and by_id.get(ref) in found_ids:
            pk = by_id[ref]
        known[(kind, ref)] = batch.db_key(pk) if pk is not None else None


def _open_text(file) -> io.TextIOWrapper:
    file.seek(0)
    return io.TextIOWrapper(file, encoding="utf-8-sig", newline="")


def _sniff_delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def usage_upload(*, file, by: User | None = None, repeat_confirmed: bool = False) -> UploadResult:
    """Store the records of an uploaded CSV as pending, all or nothing, as one upload batch.

    The upload is recorded (:class:`Upload`: file name, size, SHA-256, rows, who and when) in
    the same transaction. A file whose checksum matches an earlier upload is refused
    (:class:`RepeatedUpload`, naming it) unless ``repeat_confirmed``; a file of more than
    ``RATECARD_MAX_UPLOAD_ROWS`` lines is refused before anything is read into the database.

    Lines are read as a stream, validated, their customers resolved and stored ``UPLOAD_BUFFER``
    at a time inside one transaction; the first error stops storing, reading goes on to report
    the bad lines in line order with all of a line's problems at once (the first
    ``MAX_REPORTED_ERRORS`` lines, then a count), and the transaction is rolled back, so
    nothing of a rejected file is kept. Rating happens afterwards, in chunks
    (``usage_rate_pending(batch_key=...)``), driven by the upload page or ``rate_usage``.
    """
    size = getattr(file, "size", None)
    if size is not None and size > settings.RATECARD_MAX_UPLOAD_BYTES:
        raise ValidationError(upload_too_large_message(size))
    checksum, lines = _digest(file)
    if lines - 1 > settings.RATECARD_MAX_UPLOAD_ROWS:
        raise ValidationError(
            UPLOAD_TOO_MANY_ROWS.format(rows=lines - 1, limit=settings.RATECARD_MAX_UPLOAD_ROWS)
        )
    originals = Upload.objects.filter(checksum=checksum, repeat_of=None)
    earlier = originals.select_related("uploaded_by").first()
    if earlier is not None and not repeat_confirmed:
        raise RepeatedUpload(earlier)
    key = batch.new_batch_key()
    tz = billing_tz()
    report = _LineReport()
    stored = 0
    known: dict[tuple[str, str], str | None] = {}
    buffer: list[tuple[int, tuple]] = []
    bad_refs: list[tuple[int, tuple[str, str]]] = []  # lines with problems, customer unchecked
    now = timezone.now()
    user_id = by.pk if by is not None else None

    def flush() -> None:
        nonlocal stored
        wanted = {(p[0], p[1]) for _, p in buffer} | {ref for _, ref in bad_refs}
        _resolve_refs({ref for ref in wanted if ref not in known}, known)
        rows = []
        for line, (kind, ref, category, item, quantity, occurred_at) in buffer:
            customer = known[(kind, ref)]
            if customer is None:
                report.add(line, LINE_UNKNOWN_CUSTOMER.format(value=ref))
                continue
            rows.append(
                (batch.batch_record_id(key, line), customer, category, item, quantity, occurred_at)
            )
        for line, ref in bad_refs:
            if known[ref] is None:
                report.add(line, LINE_UNKNOWN_CUSTOMER.format(value=ref[1]))
        buffer.clear()
        bad_refs.clear()
        report.settle()
        if not report.lines:
            stored += batch.insert_pending(rows, created_by_id=user_id, at=now)

    with transaction.atomic():
        text = _open_text(file)
        reader = None
        try:
            first = text.readline()
            reader = csv.reader(itertools.chain([first], text), delimiter=_sniff_delimiter(first))
            header = next(reader, None)
            if not header or not any(cell.strip() for cell in header):
                raise ValidationError(UPLOAD_EMPTY)
            parse = _LineParser(usage_header_map(header), len(header), tz)
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                try:
                    parsed = parse(row)
                except LineErrors as exc:
                    for message in exc.messages:
                        report.add(reader.line_num, message)
                    if exc.ref is not None:
                        bad_refs.append((reader.line_num, exc.ref))
                    continue
                buffer.append((reader.line_num, parsed))
                if len(buffer) + len(bad_refs) >= UPLOAD_BUFFER:
                    flush()
            if buffer or bad_refs:
                flush()
        except UnicodeDecodeError:
            raise ValidationError(UPLOAD_NOT_TEXT) from None
        except csv.Error as exc:
            line = reader.line_num if reader is not None else 1
            raise ValidationError(UPLOAD_LINE.format(line=line, message=exc)) from None
        finally:
            text.detach()
        if report.lines:
            raise ValidationError(report.messages())
        if not stored:
            raise ValidationError(UPLOAD_EMPTY)
        upload = Upload(
            batch_key=key,
            file_name=(getattr(file, "name", "") or "upload.csv")[:255],
            size=size if size is not None else 0,
            checksum=checksum,
            repeat_of=earlier,
            rows=stored,
            uploaded_by=by if by is not None and by.is_authenticated else None,
            uploaded_at=now,
        )
        upload.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                upload.save(force_insert=True)
        except IntegrityError:
            # The same file, first uploaded by a request that committed meanwhile.
            first = Upload.objects.filter(checksum=checksum, repeat_of=None).first()
            if first is None:
                raise
            raise RepeatedUpload(first) from None
    return UploadResult(batch_key=key, records=stored, upload=upload)


@transaction.atomic
def upload_refresh_counts(*, upload: Upload) -> Upload:
    """Store the upload's rated and unrated counts as its records are now (one grouped query).

    When this finds the upload newly finished, ``usage_batch_rated`` and ``usage_unrated`` (its
    unrated records) are sent in the same transaction.
    """
    summary = batch.batch_summary(upload.batch_key)
    if summary is None:
        return upload
    was_finished = upload.rows > 0 and upload.pending == 0
    upload.rows, upload.rated, upload.unrated = summary.total, summary.rated, summary.unrated
    Upload.objects.filter(pk=upload.pk).update(
        rows=upload.rows, rated=upload.rated, unrated=upload.unrated
    )
    if upload.pending == 0 and not was_finished:
        usage_batch_rated.send(sender=Upload, upload=upload)
        if upload.unrated:
            records = batch.batch_records(upload.batch_key).filter(status=UsageStatus.UNRATED)
            usage_unrated.send(sender=UsageRecord, records=records)
    return upload


def uploads_refresh_unfinished(*, limit: int = 50) -> int:
    """Refresh the counts of the latest uploads not yet fully rated (after a backlog run)."""
    from django.db.models import F

    unfinished = Upload.objects.filter(rated__lt=F("rows") - F("unrated")).order_by("-uploaded_at")
    count = 0
    for upload in unfinished[:limit]:
        upload_refresh_counts(upload=upload)
        count += 1
    return count
