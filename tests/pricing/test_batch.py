"""Batch rating: rate_usage, resumability, never rating twice, boundaries, CSV uploads, queries."""

import functools
import io
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from groups import services as group_services
from pricing import batch, services
from pricing.models import CATEGORY_VALIDATOR, PriceList, PricingRule, UsageRecord, UsageStatus
from pricing.selectors import evaluate
from tests import factories
from tests.concurrency import at_once

MARCH = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _pending(customer, n: int, **fields) -> list[UsageRecord]:
    return [factories.usage(customer, quantity=Decimal(n + 1), **fields) for n in range(n)]


def _run(command: str = "rate_usage", *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- rate_usage -------------------------------------------------------------------------------


def test_rate_usage_rates_everything_pending_and_shows_progress(worked_example):
    """The command rates every pending record and draws a progress bar on stderr."""
    records = _pending(worked_example["tech_corp"], 7)
    out, err = _run("rate_usage", "--chunk-size", "3")
    assert "Rated 7 usage records" in out
    assert "100%" in err
    assert "7/7" in err
    assert not UsageRecord.objects.filter(status=UsageStatus.PENDING).exists()
    records[0].refresh_from_db()
    assert (records[0].rule_code, records[0].amount) == ("STD-2026", Decimal("1.20"))


def test_rate_usage_twice_rates_nothing_the_second_time(worked_example):
    """A second run finds nothing pending and leaves every rated record untouched."""
    _pending(worked_example["startup"], 4)
    _run("rate_usage")
    before = list(UsageRecord.objects.values_list("pk", "rated_at", "amount").order_by("pk"))
    out, _ = _run("rate_usage")
    assert "Nothing to rate" in out
    after = list(UsageRecord.objects.values_list("pk", "rated_at", "amount").order_by("pk"))
    assert after == before


def test_an_interrupted_run_resumes_where_it_stopped(worked_example):
    """--limit stops part-way (as a crash would); the next run rates only what is left."""
    _pending(worked_example["tech_corp"], 10)
    assert services.usage_rate_pending(chunk_size=3, limit=4) == 4
    assert UsageRecord.objects.filter(status=UsageStatus.PENDING).count() == 6
    first = dict(UsageRecord.objects.exclude(rated_at=None).values_list("pk", "rated_at"))
    assert services.usage_rate_pending(chunk_size=3) == 6
    again = dict(UsageRecord.objects.filter(pk__in=first).values_list("pk", "rated_at"))
    assert again == first


def test_rate_usage_json_reports_figures(worked_example):
    _pending(worked_example["tech_corp"], 2)
    out, _ = _run("rate_usage", "--json")
    assert '"rated": 2' in out
    assert "peak_rss_bytes" in out


def test_rate_usage_counts_the_queue_once(worked_example):
    """The progress bar's count also decides between queue and sweep: a million queue entries
    take tens of milliseconds to count."""
    _pending(worked_example["tech_corp"], 3)
    with CaptureQueriesContext(connection) as queries:
        out, _ = _run("rate_usage", "--json")
    assert '"rated": 3' in out
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"] and batch.QUEUE_TABLE in q["sql"]]
    assert len(counts) == 1, counts


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux's VmHWM")
def test_peak_memory_is_the_commands_own_not_its_parents():
    """``bench`` starts rate_usage from a process that held a million records: ``ru_maxrss``
    survives ``exec`` and would report the parent's peak as the command's."""
    held = bytearray(300 * 2**20)
    held[:: 2**12] = b"\1" * len(held[:: 2**12])  # touch every page: resident
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); "
            "from pricing.management.commands.rate_usage import peak_rss_bytes; "
            "print(peak_rss_bytes())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert 0 < int(child.stdout) < 200 * 2**20 < len(held)


def test_rated_records_keep_their_price_after_rule_and_membership_changes(worked_example):
    """Rules, price lists and memberships change afterwards; stored prices and rules stay."""
    startup = worked_example["startup"]
    [record] = _pending(startup, 1, occurred_at=MARCH)
    services.usage_rate_pending()
    record.refresh_from_db()
    stored = (record.rule_code, record.unit_price, record.amount, record.rated_at)
    assert stored[:3] == ("STARTUP-2026", Decimal("0.800000"), Decimal("0.80"))

    group_services.membership_remove(group=worked_example["startup_program"], customer=startup)
    rule = PricingRule.objects.get(code="STARTUP-2026")
    services.rule_update(rule=rule, priority=1)
    PriceList.objects.get(code="STARTUP-RETAIL-2026").items.update(unit_price=Decimal("9"))
    _run("rate_usage")
    record.refresh_from_db()
    assert (record.rule_code, record.unit_price, record.amount, record.rated_at) == stored


