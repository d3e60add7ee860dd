"""The one clock of pricing: the billing time zone, now, and today there.

"Today" for a rule's status is the billing time zone's calendar day everywhere (pages, API,
dashboard, audit, filters): :func:`billing_today`, which is :func:`pricing.engine.billing_day`
of now. Django's ``TIME_ZONE`` only decides how times are displayed.
"""

from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from pricing.engine import billing_day


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def billing_tz() -> ZoneInfo:
    """The zone whose calendar day decides rule validity (``BILLING_TIME_ZONE``)."""
    return _zone(settings.BILLING_TIME_ZONE)


def now() -> datetime:
    """The instant scheduled work compares with (changesets due for publication); tests move
    it by patching this function."""
    return timezone.now()


def billing_now() -> datetime:
    """Now, expressed in the billing time zone."""
    return timezone.now().astimezone(billing_tz())


def billing_today() -> date:
    """Today's date in the billing time zone: the day rule statuses are judged on."""
    return billing_day(timezone.now(), billing_tz())
