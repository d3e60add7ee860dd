"""Price lists, pricing rules and usage records with the price they were rated at.

Rules point at groups and customers (``groups`` app) with ``PROTECT``: nothing that a rule uses
can disappear underneath it. A rated usage record copies the codes, unit price and currency of
what priced it, so later changes to rules, lists or memberships never change a stored price.
"""

import os
import time
import uuid
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

from groups.models import Customer, CustomerGroup, TimeStampedModel, Versioned
from groups.validation import (
    DESCRIPTION_MAX_LENGTH,
    validate_description_length,
    validate_supported_day,
    validate_supported_instant,
    validate_visible_text,
)
from pricing import engine, rules_sql
from pricing.clock import billing_today
from pricing.currencies import ISO_4217_CODES
from pricing.fields import ExactDecimalField

CATEGORY_VALIDATOR = RegexValidator(
    r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$",
    "Use a lower-case slug such as retail or wholesale-eu (letters, digits, - and _).",
)
# Prices and quantities stay below a billion: 9 integer digits plus 6 decimals fit every backend
# exactly (SQLite reads larger decimals back through floats and loses them).
MAX_DECIMAL = Decimal("999999999.999999")
MAX_DECIMAL_VALIDATOR = MaxValueValidator(MAX_DECIMAL, "Must be less than 1,000,000,000.")

ITEM_CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
    "Item codes are letters, digits and . _ : / - (no spaces), e.g. minute or SMS.",
)


def validate_currency(value: str) -> None:
    if value not in ISO_4217_CODES:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (e.g. EUR, USD, CZK).",
            params={"value": value},
            code="invalid_currency",
        )


class PriceListQuerySet(models.QuerySet):
    def search(self, term: str) -> "PriceListQuerySet":
        term = (term or "").strip()
        if not term:
            return self
        return self.filter(Q(name__icontains=term) | Q(code__icontains=term))


