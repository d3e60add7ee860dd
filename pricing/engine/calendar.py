"""The billing calendar: which day an instant belongs to, and which dates Ratecard supports.

Every rule about days and instants lives here, in plain Python, and every surface calls it:

- **The billing day** of an instant is its calendar date in the billing time zone
  (``BILLING_TIME_ZONE``), whatever the server's ``TIME_ZONE``: rule validity, "today" for a
  rule's status, upload windows and reports all use it (:func:`billing_day`).
- **An instant written without an offset** (``2026-12-03T23:30:00``) means that wall-clock time
  in the billing time zone, on every surface: the API, CSV uploads, the pages
  (:func:`read_instant`).
- **Supported dates** run from :data:`DATE_MIN` to :data:`DATE_MAX` inclusive, and supported
  instants are those whose billing day and UTC date both fall in that range. A rule "for ever"
  leaves ``valid_to`` empty. The range keeps every date arithmetic rating does (the day after a
  rule ends, the start of the next day in any zone) inside what Python and both databases hold,
  so no accepted value can stop rating (:func:`check_day`, :func:`check_instant`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9998, 12, 31)
# The instants whose UTC date is in range; a billing zone is at most a day away from UTC.
INSTANT_MIN = datetime.combine(DATE_MIN, time.min, tzinfo=UTC)
INSTANT_MAX = datetime.combine(DATE_MAX, time.max, tzinfo=UTC)

DAY_OUT_OF_RANGE = (
    "{value} is outside the dates Ratecard supports ({first} to {last}); "
    "leave the end empty for no end."
)
INSTANT_OUT_OF_RANGE = "{value} is outside the instants Ratecard supports ({first} to {last})."
INSTANT_NOT_AWARE = "An instant must be timezone-aware (carry its offset)."


class OutOfRange(ValueError):
    """A date or instant outside the supported range (its message is for people)."""


def billing_day(instant: datetime, tz: tzinfo = UTC) -> date:
    """The calendar day ``instant`` belongs to in the billing time zone ``tz``."""
    if instant.tzinfo is None:
        raise ValueError(INSTANT_NOT_AWARE)
    return instant.astimezone(tz).date()


def read_instant(value: datetime, tz: tzinfo) -> datetime:
    """An instant as written: with its own offset, or, without one, in the billing zone ``tz``."""
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant of billing day ``day`` (midnight in ``tz``, or the first valid time)."""
    return datetime.combine(day, time.min, tzinfo=tz)


def day_after(day: date) -> date:
    """The next day; the day after :data:`DATE_MAX` is still a valid ``date`` (9999-01-01)."""
    return day + timedelta(days=1)


def days_window(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants of billing days ``first`` to ``last`` inclusive, as ``[start, end)``."""
    return day_start(first, tz), day_start(day_after(last), tz)


def month_window(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants of the calendar month containing ``day``, as ``[start, end)``."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return day_start(first, tz), day_start(following, tz)


def check_day(value: date) -> date:
    """``value`` if it is a supported date; :class:`OutOfRange` otherwise."""
    if not DATE_MIN <= value <= DATE_MAX:
        raise OutOfRange(
            DAY_OUT_OF_RANGE.format(
                value=value.isoformat(), first=DATE_MIN.isoformat(), last=DATE_MAX.isoformat()
            )
        )
    return value


def check_instant(value: datetime, tz: tzinfo = UTC) -> datetime:
    """``value`` if it is a supported instant (its UTC date and billing day in range)."""
    if value.tzinfo is None:
        raise ValueError(INSTANT_NOT_AWARE)
    try:
        utc_day = value.astimezone(UTC).date()
        local_day = value.astimezone(tz).date()
    except OverflowError:
        utc_day = local_day = None
    if utc_day is None or not (
        DATE_MIN <= utc_day <= DATE_MAX and DATE_MIN <= local_day <= DATE_MAX
    ):
        raise OutOfRange(
            INSTANT_OUT_OF_RANGE.format(
                value=value.isoformat(),
                first=INSTANT_MIN.isoformat(),
                last=INSTANT_MAX.isoformat(),
            )
        )
    return value
