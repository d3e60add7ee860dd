"""Usage records, the queue of pending ones, uploads."""

import os
import time
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from groups.models import Customer
from groups.validation import (
    validate_supported_instant,
)
from pricing import engine
from pricing.fields import ExactDecimalField
from pricing.models.common import CATEGORY_VALIDATOR, MAX_DECIMAL_VALIDATOR
from pricing.models.price_lists import PriceList
from pricing.models.rules import PricingRule


class UsageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RATED = "rated", "Rated"
    UNRATED = "unrated", "Unrated"


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then random bits.

    Usage records arrive in time order by the million; with these ids each new record lands at
    the right edge of the primary-key index instead of a random page of it, and records inserted
    together sit together in the index as they do in the table.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (rand >> 68) << 64
        | 0b10 << 62
        | rand & (2**62 - 1)
    )
    return uuid.UUID(int=value)


class PriceTerms(models.Model):
    """The terms a price model charged a record with, kept once and never changed.

    A record priced by anything but a plain per-unit price refers to the terms it was priced
    with (:func:`pricing.engine.terms`); its breakdown is the engine's charge of those terms and
    its quantity, worked out when shown (:meth:`UsageRecord.breakdown`), so rating writes a
    reference per record instead of a document. The key is a digest of the terms
    (:func:`pricing.engine.terms_key`): the same terms are one row however many records and
    workers store them, and rows are only ever added (:func:`keep_terms`).
    """

    key = models.UUIDField(primary_key=True, editable=False)
    terms = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "price terms"

    def __str__(self) -> str:
        return f"{self.terms.get('mode', '')} terms {self.key}"

    def price(self) -> engine.ItemPrice:
        return engine.from_terms(self.terms)


_TERMS: dict[engine.ItemPrice, PriceTerms] = {}  # terms of prices seen (a pure function)


def terms_of(price: engine.ItemPrice) -> PriceTerms:
    """A price's terms, keyed, as a record refers to them (remembered: prices repeat, digests
    cost); stored by :func:`keep_terms`. Shared between records: never change one."""
    found = _TERMS.get(price)
    if found is None:
        if len(_TERMS) >= 10_000:
            _TERMS.clear()
        terms = engine.terms(price)
        found = _TERMS[price] = PriceTerms(key=engine.terms_key(terms), terms=terms)
    return found


def keep_terms(kept) -> None:
    """Store these terms (:func:`terms_of`) unless stored already: one statement, in key order.

    Called in the transaction that stores records referring to them. Concurrent writers of the
    same new terms wait for each other on the key and then skip it (``ON CONFLICT DO
    NOTHING``); sorting by key keeps two such writers from waiting on each other in a circle.
    """
    rows = {t.key: t.terms for t in kept}
    if rows:
        PriceTerms.objects.bulk_create(
            [PriceTerms(key=k, terms=rows[k]) for k in sorted(rows)], ignore_conflicts=True
        )


