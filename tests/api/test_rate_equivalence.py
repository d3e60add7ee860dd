"""The rate endpoint and stored records agree with the engine for every price model.

Hypothesis builds the worlds of ``tests/pricing/test_batch_equivalence.py`` (every mode,
increments, minimum charges, derived lists); each record is then rated by ``POST /api/v1/rate``
and stored by ``POST /api/v1/usage-records``, and both must show what the engine computes for
the winning rule's price: the amount, unit price, billed quantity and breakdown.
"""

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import given
from rest_framework.test import APIClient

from billing.roles import PRICING_MANAGERS
from pricing import engine
from pricing.selectors import evaluate
from tests import factories
from tests.pricing.test_batch_equivalence import _build, settings_, worlds


def _body(data) -> dict:
    return {
        "customer_id": str(data["customer"].pk),
        "billing_category": data["billing_category"],
        "item_code": data["item_code"],
        "quantity": str(data["quantity"]),
        "occurred_at": data["occurred_at"].isoformat(),
    }


def _money(value, places: int) -> str | None:
    return None if value is None else f"{value:.{places}f}"


@pytest.mark.django_db
@settings_
@given(world=worlds())
def test_the_rate_endpoint_and_stored_records_equal_the_engine(world):
    with transaction.atomic():
        client = APIClient()
        client.force_authenticate(factories.user("eq-manager", role=PRICING_MANAGERS))
        inputs = _build(world)
        for data in inputs:
            result = evaluate(**data).result
            rated = client.post("/api/v1/rate", _body(data), format="json").json()
            stored = client.post("/api/v1/usage-records", _body(data), format="json").json()
            assert rated["rated"] is result.rated
            assert stored["status"] == ("rated" if result.rated else "unrated")
            if not result.rated:
                assert rated["reason"] == stored["unrated_reason"] == result.reason
                assert rated["price_breakdown"] is stored["price_breakdown"] is None
                continue
            price = result.rule.prices[data["item_code"]]
            charge = engine.charge(price, data["quantity"])
            assert charge == result.charge
            # Read back: the breakdown is worked out again from the terms the record keeps.
            fetched = client.get(f"/api/v1/usage-records/{stored['id']}").json()
            for answer in (rated, stored, fetched):
                assert answer["rule_code"] == result.rule.code
                assert answer["amount"] == _money(charge.amount, 2)
                assert answer["unit_price"] == _money(charge.unit_price, 6)
                assert Decimal(answer["billed_quantity"]) == charge.billed_quantity
                assert answer["price_breakdown"] == charge.breakdown()
            assert rated["price_source"] == price.source(data["item_code"])
        transaction.set_rollback(True)


@pytest.mark.django_db
@settings_
@given(world=worlds())
def test_many_records_without_a_trace_equal_the_engine(world):
    """``{"records": [...]}`` with ``?trace=0`` rates through the cached book's index; every
    answer is the book's own (the same call with the trace, less the trace), and the engine's."""
    with transaction.atomic():
        client = APIClient()
        client.force_authenticate(factories.user("eq-many", role=PRICING_MANAGERS))
        inputs = _build(world)
        body = {"records": [_body(data) for data in inputs]}
        quick = client.post("/api/v1/rate?trace=0", body, format="json").json()
        traced = client.post("/api/v1/rate", body, format="json").json()
        assert len(quick) == len(traced) == len(inputs)
        for data, answer, full in zip(inputs, quick, traced, strict=True):
            full.pop("trace")
            assert answer == full
            result = evaluate(**data).result
            assert answer["rated"] is result.rated
            assert answer["reason"] == result.reason
            assert answer["amount"] == _money(result.amount, 2)
        transaction.set_rollback(True)
