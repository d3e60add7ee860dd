"""Project-wide middleware: the billing clock, sign-in, htmx flash messages, clean 503s."""

import logging

from django.contrib.auth.middleware import LoginRequiredMiddleware as BaseLoginRequiredMiddleware
from django.contrib.messages import get_messages
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from psycopg_pool import PoolTimeout

from groups.pages import wants_fragment
from pricing.clock import billing_tz

logger = logging.getLogger(__name__)


class BillingTimeZoneMiddleware:
    """Make the billing time zone the current time zone of every request.

    One clock for every surface: "today" (``timezone.localdate()``) is the billing day, an
    instant typed or posted without an offset (forms, the API) is read in the billing time zone
    as the CSV upload reads it, and times are shown there.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with timezone.override(billing_tz()):
            return self.get_response(request)


class LoginRequiredMiddleware(BaseLoginRequiredMiddleware):
    """Every page needs a signed-in user, except the API, which answers 401 itself.

    The API authenticates tokens as well as sessions, so redirecting it to the login page would
    be wrong for integrations; DRF's permission classes refuse anonymous requests there.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class HtmxMessagesMiddleware:
    """Flash messages of htmx actions: toasts that replace each other, never stale banners.

    A full page renders its messages at its top (and the next page has its own). A fragment
    would leave them queued until the next full page, long after the action they describe, so
    they go out of band into the toasts instead. An action (any method but GET) also replaces
    whatever the previous action or page said, even with nothing to say: "Added X" must not
    stay on screen once X has been removed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not wants_fragment(request)
            or response.streaming
            or 300 <= response.status_code < 400
            or "HX-Redirect" in response
            or "HX-Location" in response
            or not response.get("Content-Type", "").startswith("text/html")
        ):
            return response
        storage = get_messages(request)
        action = request.method != "GET"
        if not storage and not action:
            return response
        if action:
            response.write(render_to_string("_messages.html", {"messages": (), "oob": True}))
        response.write(
            render_to_string("_toasts.html", {"messages": storage, "oob": True}, request)
        )
        return response


class HtmxCacheMiddleware:
    """Keep a fragment out of the browser's cache of whole pages.

    One URL answers a fragment to htmx and the page to everybody else. Without ``Vary`` the
    browser may answer a later plain visit of that URL (Back after leaving the page, a reopened
    tab) with the fragment it cached: a page without navigation or heading. Every HTML answer
    therefore varies on the htmx headers, and a fragment is never stored at all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
        if wants_fragment(request):
            add_never_cache_headers(response)
        return response


class DatabaseUnavailableMiddleware:
    """Turn a lost database connection into a clean 503 instead of a traceback.

    The pool and ``CONN_HEALTH_CHECKS`` reconnect on their own once the server is back, so the
    next request after an outage succeeds without a restart.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not _is_connection_error(exception):
            return None
        logger.error("Database unavailable while serving %s: %s", request.path, exception)
        if request.path_info.startswith("/api/"):
            return JsonResponse(
                {"detail": "The database is unavailable. Try again in a moment."},
                status=503,
                headers={"Retry-After": "5"},
            )
        body = render_to_string("503.html", request=None)
        return HttpResponse(body, status=503, headers={"Retry-After": "5"})


def _is_connection_error(exception: Exception) -> bool:
    """True for errors that mean "cannot reach the database", not for bad queries."""
    if isinstance(exception, PoolTimeout | InterfaceError):
        return True
    if isinstance(exception, OperationalError):
        text = str(exception).lower()
        return any(
            marker in text
            for marker in (
                "connection",
                "server closed",
                "terminating",
                "could not connect",
                "the database system is",
                "timeout",
            )
        )
    return isinstance(exception, DatabaseError) and "connection" in str(exception).lower()
