"""The groups API (``/api/v1/groups``): groups, their members and membership history.

Thin handlers: serializers parse and validate the input, ``groups.services`` does every write
(atomically, with its own validation), and the querysets are annotated so a page of any list
costs the same few queries whatever its length.
"""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from groups import services, validation
from groups.api.common import (
    CUSTOMER_MISMATCH,
    CUSTOMER_REQUIRED,
    REMOVAL_RESPONSES,
    UNKNOWN_CUSTOMER,
    UNKNOWN_EXTERNAL_ID,
    CustomerRefSerializer,
    VersionedMixin,
    parse_uuid,
    removal_response,
    update_fields,
    versioned_schema,
)
from groups.api.customers import CustomerSerializer, customers_queryset
from groups.models import Customer, CustomerGroup, Membership


def groups_queryset() -> QuerySet[CustomerGroup]:
    """Groups with ``member_count`` (one correlated subquery, no GROUP BY over memberships)."""
    return CustomerGroup.objects.with_member_count().order_by("name", "id")


class GroupFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", help_text="Part of the name, code or description (any case)."
    )
    code = django_filters.CharFilter(field_name="code", lookup_expr="iexact")
    empty = django_filters.BooleanFilter(
        method="filter_empty", help_text="true: groups without current members; false: with."
    )

    class Meta:
        model = CustomerGroup
        fields = ["search", "code", "empty"]

    def filter_search(self, queryset, name, value):
        return queryset.search(value)

    def filter_empty(self, queryset, name, value):
        return queryset.empty() if value else queryset.non_empty()


class GroupSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200)
    code = serializers.SlugField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="Derived from the name when left out or blank.",
    )
    description = validation.ApiDescriptionField()
    expires_on = validation.ApiDateField(required=False, allow_null=True)
    version = serializers.IntegerField(read_only=True, help_text="Also the ETag, quoted.")
    member_count = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class MembershipSerializer(serializers.Serializer):
    """One membership period of a customer in a group."""

    group_id = serializers.UUIDField(read_only=True)
    customer = CustomerRefSerializer(read_only=True)
    joined_at = serializers.DateTimeField(read_only=True)
    joined_by = serializers.CharField(
        source="joined_by.username", read_only=True, allow_null=True, default=None
    )
    left_at = serializers.DateTimeField(read_only=True, allow_null=True)
    left_by = serializers.CharField(
        source="left_by.username", read_only=True, allow_null=True, default=None
    )
    joined_by_criteria_version = serializers.IntegerField(read_only=True, allow_null=True)
    left_by_criteria_version = serializers.IntegerField(read_only=True, allow_null=True)
    left_reason = serializers.CharField(
        read_only=True, help_text="criteria, expiry, or empty for a person's removal."
    )
    backdated_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the start was recorded, if it was entered as earlier than that "
        "(a backdated join); null for a join recorded as it happened.",
    )
    backdated_by = serializers.CharField(
        source="backdated_by.username",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="Who recorded the backdated start.",
    )


class MemberAddSerializer(serializers.Serializer):
    """Names the customer to add. A well-formed id that matches nobody is a 404 (the customer
    does not exist), as for ids in paths; a malformed one is a 400 on its field."""

    customer_id = serializers.UUIDField(required=False)
    external_id = serializers.CharField(required=False, max_length=100)
    joined_at = serializers.DateTimeField(
        required=False,
        help_text="Member since: when the membership starts, if earlier than now (a backdated "
        "join, recorded with who did it). Not in the future, and not overlapping another "
        "period of the same customer in the group. Without an offset it is read in the billing "
        "time zone. A current member who joined later has the start moved back.",
    )

    def validate(self, attrs):
        customer_id, external_id = attrs.get("customer_id"), attrs.get("external_id")
        if customer_id is None and not external_id:
            raise serializers.ValidationError({"customer_id": [CUSTOMER_REQUIRED]})
        customer = None
        if customer_id is not None:
            customer = Customer.objects.filter(pk=customer_id).first()
            if customer is None:
                raise NotFound(UNKNOWN_CUSTOMER)
        if external_id:
            if customer is not None:
                if customer.external_id != external_id:
                    raise serializers.ValidationError({"external_id": [CUSTOMER_MISMATCH]})
            else:
                customer = Customer.objects.filter(external_id=external_id).first()
                if customer is None:
                    raise NotFound(UNKNOWN_EXTERNAL_ID)
        attrs["customer"] = customer
        return attrs


