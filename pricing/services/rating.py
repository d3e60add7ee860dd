"""Rating that stores: records rated as they are stored, and the pending ones rated in chunks."""

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from groups.models import Customer
from pricing import batch, engine
from pricing.clock import billing_tz
from pricing.models import (
    UsageRecord,
    UsageStatus,
    keep_terms,
    terms_of,
)
from pricing.selectors import engine_rules
from pricing.signals import usage_unrated

AMOUNT_TOO_LARGE = (
    "The amount (unit price times quantity) is more than Ratecard stores "
    f"({engine.MAX_AMOUNT:,.2f}); split the record."
)

User = AbstractBaseUser

# --- Rating that stores -----------------------------------------------------------------------
# The batch machinery lives in pricing/batch.py; these are the services every surface calls.


@dataclass
class RatingContext:
    """Rules and memberships loaded once for a set of records, rated in memory (batch index)."""

    index: engine.RatingIndex
    members: batch.MembershipCache

    @classmethod
    def load(
        cls,
        *,
        categories: Iterable[str],
        customer_ids: Iterable,
        item_codes: Iterable[str] | None = None,
    ) -> "RatingContext":
        """Two queries for rules and prices, one per 5,000 customers for memberships."""
        rules = engine_rules(categories=set(categories), item_codes=item_codes)
        index = engine.RatingIndex(batch.keyed_rules(rules), tz=billing_tz())
        # Only these customers' memberships: a request never loads everybody's.
        members = batch.MembershipCache(index.group_keys, preload=False)
        members.ensure(batch.db_key(pk) for pk in set(customer_ids))
        return cls(index=index, members=members)

    def rate(self, record: UsageRecord, *, customer_name: str = "") -> engine.Result:
        """The engine's answer for one record (through the index, no trace)."""
        key = batch.db_key(record.customer_id)
        usage = engine.Usage(
            customer_id=key,
            billing_category=record.billing_category,
            item_code=record.item_code,
            quantity=record.quantity,
            occurred_at=record.occurred_at,
            customer_name=customer_name,
        )
        return self.index.rate(usage, self.members.periods.get(key, ()))


def apply_result(record: UsageRecord, result: engine.Result, *, at: datetime) -> None:
    """Embed the engine's answer in the record (codes and prices copied, not referenced)."""
    record.rated_at = at
    if result.rated and result.rule is not None:
        record.status = UsageStatus.RATED
        record.rule_id = _uuid(result.rule.id)
        record.rule_code = result.rule.code
        record.price_list_id = _uuid(result.rule.price_list_id)
        record.price_list_code = result.rule.price_list_code
        record.unit_price = result.unit_price
        record.amount = result.amount
        charge = result.charge
        price = result.rule.prices[record.item_code]
        detailed = charge is not None and not price.simple
        record.billed_quantity = charge.billed_quantity if detailed else None
        # The breakdown is the engine's charge of these terms, worked out when shown.
        record.price_terms = terms_of(price) if detailed else None
        record.price_breakdown = None
        record.currency = result.currency or ""
        record.unrated_reason = ""
    else:
        record.status = UsageStatus.UNRATED
        record.rule_id = None
        record.rule_code = ""
        record.price_list_id = None
        record.price_list_code = ""
        record.unit_price = None
        record.amount = None
        record.billed_quantity = None
        record.price_terms = None
        record.price_breakdown = None
        record.currency = ""
        record.unrated_reason = result.reason


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


@transaction.atomic
def usage_records_create(
    *, records: Sequence[Mapping], by: User | None = None
) -> list[UsageRecord]:
    """Store usage records and rate them at once, all or nothing.

    Each mapping holds ``customer`` (a Customer), ``billing_category``, ``item_code``,
    ``quantity`` and ``occurred_at``. Rated in memory by the batch index (the engine's answer),
    then inserted set-based (:func:`pricing.batch.insert_records`: ``COPY`` on PostgreSQL).
    Customer names make unrated reasons read
    well. A record whose amount the engine cannot store (``Result.too_large``) stores nothing
    and raises :class:`AmountTooLarge`, which the API answers with a 400.
    """
    now = timezone.now()
    objects = [
        UsageRecord(
            customer=data["customer"],
            billing_category=data["billing_category"],
            item_code=data["item_code"],
            quantity=data["quantity"],
            occurred_at=data["occurred_at"],
            created_by=by,
        )
        for data in records
    ]
    if not objects:
        return []
    context = RatingContext.load(
        categories={r.billing_category for r in objects},
        customer_ids={r.customer_id for r in objects},
        item_codes={r.item_code for r in objects},
    )
    too_large = []
    for index, record in enumerate(objects):
        result = context.rate(record, customer_name=record.customer.name)
        if result.too_large:
            too_large.append(index)
        apply_result(record, result, at=now)
    if too_large:
        raise AmountTooLarge(too_large)
    keep_terms(r.price_terms for r in objects if r.price_terms_id is not None)
    batch.insert_records(objects)
    for record in objects:
        record._state.adding, record._state.db = False, "default"  # as bulk_create leaves them
    unrated = [record for record in objects if record.status == UsageStatus.UNRATED]
    if unrated:
        usage_unrated.send(sender=UsageRecord, records=unrated)
    return objects


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