def test_a_run_picks_up_rule_changes_made_between_chunks(worked_example, monkeypatch):
    """The per-run rule cache is dropped when a rule changes, so later chunks see the change."""
    customer = worked_example["tech_corp"]
    _pending(customer, 2)
    holder = batch.SnapshotHolder()
    assert batch.rate_chunk(1, holder) == 1
    services.rule_update(rule=PricingRule.objects.get(code="STD-2026"), is_active=False)
    assert batch.rate_chunk(1, holder) == 1
    codes = sorted(UsageRecord.objects.values_list("rule_code", flat=True))
    assert codes == ["BASE-RETAIL", "STD-2026"]


# --- Boundaries the batch index must get right (the hypothesis test explores more) ----------


def test_membership_boundaries_are_half_open(worked_example):
    """A record at the joining instant is a member's; one at the leaving instant is not."""
    customer = factories.customer()
    joined, left = MARCH, MARCH + timedelta(hours=2)
    factories.membership(worked_example["vip"], customer, joined_at=joined, left_at=left)
    at_join, at_leave = (
        factories.usage(customer, occurred_at=joined),
        factories.usage(customer, occurred_at=left),
    )
    services.usage_rate_pending()
    at_join.refresh_from_db()
    at_leave.refresh_from_db()
    assert at_join.rule_code == "VIP-RETAIL-2026"
    assert at_leave.rule_code == "BASE-RETAIL"


def test_validity_follows_the_billing_time_zone(worked_example):
    """In Prague, 23:30 UTC on 31 May is already 1 June: the summer promo applies."""
    customer = factories.customer()
    factories.membership(worked_example["summer"], customer)
    late = factories.usage(
        customer, item_code="GB", occurred_at=datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    )
    early = factories.usage(
        customer, item_code="GB", occurred_at=datetime(2026, 5, 31, 21, 30, tzinfo=UTC)
    )
    with override_settings(BILLING_TIME_ZONE="Europe/Prague"):
        services.usage_rate_pending()
    late.refresh_from_db()
    early.refresh_from_db()
    assert late.rule_code == "SUMMER-2026"
    assert early.rule_code == "BASE-RETAIL"


def test_the_first_of_two_rules_of_the_same_group_wins(worked_example):
    customer = factories.customer()
    group = factories.group()
    factories.membership(group, customer)
    high = factories.rule(group=group, priority=300, price_list=factories.price_list())
    factories.rule(group=group, priority=200, price_list=factories.price_list())
    [record] = _pending(customer, 1)
    services.usage_rate_pending()
    record.refresh_from_db()
    assert record.rule_id == high.pk


def test_unrated_records_get_the_engines_reason(worked_example):
    [record] = _pending(worked_example["tech_corp"], 1, billing_category="roaming")
    services.usage_rate_pending()
    record.refresh_from_db()
    assert record.status == UsageStatus.UNRATED
    assert record.unrated_reason.startswith(
        "No active roaming rule prices item minute for Tech Corp"
    )


def test_an_unrated_reason_may_name_a_group_that_decides_no_price(db):
    """The cache keeps only groups that can decide a price; the reason still sees them all.

    VIP's rule outranks the everyone rule but prices nothing, so VIP never decides a price and
    its memberships are not preloaded; for an unpriced item, the engine names VIP's rule.
    """
    vip = factories.group("VIP")
    customer = factories.customer("Acme")
    factories.membership(vip, customer)
    factories.rule("VIP-RULE", group=vip, priority=200, price_list=factories.price_list(items={}))
    factories.rule("EVERYONE", priority=100, price_list=factories.price_list(items={"SMS": "1"}))
    [record] = _pending(customer, 1, item_code="minute")
    holder = batch.SnapshotHolder()
    assert holder.current().members.group_keys == frozenset()  # VIP decides nothing
    services.usage_rate_pending()
    record.refresh_from_db()
    assert record.status == UsageStatus.UNRATED
    assert "nearest: VIP-RULE applies" in record.unrated_reason
    expected = evaluate(
        customer=customer,
        billing_category="retail",
        item_code="minute",
        quantity=record.quantity,
        occurred_at=record.occurred_at,
    ).result.reason
    assert record.unrated_reason == expected


