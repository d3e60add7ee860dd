"""Page plumbing every view of every app shares: fragment or whole page, and pagination.

It lives in ``groups``, the lowest layer, so ``pricing`` (and ``billing``) views use the same
answers. Nothing here knows a model.

- :func:`wants_fragment` decides whether an htmx request swaps a fragment or needs the page;
  :func:`redirect_to` navigates after a write, whoever sent the form.
- :func:`page_number` reads ``?page=`` robustly: junk and crafted numbers give a usable page.
- :func:`paginate` pages a queryset that may be counted, :func:`counted_page` wraps one page of
  rows whose total the caller already knows, and :func:`open_page` pages without counting (a
  table of millions of rows); the one partial ``_pagination.html`` renders all three.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

# Beyond this a page number is somebody typing nines: offsets stay inside what a 64-bit
# database integer holds for any page size, so a crafted ``?page=`` never reaches the SQL.
MAX_PAGE = 1_000_000


def wants_fragment(request: HttpRequest) -> bool:
    """True for htmx requests that swap a fragment into the page they came from.

    A history restore (Back after ``hx-push-url``, with htmx's history cache off) and a boosted
    link replace the whole document, so they get the whole page like any plain request.
    """
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def redirect_to(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful write: a full navigation to ``url``, even when htmx sent the form."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def page_number(raw) -> int:
    """``?page=`` as a page number from 1 to :data:`MAX_PAGE`; anything unreadable is page 1."""
    try:
        number = int(str(raw).strip())
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), MAX_PAGE)


def paginate(queryset, *, per_page: int, number=1) -> Page:
    """Page ``number`` of ``queryset``; a page past the end gives the last page."""
    return Paginator(queryset, per_page).get_page(page_number(number))


class _KnownCount(Paginator):
    """A paginator told its total instead of counting (the caller counted with the page)."""

    def __init__(self, count: int, per_page: int) -> None:
        super().__init__((), per_page)
        self.count = count  # shadows the cached_property: no COUNT query


def counted_page(rows: Sequence, *, number: int, per_page: int, count: int) -> Page:
    """One page of ``rows`` (already fetched) as a Django ``Page``, with its known total."""
    return Page(list(rows), number, _KnownCount(count, per_page))


@dataclass
class OpenPage:
    """A page of a list too long to count: it only knows whether another page follows.

    The pagination partial shows "Page n" without "of N" and no "Last" link for it.
    """

    object_list: list
    number: int
    per_page: int
    has_next: bool
    paginator = None

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_previous() or self.has_next

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.object_list else 0

    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.object_list)


def open_page(queryset, *, per_page: int, number=1) -> OpenPage:
    """One page without a COUNT over the whole table: one extra row says whether "next" exists."""
    number = page_number(number)
    start = (number - 1) * per_page
    rows = list(queryset[start : start + per_page + 1])
    return OpenPage(rows[:per_page], number, per_page, len(rows) > per_page)
