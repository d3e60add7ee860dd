"""Rating in several processes: the entry point of a worker process.

Rating is CPU work in Python and in the database in turns. Threads share one interpreter lock,
so two of them keep one core busy with Python at most; processes use every core. A worker is a
fresh interpreter (the ``spawn`` start method: nothing of the parent's connections, connection
pool threads or locks is inherited), so this module imports nothing from the apps at load time:
unpickling the entry point must not need Django to be set up yet.
"""

from __future__ import annotations

import os


def rate_in_process(settings_module: str, alias: str, db_name: str, options: dict, messages):
    """Rate queue chunks until none are left; report progress and the result on ``messages``.

    ``db_name`` is the parent's database name as it is at run time (a test database has a name
    the settings do not know). Messages: ``("progress", n)`` after each chunk, then one
    ``("done", rated, chunks)`` or ``("error", text)``.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    import django

    django.setup()
    from django.db import connections

    connections[alias].settings_dict["NAME"] = db_name
    from pricing import batch

    last = [0]

    def progress(done: int) -> None:
        messages.put(("progress", done - last[0]))
        last[0] = done

    scope = batch.Scope(options.pop("id_range"))
    try:
        report = batch.rate_pending(workers=1, progress=progress, scope=scope, **options)
    except BaseException as exc:  # reported to the parent, which raises
        messages.put(("error", f"{type(exc).__name__}: {exc}"))
    else:
        messages.put(("done", report.rated, report.chunks))
    finally:
        connections.close_all()
