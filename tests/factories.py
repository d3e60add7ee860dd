"""Small factories for tests: plain functions with sensible defaults, no extra dependency."""

import itertools
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as Role
from django.db import transaction

from groups.models import Customer, CustomerGroup, Membership
from pricing.models import PriceList, PriceListItem, PricingRule, UsageRecord

_seq = itertools.count(1)

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def user(username: str | None = None, *, role: str | None = None, superuser: bool = False):
    n = next(_seq)
    User = get_user_model()
    account = User.objects.create_user(
        username=username or f"user{n}",
        password="secret-pass-123",
        is_superuser=superuser,
        is_staff=superuser,
    )
    if role:
        if not Role.objects.filter(name=role).exists():
            # Transactional tests flush the tables, roles from the data migration included.
            from django.apps import apps

            from billing.roles import sync_roles

            sync_roles(apps)
        account.groups.add(Role.objects.get(name=role))
    return account


def customer(name: str | None = None, **fields) -> Customer:
    n = next(_seq)
    fields.setdefault("external_id", f"EXT-{n:05d}")
    return Customer.objects.create(name=name or f"Customer {n}", **fields)


def group(name: str | None = None, **fields) -> CustomerGroup:
    n = next(_seq)
    name = name or f"Group {n}"
    fields.setdefault("code", f"group-{n}")
    return CustomerGroup.objects.create(name=name, **fields)


def membership(group_: CustomerGroup, customer_: Customer, **fields) -> Membership:
    fields.setdefault("joined_at", JAN_1)
    return Membership.objects.create(group=group_, customer=customer_, **fields)


def price_list(code: str | None = None, *, items: dict[str, str] | None = None, **fields):
    n = next(_seq)
    fields.setdefault("name", f"Price list {n}")
    fields.setdefault("currency", "CZK")
    pl = PriceList.objects.create(code=code or f"PL-{n}", **fields)
    for item_code, price in (items if items is not None else {"minute": "1.00"}).items():
        PriceListItem.objects.create(
            price_list=pl, item_code=item_code, unit=item_code, unit_price=Decimal(price)
        )
    return pl


def rule(code: str | None = None, **fields) -> PricingRule:
    n = next(_seq)
    fields.setdefault("name", f"Rule {n}")
    fields.setdefault("billing_category", "retail")
    fields.setdefault("priority", 10)
    fields.setdefault("valid_from", date(2026, 1, 1))
    if "price_list" not in fields:
        fields["price_list"] = price_list()
    return PricingRule.objects.create(code=code or f"RULE-{n}", **fields)


def usage(customer_: Customer, **fields) -> UsageRecord:
    fields.setdefault("billing_category", "retail")
    fields.setdefault("item_code", "minute")
    fields.setdefault("quantity", Decimal("1"))
    fields.setdefault("occurred_at", datetime(2026, 3, 1, 12, tzinfo=UTC))
    return UsageRecord.objects.create(customer=customer_, **fields)


@contextmanager
def rolled_back():
    """One Hypothesis example's rows, gone afterwards."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
