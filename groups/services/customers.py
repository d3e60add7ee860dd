"""Writes to customers: create, change, archive or delete."""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from groups.criteria import attributes
from groups.models import Customer, CustomerGroup, Membership
from groups.services.common import (
    Removal,
    Removed,
    archive,
    close_membership,
    label,
    left_count,
    refuse_while_rules_use,
    touch_groups,
)
from groups.services.memberships import membership_add

CUSTOMER_IN_USE = "“{customer}” cannot be deleted while {things} refer to it: {names}."
CUSTOMER_ARCHIVED = (
    "Archived the customer “{customer}”: its membership history and usage records are kept. It "
    "no longer appears in lists{left}."
)

CUSTOMER_DELETED = "Deleted the customer “{customer}”: it had no memberships and no usage."
EXTERNAL_ID_TAKEN = "The external ID “{external_id}” already belongs to “{existing}”."
UNKNOWN_GROUP_CODES = "Unknown group codes: {codes}."
User = AbstractBaseUser

# --- Customers --------------------------------------------------------------------------------


def _clean_external_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _save_customer(customer: Customer) -> Customer:
    customer.name = (customer.name or "").strip()
    customer.external_id = _clean_external_id(customer.external_id)
    customer.email = (customer.email or "").strip()
    if customer.external_id:
        existing = (
            Customer.all_objects.filter(external_id=customer.external_id)
            .exclude(pk=customer.pk)
            .first()
        )
        if existing is not None:
            raise ValidationError(
                {
                    "external_id": [
                        EXTERNAL_ID_TAKEN.format(
                            external_id=customer.external_id, existing=label(existing)
                        )
                    ]
                }
            )
    customer.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError as exc:
        raise ValidationError(
            {
                "external_id": [
                    EXTERNAL_ID_TAKEN.format(
                        external_id=customer.external_id, existing="another customer"
                    )
                ]
            }
        ) from exc
    return customer


@transaction.atomic
def customer_create(
    *,
    name: str,
    external_id: str | None = None,
    email: str = "",
    is_active: bool = True,
    group_codes: Sequence[str] | None = None,
    by: User | None = None,
    **extra,
) -> Customer:
    """Create a customer, optionally placing it in the groups with these codes.

    ``extra``: any of the attributes ``country``, ``segment``, ``signed_up_on``, ``attributes``.
    """
    customer = Customer(
        name=name,
        external_id=external_id,
        email=email or "",
        is_active=is_active,
        **attributes.normalised(extra),
    )
    customer._history_user = by
    _save_customer(customer)
    if group_codes is not None:
        customer_set_groups(customer=customer, group_codes=group_codes, by=by)
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    group_codes: Sequence[str] | None = None,
    by: User | None = None,
    **fields,
) -> Customer:
    """Change a customer's details and, when ``group_codes`` is given, its memberships."""
    allowed = {"name", "external_id", "email", "is_active", *attributes.IMPORT_COLUMNS}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"customer_update() got unexpected fields: {sorted(unknown)}")
    fields = attributes.normalised(fields)
    for name, value in fields.items():
        setattr(customer, name, value)
    customer._history_user = by
    _save_customer(customer)
    if group_codes is not None:
        customer_set_groups(customer=customer, group_codes=group_codes, by=by)
    return customer


@transaction.atomic
def customer_delete(*, customer: Customer, by: User | None = None) -> Removed:
    """Remove a customer: deleted if it never had a membership nor usage, archived otherwise.

    Archiving ends its current memberships now and hides it from every list; its membership
    history and usage records (with their prices) stay. Refused while pricing rules target it.
    """
    refuse_while_rules_use(
        customer, CUSTOMER_IN_USE, customer=customer.name, things="pricing rules"
    )
    memberships = Membership.objects.filter(customer=customer)
    if memberships.exists() or customer.usage_records.exists():
        open_groups = set(memberships.current().values_list("group_id", flat=True))
        left = archive(customer, by=by, memberships=memberships)
        touch_groups(open_groups, customer.archived_at)
        message = CUSTOMER_ARCHIVED.format(customer=customer.name, left=left_count(left))
        return Removed(Removal.ARCHIVED, message)
    customer._history_user = by
    customer.delete()
    return Removed(Removal.DELETED, CUSTOMER_DELETED.format(customer=customer.name))


@transaction.atomic
def customer_set_groups(
    *, customer: Customer, group_codes: Sequence[str], by: User | None = None
) -> list[CustomerGroup]:
    """Make the customer's current groups exactly those with ``group_codes`` (any case)."""
    wanted_codes = {code.strip().lower() for code in group_codes if code and code.strip()}
    groups = list(CustomerGroup.objects.filter(code__in=wanted_codes)) if wanted_codes else []
    # Codes are stored lower-case, so a case-insensitive match is an exact one on lower().
    missing = wanted_codes - {g.code.lower() for g in groups}
    if missing:
        raise ValidationError(
            {"group_codes": [UNKNOWN_GROUP_CODES.format(codes=", ".join(sorted(missing)))]}
        )
    wanted = {g.pk: g for g in groups}
    current = {m.group_id: m for m in Membership.objects.current().filter(customer=customer)}
    now = timezone.now()
    for group_id in set(current) - set(wanted):
        close_membership(current[group_id], by=by, at=now)
    for group_id in set(wanted) - set(current):
        membership_add(group=wanted[group_id], customer=customer, by=by, at=now)
    touch_groups(set(current) ^ set(wanted), now)
    return groups
