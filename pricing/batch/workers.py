"""Worker processes: rating is CPU work in Python and in the database in turns, so a large run
forks processes (one per core) instead of threads, each with its own connection."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections


@dataclass
class RunReport:
    rated: int = 0
    seconds: float = 0.0
    chunks: int = 0


Job = Callable[..., RunReport]  # called with progress=callback(records rated so far)


def in_processes(jobs: list[Job], progress: Callable[[int], None] | None) -> RunReport:
    """Run each job in a forked process and add up their reports.

    Rating is CPU work in Python and in the database in turns; threads share one interpreter
    lock, processes use every core. Connections and the connection pool (whose threads a fork
    would not carry over) are closed first; each worker opens its own. Progress from every
    worker adds up into ``progress``.
    """
    import multiprocessing

    started = time.perf_counter()
    for conn in connections.all(initialized_only=True):
        conn.close()
        if hasattr(conn, "close_pool"):
            conn.close_pool()
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    processes = []
    for n, job in enumerate(jobs):
        process = context.Process(target=_worker, args=(job, messages), name=f"rate-{n}")
        process.start()
        processes.append(process)
    report = RunReport()
    errors: list[str] = []
    running = len(processes)
    while running:
        try:
            kind, *values = messages.get(timeout=5)
        except queue.Empty:  # check that nobody died without a word
            if not any(p.is_alive() for p in processes):
                errors.append("a rating worker exited without reporting")
                break
            continue
        if kind == "progress":
            report.rated += values[0]
            if progress is not None:
                progress(report.rated)
        elif kind == "done":
            running -= 1
            report.chunks += values[1]
        else:
            running -= 1
            errors.append(values[0])
    for process in processes:
        process.join()
    if errors:
        raise RuntimeError("rating worker failed: " + "; ".join(errors))
    report.seconds = time.perf_counter() - started
    return report


def _detach_inherited_connections() -> list:
    """Let go of database connections this process inherited through the fork.

    The parent closes its connections before forking, but a connection opened in another
    context of the same thread (asgiref's context-local storage) can still be copied into the
    children; two workers then talked over one socket. Each worker drops what it inherited
    and opens its own. The inherited objects are kept referenced, never closed or finalized
    (the worker ends with ``os._exit``): closing them would end the parent's session.
    """
    inherited: list = []
    for conn in connections.all():
        if conn.connection is not None:
            inherited.append(conn.connection)
            conn.connection = None
    for conn in connections.all():
        pools = getattr(type(conn), "_connection_pools", None)
        if pools:
            inherited.extend(pools.values())
            pools.clear()
    return inherited


def _worker(job: Job, messages) -> None:
    """A forked worker: run ``job``, report on ``messages``.

    Messages: ``("progress", n)`` after each chunk, then one ``("done", rated, chunks)`` or
    ``("error", text)``. The process ends with ``os._exit``: nothing inherited from the parent
    (atexit handlers, buffered output) runs twice.
    """
    last = [0]

    def progress(done: int) -> None:
        messages.put(("progress", done - last[0]))
        last[0] = done

    code = 0
    inherited = _detach_inherited_connections()  # noqa: F841 (kept referenced until _exit)
    try:
        report = job(progress=progress)
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
