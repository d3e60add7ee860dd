"""``/api/v1/groups/{id}/criteria``: a group's criteria, their preview and a refresh.

Thin handlers: serializers parse, :mod:`groups.criteria.services` validates and writes (a
``ValidationError`` becomes a 400 through the project's exception handler), nothing is
half-applied.
"""

from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from groups.criteria import conditions as kinds
from groups.criteria import refresh, services
from groups.criteria.models import GroupCriteria
from groups.models import CustomerGroup

CONDITIONS_HELP = (
    "All must hold. Each is an object with a kind: "
    '{"kind": "attribute", "field": "country|segment|signed_up_on|attribute", "key": "(free '
    'attribute name)", "op": "equals|in|not_in|before|after", "value": "CZ" or ["CZ", "SK"]}; '
    '{"kind": "group", "op": "in|not_in", "group": "<group id or code>"}; '
    '{"kind": "usage", "measure": "amount|quantity", "category": "retail", "item": "", '
    '"window": "previous_month|last_days", "days": 30, "op": "gt|gte|lt|lte", '
    '"threshold": "500000", "currency": "CZK"}.'
)


class CriteriaInputSerializer(serializers.Serializer):
    conditions = serializers.ListField(
        child=serializers.DictField(), max_length=kinds.MAX_CONDITIONS, help_text=CONDITIONS_HELP
    )
    always_include = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=10_000,
        help_text="Customer ids or external IDs that are members whatever the conditions.",
    )
    never_include = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=10_000,
        help_text="Customer ids or external IDs that are never members (wins over everything).",
    )
    minimum_stay_days = serializers.IntegerField(min_value=0, max_value=3650, default=0)


class CriteriaSerializer(CriteriaInputSerializer):
    enabled = serializers.BooleanField(
        default=True, help_text="False: stored but not applied; members are managed by hand."
    )
    version = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="On PUT, the version you read: an older one is refused (400).",
    )
    descriptions = serializers.ListField(child=serializers.CharField(), read_only=True)
    last_refreshed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_refresh = serializers.DictField(read_only=True)


class PreviewSerializer(serializers.Serializer):
    joining = serializers.IntegerField()
    leaving = serializers.IntegerField()
    held_by_minimum_stay = serializers.IntegerField()
    members_after = serializers.IntegerField()
    joining_names = serializers.ListField(child=serializers.CharField())
    leaving_names = serializers.ListField(child=serializers.CharField())


class RefreshStartedSerializer(serializers.Serializer):
    work_id = serializers.UUIDField()
    state = serializers.CharField()
    url = serializers.CharField(help_text="The work's page, with its progress.")


def _group(pk) -> CustomerGroup:
    group = CustomerGroup.objects.filter(pk=pk).first()
    if group is None:
        raise NotFound()
    return group


def _criteria_data(criteria: GroupCriteria) -> dict:
    return {
        "conditions": criteria.conditions,
        "always_include": [str(pk) for pk in criteria.always_include.values_list("pk", flat=True)],
        "never_include": [str(pk) for pk in criteria.never_include.values_list("pk", flat=True)],
        "minimum_stay_days": criteria.minimum_stay_days,
        "enabled": criteria.enabled,
        "version": criteria.version,
        "descriptions": [kinds.describe(c) for c in criteria.conditions],
        "last_refreshed_at": criteria.last_refreshed_at,
        "last_refresh": criteria.last_refresh,
    }


class _Base(generics.GenericAPIView):
    pagination_class = None
    filter_backends = []


@extend_schema(tags=["groups"])
class GroupCriteriaView(_Base):
    """The criteria of a group (404 while it has none)."""

    serializer_class = CriteriaSerializer
    required_permissions = {
        "GET": ["groups.view_groupcriteria"],
        "PUT": ["groups.change_groupcriteria", "groups.add_groupcriteria"],
    }

    @extend_schema(summary="A group's criteria", responses=CriteriaSerializer)
    def get(self, request: Request, pk) -> Response:
        criteria = GroupCriteria.objects.filter(group=_group(pk)).first()
        if criteria is None:
            raise NotFound("This group has no criteria.")
        return Response(CriteriaSerializer(_criteria_data(criteria)).data)

    @extend_schema(
        summary="Set a group's criteria (a new version; members change at the next refresh)",
        request=CriteriaSerializer,
        responses={200: CriteriaSerializer},
    )
    def put(self, request: Request, pk) -> Response:
        group = _group(pk)
        serializer = CriteriaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        criteria = services.criteria_save(
            group=group,
            conditions=data["conditions"],
            enabled=data["enabled"],
            always_include=data["always_include"],
            never_include=data["never_include"],
            minimum_stay_days=data["minimum_stay_days"],
            version=data.get("version"),
            by=request.user,
        )
        return Response(CriteriaSerializer(_criteria_data(criteria)).data)


@extend_schema(tags=["groups"])
class GroupCriteriaPreviewView(_Base):
    """Who would join and leave under the criteria posted (nothing is stored)."""

    serializer_class = CriteriaInputSerializer
    required_permissions = {"POST": ["groups.view_groupcriteria"]}

    @extend_schema(
        summary="Preview criteria: who would join, who would leave (nothing stored)",
        request=CriteriaInputSerializer,
        responses={200: PreviewSerializer},
    )
    def post(self, request: Request, pk) -> Response:
        group = _group(pk)
        serializer = CriteriaInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        spec = services.criteria_check(group=group, **serializer.validated_data)
        return Response(PreviewSerializer(refresh.preview(group, spec).as_dict()).data)


@extend_schema(tags=["groups"])
class GroupCriteriaRefreshView(_Base):
    """Start refreshing the group's members now, as background work (202)."""

    serializer_class = RefreshStartedSerializer
    required_permissions = {"POST": ["groups.add_membership"]}

    @extend_schema(
        summary="Refresh a criteria group's members now (background work)",
        request=None,
        responses={
            202: RefreshStartedSerializer,
            400: OpenApiResponse(description="The group has no criteria."),
        },
    )
    def post(self, request: Request, pk) -> Response:
        group = _group(pk)
        with transaction.atomic():
            work = services.criteria_refresh_start(group=group, by=request.user)
        data = {
            "work_id": work.pk,
            "state": work.state,
            "url": reverse("background:work_detail", args=[work.pk]),
        }
        return Response(RefreshStartedSerializer(data).data, status=status.HTTP_202_ACCEPTED)
