"""Writes to pricing rules."""

import copy

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from groups import versions
from pricing.models import (
    PricingRule,
)
from pricing.signals import rule_changed

RULE_CODE_TAKEN = "The code “{code}” is already used by the rule “{existing}”."
RULE_PRIORITY_NEGATIVE = "Priority cannot be negative."

User = AbstractBaseUser

# --- Rules ------------------------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "code",
    "billing_category",
    "price_list",
    "group",
    "customer",
    "priority",
    "valid_from",
    "valid_to",
    "is_active",
    "description",
)


def _check_rule(rule: PricingRule) -> None:
    """Every check a rule must pass before it is saved, all errors at once, by field.

    Codes are unique whatever their case; priority mirrors its check constraint with a plain
    message instead of the validator's "greater than or equal to 0".
    """
    rule.code = (rule.code or "").strip()
    rule.name = (rule.name or "").strip()
    rule.billing_category = (rule.billing_category or "").strip()
    errors: dict[str, list[ValidationError]] = {}
    if rule.code:
        existing = PricingRule.objects.filter(code__iexact=rule.code).exclude(pk=rule.pk).first()
        if existing is not None:
            message = RULE_CODE_TAKEN.format(code=rule.code, existing=existing.name)
            errors["code"] = [ValidationError(message, code="code_taken")]
    if rule.priority is not None and rule.priority < 0:
        errors["priority"] = [ValidationError(RULE_PRIORITY_NEGATIVE, code="min_value")]
    try:
        rule.full_clean(exclude=list(errors), validate_constraints=False)
    except ValidationError as exc:
        for field, field_errors in exc.error_dict.items():
            errors.setdefault(field, []).extend(field_errors)
    if errors:
        raise ValidationError(errors)


def _save_rule(rule: PricingRule, by: User | None) -> PricingRule:
    _check_rule(rule)
    rule._history_user = by
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"code": [RULE_CODE_TAKEN.format(code=rule.code, existing="another rule")]}
        ) from exc
    return rule


@transaction.atomic
def rule_create(*, by: User | None = None, **fields) -> PricingRule:
    unknown = set(fields).difference(RULE_FIELDS)
    if unknown:
        raise TypeError(f"rule_create() got unexpected fields: {sorted(unknown)}")
    rule = _save_rule(PricingRule(**fields), by)
    rule_changed.send(sender=PricingRule, rule=rule, action="created")
    return rule


@transaction.atomic
def rule_update(
    *,
    rule: PricingRule,
    by: User | None = None,
    expected_version: versions.Expected = None,
    **fields,
) -> PricingRule:
    """Change a rule; refused (:class:`groups.versions.StaleEdit`) when it changed since the
    editor loaded ``expected_version``."""
    unknown = set(fields).difference(RULE_FIELDS)
    if unknown:
        raise TypeError(f"rule_update() got unexpected fields: {sorted(unknown)}")
    versions.check(rule, expected_version)
    for name, value in fields.items():
        setattr(rule, name, value)
    _save_rule(rule, by)
    rule_changed.send(sender=PricingRule, rule=rule, action="updated")
    return rule


@transaction.atomic
def rule_delete(
    *, rule: PricingRule, by: User | None = None, expected_version: versions.Expected = None
) -> None:
    versions.check(rule, expected_version)
    rule._history_user = by
    rule_changed.send(sender=PricingRule, rule=rule, action="deleted")
    rule.delete()


def rule_disable(*, rule: PricingRule, by: User | None = None) -> PricingRule:
    return _set_active(rule, False, by)


def rule_enable(*, rule: PricingRule, by: User | None = None) -> PricingRule:
    return _set_active(rule, True, by)


@transaction.atomic
def _set_active(rule: PricingRule, active: bool, by: User | None) -> PricingRule:
    rule.is_active = active
    rule._history_user = by
    rule.save(update_fields=["is_active", "updated_at"])
    rule_changed.send(sender=PricingRule, rule=rule, action="enabled" if active else "disabled")
    return rule


def rule_validate(*, rule: PricingRule | None = None, **fields) -> None:
    """Run rule_create's (or, with ``rule``, rule_update's) checks without saving anything.

    For inline form validation: raises the same ``ValidationError`` the write would. ``rule``
    itself is left untouched; the checks run on a copy.
    """
    unknown = set(fields).difference(RULE_FIELDS)
    if unknown:
        raise TypeError(f"rule_validate() got unexpected fields: {sorted(unknown)}")
    candidate = copy.copy(rule) if rule is not None else PricingRule()
    for name, value in fields.items():
        setattr(candidate, name, value)
    _check_rule(candidate)
