"""The benchmark commands run end to end at a tiny scale (figures are printed, never asserted)."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db(transaction=True)
def test_bench_prints_floor_single_rating_and_pages_at_a_tiny_scale():
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "bench", scale=200, records=300, samples=5, skip_batch=True, stdout=out, stderr=err
    )
    text = out.getvalue()
    assert "usage records (all pending)" in text
    assert "floor: UPDATE … SET amount = quantity" in text
    assert "single rating via evaluate()" in text
    assert "queries per call" in text
    for page in ("/groups/", "/customers/", "/audit/", "/simulate/"):
        assert page in text
