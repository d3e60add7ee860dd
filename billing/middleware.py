"""Project-wide middleware: the billing clock, clean input, sign-in, htmx flash messages, 503s."""

import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as BaseLoginRequiredMiddleware
from django.contrib.messages import get_messages
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect
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


NUL_IN_PARAMETERS = "Request parameters cannot contain NUL characters (%00)."


class RejectNulParametersMiddleware:
    """Answer 400 when a query parameter holds a NUL character, before any view reads it.

    PostgreSQL cannot hold or compare text with NUL, so a search box given ``%00`` answered 500
    wherever a view passed the parameter to a query. Posted form fields refuse NUL themselves
    (Django's and DRF's ``CharField``), and CSV files are checked line by line.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return bad_request(request, NUL_IN_PARAMETERS)
        return self.get_response(request)


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    """A 400 that says why: JSON under /api/, a plain page elsewhere (no session needed)."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400)
    return HttpResponse(render_to_string("400.html", {"message": message}), status=400)


class LoginRequiredMiddleware(BaseLoginRequiredMiddleware):
    """Every page needs a signed-in user, except the API, which answers 401 itself.

    The API authenticates tokens as well as sessions, so redirecting it to the login page would
    be wrong for integrations; DRF's permission classes refuse anonymous requests there.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)

    def handle_no_permission(self, request, view_func):
        """htmx follows a redirect inside the page; send it to the login page as a whole."""
        response = super().handle_no_permission(request, view_func)
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(response.url)
        return response


LAST_SEEN = "ratecard_last_seen"
SIGNED_OUT_IDLE = "You were signed out after {duration} without activity. Sign in again."


class IdleSessionTimeoutMiddleware:
    """Sign out a session that has been idle longer than ``RATECARD_SESSION_IDLE_TIMEOUT``.

    The time of the last request is kept in the session, written at most once per
    ``RATECARD_SESSION_ACTIVITY_STEP`` seconds, so a busy user costs no session write per
    request. Each write also moves the session's own expiry (``SESSION_COOKIE_AGE``, the same
    timeout) forward, so the cookie and the stored session lapse with the idle time too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_SEEN)
            if last is not None and now - last > settings.RATECARD_SESSION_IDLE_TIMEOUT:
                logout(request)
                duration = _duration(settings.RATECARD_SESSION_IDLE_TIMEOUT)
                messages.info(request, SIGNED_OUT_IDLE.format(duration=duration))
            elif last is None or now - last >= settings.RATECARD_SESSION_ACTIVITY_STEP:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


def start_activity_clock(sender, request, user, **kwargs) -> None:
    """Signing in counts as activity (``user_logged_in``): no extra session write right after."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())


def _duration(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    if hours and not minutes:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds // 60} minute{'s' if seconds // 60 != 1 else ''}"


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (and no-cache, private) on what only a signed-in user sees.

    Pages and exports of a signed-in user and every API answer: neither the browser's cache
    (nor its back button after signing out) nor a shared proxy keeps a copy. Static files,
    served before sign-in is looked at, stay cacheable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path_info.startswith("/api/") or (user is not None and user.is_authenticated):
            add_never_cache_headers(response)
        return response


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
    """Turn a lost database connection in a view into a clean 503 instead of a traceback.

    The pool and ``CONN_HEALTH_CHECKS`` reconnect on their own once the server is back, so the
    next request after an outage succeeds without a restart. The layers around the view (the
    session loaded in middleware, the session saved after it) are covered by the project's 500
    handler, which answers the same 503 for the same errors (``billing.api_urls.server_error``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_connection_error(exception):
            return None
        return database_unavailable(request, exception)


RETRY_AFTER = "5"
DATABASE_UNAVAILABLE = "The database is unavailable. Try again in a moment."


def database_unavailable(request: HttpRequest, exception: BaseException) -> HttpResponse:
    """503 with ``Retry-After``: JSON under /api/, a page needing no database elsewhere."""
    logger.error("Database unavailable while serving %s: %s", request.path, exception)
    if request.path_info.startswith("/api/"):
        return JsonResponse(
            {"detail": DATABASE_UNAVAILABLE}, status=503, headers={"Retry-After": RETRY_AFTER}
        )
    body = render_to_string("503.html", request=None)
    return HttpResponse(body, status=503, headers={"Retry-After": RETRY_AFTER})


def is_connection_error(exception: BaseException | None) -> bool:
    """True for errors that mean "cannot reach the database", not for bad queries."""
    if exception is None:
        return False
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
