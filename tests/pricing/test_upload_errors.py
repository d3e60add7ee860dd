"""Issue 21, "Also": a rejected CSV lists its bad lines in line order, all of a line's problems
at once (the customer of a line is checked even when its other values are wrong)."""

import io

import pytest
from django.core.exceptions import ValidationError

from groups import services as group_services
from pricing import services

pytestmark = pytest.mark.django_db
HEADER = "external_id,category,item,quantity,occurred_at\n"


def _upload(text: str):
    return services.usage_upload(file=io.BytesIO(text.encode()))


def test_usage_errors_come_in_line_order_with_every_problem_of_a_line(worked_example, monkeypatch):
    # Customers are checked a buffer at a time: small buffers make lines wait for it.
    monkeypatch.setattr(services.uploads, "UPLOAD_BUFFER", 2)
    text = (
        HEADER
        + "NOBODY,retail,minute,abc,yesterday\n"
        + "GHOST,retail,minute,1,2026-03-01T10:00:00Z\n"
        + "CUST-0002,retail,minute,-1,2026-03-01T10:00:00Z\n"
        + "CUST-0002,retail,minute,1,2026-03-01T10:00:00Z\n"
        + "PHANTOM,retail,minute,1,2026-03-01T10:00:00Z\n"
    )
    with pytest.raises(ValidationError) as caught:
        _upload(text)
    assert caught.value.messages == [
        "Line 2: quantity “abc” is not a number (use a dot for decimals, e.g. 1.5); "
        + services.LINE_BAD_TIME.format(value="yesterday").rstrip(".")
        + "; "
        + services.LINE_UNKNOWN_CUSTOMER.format(value="NOBODY"),
        "Line 3: " + services.LINE_UNKNOWN_CUSTOMER.format(value="GHOST"),
        "Line 4: " + services.LINE_QUANTITY_NOT_POSITIVE,
        "Line 6: " + services.LINE_UNKNOWN_CUSTOMER.format(value="PHANTOM"),
    ]


def test_the_report_keeps_the_first_lines_and_counts_the_rest(worked_example, monkeypatch):
    monkeypatch.setattr(services.uploads, "UPLOAD_BUFFER", 3)
    monkeypatch.setattr(services.uploads, "MAX_REPORTED_ERRORS", 2)
    text = HEADER + "".join(f"GHOST{n},retail,minute,1,2026-03-01T10:00:00Z\n" for n in range(5))
    with pytest.raises(ValidationError) as caught:
        _upload(text)
    assert caught.value.messages == [
        "Line 2: " + services.LINE_UNKNOWN_CUSTOMER.format(value="GHOST0"),
        "Line 3: " + services.LINE_UNKNOWN_CUSTOMER.format(value="GHOST1"),
        services.UPLOAD_MORE_ERRORS.format(count=3),
    ]


def test_customer_import_errors_come_in_line_order_all_of_a_line_at_once(worked_example):
    text = (
        "name,external_id,email,group_codes\n"
        "Good,C-1,good@example.com,vip\n"
        ",C-2,not-an-email,nowhere\n"
        "Other,,,\n"
    )
    plan = group_services.customer_import_plan(raw=text.encode())
    assert len(plan.errors) == 2
    line_3, line_4 = plan.errors
    assert line_3.startswith("Line 3: the name is empty")
    assert "Enter a valid email address" in line_3
    assert "unknown group codes: nowhere" in line_3
    assert line_4.startswith("Line 4: the external ID is empty")