class PriceList(Versioned, TimeStampedModel):
    """A named set of prices in one currency, possibly derived from another list.

    A derived list (``base_price_list`` set) prices every item of its base chain at
    ``base x factor + surcharge``, rounded to ``rounding`` decimal places; its own items
    override the base's items of the same code (:func:`pricing.engine.derive`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, validators=[validate_visible_text])
    code = models.SlugField(max_length=100)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[validate_description_length]
    )
    base_price_list = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="derived_lists",
        verbose_name="based on",
        help_text="Items this list does not price itself are derived from this list.",
    )
    factor = models.DecimalField(
        max_digits=10,
        decimal_places=6,
        default=Decimal(1),
        validators=[MinValueValidator(0)],
        help_text="Base price x factor: 0.80 is 20% off.",
    )
    surcharge = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        default=Decimal(0),
        validators=[MinValueValidator(0), MAX_DECIMAL_VALIDATOR],
        help_text="Added to every derived price per unit.",
    )
    rounding = models.PositiveSmallIntegerField(
        default=2,
        validators=[MaxValueValidator(6)],
        help_text="Derived prices are rounded half-up to this many decimal places.",
    )

    objects = PriceListQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("code"),
                name="pricing_pricelist_code_ci_unique",
                violation_error_message="A price list with this code already exists.",
            ),
            models.CheckConstraint(
                condition=Q(factor__gte=0),
                name="pricing_pricelist_factor_non_negative",
                violation_error_message="The factor cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(surcharge__gte=0),
                name="pricing_pricelist_surcharge_non_negative",
                violation_error_message="The surcharge cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(rounding__lte=6),
                name="pricing_pricelist_rounding_at_most_6",
                violation_error_message="Round to at most 6 decimal places.",
            ),
            models.CheckConstraint(
                condition=~Q(base_price_list=F("id")),
                name="pricing_pricelist_not_based_on_itself",
                violation_error_message="A price list cannot be based on itself.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class PricingMode(models.TextChoices):
    PER_UNIT = engine.Mode.PER_UNIT.value, "Per unit"
    GRADUATED = engine.Mode.GRADUATED.value, "Graduated tiers"
    VOLUME = engine.Mode.VOLUME.value, "Volume tiers"
    PACKAGE = engine.Mode.PACKAGE.value, "Package (per block)"


def _decimal_or_none(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


class PriceListItem(Versioned):
    """The price of one item (minute, GB, unit ...) on one price list.

    ``unit_price`` is the price per unit (``per_unit``), per block of ``package_size`` units
    (``package``), or the first tier's price (``graduated`` / ``volume``, whose ``tiers`` are
    ``[{"up_to": "100", "unit_price": "2.00"}, ..., {"up_to": null, ...}]``, decimals kept as
    text). Increments and the minimum charge apply to any mode. What they mean is the engine's
    (:mod:`pricing.engine.prices`); :meth:`engine_price` hands them over.
    """

    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="items")
    item_code = models.CharField(max_length=64, validators=[ITEM_CODE_VALIDATOR])
    unit = models.CharField(
        max_length=32,
        help_text="e.g. minute, GB, message, unit",
        validators=[validate_visible_text],
    )
    unit_price = models.DecimalField(
        max_digits=18, decimal_places=6, validators=[MinValueValidator(0), MAX_DECIMAL_VALIDATOR]
    )
    pricing_mode = models.CharField(
        max_length=16, choices=PricingMode.choices, default=PricingMode.PER_UNIT
    )
    tiers = models.JSONField(default=list, blank=True)
    package_size = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.000001")), MAX_DECIMAL_VALIDATOR],
        help_text="Units per block (package pricing), e.g. 1000 SMS.",
    )
    first_increment = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.000001")), MAX_DECIMAL_VALIDATOR],
        help_text="The least quantity billed, e.g. 60 (seconds) in 60/60.",
    )
    next_increment = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.000001")), MAX_DECIMAL_VALIDATOR],
        help_text="Beyond the first increment, quantities round up to whole blocks of this.",
    )
    minimum_charge = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MAX_DECIMAL_VALIDATOR],
        help_text="A record costs at least this much.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["item_code"]
        constraints = [
            # Item codes differing only in case ("SMS", "sms") would be two prices for what a
            # person reads as one item: refused, whatever the case.
            models.UniqueConstraint(
                F("price_list"),
                Lower("item_code"),
                name="pricing_pricelistitem_unique_item_ci",
                violation_error_message="This price list already prices that item.",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0),
                name="pricing_pricelistitem_unit_price_non_negative",
                violation_error_message="A unit price cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_code}: {self.unit_price} per {self.unit}"

    def engine_tiers(self) -> tuple[engine.Tier, ...]:
        return tuple(
            engine.Tier(_decimal_or_none(tier.get("up_to")), Decimal(str(tier.get("unit_price"))))
            for tier in self.tiers or ()
        )

    def engine_price(self) -> engine.ItemPrice:
        """This item's price as the engine charges it."""
        return item_price(
            mode=self.pricing_mode,
            unit_price=self.unit_price,
            tiers=self.tiers,
            package_size=self.package_size,
            first_increment=self.first_increment,
            next_increment=self.next_increment,
            minimum_charge=self.minimum_charge,
        )

    def clean(self) -> None:
        """The engine's own checks of the price (tiers, package size, increments), by field."""
        if self.tiers is None:  # a form's empty JSON field
            self.tiers = []
        if self.pricing_mode in (PricingMode.GRADUATED, PricingMode.VOLUME) and self.tiers:
            try:
                self.engine_tiers()
            except (ArithmeticError, TypeError, ValueError, AttributeError):
                raise ValidationError({"tiers": [TIERS_NOT_READABLE]}) from None
            first = self.tiers[0].get("unit_price")
            if first not in (None, "") and self.unit_price in (None, ""):
                self.unit_price = Decimal(str(first))
        if self.unit_price is None:
            return  # the field's own "required" message says it
        try:
            price = self.engine_price()
        except (ArithmeticError, TypeError, ValueError, AttributeError):
            raise ValidationError({"tiers": [TIERS_NOT_READABLE]}) from None
        errors = engine.price_errors(price)
        if errors:
            raise ValidationError(errors)


TIERS_NOT_READABLE = (
    'Tiers are a list of {"up_to": number or null, "unit_price": number}, lowest first.'
)


def item_price(
    *,
    mode: str,
    unit_price: Decimal,
    tiers=(),
    package_size=None,
    first_increment=None,
    next_increment=None,
    minimum_charge=None,
) -> engine.ItemPrice:
    """An item's stored columns as the engine's price (one place turns rows into prices)."""
    parsed = tuple(
        engine.Tier(_decimal_or_none(t.get("up_to")), Decimal(str(t.get("unit_price"))))
        for t in tiers or ()
    )
    return engine.ItemPrice(
        unit_price=unit_price,
        mode=engine.Mode(mode),
        tiers=parsed,
        package_size=package_size,
        first_increment=first_increment,
        next_increment=next_increment,
        minimum_charge=minimum_charge,
    )


