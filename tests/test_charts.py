"""The pictures: one small chart module (groups.charts) and one template, reused by the group
page (members over 12 months), the usage page (rated amount and unrated records per day), the
customer page (paid per day by rule) and the impact preview; each with its numbers as a table."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from groups import charts, selectors
from groups.models import Membership
from pricing import charts as pricing_charts
from pricing import services
from pricing.clock import billing_tz
from pricing.engine import counts_at
from tests import factories


def test_bars_stack_positives_up_and_negatives_down_with_a_table():
    chart = charts.bar_chart(
        title="T",
        categories=["a", "b"],
        series=[charts.Series("x", [3, -2]), charts.Series("y", [1000, 0])],
        category_header="Day",
        show_total=True,
    )
    assert chart.headers == ["Day", "x", "y", "Total"]
    assert chart.rows == [["a", "3", "1,000", "1,003"], ["b", "-2", "0", "-2"]]
    assert [bar.css for bar in chart.bars] == ["chart-s0", "chart-s1", "chart-neg"]
    up = [bar for bar in chart.bars if bar.css != "chart-neg"]
    # "y" sits on top of "x" in column a: its bottom is x's top.
    assert up[1].y + up[1].height == pytest.approx(up[0].y, abs=0.05)
    negative = next(bar for bar in chart.bars if bar.css == "chart-neg")
    assert negative.y == pytest.approx(chart.zero_y, abs=0.05)  # hangs below zero
    assert chart.legend == [("chart-s0", "x"), ("chart-s1", "y")]
    assert not chart.empty


def test_nothing_to_draw_is_said_and_the_histogram_counts_every_value():
    assert charts.bar_chart(title="T", categories=["a"], series=[charts.Series("x", [0])]).empty
    chart = charts.histogram([Decimal("1"), Decimal("2"), Decimal("10")], title="H", bins=3)
    assert [row[1] for row in chart.rows] == ["2", "0", "1"]
    assert chart.rows[0][0] == "1 to 4"


@pytest.mark.django_db
def test_members_by_month_agree_with_the_engine_at_each_month_end(django_assert_num_queries):
    group = factories.group("Promo")
    now = timezone.localtime(datetime(2026, 12, 15, 12, tzinfo=UTC))
    periods = [
        (datetime(2025, 1, 1, tzinfo=UTC), None),
        (datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
        (datetime(2026, 11, 30, 23, tzinfo=UTC), None),
        (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),  # empty
    ]
    for joined, left in periods:
        Membership.objects.create(
            group=group, customer=factories.customer(), joined_at=joined, left_at=left
        )
    with django_assert_num_queries(1):
        months = selectors.group_members_by_month(group, now=now)
    labels = [label for label, _ in months]
    assert (labels[0], labels[-1], len(labels)) == ("2026-01", "2026-12", 12)
    ends = [
        timezone.localtime(datetime(2026, m + 1, 1, tzinfo=UTC)) if m < 12 else now
        for m in range(1, 13)
    ]
    expected = [sum(counts_at(j, left, end) for j, left in periods) for end in ends]
    assert [count for _, count in months] == expected


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 40])
def test_the_group_members_chart_is_a_fragment_of_fixed_cost(
    support_client, django_assert_num_queries, rows
):
    group = factories.group("Promo")
    for _ in range(rows):
        factories.membership(group, factories.customer())
    url = reverse("groups:group_members_chart", args=[group.pk])
    # Session, user, permissions (2), the group, the monthly counts.
    with django_assert_num_queries(6):
        response = support_client.get(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="members-chart">')
    assert "<svg" in html
    assert f'<td class="text-end">{rows}</td>' in html  # this month's members, in the table
    page = support_client.get(reverse("groups:group_detail", args=[group.pk])).content.decode()
    assert f'hx-get="{url}"' in page


def _rated(customer, *, day: date, quantity="10", item="minute"):
    at = datetime.combine(day, datetime.min.time(), tzinfo=billing_tz()) + timedelta(hours=10)
    return services.usage_records_create(
        records=[
            {
                "customer": customer,
                "billing_category": "retail",
                "item_code": item,
                "quantity": Decimal(quantity),
                "occurred_at": at,
            }
        ]
    )


@pytest.mark.django_db
def test_usage_charts_add_up_rated_amounts_per_day_and_count_unrated(worked_example):
    today = date(2026, 3, 20)
    _rated(worked_example["tech_corp"], day=date(2026, 3, 19))
    _rated(worked_example["startup"], day=date(2026, 3, 19))
    _rated(worked_example["startup"], day=date(2026, 3, 18), item="fax")  # unrated
    result = pricing_charts.usage_charts(days=5, today=today)
    rated, unrated = result
    assert rated.title == "Rated amount per day, CZK (last 5 days)"
    assert dict(rated.rows)["03-19"] == "20.00"  # 12.00 + 8.00
    assert dict(unrated.rows)["03-18"] == "1"


@pytest.mark.django_db
@pytest.mark.parametrize("records", [1, 30])
def test_usage_and_customer_chart_fragments_cost_fixed_queries(
    manager_client, worked_example, django_assert_num_queries, records
):
    customer = worked_example["tech_corp"]
    for n in range(records):
        _rated(customer, day=date.today() - timedelta(days=n % 20))
    with django_assert_num_queries(6):  # session, user, permissions (2), rated, unrated
        usage = manager_client.get(reverse("pricing:usage_charts"), HTTP_HX_REQUEST="true")
    assert "<svg" in usage.content.decode()
    with django_assert_num_queries(6):  # session, user, permissions (2), customer, paid
        paid = manager_client.get(
            reverse("pricing:customer_paid", args=[customer.pk]), HTTP_HX_REQUEST="true"
        )
    assert "Paid per day in CZK, by rule" in paid.content.decode()


@pytest.mark.django_db
def test_the_customer_chart_stacks_by_rule(worked_example):
    tech = worked_example["tech_corp"]
    today = date(2026, 3, 20)
    _rated(tech, day=date(2026, 3, 19))
    deal = factories.price_list("DEAL", items={"minute": "0.50"})
    factories.rule("TECH-DEAL", customer=tech, price_list=deal, priority=500)
    _rated(tech, day=date(2026, 3, 20))
    [chart] = pricing_charts.customer_paid_charts(tech, days=3, today=today)
    # The rule that was paid most comes first.
    assert chart.headers == ["Billing day", "STD-2026", "TECH-DEAL", "Total"]
    rows = {row[0]: row[1:] for row in chart.rows}
    assert rows["03-19"][-1] == "12.00"
    assert rows["03-20"][-1] == "5.00"
    assert len(chart.legend) == 2
