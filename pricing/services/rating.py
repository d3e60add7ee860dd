"""Rating that stores: records rated as they are stored, and the pending ones rated in chunks."""

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from groups.models import Customer
from pricing import batch, engine
from pricing.models import (
    UsageRecord,
    UsageStatus,
    keep_terms,
    terms_of,
    uuid7,
)
from pricing.selectors import RateRequest, rate_quickly
from pricing.signals import usage_unrated

_CUSTOMER = UsageRecord._meta.get_field("customer")
_TERMS = UsageRecord._meta.get_field("price_terms")

AMOUNT_TOO_LARGE = (
    "The amount (unit price times quantity) is more than Ratecard stores "
    f"({engine.MAX_AMOUNT:,.2f}); split the record."
)

User = AbstractBaseUser

# --- Rating that stores -----------------------------------------------------------------------
# The batch machinery lives in pricing/batch.py; these are the services every surface calls.


def _rated_values(result: engine.Result, item_code: str, at: datetime) -> tuple:
    """The engine's answer as the record stores it, in the columns' order: status, rule, codes,
    unit price, billed quantity, price terms, breakdown, amount, currency, rated at, reason.

    A record priced by anything but a plain per-unit price keeps its billed quantity and its
    price's terms (its breakdown is the engine's charge of those, worked out when shown).
    """
    rule = result.rule
    if result.rated and rule is not None:
        price = rule.prices[item_code]
        detailed = not price.simple
        return (
            UsageStatus.RATED,
            _uuid(rule.id),
            rule.code,
            _uuid(rule.price_list_id),
            rule.price_list_code,
            result.unit_price,
            result.billed_quantity if detailed else None,
            terms_of(price) if detailed else None,
            None,
            result.amount,
            result.currency or "",
            at,
            "",
        )
    unrated = (UsageStatus.UNRATED, None, "", None, "", None, None, None, None, None, "", at)
    return (*unrated, result.reason)


def _uuid(value) -> uuid.UUID | None:
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))


RATED_FIELDS = [
    "status",
    "rule",
    "rule_code",
    "price_list",
    "price_list_code",
    "unit_price",
    "amount",
    "billed_quantity",
    "price_terms",
    "price_breakdown",
    "currency",
    "rated_at",
    "unrated_reason",
]


class AmountTooLarge(Exception):
    """Records whose amount would exceed ``engine.MAX_AMOUNT`` (args: their indexes)."""


class StoredRecords(Sequence[UsageRecord]):
    """Records :func:`usage_records_create` stored, as the rows it wrote.

    Model instances are made when the records are read one by one (a whole answer, the
    ``usage_unrated`` signal); counts and ids are read from the rows (``Prefer:
    return=minimal``), because making 10,000 instances cost as much as rating them.
    """

    def __init__(self, rows: list[tuple], customers: list[Customer], terms: list) -> None:
        self.rows, self._customers, self._terms = rows, customers, terms
        self._records: list[UsageRecord] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        if self._records is None:
            self._records = [self._record(n) for n in range(len(self.rows))]
        return self._records[index]

    @property
    def ids(self) -> list[uuid.UUID]:
        return [row[0] for row in self.rows]

    @property
    def rated(self) -> int:
        return sum(1 for row in self.rows if row[_STATUS] == UsageStatus.RATED)

    def unrated(self) -> list[UsageRecord]:
        return [self[n] for n, row in enumerate(self.rows) if row[_STATUS] == UsageStatus.UNRATED]

    def _record(self, n: int) -> UsageRecord:
        # Django's positional form, as rows are read: a model built by keyword costs several
        # times more.
        values = dict(zip(batch.RECORD_COLUMNS, self.rows[n], strict=True))
        record = UsageRecord(*(values.get(name) for name in _ATTNAMES))
        record._state.adding, record._state.db = False, "default"  # as bulk_create leaves them
        _CUSTOMER.set_cached_value(record, self._customers[n])
        if self._terms[n] is not None:
            _TERMS.set_cached_value(record, self._terms[n])
        return record


_ATTNAMES = [field.attname for field in UsageRecord._meta.concrete_fields]
_STATUS = batch.RECORD_COLUMNS.index("status")


