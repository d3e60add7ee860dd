"""Calls started at the same moment in threads, each on its own database connection."""

import threading
from collections.abc import Callable

from django.db import connections


def at_once(*calls: Callable[[], object]) -> tuple[list, list[BaseException]]:
    """Run ``calls`` in threads released together by a barrier; ``(results, errors)``.

    ``results`` holds each call's return value in the calls' order (``None`` where it raised);
    ``errors`` the exceptions raised, for the test to assert on. Each thread closes the
    connections Django opened for it.
    """
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(n: int, call: Callable[[], object]) -> None:
        try:
            start.wait()
            results[n] = call()
        except BaseException as exc:  # collected for the caller's assertions
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
