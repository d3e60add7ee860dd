"""The customers API (``/api/v1/customers``): list, search, create, change, remove.

Customers come with their current groups, prefetched in one extra query per page.
"""

from collections.abc import Mapping

import django_filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from groups import services, validation
from groups.api.common import REMOVAL_RESPONSES, GroupRefSerializer, parse_uuid, removal_response
from groups.models import Customer, Membership

MEMBERSHIP_PERMISSIONS = ["groups.add_membership", "groups.delete_membership"]


def customers_queryset() -> QuerySet[Customer]:
    """Customers with their current groups prefetched in one extra query per page."""
    current = (
        Membership.objects.current().select_related("group").order_by("group__name", "group_id")
    )
    return Customer.objects.prefetch_related(
        Prefetch("memberships", queryset=current, to_attr="current_memberships")
    ).order_by("name", "id")


class CustomerFilter(django_filters.FilterSet):
    external_id = django_filters.CharFilter(field_name="external_id")
    search = django_filters.CharFilter(
        method="filter_search", help_text="Part of the name, external ID or email (any case)."
    )
    group = django_filters.CharFilter(
        method="filter_group", help_text="Current members of the group with this id or code."
    )

    class Meta:
        model = Customer
        fields = ["external_id", "search", "group"]

    def filter_search(self, queryset, name, value):
        return queryset.search(value)

    def filter_group(self, queryset, name, value):
        group_id = parse_uuid(value)
        members = Membership.objects.current()
        members = (
            members.filter(group_id=group_id)
            if group_id is not None
            else members.filter(group__code__iexact=value.strip())
        )
        return queryset.filter(pk__in=members.values("customer_id"))


class CustomerSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200)
    external_id = serializers.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True
    )
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    is_active = serializers.BooleanField(required=False)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166 code, e.g. CZ."
    )
    segment = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Segment or plan code."
    )
    signed_up_on = validation.ApiDateField(required=False, allow_null=True)
    attributes = serializers.DictField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        required=False,
        help_text='Free attributes criteria can filter on, e.g. {"industry": "telecom"}.',
    )
    groups = serializers.SerializerMethodField()
    group_codes = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        write_only=True,
        max_length=1000,
        help_text="Set the customer's current groups to exactly these codes (history is kept).",
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(GroupRefSerializer(many=True))
    def get_groups(self, customer: Customer) -> list:
        memberships = getattr(customer, "current_memberships", None)
        groups = (
            [m.group for m in memberships]
            if memberships is not None
            else list(customer.current_groups().order_by("name"))
        )
        return GroupRefSerializer(groups, many=True).data


@extend_schema(tags=["customers"])
class CustomerViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Customers; support staff add and change them, pricing managers may also delete."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    queryset = Customer.objects.all()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return customers_queryset()

    def _check_membership_rights(self, data: Mapping) -> None:
        """Setting ``group_codes`` changes memberships, which needs the membership rights too."""
        if "group_codes" in data and not self.request.user.has_perms(MEMBERSHIP_PERMISSIONS):
            raise PermissionDenied("Changing group_codes needs the membership permissions.")

    def perform_create(self, serializer):
        self._check_membership_rights(serializer.validated_data)
        customer = services.customer_create(**serializer.validated_data, by=self.request.user)
        serializer.instance = customers_queryset().get(pk=customer.pk)

    def perform_update(self, serializer):
        self._check_membership_rights(serializer.validated_data)
        customer = services.customer_update(
            customer=serializer.instance, by=self.request.user, **serializer.validated_data
        )
        serializer.instance = customers_queryset().get(pk=customer.pk)

    @extend_schema(
        summary="Remove a customer: deleted if it never had a membership nor usage, "
        "archived otherwise",
        responses=REMOVAL_RESPONSES,
    )
    def destroy(self, request: Request, *args, **kwargs) -> Response:
        removed = services.customer_delete(customer=self.get_object(), by=request.user)
        return removal_response(removed)
