"""Reads for customers, groups and memberships, joined and annotated for their pages."""

from django.db.models import QuerySet

from groups.models import Customer, CustomerGroup, Membership


def customer_search(
    term: str, *, limit: int = 10, exclude_group: CustomerGroup | None = None
) -> QuerySet[Customer]:
    """Customers whose name, external ID or email contains ``term``, for search-as-you-type.

    ``exclude_group`` leaves out its current members (the "add a member" widget). An empty term
    returns nothing rather than the first customers of a 100,000-row table.
    """
    term = (term or "").strip()
    if not term:
        return Customer.objects.none()
    queryset = Customer.objects.search(term)
    if exclude_group is not None:
        queryset = queryset.exclude(
            pk__in=Membership.objects.current().filter(group=exclude_group).values("customer_id")
        )
    return queryset.order_by("name", "id")[:limit]
