"""Rating in several processes: the body of a worker process.

Rating is CPU work in Python and in the database in turns. Threads share one interpreter lock,
so two of them keep one core busy with Python at most; processes use every core. Workers are
forked from the rating process after it loaded the snapshot, so they share the rules and the
memberships copy-on-write; the parent closed its connections and pool first, and each worker
opens its own.
"""

from __future__ import annotations

import os

from django.db import connections

from pricing import batch


def rate_in_process(holder: batch.SnapshotHolder, options: dict, messages) -> None:
    """Rate queue chunks until none are left; report progress and the result on ``messages``.

    Messages: ``("progress", n)`` after each chunk, then one ``("done", rated, chunks)`` or
    ``("error", text)``. The process ends with ``os._exit``: nothing inherited from the parent
    (atexit handlers, buffered output) runs twice.
    """
    last = [0]

    def progress(done: int) -> None:
        messages.put(("progress", done - last[0]))
        last[0] = done

    code = 0
    try:
        report = batch.rate_pending(workers=1, progress=progress, holder=holder, **options)
    except BaseException as exc:  # reported to the parent, which raises
        messages.put(("error", f"{type(exc).__name__}: {exc}"))
        code = 1
    else:
        messages.put(("done", report.rated, report.chunks))
    finally:
        connections.close_all()
        messages.close()
        messages.join_thread()
    os._exit(code)
