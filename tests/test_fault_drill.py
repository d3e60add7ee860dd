"""The fault drill's plan and verdict, without restarting anybody's PostgreSQL.

The drill itself (``manage.py fault_drill``) restarts and stops the shared database server, so
the suite never runs it; these tests cover its new long outage: the database held down for
longer than the pool timeout, with signed-in pages among the streams it judges.
"""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing.management.commands import fault_drill
from billing.management.commands.fault_drill import (
    CUT_AND_SAID_SO,
    DROPPED,
    Outage,
    Window,
    judge,
    outages,
    pool_timeout,
    run_outage,
)


def test_the_long_outage_outlasts_the_pool_timeout_by_default():
    planned = outages(version="17", restart="", stop="", start="", hold=pool_timeout() + 5)
    assert [o.name for o in planned] == ["restart", "long outage"]
    assert planned[0].commands == ("pg_ctlcluster --skip-systemctl-redirect 17 main restart",)
    assert planned[1].commands == (
        "pg_ctlcluster --skip-systemctl-redirect 17 main stop",
        "pg_ctlcluster --skip-systemctl-redirect 17 main start",
    )
    assert planned[1].hold > pool_timeout()
    assert [o.name for o in outages(version="17", restart="", stop="", start="", hold=0)] == [
        "restart"
    ]


def test_an_outage_stops_holds_then_starts():
    calls: list = []
    now = [100.0]

    def run(argv, *, check, timeout):
        calls.append(("run", argv))
        now[0] += 1

    def sleep(seconds):
        calls.append(("sleep", seconds))
        now[0] += seconds

    window = run_outage(
        Outage("long outage", ("db stop", "db start"), hold=15.0),
        started=90.0,
        run=run,
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert calls == [("run", ["db", "stop"]), ("sleep", 15.0), ("run", ["db", "start"])]
    assert window == Window("long outage", 10.0, 27.0)


WINDOWS = [Window("restart", 4.0, 6.0), Window("long outage", 12.0, 28.0)]


def _timeline(during_long: int, *, page_after: int = 200) -> list[tuple[float, str, int]]:
    timeline = []
    for stream in ("page", "dashboard", "export", "api"):
        timeline += [(t / 2, stream, 200) for t in range(0, 8)]  # before the restart
        timeline += [(t, stream, 200) for t in (9, 10, 10.5, 11, 11.5)]  # between the outages
        timeline += [(t, stream, during_long) for t in (14, 20, 26)]  # during the long outage
        after = page_after if stream == "page" else 200
        timeline += [(t, stream, after) for t in (31, 32, 33, 34, 35)]  # after it
    return timeline


def test_a_drill_answered_with_503s_during_the_long_outage_passes():
    assert judge(_timeline(503), WINDOWS, stored=400, batch=200) == []


def test_a_500_from_a_signed_in_page_during_the_long_outage_fails_the_drill():
    problems = judge(_timeline(500), WINDOWS, stored=400, batch=200)
    assert problems == ["12 answers were neither success nor 503: {500: 12}"]


def test_a_dropped_answer_fails_the_drill_but_an_export_saying_it_is_cut_does_not():
    assert judge(_timeline(DROPPED), WINDOWS, stored=0, batch=200) == [
        "12 answers were neither success nor 503: {'dropped': 12}"
    ]
    assert judge(_timeline(CUT_AND_SAID_SO), WINDOWS, stored=0, batch=200) == []


def test_a_stream_that_does_not_recover_after_the_long_outage_fails_the_drill():
    problems = judge(_timeline(503, page_after=503), WINDOWS, stored=200, batch=200)
    assert problems == ["page did not recover after the long outage"]


def test_half_written_batches_fail_the_drill():
    assert judge(_timeline(503), WINDOWS, stored=300, batch=200) == [
        "300 records stored: a batch was half-written"
    ]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="refusal is for other databases")
@pytest.mark.django_db
def test_the_drill_refuses_to_run_without_postgresql(monkeypatch):
    monkeypatch.setattr(fault_drill, "run_outage", lambda *a, **k: pytest.fail("ran an outage"))
    with pytest.raises(CommandError, match="needs DATABASE_URL pointing at PostgreSQL"):
        call_command("fault_drill")
