"""The pictures of the pricing pages: reads shaped for ``groups.charts`` bar charts.

- :func:`usage_charts`: the rated amount per billing day per currency, and the unrated
  records per day, over the last days (the usage page).
- :func:`customer_paid_charts`: what one customer paid per billing day over the last 90 days,
  by rule, one chart per currency (the customer page).
- :func:`upload_charts`: one upload's rated amount per billing day per currency and its
  unrated records per day, over the days its records fall on (the upload's page).
- :func:`impact_charts`: an impact preview's change per group and the distribution of the
  per-customer changes (the impact preview page).

Each is one or two aggregate queries grouped by billing day (the billing time zone's calendar
day, as rating judges days); nothing here restates a rating rule.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from groups import charts
from groups.models import Customer, Membership
from pricing.clock import billing_today, billing_tz
from pricing.engine import days_window
from pricing.models import UsageRecord, UsageStatus

USAGE_DAYS = 30
CUSTOMER_DAYS = 90
MAX_RULE_SERIES = 5  # rules drawn one by one; the rest are "other rules"
MAX_GROUP_BARS = 15
OTHER_RULES = "other rules"


def _days(last: date, count: int) -> list[date]:
    return [last - timedelta(days=count - 1 - n) for n in range(count)]


def _in_days(queryset, first: date, last: date):
    start, end = days_window(first, last, billing_tz())
    return queryset.filter(occurred_at__gte=start, occurred_at__lt=end).annotate(
        day=TruncDate("occurred_at", tzinfo=billing_tz())
    )


def money(value) -> str:
    return f"{Decimal(value or 0):,.2f}"


def usage_charts(*, days: int = USAGE_DAYS, today: date | None = None) -> list[charts.Chart]:
    """Rated amount per day, one chart per currency, then the unrated records per day."""
    last = today or billing_today()
    span = _days(last, days)
    rows = _in_days(UsageRecord.objects.all(), span[0], last)
    rated = (
        rows.filter(status=UsageStatus.RATED)
        .values("day", "currency")
        .order_by()
        .annotate(total=Sum("amount"))
    )
    by_currency: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in rated:
        by_currency[row["currency"]][row["day"]] = row["total"]
    unrated = dict(
        rows.filter(status=UsageStatus.UNRATED)
        .values("day")
        .order_by()
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    return _per_day_charts(span, by_currency, unrated, f" (last {days} days)")


UPLOAD_MAX_DAYS = 62


def upload_charts(records) -> tuple[list[charts.Chart], int]:
    """An upload's records (a queryset) per billing day: the rated amount per currency and the
    unrated count, over the days from its first record's to its last's (at most the last
    :data:`UPLOAD_MAX_DAYS`); and the number of days shown. One aggregate query."""
    rows = list(
        records.order_by()
        .annotate(day=TruncDate("occurred_at", tzinfo=billing_tz()))
        .values("day", "currency", "status")
        .annotate(total=Sum("amount"), n=Count("pk"))
    )
    if not rows:
        return [], 0
    days = sorted({row["day"] for row in rows})
    span = _days(days[-1], min((days[-1] - days[0]).days + 1, UPLOAD_MAX_DAYS))
    by_currency: dict[str, dict[date, Decimal]] = defaultdict(dict)
    unrated: dict[date, int] = defaultdict(int)
    for row in rows:
        if row["status"] == UsageStatus.RATED:
            by_currency[row["currency"]][row["day"]] = row["total"]
        elif row["status"] == UsageStatus.UNRATED:
            unrated[row["day"]] += row["n"]
    return _per_day_charts(span, by_currency, unrated), len(span)


def customer_paid_charts(
    customer: Customer, *, days: int = CUSTOMER_DAYS, today: date | None = None
) -> list[charts.Chart]:
    """What the customer paid per day, stacked by rule, one chart per currency."""
    last = today or billing_today()
    span = _days(last, days)
    rows = (
        _in_days(UsageRecord.objects.filter(customer=customer), span[0], last)
        .filter(status=UsageStatus.RATED)
        .values("day", "currency", "rule_code")
        .order_by()
        .annotate(total=Sum("amount"))
    )
    paid: dict[str, dict[str, dict[date, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        paid[row["currency"]][row["rule_code"]][row["day"]] = row["total"]
    labels = [day.strftime("%m-%d") for day in span]
    result = []
    for currency, by_rule in sorted(paid.items()):
        ranked = sorted(by_rule, key=lambda code: -sum(by_rule[code].values()))
        shown, rest = ranked[:MAX_RULE_SERIES], ranked[MAX_RULE_SERIES:]
        series = [
            charts.Series(code, [by_rule[code].get(day, 0) for day in span]) for code in shown
        ]
        if rest:
            series.append(
                charts.Series(
                    OTHER_RULES,
                    [sum(by_rule[code].get(day, 0) for code in rest) for day in span],
                )
            )
        result.append(
            charts.bar_chart(
                title=f"Paid per day in {currency}, by rule (last {days} days)",
                categories=labels,
                series=series,
                category_header="Billing day",
                value_format=money,
                show_total=len(series) > 1,
            )
        )
    return result


def impact_charts(impacts: Sequence, *, affected: int) -> list[charts.Chart]:
    """An impact preview's change per group (the customers' current groups) and the
    distribution of per-customer changes, one pair per currency.

    ``impacts`` are the report's per-customer changes (``CustomerImpact``); a customer in two
    groups counts in both. One query for the customers' current groups.
    """
    if not impacts:
        return []
    keys = {impact.customer_key for impact in impacts}
    groups: dict[str, list[str]] = defaultdict(list)
    ids = [impact.customer.pk for impact in impacts if impact.customer is not None]
    for first in range(0, len(ids), 1000):
        for customer_id, name in (
            Membership.objects.current()
            .filter(customer_id__in=ids[first : first + 1000])
            .values_list("customer_id", "group__name")
        ):
            groups[customer_id.hex].append(name)
    result = []
    currencies = sorted({impact.currency for impact in impacts})
    note = ""
    if affected > len(keys):
        note = f"Drawn from the {len(keys):,} of {affected:,} customers whose amounts change most."
    for currency in currencies:
        mine = [i for i in impacts if i.currency == currency]
        per_group: dict[str, Decimal] = defaultdict(Decimal)
        for impact in mine:
            key = impact.customer.pk.hex if impact.customer is not None else ""
            for name in groups.get(key) or ["(in no group)"]:
                per_group[name] += impact.delta
        ranked = sorted(per_group.items(), key=lambda item: (-abs(item[1]), item[0]))
        top = ranked[:MAX_GROUP_BARS]
        group_note = note
        if len(ranked) > MAX_GROUP_BARS:
            group_note = (
                f"{note} The {MAX_GROUP_BARS} groups with the largest change of {len(ranked)}."
            ).strip()
        result.append(
            charts.bar_chart(
                title=f"Change per group, {currency} (members' current groups)",
                categories=[name for name, _ in top],
                tick_labels=[_short(name) for name, _ in top],
                series=[charts.Series(f"Change ({currency})", [delta for _, delta in top])],
                category_header="Group",
                value_format=money,
                note=group_note,
            )
        )
        result.append(
            charts.histogram(
                [impact.delta for impact in mine],
                title=f"How the change is spread over customers, {currency}",
                value_format=money,
                category_header=f"Change ({currency})",
            )
        )
    return result


def _short(text: str, length: int = 12) -> str:
    return text if len(text) <= length else text[: length - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _per_day_charts(
    span: list[date], by_currency: dict, unrated: dict, period: str = ""
) -> list[charts.Chart]:
    """The rated amount per billing day, one chart per currency, then the unrated records."""
    labels = [day.strftime("%m-%d") for day in span]
    result = [
        charts.bar_chart(
            title=f"Rated amount per day, {currency}{period}",
            categories=labels,
            series=[charts.Series(currency, [totals.get(day, 0) for day in span])],
            category_header="Billing day",
            value_format=money,
        )
        for currency, totals in sorted(by_currency.items())
    ]
    result.append(
        charts.bar_chart(
            title=f"Unrated records per day{period}",
            categories=labels,
            series=[charts.Series("Unrated", [unrated.get(day, 0) for day in span])],
            category_header="Billing day",
        )
    )
    return result
