"""groups.api.intake: a serializer's validation, compiled once, equals DRF's on any row."""

import uuid
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from groups.api.intake import Intake
from pricing.api.rating import UsageInputSerializer

VALUES = {
    "customer_id": st.uuids().map(str)
    | st.sampled_from(["", " ", "not-a-uuid", "{12345678-1234-5678-1234-567812345678}"])
    | st.uuids().map(lambda u: u.hex),
    "external_id": st.text(max_size=110) | st.sampled_from(["C-1", " C-2 ", "", "  "]),
    "billing_category": st.sampled_from(["retail", "iot", " roaming ", "Retail!", "", "x" * 65])
    | st.text(max_size=70),
    "item_code": st.sampled_from(["minute", "SMS", "GB", "bad code", "", "a\x00b"])
    | st.text(max_size=70),
    "quantity": st.sampled_from(["1", "0", "-1", "2.5", "0.000001", "1e3", "1.0000001", " 3 "])
    | st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str)
    | st.integers(min_value=-5, max_value=10**13)
    | st.floats(allow_nan=False),
    "occurred_at": st.sampled_from(
        [
            "2026-12-03T23:30:00",
            "2026-12-03T23:30:00+01:00",
            "2026-12-03T23:30:00Z",
            "2026-13-03T23:30:00",
            "3000-01-01T00:00:00Z",
            "",
            "yesterday",
        ]
    )
    | st.datetimes().map(lambda d: d.isoformat()),
}
JUNK = st.none() | st.booleans() | st.lists(st.integers(), max_size=2) | st.just({"a": 1})


def _outcome(call, row):
    try:
        return "ok", dict(call(row))
    except serializers.ValidationError as exc:
        return "error", exc.detail


rows = st.dictionaries(
    st.sampled_from([*VALUES, "unknown"]),
    st.one_of(*VALUES.values(), JUNK),
    max_size=7,
).flatmap(
    lambda row: st.fixed_dictionaries(
        {
            key: (VALUES[key] if key in VALUES else st.just(1)) | st.just(value)
            for key, value in row.items()
        }
    )
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=rows | JUNK)
def test_intake_answers_what_the_serializer_answers(row):
    serializer = UsageInputSerializer()
    assert _outcome(Intake(serializer), row) == _outcome(serializer.run_validation, row)


def test_a_plain_row_skips_drf_and_a_bad_one_gets_drfs_messages():
    serializer = UsageInputSerializer()
    quick = Intake(serializer)
    row = {
        "customer_id": str(uuid.uuid4()),
        "billing_category": "retail",
        "item_code": "minute",
        "quantity": "2.5",
        "occurred_at": "2026-12-03T23:30:00+01:00",
    }
    with mock.patch.object(serializer, "run_validation", side_effect=AssertionError("slow")):
        attrs = quick(row)
    assert str(attrs["quantity"]) == "2.500000"
    with pytest.raises(serializers.ValidationError) as refused:
        quick({**row, "quantity": "0"})
    assert refused.value.detail == {"quantity": ["Quantity must be greater than zero."]}


plausible_rows = st.fixed_dictionaries(
    {
        "billing_category": st.sampled_from(["retail", "iot", "wholesale", " retail", "Ret ail"]),
        "item_code": st.sampled_from(["minute", "SMS", "GB", "data-1", "x" * 64, "x" * 65]),
        "quantity": st.decimals(min_value=-1, max_value=10**12, places=6).map(str)
        | st.sampled_from(["1", "60", "0.5", "1e2", "001.5"]),
    },
    optional={
        "customer_id": st.uuids().map(str),
        "external_id": st.sampled_from(["S0000001", "C-1", " ", "x" * 101]),
        "occurred_at": st.datetimes(timezones=st.none() | st.timezones()).map(
            lambda d: d.isoformat()
        ),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=plausible_rows)
def test_intake_equals_the_serializer_on_plausible_rows(row):
    """Rows close to valid, where the quick path usually answers."""
    serializer = UsageInputSerializer()
    assert _outcome(Intake(serializer), row) == _outcome(serializer.run_validation, row)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(plausible_rows | rows, max_size=6))
def test_a_batch_sharing_one_memo_equals_the_serializer_row_by_row(batch):
    """Values remembered from earlier rows of a batch change no answer."""
    serializer = UsageInputSerializer()
    quick, memo = Intake(serializer), {}
    for row in batch:
        expected = _outcome(serializer.run_validation, row)
        assert _outcome(lambda r: quick(r, memo), row) == expected
