"""JSON API for customer groups, customers and memberships (``/api/v1/groups``, ``/customers``).

By role: ``groups`` (groups, their members and history), ``customers``, and ``common`` (the
helpers the pricing API shares: references, error mapping, id parsing, versions, removals).
"""

from groups.api.common import (
    CUSTOMER_MISMATCH,
    CUSTOMER_REQUIRED,
    ETAG,
    IF_MATCH,
    REMOVAL_RESPONSES,
    UNKNOWN_CUSTOMER,
    UNKNOWN_EXTERNAL_ID,
    CustomerRefSerializer,
    GroupRefSerializer,
    RemovalSerializer,
    VersionedMixin,
    api_validation_error,
    parse_uuid,
    removal_response,
    update_fields,
    versioned_schema,
)
from groups.api.customers import (
    MEMBERSHIP_PERMISSIONS,
    CustomerFilter,
    CustomerSerializer,
    CustomerViewSet,
    customers_queryset,
)
from groups.api.groups import (
    GroupFilter,
    GroupSerializer,
    GroupViewSet,
    MemberAddSerializer,
    MembershipSerializer,
    groups_queryset,
)

__all__ = [
    "CUSTOMER_MISMATCH",
    "CUSTOMER_REQUIRED",
    "ETAG",
    "IF_MATCH",
    "MEMBERSHIP_PERMISSIONS",
    "REMOVAL_RESPONSES",
    "UNKNOWN_CUSTOMER",
    "UNKNOWN_EXTERNAL_ID",
    "CustomerFilter",
    "CustomerRefSerializer",
    "CustomerSerializer",
    "CustomerViewSet",
    "GroupFilter",
    "GroupRefSerializer",
    "GroupSerializer",
    "GroupViewSet",
    "MemberAddSerializer",
    "MembershipSerializer",
    "RemovalSerializer",
    "VersionedMixin",
    "api_validation_error",
    "customers_queryset",
    "groups_queryset",
    "parse_uuid",
    "removal_response",
    "update_fields",
    "versioned_schema",
]