def test_a_record_billed_outside_the_snapshots_days_sees_every_membership(db):
    """The cache holds the groups that decide within the days of the records at snapshot time;
    a record stored later for another day is priced with all its customer's memberships."""
    summer = factories.group("Summer")
    customer = factories.customer()
    factories.membership(summer, customer, joined_at=datetime(2026, 1, 1, tzinfo=UTC))
    factories.rule("SUMMER", group=summer, priority=200, valid_from=date(2026, 6, 1))
    factories.rule("EVERYONE", priority=100)
    [march] = _pending(customer, 1, occurred_at=MARCH)
    holder = batch.SnapshotHolder()
    snapshot = holder.current()
    assert snapshot.days == (date(2026, 3, 1), date(2026, 3, 1))
    assert snapshot.members.group_keys == frozenset()  # Summer decides nothing in March
    [june] = _pending(customer, 1, occurred_at=datetime(2026, 6, 15, tzinfo=UTC))
    assert batch.rate_chunk(10, holder) == 2
    assert holder.current() is snapshot, "storing usage does not renew the snapshot"
    march.refresh_from_db()
    june.refresh_from_db()
    assert (march.rule_code, june.rule_code) == ("EVERYONE", "SUMMER")


# --- Queries ----------------------------------------------------------------------------------


def _chunk_queries(size: int) -> int:
    holder = batch.SnapshotHolder()
    holder.current()  # rules load once per run, not per chunk
    with CaptureQueriesContext(connection) as queries:
        assert batch.rate_chunk(size, holder) == size
    return len(queries)


def test_a_chunk_costs_the_same_queries_whatever_its_size(worked_example):
    """Claim, fingerprint, memberships, write: the count does not grow with the chunk."""
    customers = [factories.customer() for _ in range(5)]
    for customer in customers:
        factories.membership(worked_example["vip"], customer)
        _pending(customer, 40)
    small = _chunk_queries(5)
    large = _chunk_queries(150)
    assert small == large
    assert large <= 8


def test_unrated_records_add_one_query_per_chunk(worked_example):
    customer = worked_example["tech_corp"]
    _pending(customer, 30, billing_category="roaming")
    assert _chunk_queries(3) == _chunk_queries(20)


# --- Uploads ----------------------------------------------------------------------------------

HEADER = "customer,category,item,quantity,occurred_at\n"


def _upload(text: str, user=None, name: str = "usage.csv"):
    return services.usage_upload(file=SimpleUploadedFile(name, text.encode()), by=user)


def test_an_upload_is_stored_pending_in_file_order(worked_example, manager):
    tech, startup = worked_example["tech_corp"], worked_example["startup"]
    result = _upload(
        HEADER
        + "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\n"
        + f"{startup.pk},retail,SMS,2.5,2026-03-01 11:00\n",
        manager,
    )
    assert result.records == 2
    rows = list(batch.batch_records(result.batch_key))
    assert [r.customer_id for r in rows] == [tech.pk, startup.pk]
    assert [batch.batch_line(r.pk) for r in rows] == [2, 3]
    assert all(r.status == UsageStatus.PENDING and r.created_by == manager for r in rows)
    # Without an offset the billing time zone (UTC here) applies.
    assert rows[1].occurred_at == datetime(2026, 3, 1, 11, tzinfo=UTC)
    assert services.usage_rate_pending(batch_key=result.batch_key) == 2
    summary = batch.batch_summary(result.batch_key)
    assert (summary.total, summary.rated, summary.pending) == (2, 2, 0)
    assert summary.amounts == [("CZK", Decimal("13.25"))]


def test_malformed_lines_are_reported_line_by_line_and_nothing_is_stored(worked_example):
    text = (
        HEADER
        + "CUST-0002,retail,minute,10,2026-03-01T10:00:00Z\n"
        + "CUST-0002,retail,minute,abc,2026-03-01T10:00:00Z\n"
        + "CUST-0002,Retail Stuff,minute,1,2026-03-01T10:00:00Z\n"
        + "NOBODY,retail,minute,1,2026-03-01T10:00:00Z\n"
        + "CUST-0002,retail,minute,-1,2026-03-01T10:00:00Z\n"
        + "CUST-0002,retail,minute,1,yesterday\n"
        + "CUST-0002,retail,minute\n"
        + "CUST-0002,retail,minute,1.1234567,2026-03-01T10:00:00Z\n"
        + ",retail,minute,1,2026-03-01T10:00:00Z\n"
    )
    with pytest.raises(ValidationError) as caught:
        _upload(text)
    messages = caught.value.messages
    assert messages == [
        "Line 3: " + services.LINE_BAD_QUANTITY.format(value="abc"),
        "Line 4: category “Retail Stuff”: " + CATEGORY_VALIDATOR.message,
        "Line 5: " + services.LINE_UNKNOWN_CUSTOMER.format(value="NOBODY"),
        "Line 6: " + services.LINE_QUANTITY_NOT_POSITIVE,
        "Line 7: " + services.LINE_BAD_TIME.format(value="yesterday"),
        "Line 8: " + services.LINE_COLUMN_COUNT.format(expected=5, found=3),
        "Line 9: "
        + services.LINE_QUANTITY_INVALID.format(
            value="1.1234567", reason="Ensure that there are no more than 6 decimal places."
        ),
        "Line 10: " + services.LINE_EMPTY_VALUE.format(column="customer"),
    ]
    assert not UsageRecord.objects.exists()


