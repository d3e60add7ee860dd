"""The engine's rules in the ORM and in SQL, for the queries that need them for speed.

Each function mirrors one rule of :mod:`pricing.engine` and is named after it; nothing else in
the code base writes these conditions. ``tests/pricing/test_rules_sql.py`` generates rules,
memberships and instants with Hypothesis and checks every form here against the engine, on
SQLite and on PostgreSQL. (The ORM forms of a membership counting at an instant live with the
model, in ``groups.models.MembershipQuerySet``, because groups imports nothing from pricing; the
same tests cover them.)

SQL fragments take the table alias they apply to and return :class:`Sql`: text with ``%s``
placeholders and the parameters to pass, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from django.db import connection
from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import OrderBy
from django.db.models.functions import Collate

from pricing.engine import CUSTOMER, EVERYONE, GROUP, TARGET_RANK, Status


@dataclass(frozen=True)
class Sql:
    text: str
    params: list = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


# --- A rule in force on a day (engine.rules.in_force / status_on / not_ended) -----------------


def in_force_q(day: date, prefix: str = "") -> Q:
    """Rules in force on ``day``: :func:`pricing.engine.in_force`."""
    return Q(**{f"{prefix}is_active": True, f"{prefix}valid_from__lte": day}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gte": day})
    )


def not_ended_q(day: date, prefix: str = "") -> Q:
    """Enabled rules whose validity has not ended on ``day``: :func:`pricing.engine.not_ended`."""
    return Q(**{f"{prefix}is_active": True}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gte": day})
    )


def status_q(status: str, day: date, prefix: str = "") -> Q:
    """Rules whose :func:`pricing.engine.status_on` ``day`` is ``status``."""
    active = Q(**{f"{prefix}is_active": True})
    match status:
        case Status.DISABLED:
            return Q(**{f"{prefix}is_active": False})
        case Status.SCHEDULED:
            return active & Q(**{f"{prefix}valid_from__gt": day})
        case Status.EXPIRED:
            return active & Q(**{f"{prefix}valid_from__lte": day, f"{prefix}valid_to__lt": day})
        case Status.ACTIVE:
            return in_force_q(day, prefix)
    raise ValueError(f"unknown rule status {status!r}")


def in_force_sql(alias: str, day: date) -> Sql:
    """``alias`` (a rule row) is in force on ``day``."""
    return Sql(
        f"{alias}.is_active AND {alias}.valid_from <= %s "
        f"AND ({alias}.valid_to IS NULL OR {alias}.valid_to >= %s)",
        [_day(day), _day(day)],
    )


def not_ended_sql(alias: str, day: date) -> Sql:
    """``alias`` (a rule row) is enabled and has not ended on ``day``."""
    return Sql(
        f"{alias}.is_active AND ({alias}.valid_to IS NULL OR {alias}.valid_to >= %s)",
        [_day(day)],
    )


# --- Precedence (engine.rules.precedence_key) --------------------------------------------------


def target_rank(prefix: str = "") -> Case:
    """The rank of a rule's target kind: customer 0, group 1, everyone 2."""
    return Case(
        When(**{f"{prefix}customer__isnull": False}, then=Value(TARGET_RANK[CUSTOMER])),
        When(**{f"{prefix}group__isnull": False}, then=Value(TARGET_RANK[GROUP])),
        default=Value(TARGET_RANK[EVERYONE]),
    )


def _code_collation() -> str:
    """Codes compare by code point, as Python strings do, whatever the database's collation."""
    return "C" if connection.vendor == "postgresql" else "BINARY"


def precedence_order(prefix: str = "") -> list[OrderBy]:
    """``order_by`` arguments for evaluation order: :func:`pricing.engine.precedence_key`."""
    return [
        F(f"{prefix}priority").desc(),
        target_rank(prefix).asc(),
        F(f"{prefix}valid_from").desc(),
        Collate(F(f"{prefix}code"), _code_collation()).asc(),
    ]


def target_rank_sql(alias: str) -> str:
    return (
        f"CASE WHEN {alias}.customer_id IS NOT NULL THEN {TARGET_RANK[CUSTOMER]} "
        f"WHEN {alias}.group_id IS NOT NULL THEN {TARGET_RANK[GROUP]} "
        f"ELSE {TARGET_RANK[EVERYONE]} END"
    )


def precedence_sql(alias: str) -> str:
    """An ``ORDER BY`` list for rule rows ``alias`` in evaluation order (no parameters)."""
    collation = _code_collation()
    return (
        f"{alias}.priority DESC, {target_rank_sql(alias)}, {alias}.valid_from DESC, "
        f'{alias}.code COLLATE "{collation}"'
    )


# --- Memberships (engine.membership.counts_at) -------------------------------------------------


def open_membership_sql(alias: str) -> str:
    """``alias`` (a membership row) has no end: its customer is a current member."""
    return f"{alias}.left_at IS NULL"


def counts_at_sql(alias: str, instant: datetime) -> Sql:
    """``alias`` (a membership row) holds ``instant``: :func:`pricing.engine.counts_at`."""
    value = connection.ops.adapt_datetimefield_value(instant)
    return Sql(
        f"{alias}.joined_at <= %s AND ({alias}.left_at IS NULL OR {alias}.left_at > %s)",
        [value, value],
    )


# --- The billing day (PostgreSQL's set-based reads) ----------------------------------------------


def billing_day_sql(column: str, tz: tzinfo) -> Sql:
    """The billing day of timestamp ``column`` in ``tz``: :func:`pricing.engine.billing_day`.

    PostgreSQL only (SQLite has no time zones; rating computes the day in Python there).
    """
    return Sql(f"({column} AT TIME ZONE %s)::date", [str(tz)])
