"""``groups.api.represent``: a serializer's output compiled once equals DRF's, value for value.

The rate endpoint writes its answers with it; these tests compare it with the serializer's own
``.data`` for the engine's results in every price model (the worlds of the batch equivalence
tests), for the worked example's customers with their groups and trace, and, through
Hypothesis, for a serializer with every kind of field it treats specially (nested, many, dotted
sources, method fields, defaults, missing keys, nulls, objects as well as dicts).
"""

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers

from groups.api.represent import Representation, representation
from pricing.api.rating import RatePriceSerializer, RateResultSerializer, rate_result
from pricing.selectors import RateRequest, evaluate_many
from tests.pricing.test_batch_equivalence import _build, settings_, worlds

OUTPUTS = (RateResultSerializer, RatePriceSerializer)


def _same(serializer_class, value) -> None:
    assert representation(serializer_class)(value) == dict(serializer_class(value).data)


@pytest.mark.django_db
@settings_
@given(world=worlds())
def test_rate_answers_equal_the_serializers_in_every_price_model(world):
    with transaction.atomic():
        evaluations = evaluate_many([RateRequest(**data) for data in _build(world)])
        for evaluation in evaluations:
            for output in OUTPUTS:
                _same(output, rate_result(evaluation))
        transaction.set_rollback(True)


def test_rate_answers_with_groups_and_trace_equal_the_serializers(worked_example):
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    requests = [
        RateRequest(customer, "retail", item, Decimal(quantity), at)
        for customer in worked_example.values()
        if hasattr(customer, "external_id")
        for item in ("minute", "sms", "no-such-item")
        for quantity in ("1", "0.333333", "1200")
    ]
    evaluations = evaluate_many(requests)
    assert any(e.groups for e in evaluations)
    assert any(e.rated for e in evaluations)
    assert any(not e.rated for e in evaluations)
    for evaluation in evaluations:
        for output in OUTPUTS:
            _same(output, rate_result(evaluation))


class Ref(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)


class Odd(serializers.Serializer):
    """A field of each kind the compiled form reads differently from DRF's walk."""

    plain = serializers.CharField(allow_null=True)
    amount = serializers.DecimalField(max_digits=None, decimal_places=2, allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    ref = Ref(allow_null=True)
    refs = Ref(many=True)
    dotted = serializers.CharField(source="ref.name", default=None, allow_null=True)
    renamed = serializers.IntegerField(source="count", required=False)
    method = serializers.SerializerMethodField()
    whole = serializers.CharField(source="*", required=False)

    def get_method(self, value) -> int:
        refs = value["refs"] if isinstance(value, dict) else value.refs
        return len(refs)

    def to_internal_value(self, data):  # pragma: no cover - output only
        raise NotImplementedError


class OwnOutput(serializers.Serializer):
    name = serializers.CharField()

    def to_representation(self, instance):
        return {"own": instance["name"].upper()}


TEXT = st.text(max_size=5)
REFS = st.fixed_dictionaries({"id": st.integers(-5, 5), "name": st.none() | TEXT})
VALUES = st.fixed_dictionaries(
    {
        "plain": st.none() | TEXT,
        "amount": st.none() | st.decimals(-1000, 1000, allow_nan=False, places=4),
        "at": st.none() | st.datetimes(timezones=st.just(UTC)),
        "ref": st.none() | REFS,
        "refs": st.lists(REFS, max_size=3),
    },
    optional={"count": st.integers(0, 9)},
)


def _as_object(value):
    """The same value as attributes rather than keys (as model instances give them)."""
    if isinstance(value, dict):
        return SimpleNamespace(**{key: _as_object(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_as_object(item) for item in value]
    return value


@given(value=VALUES, as_object=st.booleans())
def test_every_kind_of_field_equals_drfs_walk(value, as_object):
    if as_object:
        value = _as_object(value)
        if not hasattr(value, "count"):
            value.count = 0  # an object has every attribute or none (no default here)
        value.method_like = lambda: 1  # callables are DRF's to call: read through it
    # "whole" (source "*") represents the whole value; a str of a dict or namespace compares.
    assert Representation(Odd())(value) == dict(Odd(value).data)


def test_a_serializer_with_its_own_output_keeps_it():
    assert Representation(OwnOutput())({"name": "vip"}) == {"own": "VIP"}
