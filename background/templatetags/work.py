"""Template filters of the background work pages."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_short(value: timedelta | None) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
