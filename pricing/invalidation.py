"""One invalidation signal for every cache of rating inputs.

Rating reads, besides the usage records themselves: rules, price lists and their items, the
names of groups and of targeted customers (reasons name them), and memberships. Two caches keep
them between uses: the process's rule book (:mod:`pricing.rulecache`, single ratings) and the
batch snapshot (:mod:`pricing.batch.inputs`, rule index and memberships of a run). Both ask
:func:`stamp` and rebuild when it moved; nothing else decides staleness.

The stamp is one query of single-row aggregates, each answered from an index whatever the size
of the tables, in two parts:

- ``rules``: the latest history row of rules, price lists and price list items (every model
  ``save()`` and ``delete()`` writes one: services, admin, ``QuerySet.delete``), the latest rule
  created (bulk inserts write no history), the group names part from :mod:`groups.stamps`, and
  the latest change to a customer that a rule targets.
- ``members``: the memberships part from :mod:`groups.stamps`.

The rule book holds no membership, so it compares ``rules`` only; the batch snapshot compares
both. Within a process, ``post_save`` / ``post_delete`` of any of these models also moves
``generation``, so a change is seen even where the stamp cannot move (ids reused after a
rollback on SQLite). Writes that bypass the models (``QuerySet.update()``, raw SQL) are seen
only through what they change of the above; :func:`bump` marks them in this process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import count

from django.db import connections
from django.db.models.signals import post_delete, post_save

from groups import stamps as group_stamps
from groups.models import Customer, CustomerGroup, Membership
from pricing.models import PriceList, PriceListItem, PricingRule

WATCHED = (PricingRule, PriceList, PriceListItem, CustomerGroup, Customer, Membership)

_counter = count(1)
_generation = 0


def bump(**_kwargs) -> None:
    """Mark every cache of this process stale (connected to the watched models' signals)."""
    global _generation
    _generation = next(_counter)  # a fresh number even when two threads bump at once


def generation() -> int:
    return _generation


for _model in WATCHED:
    post_save.connect(bump, sender=_model, dispatch_uid=f"rating-inputs-save-{_model.__name__}")
    post_delete.connect(bump, sender=_model, dispatch_uid=f"rating-inputs-del-{_model.__name__}")


@dataclass(frozen=True)
class Stamp:
    rules: tuple
    members: tuple
    generation: int

    def same_rules(self, other: Stamp | None) -> bool:
        return (
            other is not None and other.rules == self.rules and other.generation == self.generation
        )


_RULE_PARTS = 6  # the number of values of the ``rules`` part, in the query below


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
        f"{group_stamps.names_stamp_sql()}, "
        f"(SELECT MAX(c.updated_at) FROM {Customer._meta.db_table} c WHERE c.id IN "
        f"(SELECT customer_id FROM {rules} WHERE customer_id IS NOT NULL)), "
        f"{group_stamps.members_stamp_sql()}"
    )


def stamp(using: str = "default") -> Stamp:
    """Where the rating inputs stand now (one query). Read the generation first: a write after
    it forces the next check to rebuild."""
    current = _generation
    with connections[using].cursor() as cursor:
        cursor.execute(_stamp_sql())
        row = tuple(cursor.fetchone())
    return Stamp(rules=row[:_RULE_PARTS], members=row[_RULE_PARTS:], generation=current)