@transaction.atomic
def usage_records_create(*, records: Sequence[Mapping], by: User | None = None) -> StoredRecords:
    """Store usage records and rate them at once, all or nothing.

    Each mapping holds ``customer`` (a Customer), ``billing_category``, ``item_code``,
    ``quantity`` and ``occurred_at``. Rated in memory through the cached book's index (the
    engine's answer, :func:`pricing.selectors.rate_quickly`: two queries), then inserted
    set-based (:func:`pricing.batch.insert_rows`: ``COPY`` on PostgreSQL). Customer names make
    unrated reasons read well. A record whose amount the engine cannot store
    (``Result.too_large``) stores nothing and raises :class:`AmountTooLarge`, which the API
    answers with a 400.
    """
    if not records:
        return StoredRecords([], [], [])
    now = timezone.now()
    requests = [
        RateRequest(
            customer=data["customer"],
            billing_category=data["billing_category"],
            item_code=data["item_code"],
            quantity=data["quantity"],
            occurred_at=data["occurred_at"],
        )
        for data in records
    ]
    rated = list(rate_quickly(requests, steps=False))
    too_large = [n for n, (_, _, result, _) in enumerate(rated) if result.too_large]
    if too_large:
        raise AmountTooLarge(too_large)
    by_id = by.pk if by is not None else None
    rows, terms_used = [], []
    for request, usage, result, _ in rated:
        status, *rated_values, rated_at, reason = _rated_values(result, usage.item_code, now)
        terms = rated_values[6]
        terms_used.append(terms)
        rated_values[6] = terms.key if terms is not None else None
        del rated_values[7]  # the breakdown: not written (worked out from the terms)
        rows.append(
            (
                uuid7(),
                request.customer.pk,
                usage.billing_category,
                usage.item_code,
                usage.quantity,
                usage.occurred_at,
                status,
                *rated_values,
                rated_at,
                reason,
                now,
                by_id,
            )
        )
    keep_terms(t for t in terms_used if t is not None)
    batch.insert_rows(rows)
    stored = StoredRecords(rows, [request.customer for request in requests], terms_used)
    unrated = stored.unrated()
    if unrated:
        usage_unrated.send(sender=UsageRecord, records=unrated)
    return stored


def usage_rate_pending(
    *,
    chunk_size: int = batch.DEFAULT_CHUNK_SIZE,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    batch_key: str | None = None,
    time_budget: float | None = None,
    backlog: int | None = None,
    queue_range: tuple[int, int] | None = None,
) -> int:
    """Rate pending records in chunks until none are left (or ``limit`` / ``time_budget``).

    Each chunk is found, rated and written in its own transaction (from the queue with ``SELECT
    ... FOR UPDATE SKIP LOCKED``, or, for a large backlog on PostgreSQL, by sweeping the table:
    see ``pricing.batch``); only rows still pending are ever written, so two runners at once
    never rate the same record twice, and an interrupted run resumes where it stopped.
    ``batch_key`` limits the run to one upload; ``backlog`` is the caller's fresh
    ``pending_count`` of it, if it took one. ``queue_range`` (inclusive queue entry ids, see
    ``batch.queue_bounds``) limits the run to part of the backlog, so several background tasks
    can share one. Returns the number of records rated (rated or unrated).
    """
    scope = batch.Scope(
        batch.batch_id_range(batch_key) if batch_key else None, queue_range=queue_range
    )
    report = batch.rate_pending(
        chunk_size=chunk_size,
        limit=limit,
        progress=progress,
        workers=workers,
        scope=scope,
        time_budget=time_budget,
        backlog=backlog,
    )
    return report.rated


def resolve_customers(
    *, ids: Iterable = (), external_ids: Iterable[str] = ()
) -> tuple[dict, dict[str, Customer]]:
    """Look customers up by id and external ID in two queries: ``(by_id, by_external_id)``."""
    id_list, ext_list = list(set(ids)), list(set(external_ids))
    by_id = {c.pk: c for c in Customer.objects.filter(pk__in=id_list)} if id_list else {}
    by_ext = (
        {c.external_id: c for c in Customer.objects.filter(external_id__in=ext_list)}
        if ext_list
        else {}
    )
    return by_id, by_ext