class RuleStatus(models.TextChoices):
    """A rule's status on a day, as :func:`pricing.engine.status_on` decides it."""

    ACTIVE = engine.Status.ACTIVE.value, "Active"
    SCHEDULED = engine.Status.SCHEDULED.value, "Scheduled"
    EXPIRED = engine.Status.EXPIRED.value, "Expired"
    DISABLED = engine.Status.DISABLED.value, "Disabled"


class TargetKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    GROUP = "group", "Group"
    EVERYONE = "everyone", "Everyone"


class PricingRuleQuerySet(models.QuerySet):
    """Rule filters and ordering: the engine's rules in ORM form (:mod:`pricing.rules_sql`)."""

    def with_targets(self) -> "PricingRuleQuerySet":
        return self.select_related("price_list", "group", "customer")

    def active_on(self, day: date) -> "PricingRuleQuerySet":
        """Rules in force on ``day``."""
        return self.filter(rules_sql.in_force_q(day))

    def with_status(self, status: str, today: date) -> "PricingRuleQuerySet":
        """Rules whose status on ``today`` is ``status`` (unknown statuses filter nothing)."""
        if status not in RuleStatus.values:
            return self
        return self.filter(rules_sql.status_q(status, today))

    def in_evaluation_order(self) -> "PricingRuleQuerySet":
        """The engine's evaluation order (:func:`pricing.engine.precedence_key`)."""
        return self.order_by(*rules_sql.precedence_order())


class PricingRule(Versioned, TimeStampedModel):
    """Which price list prices a billing category, for whom, when, and how strongly."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, validators=[validate_visible_text])
    code = models.CharField(
        max_length=100,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                "Codes are letters, digits, . _ and - (no spaces), e.g. VIP-RETAIL-2026.",
            )
        ],
    )
    billing_category = models.CharField(max_length=64, validators=[CATEGORY_VALIDATOR])
    price_list = models.ForeignKey(PriceList, on_delete=models.PROTECT, related_name="rules")
    group = models.ForeignKey(
        CustomerGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pricing_rules",
    )
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pricing_rules",
    )
    priority = models.PositiveIntegerField(default=0, help_text="Higher number wins.")
    valid_from = models.DateField(default=billing_today, validators=[validate_supported_day])
    valid_to = models.DateField(
        null=True,
        blank=True,
        help_text="Inclusive; empty = open-ended.",
        validators=[validate_supported_day],
    )
    is_active = models.BooleanField("active", default=True)
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[validate_description_length]
    )

    objects = PricingRuleQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-priority", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(group__isnull=True) | Q(customer__isnull=True),
                name="pricing_rule_targets_group_or_customer",
                violation_error_message="A rule targets a group or one customer, not both.",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
                name="pricing_rule_valid_to_after_valid_from",
                violation_error_message="Valid to must be on or after valid from.",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=0),
                name="pricing_rule_priority_non_negative",
                violation_error_message="Priority cannot be negative.",
            ),
            models.UniqueConstraint(
                Lower("code"),
                name="pricing_rule_code_ci_unique",
                violation_error_message="A rule with this code already exists.",
            ),
        ]
        indexes = [
            models.Index(fields=["billing_category", "is_active"], name="pricing_rule_cat_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"

    def clean(self) -> None:
        """Field-level messages mirroring the check constraints, for forms and the API."""
        errors: dict[str, str] = {}
        if self.group_id and self.customer_id:
            errors["customer"] = "A rule targets a group or one customer, not both."
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            errors["valid_to"] = "Valid to must be on or after valid from."
        if self.billing_category:
            self.billing_category = self.billing_category.strip()
        if errors:
            raise ValidationError(errors)

    @property
    def target_kind(self) -> str:
        if self.customer_id:
            return TargetKind.CUSTOMER
        if self.group_id:
            return TargetKind.GROUP
        return TargetKind.EVERYONE

    @property
    def target_label(self) -> str:
        if self.customer_id:
            return f"customer {self.customer}"
        if self.group_id:
            return f"group {self.group}"
        return "everyone"

    def status_on(self, day: date) -> str:
        return RuleStatus(engine.status_on(self.is_active, self.valid_from, self.valid_to, day))

    @property
    def status(self) -> str:
        """The status on today in the billing time zone (:func:`pricing.clock.billing_today`)."""
        return self.status_on(billing_today())


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
    # and the arithmetic (tiers used, blocks, minimum applied), as the engine worked it out.
    billed_quantity = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
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


# The answers kept for requests sent with an Idempotency-Key (pricing.idempotency).
from pricing.idempotency.models import IdempotentRequest  # noqa: E402, F401