def test_an_unknown_customer_after_many_good_lines_stores_nothing(worked_example, monkeypatch):
    """Good lines already written in earlier buffers are rolled back with the rest."""
    monkeypatch.setattr(services.uploads, "UPLOAD_BUFFER", 2)
    good = "CUST-0002,retail,minute,1,2026-03-01T10:00:00Z\n" * 5
    with pytest.raises(ValidationError) as caught:
        _upload(HEADER + good + "CUST-9999,retail,minute,1,2026-03-01T10:00:00Z\n")
    assert caught.value.messages == [
        "Line 7: " + services.LINE_UNKNOWN_CUSTOMER.format(value="CUST-9999")
    ]
    assert not UsageRecord.objects.exists()


def test_error_reports_stop_at_a_hundred_lines(worked_example):
    bad = "CUST-0002,retail,minute,x,2026-03-01T10:00:00Z\n" * 150
    with pytest.raises(ValidationError) as caught:
        _upload(HEADER + bad)
    messages = caught.value.messages
    assert len(messages) == services.MAX_REPORTED_ERRORS + 1
    assert messages[-1] == services.UPLOAD_MORE_ERRORS.format(count=50)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", services.UPLOAD_EMPTY),
        (HEADER, services.UPLOAD_EMPTY),
        (
            "who,what\nx,y\n",
            services.UPLOAD_MISSING_COLUMNS.format(
                missing="customer, category, item, quantity, occurred_at"
            ),
        ),
    ],
)
def test_files_without_records_or_columns_are_refused(db, text, message):
    with pytest.raises(ValidationError) as caught:
        _upload(text)
    assert caught.value.messages == [message]


def test_semicolons_bom_and_header_aliases_are_accepted(worked_example):
    text = (
        "\ufeffExternal ID;Billing category;Item code;Qty;Occurred at\n"
        "CUST-0001;retail;GB;2;2026-03-02T08:00:00+01:00\n"
    )
    result = _upload(text)
    [record] = batch.batch_records(result.batch_key)
    assert record.customer == worked_example["end_customer"]
    assert record.occurred_at == datetime(2026, 3, 2, 7, tzinfo=UTC)


def test_a_file_that_is_not_utf8_is_refused(db):
    with pytest.raises(ValidationError) as caught:
        services.usage_upload(
            file=SimpleUploadedFile("x.csv", HEADER.encode() + b"\xff\xfe,\x00\n")
        )
    assert caught.value.messages == [services.UPLOAD_NOT_TEXT]


@override_settings(RATECARD_MAX_UPLOAD_BYTES=100)
def test_files_over_the_limit_are_refused_with_their_size(db):
    with pytest.raises(ValidationError) as caught:
        _upload(HEADER + "CUST-0002,retail,minute,1,2026-03-01T10:00:00Z\n" * 5)
    assert caught.value.messages == [
        services.UPLOAD_TOO_LARGE.format(size="279 bytes", limit="100 bytes")
    ]


def test_batch_keys_name_a_primary_key_range():
    key = batch.new_batch_key()
    assert batch.is_batch_key(key)
    low, high = batch.batch_id_range(key)
    record_id = batch.batch_record_id(key, 12345)
    assert low < record_id < high
    assert record_id.version == 8
    assert batch.batch_line(record_id) == 12345
    assert not batch.is_batch_key("../../etc")


# --- Two runners at once (PostgreSQL) ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_never_rate_a_record_twice(rating_log):
    """Two runners (threads with their own connections) share the work; each record is written
    exactly once, which a trigger counting pending -> rated transitions proves."""
    vip = factories.group()
    factories.rule(priority=0)
    factories.rule(group=vip, priority=100)
    customers = [factories.customer() for _ in range(20)]
    for n, customer in enumerate(customers):
        if n % 2:
            factories.membership(vip, customer)
        for _ in range(60):
            factories.usage(customer)
    counts, errors = at_once(*[functools.partial(services.usage_rate_pending, chunk_size=25)] * 2)
    assert not errors
    assert sum(counts) == 1200
    assert all(counts), "both runners took a share"
    assert rating_log()[:2] == (1200, 1200)
    assert not UsageRecord.objects.filter(status=UsageStatus.PENDING).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
