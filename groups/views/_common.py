"""Small helpers shared by the group and customer views."""

from django.core.paginator import Page, Paginator
from django.http import HttpRequest


def wants_fragment(request: HttpRequest) -> bool:
    """True for htmx requests that swap a fragment.

    A history-restore request (back button after ``hx-push-url``, with htmx's history cache
    off) needs the whole page, as does a boosted link.
    """
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def paginate(queryset, *, per_page: int, number=1) -> Page:
    """Page ``number`` of ``queryset``; out-of-range or junk page numbers give a valid page."""
    return Paginator(queryset, per_page).get_page(number)
