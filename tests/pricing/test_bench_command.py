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
    # The paths an integration calls (issue 20), beside their floor.
    assert "POST /api/v1/rate?trace=0" in text
    assert "1,000 records a call" in text
    assert "POST /api/v1/usage-records (10,000 per call, rated)" in text
    assert "ingestion / floor" in text
    for page in ("/groups/", "/customers/", "/audit/", "/simulate/"):
        assert page in text


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_tasks_rates_a_backlog_through_each_backend_at_a_tiny_scale():
    """Worker processes share the database: PostgreSQL (an in-memory SQLite cannot be shared)."""
    from django.db import connection

    from pricing.models import UsageRecord, UsageStatus
    from tests import workers

    if connection.vendor != "postgresql":
        pytest.skip("worker processes share the test database on PostgreSQL only")
    backends = "db,rq" if workers.redis_available() else "db"
    out = io.StringIO()
    call_command(
        "bench_tasks",
        records=400,
        scale=200,
        workers=2,
        part_size=100,
        backends=backends,
        timeout=120,
        stdout=out,
        stderr=io.StringIO(),
    )
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["backend", "workers", "records"]
    assert [line.split()[0] for line in lines[1:]] == backends.split(",")
    assert all(line.split()[2] == "400" for line in lines[1:])
    assert not UsageRecord.objects.filter(status=UsageStatus.PENDING).exists()