class UsageRecord(models.Model):
    """A usage record and, once rated, the price embedded in it.

    The table is shaped for rating millions of records: rating rewrites none of its indexed
    columns (``status`` is not indexed, pending records are listed in :class:`PendingUsage`),
    and on PostgreSQL its pages keep room for the rated version of each row (fillfactor, see
    migration 0003), so PostgreSQL updates rows in place (HOT) without touching any index.
    ``rule`` and ``price_list`` are references without a database constraint or index: the
    codes copied beside them are the record's truth, and deleting a rule still clears them
    (Django's ``SET_NULL``, a scan of this table, rare by nature).
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="usage_records",
        db_index=False,  # pricing_usage_cust_idx (customer, occurred_at) serves customer lookups
    )
    billing_category = models.CharField(max_length=64, validators=[CATEGORY_VALIDATOR])
    item_code = models.CharField(max_length=64)
    quantity = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001")), MAX_DECIMAL_VALIDATOR],
    )
    occurred_at = models.DateTimeField(validators=[validate_supported_instant])
    status = models.CharField(
        max_length=10, choices=UsageStatus.choices, default=UsageStatus.PENDING
    )
    rule = models.ForeignKey(
        PricingRule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    rule_code = models.CharField(max_length=100, blank=True)
    price_list = models.ForeignKey(
        PriceList,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    price_list_code = models.CharField(max_length=100, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    # Set when the price is not a plain per-unit price: the quantity billed (after increments)
    # and the terms it was priced with, whose charge of the quantity is the record's breakdown
    # (tiers used, blocks, minimum applied). No database constraint (the usage table may be
    # partitioned, and terms are never deleted); see PriceTerms.
    billed_quantity = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    price_terms = models.ForeignKey(
        PriceTerms,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The breakdown as records rated before price terms were kept stored it (kept, never
    # written now).
    price_breakdown = models.JSONField(null=True, blank=True)
    amount = ExactDecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    unrated_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-occurred_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0),
                name="pricing_usagerecord_quantity_positive",
                violation_error_message="Quantity must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=~Q(status="rated")
                | (Q(amount__isnull=False) & Q(unit_price__isnull=False)),
                name="pricing_usagerecord_rated_has_price",
                violation_error_message="A rated record carries its unit price and amount.",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="pricing_usage_cust_idx"),
            models.Index(fields=["occurred_at"], name="pricing_usage_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.item_code} ({self.billing_category}) for {self.customer_id}"

    def charge(self) -> engine.Charge | None:
        """How the stored amount was worked out, step by step (None unless rated): the
        engine's charge of the record's quantity at the terms it was priced with, or at its
        stored unit price when that price was a plain per-unit one. Reads ``price_terms``
        (select it with the record when showing many)."""
        if self.status != UsageStatus.RATED:
            return None
        if self.price_terms_id is not None:
            return engine.charge(self.price_terms.price(), self.quantity)
        return engine.charge(engine.ItemPrice(unit_price=self.unit_price), self.quantity)

    def breakdown(self) -> dict | None:
        """The arithmetic as the API shows it (:meth:`pricing.engine.Charge.breakdown`)."""
        if self.status == UsageStatus.RATED and self.price_breakdown is not None:
            return self.price_breakdown  # rated before price terms were kept
        found = self.charge()
        return None if found is None else found.breakdown()


class PendingUsage(models.Model):
    """The queue of usage records waiting to be rated, in arrival order.

    Kept by the database itself (migration 0003): a trigger adds a row for every record
    inserted as pending, or set back to pending. Batch rating claims rows in ``id`` order, rates
    their records and deletes the rows in the same transaction. A row whose record is no longer
    pending is stale; rating drops it. A narrow table of its own lets rating find pending records
    without an index on ``UsageRecord.status``, which would make every rating update rewrite
    every index of the usage table.
    """

    id = models.BigAutoField(primary_key=True)
    # No database constraint: a partitioned usage table (PostgreSQL, see pricing.partitions)
    # cannot be referenced by ``id`` alone. Rating drops entries whose record is gone.
    record = models.OneToOneField(
        UsageRecord, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )

    class Meta:
        verbose_name_plural = "pending usage"

    def __str__(self) -> str:
        return f"pending {self.record_id}"


class Upload(models.Model):
    """One CSV file of usage records stored by a manager: what it was, who sent it, how it rated.

    Its records keep the batch-key id scheme (``pricing.batch``: the ids of an upload's records
    share the 64-bit prefix ``batch_key``, and the low bits are the file's line numbers), so
    "the records of an upload" stays a primary-key range. The counts are refreshed when its
    rating work finishes (and by any rating of the backlog that reached its records).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch_key = models.CharField(max_length=16, unique=True)
    file_name = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the file's bytes")
    repeat_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rows = models.PositiveIntegerField(default=0)
    rated = models.PositiveIntegerField(default=0)
    unrated = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now, db_index=True)
    work = models.ForeignKey(
        "background.Work", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        indexes = [models.Index(fields=["checksum"], name="pricing_upload_checksum_idx")]
        constraints = [
            # A file's first upload is the original; storing it again needs the manager's
            # confirmation, recorded as ``repeat_of`` (two requests at once cannot both be first).
            models.UniqueConstraint(
                fields=["checksum"],
                condition=Q(repeat_of__isnull=True),
                name="pricing_upload_checksum_once_unless_repeat",
                violation_error_message="This file was already uploaded.",
            ),
            models.CheckConstraint(
                condition=Q(rated__gte=0) & Q(unrated__gte=0),
                name="pricing_upload_counts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.file_name

    @property
    def pending(self) -> int:
        return max(0, self.rows - self.rated - self.unrated)

    @property
    def finished(self) -> bool:
        return self.pending == 0

    @property
    def percent(self) -> int:
        return 100 if not self.rows else int(100 * (self.rows - self.pending) / self.rows)
