"""API error handling: validation, protection and stale-version errors become 400, 409, 412."""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from groups.errors import validation_error_detail
from groups.versions import StaleEdit


def api_exception_handler(exc, context):
    """Map domain exceptions raised by services to the API's documented status codes."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_error_detail(exc))
    elif isinstance(exc, ProtectedError | RestrictedError):
        return Response({"detail": exc.args[0]}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, StaleEdit):
        # If-Match named a version that is no longer current: nothing was changed.
        return Response(
            {"detail": exc.message, "version": exc.current_version},
            status=status.HTTP_412_PRECONDITION_FAILED,
            headers={"ETag": f'"{exc.current_version}"'},
        )
    elif isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound()
    return exception_handler(exc, context)