@versioned_schema
@extend_schema(tags=["groups"])
class GroupViewSet(VersionedMixin, viewsets.ModelViewSet):
    """Customer groups; only pricing managers (and superusers) change them."""

    serializer_class = GroupSerializer
    filterset_class = GroupFilter
    queryset = CustomerGroup.objects.all()
    # Actions below override this per action (see RolePermission).
    required_permissions = None

    def get_queryset(self):
        return groups_queryset()

    def _fetch(self, pk) -> CustomerGroup:
        return groups_queryset().get(pk=pk)

    def perform_create(self, serializer):
        group = services.group_create(**serializer.validated_data, by=self.request.user)
        serializer.instance = self._fetch(group.pk)

    def perform_update(self, serializer):
        fields = update_fields(serializer, {"description": "", "expires_on": None})
        group = services.group_update(
            group=serializer.instance,
            by=self.request.user,
            expected_version=self.expected_version(),
            **fields,
        )
        serializer.instance = self._fetch(group.pk)

    @extend_schema(
        summary="Remove a group: deleted if it never had a member, archived otherwise",
        responses=REMOVAL_RESPONSES,
    )
    def destroy(self, request: Request, *args, **kwargs) -> Response:
        removed = services.group_delete(
            group=self.get_object(), by=request.user, expected_version=self.expected_version()
        )
        return removal_response(removed)

    def get_group(self) -> CustomerGroup:
        """The group of the URL without annotations (membership actions need no count)."""
        group = CustomerGroup.objects.filter(pk=parse_uuid(self.kwargs["pk"])).first()
        if group is None:
            raise NotFound()
        return group

    @extend_schema(
        methods=["GET"],
        summary="Current members of the group",
        responses=CustomerSerializer(many=True),
        filters=False,
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a customer to the group (idempotent)",
        request=MemberAddSerializer,
        responses={
            201: OpenApiResponse(MembershipSerializer, description="Added."),
            200: OpenApiResponse(
                MembershipSerializer,
                description="Already a member (since ``joined_at`` or earlier), or the current "
                "membership's start moved back to ``joined_at``.",
            ),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="customers",
        filterset_class=None,
        required_permissions={
            "GET": ["groups.view_customer", "groups.view_membership"],
            "POST": ["groups.add_membership"],
        },
    )
    def customers(self, request: Request, pk=None) -> Response:
        group = self.get_group()
        if request.method == "POST":
            serializer = MemberAddSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            membership, created = services.membership_add(
                group=group,
                customer=serializer.validated_data["customer"],
                by=request.user,
                joined_at=serializer.validated_data.get("joined_at"),
            )
            membership = Membership.objects.select_related(
                "customer", "joined_by", "backdated_by"
            ).get(pk=membership.pk)
            return Response(
                MembershipSerializer(membership).data,
                status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            )
        members = customers_queryset().filter(
            pk__in=Membership.objects.current().filter(group=group).values("customer_id")
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(
        summary="Remove a customer from the group (history keeps the period)",
        parameters=[
            OpenApiParameter("customer_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
        ],
        request=None,
        responses={204: None},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"customers/(?P<customer_id>[^/.]+)",
        url_name="member",
        filterset_class=None,
        required_permissions={"DELETE": ["groups.delete_membership"]},
    )
    def remove_member(self, request: Request, pk=None, customer_id=None) -> Response:
        group = self.get_group()
        customer = Customer.objects.filter(pk=parse_uuid(customer_id)).first()
        if customer is None:
            raise NotFound(UNKNOWN_CUSTOMER)
        try:
            services.membership_remove(group=group, customer=customer, by=request.user)
        except DjangoValidationError as exc:
            raise NotFound(exc.messages[0]) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Membership periods of the group, newest first",
        responses=MembershipSerializer(many=True),
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        filterset_class=None,
        required_permissions={"GET": ["groups.view_customergroup", "groups.view_membership"]},
    )
    def history(self, request: Request, pk=None) -> Response:
        group = self.get_group()
        periods = (
            Membership.objects.filter(group=group)
            .select_related("customer", "joined_by", "left_by", "backdated_by")
            .order_by("-joined_at", "-id")
        )
        page = self.paginate_queryset(periods)
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)
