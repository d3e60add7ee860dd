"""Playwright in Debian's Chromium against ``live_server``.

Playwright's sync API runs an event loop in the test thread, so Django's async-safety guard has
to be relaxed for these tests (the ORM calls still run synchronously, one at a time).
"""

import os
import re
import shutil
from dataclasses import dataclass, field

import pytest
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread

from tests.workers import SHARED_CONNECTION

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HTMX_BUSY = ".htmx-request, .htmx-settling, .htmx-swapping, .htmx-added"

pytestmark = pytest.mark.e2e


class _OneRequestAtATime(WSGIServer):
    """The live server, serving one request at a time.

    On SQLite the test database lives in memory and the server's threads share the test's one
    connection; two page requests at once (htmx loads fragments in parallel) then used it at
    the same time ("database is locked", "bad parameter or other API misuse"). Taking turns
    is what a browser sees as a slower server, nothing else.
    """

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        # Not while a test runs background tasks on the same connection (tests.workers.drain).
        with SHARED_CONNECTION:
            super().process_request(request, client_address)


def _taking_turns(execute, sql, params, many, context):
    with SHARED_CONNECTION:
        return execute(sql, params, many, context)


def _on_sqlite() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


def _lending_the_connection(wait):
    """Playwright's waits with the shared connection lent to the live server, and only those.

    Taking turns query by query was not enough on SQLite: Django keeps a connection's
    transaction state (``in_atomic_block``, savepoints) on the connection object the two
    threads share, so a request's transaction and a test's fixture or flush could still mix
    (a signed-in page's next fragment found no session under load). The test thread holds
    :data:`SHARED_CONNECTION` from the start of a test's set-up to the end of its teardown and
    releases it only while it waits on the browser, which is when the server answers. Every
    wait of Playwright's sync API goes through ``wait_for_future`` (a call, and the end of an
    ``expect_download()`` / ``expect_response()`` block alike).
    """

    def lent(*args, **kwargs):
        if not SHARED_CONNECTION._is_owned():
            return wait(*args, **kwargs)
        state = SHARED_CONNECTION._release_save()
        try:
            return wait(*args, **kwargs)
        finally:
            SHARED_CONNECTION._acquire_restore(state)

    return lent


@pytest.fixture(scope="session", autouse=True)
def _serial_live_server_on_sqlite():
    if _on_sqlite():
        LiveServerThread.server_class = _OneRequestAtATime
        from django.db import connection
        from playwright._impl import _sync_base

        # The test thread's own queries (fixtures, assertions, flushes) wait too, for the whole
        # session: a page left polling by one test must not share the connection with the next.
        connection.execute_wrappers.append(_taking_turns)
        _sync_base.wait_for_future = _lending_the_connection(_sync_base.wait_for_future)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    # Before any fixture of the test (the database's set-up included) and held to the end of
    # its teardown (the flush included): see _lending_the_connection.
    if "tests/e2e/" in str(item.path) and _on_sqlite():
        SHARED_CONNECTION.acquire()
        item.stash[_HOLDING] = True
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        if item.stash.get(_HOLDING, False):
            SHARED_CONNECTION.release()
            item.stash[_HOLDING] = False


_HOLDING = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@dataclass
class PageWatch:
    """What went wrong in the browser during one test: console errors, script errors, CSP
    violations, failed requests and HTTP errors. A test that provokes a 4xx on purpose (a form
    refused with 422, a refusal with 409) says so with :meth:`allow`; a 5xx is never expected.
    """

    allowed: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def allow(self, *statuses: int) -> None:
        assert all(400 <= status < 500 for status in statuses), "only 4xx can be expected"
        self.allowed.update(statuses)

    def console(self, message) -> None:
        if message.type != "error":
            return
        # Chromium logs every 4xx/5xx fetch as a console error; an expected one is not a problem.
        status = re.search(r"status of (\d{3})", message.text)
        if status and int(status.group(1)) in self.allowed:
            return
        self.problems.append(f"console error: {message.text}")

    def response(self, response) -> None:
        if response.status >= 400 and response.status not in self.allowed:
            self.problems.append(
                f"HTTP {response.status}: {response.request.method} {response.url}"
            )

    def request_failed(self, request) -> None:
        failure = request.failure or ""
        # A request cancelled on purpose (hx-sync replacing it, a download, leaving the page).
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url} ({failure})")


@pytest.fixture
def page_watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser, page_watch):
    """A fresh browser page; the test fails if anything went wrong in it (see PageWatch)."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: page_watch.problems.append(f"page error: {exc}"))
    page.on("console", page_watch.console)
    page.on("response", page_watch.response)
    page.on("requestfailed", page_watch.request_failed)
    yield page
    context.close()
    assert not page_watch.problems, f"Errors in the browser: {page_watch.problems}"


def wait_for_htmx(page) -> None:
    """Wait until htmx has no request in flight and nothing is settling or swapping."""
    page.wait_for_function(f"() => !document.querySelector('{HTMX_BUSY}')")


def sign_in(page, live_server, username: str, password: str = "secret-pass-123") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


SHOTS = os.environ.get("RATECARD_SHOTS", "/tmp/shots-ux")


def shoot(page, name: str, widths=(1440, 390)) -> None:
    """Full-page screenshots at each width (a desktop and a phone), for people to look at."""
    os.makedirs(SHOTS, exist_ok=True)
    original = page.viewport_size
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)
        # caret="initial": hiding the caret injects a <style>, which the page's CSP refuses.
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True, caret="initial")
    if original:
        page.set_viewport_size(original)


def background(locator) -> str:
    """The computed background colour of an element, as the browser paints it."""
    return locator.evaluate("element => getComputedStyle(element).backgroundColor")
