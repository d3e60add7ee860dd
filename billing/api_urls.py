"""The JSON REST API under /api/v1/ (paths work with and without a trailing slash).

Also the JSON answers for unknown URLs and server errors under /api/ (``billing.urls`` points its
``handler404``/``handler500`` here), so integrations never receive an HTML error page.
"""

import sys

from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views import defaults
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import permissions
from rest_framework.routers import APIRootView, DefaultRouter

from billing.events.api import WebhookEndpointViewSet
from billing.middleware import database_unavailable, is_connection_error
from groups.api import CustomerViewSet, GroupViewSet
from groups.criteria.api import (
    GroupCriteriaPreviewView,
    GroupCriteriaRefreshView,
    GroupCriteriaView,
)
from pricing.api import PriceListViewSet, PricingRuleViewSet, RateView, UsageRecordViewSet
from pricing.api_changesets import ChangesetViewSet
from pricing.api_price_book import PriceBookView

OPTIONAL_SLASH = "/?"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class ApiRootView(APIRootView):
    """Links to every collection, for any signed-in user."""

    permission_classes = [permissions.IsAuthenticated]


class Router(DefaultRouter):
    """DRF's router with the trailing slash optional (``/groups`` and ``/groups/`` both work)."""

    include_format_suffixes = False
    APIRootView = ApiRootView

    def __init__(self) -> None:
        super().__init__()
        # DRF's constructor only knows "/" or "", so the optional slash is set afterwards.
        self.trailing_slash = OPTIONAL_SLASH


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema, JSON unless the client asks for YAML (``Accept``)."""

    renderer_classes = [
        OpenApiJsonRenderer2,
        OpenApiJsonRenderer,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from the vendored sidecar files; its script is a separate static-like URL."""

    template_name = "api/swagger_ui.html"


router = Router()
router.register("groups", GroupViewSet, basename="group")
router.register("customers", CustomerViewSet, basename="customer")
router.register("price-lists", PriceListViewSet, basename="price-list")
router.register("pricing-rules", PricingRuleViewSet, basename="pricing-rule")
router.register("changesets", ChangesetViewSet, basename="changeset")
router.register("usage-records", UsageRecordViewSet, basename="usage-record")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    re_path(r"^rate/?$", RateView.as_view(), name="api-rate"),
    re_path(r"^price-book/?$", PriceBookView.as_view(), name="api-price-book"),
    re_path(
        rf"^groups/(?P<pk>{UUID})/criteria/?$", GroupCriteriaView.as_view(), name="api-criteria"
    ),
    re_path(
        rf"^groups/(?P<pk>{UUID})/criteria/preview/?$",
        GroupCriteriaPreviewView.as_view(),
        name="api-criteria-preview",
    ),
    re_path(
        rf"^groups/(?P<pk>{UUID})/criteria/refresh/?$",
        GroupCriteriaRefreshView.as_view(),
        name="api-criteria-refresh",
    ),
    re_path(r"^schema/?$", SchemaView.as_view(), name="api-schema"),
    re_path(r"^docs/?$", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
]


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def not_found(request: HttpRequest, exception=None):
    """404: JSON under /api/, the usual page elsewhere."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    """500: JSON under /api/, the usual page elsewhere; 503 when the database is unreachable.

    Django calls this for an exception raised anywhere in the request, middleware included,
    while the exception is being handled: a pool timeout met loading the session (before any
    view runs) or saving it (after) answers the same 503 as one met in a view.
    """
    exception = sys.exception()
    if is_connection_error(exception):
        return database_unavailable(request, exception)
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
