"""Criteria groups' parts that read pricing's data or calendar.

- The ``usage`` condition kind: a customer's total rated amount (in one currency) or quantity of
  a billing category and/or item over the last N billing days or the previous calendar month,
  compared with a threshold. Groups defines the kinds' registry
  (:mod:`groups.criteria.conditions`); this module registers the kind when the apps are ready,
  so ``groups`` never imports ``pricing``. Its filter is one aggregate subquery over the usage
  records (``GROUP BY customer HAVING total > threshold``), evaluated in the same query as the
  other conditions.
- The schedule: criteria groups refreshed once a billing day, and groups past their planned
  expiry ended at the end of that day in the billing time zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from background import schedule
from groups.criteria import conditions, refresh
from groups.criteria.models import GroupCriteria
from groups.criteria.services import criteria_refresh_start, group_expire
from groups.models import CustomerGroup, Membership
from pricing import engine
from pricing.clock import billing_tz
from pricing.currencies import ISO_4217_CODES
from pricing.models import CATEGORY_VALIDATOR, MAX_DECIMAL, UsageRecord, UsageStatus

MEASURES = {"amount": "rated amount", "quantity": "quantity"}
WINDOWS = {"last_days": "the last {days} days", "previous_month": "the previous calendar month"}
COMPARISONS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
MAX_DAYS = 3660

BAD_MEASURE = "measure the “amount” or the “quantity”."
BAD_WINDOW = "window is “last_days” (with days) or “previous_month”."
BAD_DAYS = f"days is a whole number from 1 to {MAX_DAYS}."
BAD_COMPARISON = "compare with gt, gte, lt or lte."
BAD_THRESHOLD = "the threshold is a number from 0 to 999,999,999."
BAD_CURRENCY = "an amount needs the ISO 4217 currency it is counted in (e.g. CZK)."
BAD_ITEM = "the item code has at most 64 characters."


def _clean_usage(condition: dict) -> dict:
    measure = condition.get("measure")
    if measure not in MEASURES:
        raise ValidationError(BAD_MEASURE)
    window = condition.get("window")
    if window not in WINDOWS:
        raise ValidationError(BAD_WINDOW)
    result: dict = {"measure": measure, "window": window}
    if window == "last_days":
        try:
            days = int(condition.get("days"))
        except (TypeError, ValueError):
            raise ValidationError(BAD_DAYS) from None
        if not 1 <= days <= MAX_DAYS:
            raise ValidationError(BAD_DAYS)
        result["days"] = days
    op = condition.get("op")
    if op not in COMPARISONS:
        raise ValidationError(BAD_COMPARISON)
    try:
        threshold = Decimal(str(condition.get("threshold")).strip())
    except InvalidOperation:
        raise ValidationError(BAD_THRESHOLD) from None
    if not threshold.is_finite() or not 0 <= threshold <= MAX_DECIMAL:
        raise ValidationError(BAD_THRESHOLD)
    result.update(op=op, threshold=str(threshold))
    category = str(condition.get("category") or "").strip()
    if category:
        try:
            CATEGORY_VALIDATOR(category)
        except ValidationError as error:
            raise ValidationError(f"billing category: {error.messages[0]}") from None
    item = str(condition.get("item") or "").strip()
    if len(item) > 64:
        raise ValidationError(BAD_ITEM)
    result.update(category=category, item=item)
    if measure == "amount":
        currency = str(condition.get("currency") or "").strip().upper()
        if currency not in ISO_4217_CODES:
            raise ValidationError(BAD_CURRENCY)
        result["currency"] = currency
    return result


def usage_window(condition: dict, now: datetime) -> tuple[datetime, datetime]:
    """The instants the condition totals, ``[start, end)``, in whole billing days."""
    tz = billing_tz()
    today = engine.billing_day(now, tz)
    if condition["window"] == "previous_month":
        return engine.month_window(today.replace(day=1) - timedelta(days=1), tz)
    first = today - timedelta(days=condition["days"])
    return engine.days_window(first, today - timedelta(days=1), tz)


def usage_totals(condition: dict, now: datetime):
    """Rated records of the window that the condition counts, totalled per customer."""
    start, end = usage_window(condition, now)
    records = UsageRecord.objects.filter(
        status=UsageStatus.RATED, occurred_at__gte=start, occurred_at__lt=end
    )
    if condition["category"]:
        records = records.filter(billing_category=condition["category"])
    if condition["item"]:
        records = records.filter(item_code=condition["item"])
    if condition["measure"] == "amount":
        records = records.filter(currency=condition["currency"])
    column = "amount" if condition["measure"] == "amount" else "quantity"
    return records.order_by().values("customer_id").annotate(total=Sum(column))


def _usage_q(condition: dict, context: conditions.Context) -> Q:
    totals = usage_totals(condition, context.now)
    threshold = Decimal(condition["threshold"])
    op = condition["op"]
    if op in ("gt", "gte"):
        return Q(pk__in=totals.filter(**{f"total__{op}": threshold}).values("customer_id"))
    # Customers without usage total zero: "below" is "not at or above" (NOT IN the others).
    if op == "lt" and threshold <= 0:
        return Q(pk__in=[])
    reverse = "gte" if op == "lt" else "gt"
    return ~Q(pk__in=totals.filter(**{f"total__{reverse}": threshold}).values("customer_id"))


def _describe_usage(condition: dict) -> str:
    what = MEASURES[condition["measure"]]
    of = " / ".join(v for v in (condition.get("category"), condition.get("item")) if v)
    window = WINDOWS[condition["window"]].format(days=condition.get("days"))
    unit = f" {condition['currency']}" if condition["measure"] == "amount" else ""
    scope = f" of {of}" if of else ""
    return (
        f"{what}{scope} over {window} {COMPARISONS[condition['op']]} {condition['threshold']}{unit}"
    )


USAGE_KIND = conditions.Kind(
    name="usage",
    label="Rated usage",
    clean=_clean_usage,
    q=_usage_q,
    describe=_describe_usage,
)


# --- The schedule ------------------------------------------------------------------------------


def expiry_instant(day: date) -> datetime:
    """The end of billing day ``day``: the first instant of the next one."""
    return engine.day_start(engine.day_after(day), billing_tz())


def expire_groups(now: datetime | None = None) -> int:
    """End the open memberships of every group whose planned expiry day has ended."""
    now = now or timezone.now()
    today = engine.billing_day(now, billing_tz())
    open_members = Membership.objects.current().filter(group=OuterRef("pk"))
    ended = 0
    for group in CustomerGroup.all_objects.filter(expires_on__lt=today).filter(
        Exists(open_members)
    ):
        ended += group_expire(group=group, at=expiry_instant(group.expires_on))
    return ended


def refresh_due(now: datetime | None = None) -> int:
    """Start a refresh of each enabled criteria group not refreshed yet this billing day."""
    now = now or timezone.now()
    day_start = engine.day_start(engine.billing_day(now, billing_tz()), billing_tz())
    due = GroupCriteria.objects.enabled().filter(
        Q(last_refreshed_at__isnull=True) | Q(last_refreshed_at__lt=day_start)
    )
    started = 0
    for criteria in due.select_related("group"):
        criteria_refresh_start(group=criteria.group)
        started += 1
    return started


def register() -> None:
    conditions.register(USAGE_KIND)
    refresh.install_billing_day(lambda instant: engine.billing_day(instant, billing_tz()))
    schedule.every("groups.expire", settings.RATECARD_SCHEDULE_SECONDS, expire_groups)
    schedule.every("groups.criteria-refresh", 3600, refresh_due)
