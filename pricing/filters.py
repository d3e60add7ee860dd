"""django-filter FilterSets for the price list and rule pages; their state lives in the URL.

Each FilterSet owns the queryset of its page, joined and annotated so the table needs no query
per row: choices for the filter widgets cost one query each, whatever the number of rows.
"""

from datetime import date

import django_filters
from django import forms
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from groups.models import Customer, CustomerGroup
from pricing.models import (
    PriceList,
    PriceListItem,
    PricingRule,
    PricingRuleQuerySet,
    RuleStatus,
    TargetKind,
)


def _count_of(queryset: QuerySet, field: str) -> Coalesce:
    """A correlated ``COUNT(*)`` of ``queryset`` rows whose ``field`` is the outer price list.

    A subquery per counted relation keeps two counts from multiplying each other, which a join
    of items and rules with ``GROUP BY`` would do.
    """
    counts = (
        queryset.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def price_lists_for_table() -> QuerySet[PriceList]:
    """Price lists by name with ``item_count`` and ``rule_count``, for the list page."""
    return PriceList.objects.annotate(
        item_count=_count_of(PriceListItem.objects.all(), "price_list"),
        rule_count=_count_of(PricingRule.objects.all(), "price_list"),
    ).order_by("name", "code")


def _style(filterset: django_filters.FilterSet) -> None:
    for field in filterset.form.fields.values():
        widget = field.widget
        css = "form-select form-select-sm" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs.setdefault("class", css)


class PriceListFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search")
    currency = django_filters.AllValuesFilter(empty_label="Any currency")

    class Meta:
        model = PriceList
        fields = ["q", "currency"]

    def __init__(self, data=None, queryset=None, **kwargs) -> None:
        if queryset is None:
            queryset = price_lists_for_table()
        super().__init__(data, queryset, **kwargs)
        self.form.fields["q"].widget.attrs.update(
            {"type": "search", "placeholder": "Name or code", "autocomplete": "off"}
        )
        _style(self)

    def filter_search(self, queryset, name: str, value: str):
        return queryset.search(value)


STATUS_CHOICES = [(status.value, status.label) for status in RuleStatus]
TARGET_CHOICES = [
    (TargetKind.EVERYONE.value, "Everyone"),
    (TargetKind.GROUP.value, "A group"),
    (TargetKind.CUSTOMER.value, "One customer"),
]


class RuleFilter(django_filters.FilterSet):
    """Rules in evaluation order, narrowed by the filters of the rules page.

    ``group`` and ``customer`` accept any group or customer (links from their pages), but the
    page only offers those that rules target: a select of 10,000 groups or 100,000 customers
    would help nobody and weigh a megabyte.
    """

    q = django_filters.CharFilter(method="filter_search", label="Search")
    billing_category = django_filters.AllValuesFilter(label="Category", empty_label="Any category")
    group = django_filters.ModelChoiceFilter(
        queryset=CustomerGroup.objects.all(), empty_label="Any group"
    )
    customer = django_filters.ModelChoiceFilter(
        queryset=Customer.objects.all(), empty_label="Any customer"
    )
    price_list = django_filters.ModelChoiceFilter(
        queryset=PriceList.objects.order_by("name"), empty_label="Any price list"
    )
    target = django_filters.ChoiceFilter(
        choices=TARGET_CHOICES, method="filter_target", empty_label="Anyone"
    )
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", empty_label="Any status"
    )

    class Meta:
        model = PricingRule
        fields = ["q", "billing_category", "group", "customer", "price_list", "target", "status"]

    def __init__(self, data=None, queryset=None, *, today: date, **kwargs) -> None:
        if queryset is None:
            queryset = PricingRule.objects.in_evaluation_order().with_targets()
        self.today = today
        super().__init__(data, queryset, **kwargs)
        self.form.fields["q"].widget.attrs.update(
            {"type": "search", "placeholder": "Code, name or description", "autocomplete": "off"}
        )
        _style(self)

    def _targeted(self, name: str, model) -> list:
        """Rows of ``model`` that rules target, plus the one filtered on (one query)."""
        selected = self.form.data.get(name) if self.is_bound else None
        targeted = model.objects.filter(pk__in=PricingRule.objects.values(f"{name}_id"))
        if selected and name not in self.form.errors:
            targeted = targeted | model.objects.filter(pk=selected)
        return list(targeted.order_by("name", "id"))

    def group_choices(self) -> list[CustomerGroup]:
        return self._targeted("group", CustomerGroup)

    def customer_choices(self) -> list[Customer]:
        return self._targeted("customer", Customer)

    def filter_search(self, queryset: PricingRuleQuerySet, name: str, value: str):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(code__icontains=value) | Q(name__icontains=value) | Q(description__icontains=value)
        )

    def filter_target(self, queryset: PricingRuleQuerySet, name: str, value: str):
        if value == TargetKind.CUSTOMER:
            return queryset.filter(customer__isnull=False)
        if value == TargetKind.GROUP:
            return queryset.filter(group__isnull=False)
        if value == TargetKind.EVERYONE:
            return queryset.filter(group__isnull=True, customer__isnull=True)
        return queryset

    def filter_status(self, queryset: PricingRuleQuerySet, name: str, value: str):
        return queryset.with_status(value, self.today)
