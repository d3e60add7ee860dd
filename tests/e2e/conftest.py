"""Playwright in Debian's Chromium against ``live_server``.

Playwright's sync API runs an event loop in the test thread, so Django's async-safety guard has
to be relaxed for these tests (the ORM calls still run synchronously, one at a time).
"""

import os
import re
import shutil
from dataclasses import dataclass, field

import pytest

from tests.live import on_sqlite
from tests.workers import SHARED_CONNECTION

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HTMX_BUSY = ".htmx-request, .htmx-settling, .htmx-swapping, .htmx-added"

pytestmark = pytest.mark.e2e


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    # Before any fixture of the test (the database's set-up included) and held to the end of
    # its teardown (the flush included): see tests.live.lending_the_connection.
    if "tests/e2e/" in str(item.path) and on_sqlite():
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