# The test process has threads of its own (not Python's: threading.enumerate() shows only the
# main thread before the fork); `manage.py rate_usage` forks from a single-threaded process.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_worker_processes_rate_everything_once():
    """rate_usage --workers 2 splits the work between two processes; --limit holds across them."""
    if connection.vendor != "postgresql":
        pytest.skip("worker processes are used on PostgreSQL only")
    factories.rule(priority=0)
    customer = factories.customer()
    for _ in range(300):
        factories.usage(customer)
    out, _ = _run("rate_usage", "--workers", "2", "--chunk-size", "20", "--limit", "101")
    assert "Rated 101 usage records" in out
    assert UsageRecord.objects.filter(status=UsageStatus.RATED).count() == 101
    out, err = _run("rate_usage", "--workers", "2", "--chunk-size", "20")
    assert "Rated 199 usage records" in out
    assert "199/199" in err  # progress from both workers adds up
    assert UsageRecord.objects.filter(status=UsageStatus.RATED).count() == 300
    assert batch.pending_count() == 0


def test_quantities_keep_six_decimals_and_amounts_round_half_up(worked_example):
    [record] = [factories.usage(worked_example["tech_corp"], quantity=Decimal("0.004167"))]
    services.usage_rate_pending()
    record.refresh_from_db()
    # 1.20 x 0.004167 = 0.0050004 -> 0.01
    assert record.amount == Decimal("0.01")
    assert record.occurred_at.date() == date(2026, 3, 1)


def test_quantities_over_the_models_limit_are_refused(worked_example):
    with pytest.raises(ValidationError) as caught:
        _upload(HEADER + "CUST-0002,retail,minute,1000000000,2026-03-01T10:00:00Z\n")
    assert caught.value.messages == [
        "Line 2: "
        + services.LINE_QUANTITY_INVALID.format(
            value="1000000000", reason="Must be less than 1,000,000,000."
        )
    ]


def test_a_queue_range_rates_only_its_share_of_the_backlog(worked_example):
    """Two runs over disjoint queue ranges rate the whole backlog between them, each its own."""
    records = _pending(worked_example["tech_corp"], 6)
    low, high = batch.queue_bounds()
    middle = low + (high - low) // 2
    first = services.usage_rate_pending(queue_range=(low, middle))
    assert first == middle - low + 1
    assert batch.pending_count(batch.Scope(queue_range=(middle + 1, high))) == 6 - first
    second = services.usage_rate_pending(queue_range=(middle + 1, high))
    assert first + second == 6
    assert batch.queue_bounds() is None
    assert not UsageRecord.objects.filter(
        pk__in=[r.pk for r in records], status=UsageStatus.PENDING
    ).exists()


@pytest.mark.parametrize("kept", [1, 200_000])
def test_charges_remembered_by_price_and_quantity_equal_the_engines(
    worked_example, monkeypatch, kept
):
    """Rating remembers a (price, quantity)'s charge for the run; records sharing one store
    the engine's arithmetic all the same, and a full memory starts again (kept=1)."""
    from pricing import engine
    from pricing.batch import rating
    from pricing.models import PriceListItem

    monkeypatch.setattr(rating, "CHARGES_KEPT", kept)
    tiers = [{"up_to": "100", "unit_price": "2.00"}, {"up_to": None, "unit_price": "1.00"}]
    rule = PricingRule.objects.get(code="STD-2026")
    item = PriceListItem.objects.get(price_list=rule.price_list, item_code="minute")
    item.pricing_mode, item.tiers = "graduated", tiers
    item.first_increment = item.next_increment = Decimal(60)
    item.save()
    services.price_list_items_changed(price_list=item.price_list)
    records = [
        factories.usage(worked_example["tech_corp"], quantity=Decimal(q))
        for q in ("5", "5", "150", "150.000000", "5", "1500")
    ]
    _run("rate_usage")
    for record in records:
        record.refresh_from_db()
        expected = evaluate(
            customer=record.customer,
            billing_category=record.billing_category,
            item_code=record.item_code,
            quantity=record.quantity,
            occurred_at=record.occurred_at,
        ).result.charge
        assert expected is not None
        assert expected.mode == engine.Mode.GRADUATED
        assert record.breakdown() == expected.breakdown()
        assert (record.amount, record.billed_quantity) == (
            expected.amount,
            expected.billed_quantity,
        )
