"""The live server on SQLite's in-memory test database, shared with the test thread.

On SQLite the test database lives in memory and ``live_server`` serves it on the test's own
connection. Two threads on one connection break it ("bad parameter or other API misuse", a
session that vanishes between two requests of a page), so on SQLite:

- the live server answers one request at a time, holding :data:`tests.workers.SHARED_CONNECTION`
  for the whole request (:class:`OneRequestAtATime`);
- every query of the test thread takes the same lock (:func:`taking_turns`);
- browser tests hold it from their set-up to the end of their teardown and lend it to the server
  only while Playwright waits on the browser (``tests/e2e/conftest.py``,
  :func:`lending_the_connection`).

:func:`share_connection_with_the_live_server` sets this up once per test session, before the
first test that starts the live server (the API's script test starts it before any browser
test).
"""

from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread

from tests.workers import SHARED_CONNECTION


class OneRequestAtATime(WSGIServer):
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


def taking_turns(execute, sql, params, many, context):
    with SHARED_CONNECTION:
        return execute(sql, params, many, context)


def on_sqlite() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


def lending_the_connection(wait):
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


def share_connection_with_the_live_server() -> None:
    """On SQLite: a serial live server, queries taking turns, Playwright's waits lending."""
    if not on_sqlite():
        return
    from django.db import connection
    from playwright._impl import _sync_base

    LiveServerThread.server_class = OneRequestAtATime
    # The test thread's own queries (fixtures, assertions, flushes) wait too, for the whole
    # session: a page left polling by one test must not share the connection with the next.
    connection.execute_wrappers.append(taking_turns)
    _sync_base.wait_for_future = lending_the_connection(_sync_base.wait_for_future)
