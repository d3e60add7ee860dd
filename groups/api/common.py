"""What every API resource shares: id parsing, error mapping, updates, versions, removals.

The pricing API uses these too (``pricing.api``), so its answers read like the groups API's.
"""

import re
import uuid
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.response import Response

from groups import services
from groups.errors import validation_error_detail
from groups.versions import Expected

UNKNOWN_CUSTOMER = "No customer with this id."
UNKNOWN_EXTERNAL_ID = "No customer with this external ID."
CUSTOMER_REQUIRED = "Give customer_id or external_id."
CUSTOMER_MISMATCH = "customer_id and external_id name different customers."


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
