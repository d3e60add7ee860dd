"""The engine's rule book kept per process, checked against the database by one query per use.

Single-record rating (:func:`pricing.selectors.evaluate`) needs every rule of a category with its
price list's prices. Loading and converting them on every call cost most of its time at scale, so
:func:`rule_book` keeps one :class:`pricing.engine.RuleBook` of every rule with every price per
database (alias and name) and billing time zone, and reuses it while :func:`stamp` returns the
same tuple and no rule-related model was saved or deleted in this process.

What moves the stamp, seen from any process once committed (and from the writing connection
before): a new history row of a rule, price list, price list item or group (every ``save()`` and
``delete()`` through a model writes one: the services, the admin, ``QuerySet.delete``), a newly
created rule (bulk inserts such as the demo seed write no history), and a change to a customer
that a rule targets (its name shows in the reasons; the customer import bulk-updates names
with ``updated_at``). Replacing a price list's items bulk-inserts them, but only after saving the
list, which writes history. In this process, ``post_save`` / ``post_delete`` of those models also
bump a generation counter, so a change is seen even when the stamp cannot move (ids reused after
a rollback on SQLite).

Blind spots: writes that bypass the models (``QuerySet.update()``, ``bulk_update()``, raw SQL,
bulk inserts of rules dated before the latest one), in this process or another, move neither
the stamp nor the counter (targeted customers' ``updated_at`` excepted); the book stays stale
until something else changes. Call :func:`clear` in each process after such a write.
Memberships are not part of the book: callers read them per record.
"""

from __future__ import annotations

import threading
from functools import cache
from itertools import count

from django.db import connections
from django.db.models.signals import post_delete, post_save

from groups.models import Customer, CustomerGroup
from pricing import engine
from pricing.models import PriceList, PriceListItem, PricingRule

# Models whose rows end up in an engine.Rule (prices, codes, currency, target names).
WATCHED = (PricingRule, PriceList, PriceListItem, CustomerGroup, Customer)

_lock = threading.Lock()
# (alias, database name, time zone) -> (generation, stamp, book)
_books: dict[tuple, tuple[int, tuple, engine.RuleBook]] = {}
_counter = count(1)
_generation = 0


def _bump(**_kwargs) -> None:
    global _generation
    _generation = next(_counter)  # a fresh number even when two threads bump at once


for _model in WATCHED:
    post_save.connect(_bump, sender=_model, dispatch_uid=f"rulecache-save-{_model.__name__}")
    post_delete.connect(_bump, sender=_model, dispatch_uid=f"rulecache-delete-{_model.__name__}")


@cache  # reading ``Model.history`` builds a manager class each time
def _stamp_sql() -> str:
    rules = PricingRule._meta.db_table

    def latest_history(model) -> str:
        return f"(SELECT MAX(history_id) FROM {model.history.model._meta.db_table})"

    return (
        "SELECT "
        f"{latest_history(PricingRule)}, "
        f"(SELECT MAX(created_at) FROM {rules}), "
        f"{latest_history(PriceList)}, "
        f"{latest_history(PriceListItem)}, "
        f"{latest_history(CustomerGroup)}, "
        f"(SELECT MAX(c.updated_at) FROM {Customer._meta.db_table} c WHERE c.id IN "
        f"(SELECT customer_id FROM {rules} WHERE customer_id IS NOT NULL))"
    )


def stamp(using: str = "default") -> tuple:
    """A summary of everything the rule book is built from; it moves on any model write.

    One query of single-row aggregates, each answered from an index whatever the number of
    rules, lists, items or groups: the latest history row of each (every save and delete
    through a model writes one), the latest rule created (bulk inserts write no history), and
    the latest change to a customer that a rule targets (the customer import bulk-updates).
    """
    with connections[using].cursor() as cursor:
        cursor.execute(_stamp_sql())
        return tuple(cursor.fetchone())


def rule_book(*, using: str = "default") -> engine.RuleBook:
    """Every rule with every price, sorted for evaluation; reused while nothing changed.

    One query when the cached book is current (:func:`stamp`), three when it is (re)built.
    """
    from pricing.selectors import billing_tz, engine_rules

    tz = billing_tz()
    connection = connections[using]
    key = (using, str(connection.settings_dict["NAME"]), str(tz))
    generation = _generation  # read before the stamp: a write after it forces a rebuild
    current = stamp(using)
    cached = _books.get(key)
    if cached is not None and cached[0] == generation and cached[1] == current:
        return cached[2]
    with _lock:
        cached = _books.get(key)
        if cached is not None and cached[0] == generation and cached[1] == current:
            return cached[2]
        book = engine.RuleBook(engine_rules(using=using), tz=tz)
        _books[key] = (generation, current, book)
        return book


def clear() -> None:
    """Forget every cached book (after writes that bypass the models, see the module doc)."""
    with _lock:
        _books.clear()
