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
from dataclasses import dataclass, replace

from django.db import connections

from pricing import engine, invalidation
from pricing.clock import billing_tz

_lock = threading.Lock()


@dataclass(frozen=True)
class Cached:
    """One database's rules as rating reads them: the engine's book, and the same rules indexed
    for rating many records without a trace, keyed by text (:attr:`index`)."""

    stamp: invalidation.Stamp
    book: engine.RuleBook
    index: engine.RatingIndex


# (alias, database name, time zone) -> what was loaded, and when
_books: dict[tuple, Cached] = {}


def rule_book(*, using: str = "default") -> engine.RuleBook:
    """Every rule with every price, sorted for evaluation; reused while nothing changed.

    One query when the cached book is current, three when it is (re)built.
    """
    return _current(using).book


def rating_index(*, using: str = "default") -> engine.RatingIndex:
    """The cached rules indexed for rating many records without a trace
    (:class:`pricing.engine.RatingIndex`: the book's answers, its tables built as records need
    them and kept with the book). Customers and groups are keyed by their id as text (``str``
    of the UUID): a text hashes once, a ``uuid.UUID`` in Python on every lookup. Same query and
    invalidation as :func:`rule_book`.
    """
    return _current(using).index


def _current(using: str) -> Cached:
    from pricing.selectors import engine_rules

    tz = billing_tz()
    connection = connections[using]
    key = (using, str(connection.settings_dict["NAME"]), str(tz))
    current = invalidation.stamp(using)
    cached = _books.get(key)
    if cached is not None and current.same_rules(cached.stamp):
        return cached
    with _lock:
        cached = _books.get(key)
        if cached is not None and current.same_rules(cached.stamp):
            return cached
        rules = engine_rules(using=using)
        keyed = [
            replace(rule, group_id=_text(rule.group_id), customer_id=_text(rule.customer_id))
            for rule in rules
        ]
        cached = _books[key] = Cached(
            current, engine.RuleBook(rules, tz=tz), engine.RatingIndex(keyed, tz=tz)
        )
        return cached


def _text(value) -> str | None:
    return None if value is None else str(value)


def clear() -> None:
    """Forget every cached book (after writes that bypass the models, see
    :mod:`pricing.invalidation`)."""
    with _lock:
        _books.clear()
