"""The engine's rule book kept per process, checked against the database by one query per use.

Single-record rating (:func:`pricing.selectors.evaluate`) needs every rule of a category with its
price list's prices. Loading and converting them on every call cost most of its time at scale, so
:func:`rule_book` keeps one :class:`pricing.engine.RuleBook` of every rule with every price (inside
a :class:`pricing.engine.RatingIndex`, :func:`rating_index`, for many records without a trace) per
database (alias and name) and billing time zone, and reuses it while the rules part of the rating
inputs' stamp (:func:`pricing.invalidation.stamp`, the one invalidation signal) has not moved.
Memberships are not part of the book: callers read them per record.
"""

from __future__ import annotations

import threading

from django.db import connections

from pricing import engine, invalidation
from pricing.clock import billing_tz

_lock = threading.Lock()
# (alias, database name, time zone) -> (stamp, index over the book)
_books: dict[tuple, tuple[invalidation.Stamp, engine.RatingIndex]] = {}


def rule_book(*, using: str = "default") -> engine.RuleBook:
    """Every rule with every price, sorted for evaluation; reused while nothing changed.

    One query when the cached book is current, three when it is (re)built.
    """
    return rating_index(using=using).book


def rating_index(*, using: str = "default") -> engine.RatingIndex:
    """The cached book indexed for rating many records without a trace
    (:class:`pricing.engine.RatingIndex`: the book's answers, its tables built as records need
    them and kept with the book). Same query and invalidation as :func:`rule_book`.
    """
    from pricing.selectors import engine_rules

    tz = billing_tz()
    connection = connections[using]
    key = (using, str(connection.settings_dict["NAME"]), str(tz))
    current = invalidation.stamp(using)
    cached = _books.get(key)
    if cached is not None and current.same_rules(cached[0]):
        return cached[1]
    with _lock:
        cached = _books.get(key)
        if cached is not None and current.same_rules(cached[0]):
            return cached[1]
        index = engine.RatingIndex(engine_rules(using=using), tz=tz)
        _books[key] = (current, index)
        return index


def clear() -> None:
    """Forget every cached book (after writes that bypass the models, see
    :mod:`pricing.invalidation`)."""
    with _lock:
        _books.clear()
