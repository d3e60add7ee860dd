"""Price lists and their items (prices and price models)."""

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from groups.models import TimeStampedModel, Versioned
from groups.validation import (
    DESCRIPTION_MAX_LENGTH,
    validate_description_length,
    validate_visible_text,
)
from pricing import engine
from pricing.models.common import ITEM_CODE_VALIDATOR, MAX_DECIMAL_VALIDATOR, validate_currency


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
