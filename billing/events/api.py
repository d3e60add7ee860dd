"""``/api/v1/webhook-endpoints``: endpoints, their delivery log and a test event, for pricing
managers (the same permissions as the pages; endpoints carry their signing secret)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from billing.events import services
from billing.events.models import Delivery, DeliveryState, Endpoint
from billing.events.types import EVENT_TYPE_NAMES


class EndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_NAMES), min_length=1, max_length=20
    )
    is_active = serializers.BooleanField(required=False, default=True)
    secret = serializers.CharField(
        read_only=True, help_text="Signs every request: Ratecard-Signature t=…,v1=HMAC-SHA256."
    )
    created_at = serializers.DateTimeField(read_only=True)


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    event_id = serializers.UUIDField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    state = serializers.ChoiceField(choices=DeliveryState.choices, read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    last_status_code = serializers.IntegerField(read_only=True, allow_null=True)
    last_error = serializers.CharField(read_only=True)
    next_attempt_at = serializers.DateTimeField(read_only=True)
    delivered_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)


@extend_schema(tags=["webhooks"])
class WebhookEndpointViewSet(viewsets.ModelViewSet):
    """Webhook endpoints; thin handlers over ``billing.events.services``."""

    serializer_class = EndpointSerializer
    queryset = Endpoint.objects.order_by("url", "pk")

    @property
    def required_permissions(self) -> dict | None:
        """The extra actions' permissions (``billing.permissions.RolePermission`` reads them);
        the others are the endpoint model's own."""
        if self.action == "test":
            return {"POST": ["billing.change_endpoint"]}
        if self.action == "deliveries":
            return {"GET": ["billing.view_endpoint"]}
        return None

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.endpoint_create(
            url=data["url"],
            event_types=data["event_types"],
            description=data.get("description", ""),
            by=self.request.user,
        )
        if not data.get("is_active", True):
            services.endpoint_update(
                endpoint=serializer.instance,
                url=serializer.instance.url,
                event_types=serializer.instance.event_types,
                description=serializer.instance.description,
                is_active=False,
            )

    def perform_update(self, serializer):
        endpoint, data = serializer.instance, serializer.validated_data
        serializer.instance = services.endpoint_update(
            endpoint=endpoint,
            url=data.get("url", endpoint.url),
            event_types=data.get("event_types", endpoint.event_types),
            description=data.get(
                "description", "" if not serializer.partial else endpoint.description
            ),
            is_active=data.get("is_active", True if not serializer.partial else endpoint.is_active),
        )

    def perform_destroy(self, instance):
        services.endpoint_delete(endpoint=instance)

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer, 404: OpenApiResponse(description="No such endpoint")},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk=None) -> Response:
        """Send a test event (``endpoint.test``) to this endpoint only."""
        delivery = services.endpoint_send_test(endpoint=self.get_object(), by=request.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk=None) -> Response:
        """The endpoint's delivery log, newest first."""
        endpoint = self.get_object()
        queryset = Delivery.objects.filter(endpoint=endpoint).select_related("event")
        page = self.paginate_queryset(queryset.order_by("-created_at", "-pk"))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
