"""Pricing rules."""

import uuid
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from groups.models import Customer, CustomerGroup, TimeStampedModel, Versioned
from groups.validation import (
    DESCRIPTION_MAX_LENGTH,
    validate_description_length,
    validate_supported_day,
    validate_visible_text,
)
from pricing import engine, rules_sql
from pricing.clock import billing_today
from pricing.models.common import CATEGORY_VALIDATOR
from pricing.models.price_lists import PriceList


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
