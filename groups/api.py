"""JSON API for customer groups, customers and memberships (``/api/v1/groups``, ``/customers``).

Thin handlers: serializers parse and validate the input, ``groups.services`` does every write
(atomically, with its own validation), and the querysets below are joined and annotated so a page
of any list costs the same few queries whatever its length. Also holds the small helpers the
pricing API shares (references, error key mapping, id parsing).
"""

import re
import uuid
from collections.abc import Mapping

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from groups import services, validation
from groups.errors import validation_error_detail
from groups.models import Customer, CustomerGroup, Membership
from groups.versions import Expected

UNKNOWN_CUSTOMER = "No customer with this id."
UNKNOWN_EXTERNAL_ID = "No customer with this external ID."
CUSTOMER_REQUIRED = "Give customer_id or external_id."
CUSTOMER_MISMATCH = "customer_id and external_id name different customers."

MEMBERSHIP_PERMISSIONS = ["groups.add_membership", "groups.delete_membership"]


# --- Shared helpers ---------------------------------------------------------------------------


def parse_uuid(value) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (malformed ids are "not found")."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def api_validation_error(
    error: DjangoValidationError, renames: Mapping[str, str] | None = None
) -> serializers.ValidationError:
    """A service's ``ValidationError`` as a DRF one, with model field names renamed for the API.

    Services speak in model fields (``price_list``); the API's fields are ``price_list_id``.
    """
    detail = validation_error_detail(error)
    if isinstance(detail, dict) and renames:
        detail = {renames.get(key, key): value for key, value in detail.items()}
    return serializers.ValidationError(detail)


def update_fields(serializer: serializers.Serializer, clearable: Mapping[str, object]) -> dict:
    """The fields an update sets, from a validated serializer.

    PATCH sends what changes. PUT replaces the resource, so the clearable (nullable or blank)
    fields it leaves out are cleared rather than kept.
    """
    if serializer.partial:
        return dict(serializer.validated_data)
    return {**clearable, **serializer.validated_data}


# --- Versions: ETag and If-Match --------------------------------------------------------------

_ENTITY_TAG = re.compile(r'\s*"([0-9]{1,10})"\s*')
ETAG = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description='The version of the resource as a quoted number, e.g. "3" (also its `version` '
    "field). Send it back in If-Match to change the resource only if nobody has meanwhile.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description='The ETag the change is based on, e.g. "3" (or a comma-separated list, or *). '
    "When the resource has changed since, nothing is changed and the answer is 412.",
)
versioned_schema = extend_schema_view(
    retrieve=extend_schema(parameters=[ETAG]),
    create=extend_schema(parameters=[ETAG]),
    update=extend_schema(parameters=[IF_MATCH, ETAG]),
    partial_update=extend_schema(parameters=[IF_MATCH, ETAG]),
    destroy=extend_schema(parameters=[IF_MATCH]),
)
_ONE_RESOURCE = frozenset({"retrieve", "create", "update", "partial_update"})


class VersionedMixin:
    """ETag on the answers that show one resource, If-Match on the writes that change it.

    The ETag is the row's ``version`` (:class:`groups.models.Versioned`), quoted. Handlers pass
    :meth:`expected_version` to the service, which refuses a stale write with
    :class:`groups.versions.StaleEdit`: 412 (``billing.exceptions``).
    """

    def expected_version(self) -> Expected:
        """The versions ``If-Match`` accepts: ``None`` without the header or for ``*``."""
        header = self.request.headers.get("If-Match")
        if header is None or header.strip() == "*":
            return None
        tags = (_ENTITY_TAG.fullmatch(tag) for tag in header.split(","))
        # A malformed or weak tag matches nothing, so the write is refused (RFC 9110, 13.1.1).
        return frozenset(int(tag.group(1)) for tag in tags if tag)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        if (
            getattr(self, "action", None) in _ONE_RESOURCE
            and 200 <= response.status_code < 300
            and isinstance(data, Mapping)
            and "version" in data
        ):
            response["ETag"] = f'"{data["version"]}"'
        return response


class RemovalSerializer(serializers.Serializer):
    """What a DELETE did when it did not simply delete (204): the row was archived."""

    result = serializers.ChoiceField(choices=[r.value for r in services.Removal])
    detail = serializers.CharField()


REMOVAL_RESPONSES = {
    204: OpenApiResponse(description="Deleted: it never had a membership (nor usage)."),
    200: OpenApiResponse(
        RemovalSerializer,
        description="Archived instead: it has history, which is kept; it no longer appears in "
        "lists and answers 404 from now on.",
    ),
}


def removal_response(removed: services.Removed) -> Response:
    """204 for a deletion; 200 saying so for an archiving, so a client knows which it was."""
    if removed.outcome is services.Removal.DELETED:
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response({"result": removed.outcome.value, "detail": removed.message})


class GroupRefSerializer(serializers.Serializer):
    """A group as other resources mention it."""

    id = serializers.UUIDField(read_only=True)
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class CustomerRefSerializer(serializers.Serializer):
    """A customer as other resources mention it."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    external_id = serializers.CharField(read_only=True, allow_null=True)


# --- Querysets --------------------------------------------------------------------------------


def groups_queryset() -> QuerySet[CustomerGroup]:
    """Groups with ``member_count`` (one correlated subquery, no GROUP BY over memberships)."""
    return CustomerGroup.objects.with_member_count().order_by("name", "id")


def customers_queryset() -> QuerySet[Customer]:
    """Customers with their current groups prefetched in one extra query per page."""
    current = (
        Membership.objects.current().select_related("group").order_by("group__name", "group_id")
    )
    return Customer.objects.prefetch_related(
        Prefetch("memberships", queryset=current, to_attr="current_memberships")
    ).order_by("name", "id")


# --- Filters ----------------------------------------------------------------------------------


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


# --- Serializers ------------------------------------------------------------------------------


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


# --- Views ------------------------------------------------------------------------------------


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
