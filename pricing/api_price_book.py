"""``GET /api/v1/price-book``: the rules and prices in force at an instant, from the history,
and (``customer_id`` or ``external_id``) what that customer paid per unit of each item then."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from groups.models import Customer
from pricing.api import InstantField
from pricing.changesets.asof import price_book_as_of, price_text
from pricing.clock import billing_now

UNKNOWN_CUSTOMER = "No customer has this id or external ID."


class PriceBookQuerySerializer(serializers.Serializer):
    at = InstantField(required=False, help_text="The instant (default: now).")
    customer_id = serializers.UUIDField(required=False)
    external_id = serializers.CharField(required=False, max_length=100)


class BookPriceSerializer(serializers.Serializer):
    item_code = serializers.CharField()
    unit_price = serializers.CharField()
    mode = serializers.CharField()


class BookRuleSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    code = serializers.CharField()
    name = serializers.CharField()
    billing_category = serializers.CharField()
    priority = serializers.IntegerField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True)
    group_id = serializers.UUIDField(allow_null=True)
    customer_id = serializers.UUIDField(allow_null=True)
    price_list_code = serializers.CharField()
    currency = serializers.CharField()
    prices = BookPriceSerializer(many=True)


class CustomerPriceSerializer(serializers.Serializer):
    billing_category = serializers.CharField()
    item_code = serializers.CharField()
    rated = serializers.BooleanField()
    rule_code = serializers.CharField(allow_null=True)
    unit_price = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class PriceBookSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    billing_day = serializers.DateField()
    rules = BookRuleSerializer(many=True)
    customer_id = serializers.UUIDField(allow_null=True)
    customer_prices = CustomerPriceSerializer(many=True)


@extend_schema(tags=["changesets"])
class PriceBookView(generics.GenericAPIView):
    """The price book as of an instant (support answers "what was this price on 3 March?")."""

    required_permissions = {"GET": ["pricing.view_pricingrule"]}
    serializer_class = PriceBookSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        summary="Rules and prices in force at an instant",
        parameters=[
            OpenApiParameter("at", str, description="ISO 8601 instant; default now."),
            OpenApiParameter("customer_id", str, description="A customer's id."),
            OpenApiParameter("external_id", str, description="Or its external ID."),
        ],
        responses={200: PriceBookSerializer},
    )
    def get(self, request: Request) -> Response:
        query = PriceBookQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        customer = None
        if data.get("customer_id") or data.get("external_id"):
            lookup = (
                {"pk": data["customer_id"]}
                if data.get("customer_id")
                else {"external_id": data["external_id"]}
            )
            customer = Customer.objects.filter(**lookup).first()
            if customer is None:
                raise serializers.ValidationError({"customer_id": [UNKNOWN_CUSTOMER]})
        book = price_book_as_of(data.get("at") or billing_now(), customer)
        body = {
            "at": book.at,
            "billing_day": book.day,
            "rules": [
                {
                    "id": row.rule.id,
                    "code": row.rule.code,
                    "name": row.rule.name,
                    "billing_category": row.rule.billing_category,
                    "priority": row.rule.priority,
                    "valid_from": row.rule.valid_from,
                    "valid_to": row.rule.valid_to,
                    "group_id": row.rule.group_id,
                    "customer_id": row.rule.customer_id,
                    "price_list_code": row.rule.price_list_code,
                    "currency": row.rule.currency,
                    "prices": [
                        {"item_code": code, "unit_price": price, "mode": mode}
                        for code, price, mode in row.prices
                    ],
                }
                for row in book.rows
            ],
            "customer_id": customer.pk if customer else None,
            "customer_prices": [
                {
                    "billing_category": p.billing_category,
                    "item_code": p.item_code,
                    "rated": p.result.rated,
                    "rule_code": p.result.rule.code if p.result.rule else None,
                    "unit_price": price_text(p.result.amount) if p.result.rated else None,
                    "currency": p.result.currency,
                    "reason": p.result.reason or "",
                }
                for p in book.prices
            ],
        }
        return Response(PriceBookSerializer(body).data)
