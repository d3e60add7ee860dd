"""django-filter FilterSets for the audit's finding lists; their state lives in the URL.

One FilterSet per kind of row (groups, customers, rules). Each ends its ordering with a unique
key, so pages never overlap, and applies to a queryset that ``pricing.audit`` already narrowed
to one finding.
"""

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from groups.models import Customer, CustomerGroup
from pricing.models import PricingRule, TargetKind
from pricing.selectors import categories_in_use


class _StableOrdering(django_filters.OrderingFilter):
    """Ordering that always ends with ``tiebreak`` (unique) and falls back to ``default``."""

    def __init__(self, *args, default: tuple[str, ...], tiebreak: tuple[str, ...], **kwargs):
        self.default, self.tiebreak = default, tiebreak
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet, value) -> QuerySet:
        qs = super().filter(qs, value) if value else qs.order_by(*self.default)
        return qs.order_by(*qs.query.order_by, *self.tiebreak)


def _search_widget(placeholder: str) -> forms.TextInput:
    return forms.TextInput(
        attrs={
            "type": "search",
            "placeholder": placeholder,
            "autocomplete": "off",
        }
    )


class _StyledFilterSet(django_filters.FilterSet):
    """Bootstrap's small form classes on every field (choice filters take no widget instance)."""

    @property
    def form(self):
        form = super().form
        for field in form.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", f"{css} {css}-sm")
        return form


class GroupFindingFilter(_StyledFilterSet):
    """Search and sorting for a list of groups (empty, unused, review overdue ...)."""

    q = django_filters.CharFilter(
        method="filter_search", label="Search", widget=_search_widget("Name, code or description")
    )
    sort = _StableOrdering(
        fields=(
            ("name", "name"),
            ("last_change", "last_change"),
            ("last_review", "last_review"),
            ("expires_on", "expires_on"),
        ),
        field_labels={
            "name": "Name",
            "last_change": "Last membership change",
            "last_review": "Last review",
            "expires_on": "Planned expiry",
        },
        default=("name",),
        tiebreak=("pk",),
        label="Sort by",
        empty_label="Name",
    )

    class Meta:
        model = CustomerGroup
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)


class CustomerFindingFilter(_StyledFilterSet):
    """Search and sorting for the customers in no group."""

    q = django_filters.CharFilter(
        method="filter_search", label="Search", widget=_search_widget("Name, external ID or email")
    )
    sort = _StableOrdering(
        fields=(("name", "name"), ("created_at", "created")),
        field_labels={"name": "Name", "created_at": "Created"},
        default=("name",),
        tiebreak=("pk",),
        label="Sort by",
        empty_label="Name",
    )

    class Meta:
        model = Customer
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)


class RuleFindingFilter(_StyledFilterSet):
    """Search, category, target and sorting for a list of rules."""

    q = django_filters.CharFilter(
        method="filter_search", label="Search", widget=_search_widget("Code or name")
    )
    category = django_filters.ChoiceFilter(
        field_name="billing_category",
        label="Category",
        empty_label="Any category",
        # A callable, so the categories are read when the form is built, not at import.
        choices=lambda: [(c, c) for c in categories_in_use()],
    )
    target = django_filters.ChoiceFilter(
        method="filter_target",
        label="Applies to",
        empty_label="Anybody",
        choices=TargetKind.choices,
    )
    sort = _StableOrdering(
        fields=(("code", "code"), ("priority", "priority"), ("billing_category", "category")),
        field_labels={"code": "Code", "priority": "Priority", "billing_category": "Category"},
        default=("billing_category", "-priority", "code"),
        tiebreak=("pk",),
        label="Sort by",
        empty_label="Category, then priority",
    )

    class Meta:
        model = PricingRule
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))

    def filter_target(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == TargetKind.CUSTOMER:
            return queryset.filter(customer__isnull=False)
        if value == TargetKind.GROUP:
            return queryset.filter(group__isnull=False)
        if value == TargetKind.EVERYONE:
            return queryset.filter(customer__isnull=True, group__isnull=True)
        return queryset


FILTERSETS = {
    "group": GroupFindingFilter,
    "customer": CustomerFindingFilter,
    "rule": RuleFindingFilter,
}
