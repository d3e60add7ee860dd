"""JSON API for changesets (``/api/v1/changesets``): drafts, the review, publishing, rollback.

Thin handlers over :mod:`pricing.changesets`; the same permissions as the pages: support staff
read, pricing managers draft and submit, another pricing manager approves or rejects
(``pricing.approve_changeset``), publishing, scheduling and rollback need
``pricing.publish_changeset``. A wrong state answers 400 with the reason; a publication whose
base moved answers 409 with the conflicts.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from groups.api import api_validation_error
from pricing.api import RULE_RENAMES, InstantField, PriceListSerializer, PricingRuleSerializer
from pricing.changesets import publish as changeset_publish
from pricing.changesets import selectors
from pricing.changesets import services as changesets
from pricing.changesets.diff import change_diffs
from pricing.models import (
    ChangeAction,
    ChangeKind,
    Changeset,
    ChangesetChange,
    PriceList,
    PricingRule,
)

UNKNOWN_TARGET = "No {kind} has this id."
TARGET_REQUIRED = "Give the id of the {kind} to change (target_id)."
PRICE_LIST_ACTIONS = (ChangeAction.CREATE, ChangeAction.UPDATE, ChangeAction.DELETE)
WRONG_ACTION = "A price list can be created, edited or deleted (not {action})."


class FieldDiffSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()


class ItemDiffSerializer(serializers.Serializer):
    item_code = serializers.CharField()
    status = serializers.ChoiceField(choices=["added", "removed", "changed"])
    fields = FieldDiffSerializer(many=True)


class ChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="change.pk")
    kind = serializers.ChoiceField(choices=ChangeKind.choices, source="change.kind")
    action = serializers.ChoiceField(choices=ChangeAction.choices, source="change.action")
    target_id = serializers.UUIDField(source="change.target_id", allow_null=True)
    label = serializers.CharField(source="change.label")
    base_version = serializers.IntegerField(source="change.base_version", allow_null=True)
    before = serializers.JSONField(source="change.before", allow_null=True)
    after = serializers.JSONField(source="change.after", allow_null=True)
    fields = FieldDiffSerializer(many=True, help_text="Fields that differ, old and new.")
    items = ItemDiffSerializer(many=True, help_text="A price list's items that differ.")


class EventSerializer(serializers.Serializer):
    action = serializers.CharField()
    by = serializers.CharField(source="by.username", allow_null=True, default=None, read_only=True)
    at = serializers.DateTimeField()
    comment = serializers.CharField()


class ChangesetSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reviewed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    published_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    rollback_of_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Changeset
        fields = [
            "id",
            "title",
            "description",
            "state",
            "author",
            "created_at",
            "submitted_at",
            "reviewed_by",
            "reviewed_at",
            "review_comment",
            "approval_bypassed",
            "scheduled_for",
            "published_at",
            "published_by",
            "rollback_of_id",
        ]
        read_only_fields = [f for f in fields if f not in ("title", "description")]


class ChangesetDetailSerializer(ChangesetSerializer):
    changes = serializers.SerializerMethodField()
    events = EventSerializer(many=True, read_only=True)

    class Meta(ChangesetSerializer.Meta):
        fields = [*ChangesetSerializer.Meta.fields, "changes", "events"]

    @extend_schema_field(ChangeSerializer(many=True))
    def get_changes(self, changeset) -> list[dict]:
        return ChangeSerializer(change_diffs(changeset.changes.all()), many=True).data


class ChangeInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ChangeKind.choices)
    action = serializers.ChoiceField(choices=ChangeAction.choices)
    target_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The rule or price list changed (not for create).",
    )
    base_version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The version you read (its ETag); defaults to the current one.",
    )
    fields = serializers.DictField(
        required=False,
        help_text="For create and update: the rule's or price list's fields as their own "
        "endpoints take them (update: only those that change; items replace all items).",
    )


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ScheduleSerializer(serializers.Serializer):
    at = InstantField(help_text="When to publish; without an offset, in the billing time zone.")


class ConflictSerializer(serializers.Serializer):
    label = serializers.CharField()
    kind = serializers.CharField()
    who = serializers.CharField()
    when = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())


CONFLICT_RESPONSE = inline_serializer(
    "ChangesetConflicts",
    {"detail": serializers.CharField(), "conflicts": ConflictSerializer(many=True)},
)
_PERMISSIONS = {
    "list": "pricing.view_changeset",
    "retrieve": "pricing.view_changeset",
    "create": "pricing.add_changeset",
    "partial_update": "pricing.change_changeset",
    "update": "pricing.change_changeset",
    "changes": "pricing.change_changeset",
    "remove_change": "pricing.change_changeset",
    "submit": "pricing.change_changeset",
    "reopen": "pricing.change_changeset",
    "withdraw": "pricing.change_changeset",
    "rebase": "pricing.change_changeset",
    "approve": "pricing.approve_changeset",
    "reject": "pricing.approve_changeset",
    "publish": "pricing.publish_changeset",
    "schedule": "pricing.publish_changeset",
    "unschedule": "pricing.publish_changeset",
    "rollback": "pricing.publish_changeset",
}


@extend_schema(tags=["changesets"])
class ChangesetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Changesets: named bundles of pending rule and price list changes, reviewed by a second
    pricing manager and published (now or at an instant) in one transaction."""

    queryset = Changeset.objects.all()
    serializer_class = ChangesetSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def required_permissions(self) -> dict:
        perm = _PERMISSIONS.get(getattr(self, "action", None) or "", "__denied__.unknown")
        return {method: [perm] for method in ("GET", "HEAD", "POST", "PATCH", "DELETE")} | {
            "OPTIONS": ["pricing.view_changeset"]
        }

    def get_queryset(self):
        if self.action == "list":
            return selectors.changesets_list(state=self.request.query_params.get("state", ""))
        return selectors.changeset_detail()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ChangesetDetailSerializer
        return ChangesetSerializer

    def perform_create(self, serializer):
        try:
            serializer.instance = changesets.changeset_create(
                **serializer.validated_data, by=self.request.user
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc

    def perform_update(self, serializer):
        changeset = serializer.instance
        if not changeset.editable:
            raise api_validation_error(
                DjangoValidationError(
                    changesets.NOT_EDITABLE.format(title=changeset.title, state=changeset.state)
                )
            )
        serializer.save()

    def _detail(self, changeset, code=status.HTTP_200_OK) -> Response:
        fresh = selectors.changeset_detail().get(pk=changeset.pk)
        return Response(ChangesetDetailSerializer(fresh).data, status=code)

    def _run(self, call, **kwargs) -> Response:
        try:
            result = call(changeset=self.get_object(), by=self.request.user, **kwargs)
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return self._detail(result)

    @extend_schema(
        request=ChangeInputSerializer,
        responses={201: ChangesetDetailSerializer, 400: OpenApiResponse(description="Invalid")},
        summary="Add a change (or replace this changeset's change of the same object)",
    )
    @action(detail=True, methods=["post"])
    def changes(self, request, pk=None):
        changeset = self.get_object()
        data = ChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind, verb = data.validated_data["kind"], data.validated_data["action"]
        target_id = data.validated_data.get("target_id")
        model = PricingRule if kind == ChangeKind.RULE else PriceList
        target = None
        if verb != ChangeAction.CREATE:
            if target_id is None:
                raise serializers.ValidationError(
                    {"target_id": [TARGET_REQUIRED.format(kind=model._meta.verbose_name)]}
                )
            target = model.objects.filter(pk=target_id).first()
            if target is None:
                raise serializers.ValidationError(
                    {"target_id": [UNKNOWN_TARGET.format(kind=model._meta.verbose_name)]}
                )
        fields = {}
        if verb in (ChangeAction.CREATE, ChangeAction.UPDATE):
            inner_class = PricingRuleSerializer if kind == ChangeKind.RULE else PriceListSerializer
            inner = inner_class(
                data=data.validated_data.get("fields") or {}, partial=verb == ChangeAction.UPDATE
            )
            if not inner.is_valid():
                raise serializers.ValidationError({"fields": inner.errors})
            fields = dict(inner.validated_data)
        base = data.validated_data.get("base_version")
        try:
            if kind == ChangeKind.RULE:
                changesets.change_rule(
                    changeset=changeset,
                    action=verb,
                    rule=target,
                    by=request.user,
                    base_version=base,
                    **fields,
                )
            else:
                if verb not in PRICE_LIST_ACTIONS:
                    raise serializers.ValidationError(
                        {"action": [WRONG_ACTION.format(action=verb)]}
                    )
                changesets.change_price_list(
                    changeset=changeset,
                    action=verb,
                    price_list=target,
                    by=request.user,
                    base_version=base,
                    **fields,
                )
        except DjangoValidationError as exc:
            raise api_validation_error(exc, RULE_RENAMES) from exc
        return self._detail(changeset, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, summary="Remove one change of a draft")
    @action(detail=True, methods=["delete"], url_path=r"changes/(?P<change_id>\d+)")
    def remove_change(self, request, pk=None, change_id=None):
        changeset = self.get_object()
        change = ChangesetChange.objects.filter(changeset=changeset, pk=change_id).first()
        if change is None:
            raise NotFound()
        try:
            changesets.change_remove(change=change, by=request.user)
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ChangesetDetailSerializer, summary="Submit for review")
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._run(changesets.changeset_submit)

    @extend_schema(
        request=CommentSerializer,
        responses=ChangesetDetailSerializer,
        summary="Approve (another pricing manager than the author)",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._run(
            changesets.changeset_approve, comment=body.validated_data.get("comment", "")
        )

    @extend_schema(
        request=CommentSerializer,
        responses=ChangesetDetailSerializer,
        summary="Reject with a comment (another pricing manager than the author)",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._run(
            changesets.changeset_reject, comment=body.validated_data.get("comment", "")
        )

    @extend_schema(request=None, responses=ChangesetDetailSerializer, summary="Back to a draft")
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._run(changesets.changeset_reopen)

    @extend_schema(request=None, responses=ChangesetDetailSerializer, summary="Withdraw")
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._run(changesets.changeset_withdraw)

    @extend_schema(
        request=None,
        responses=ChangesetDetailSerializer,
        summary="Take the objects' current versions as the base (after conflicts)",
    )
    @action(detail=True, methods=["post"])
    def rebase(self, request, pk=None):
        return self._run(changesets.changeset_rebase)

    @extend_schema(
        request=None,
        responses={200: ChangesetDetailSerializer, 409: CONFLICT_RESPONSE},
        summary="Publish now, in one transaction (409 with the conflicts when a base moved)",
    )
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        try:
            changeset = changeset_publish.changeset_publish(
                changeset=self.get_object(), by=request.user
            )
        except changeset_publish.ChangesetConflict as exc:
            return Response(
                {
                    "detail": exc.messages[0],
                    "conflicts": ConflictSerializer(exc.conflicts, many=True).data,
                },
                status=status.HTTP_409_CONFLICT,
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return self._detail(changeset)

    @extend_schema(
        request=ScheduleSerializer,
        responses=ChangesetDetailSerializer,
        summary="Publish at an instant (billing time zone when no offset is given)",
    )
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        body = ScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._run(changesets.changeset_schedule, at=body.validated_data["at"])

    @extend_schema(request=None, responses=ChangesetDetailSerializer, summary="Cancel the schedule")
    @action(detail=True, methods=["post"])
    def unschedule(self, request, pk=None):
        return self._run(changesets.changeset_unschedule)

    @extend_schema(
        request=None,
        responses={201: ChangesetDetailSerializer},
        summary="Draft the inverse of a published changeset (not published)",
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        try:
            inverse = changesets.changeset_rollback(changeset=self.get_object(), by=request.user)
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return self._detail(inverse, status.HTTP_201_CREATED)
