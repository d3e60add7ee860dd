"""How a service's ``ValidationError`` reads in the API, for every app's API alike.

It lives in ``groups``, the lowest layer, so the groups API needs nothing from ``billing``;
``billing.exceptions`` (the API's exception handler) uses it too.
"""

from django.core.exceptions import ValidationError


def validation_error_detail(error: ValidationError) -> dict | list:
    """Shape a Django ``ValidationError`` like DRF's: ``{"field": ["message", ...]}``."""
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}
