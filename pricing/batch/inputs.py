"""The inputs of batch rating, loaded once per run: the rule index and the deciding memberships.

A :class:`Snapshot` holds the engine's rules indexed for many records
(:class:`pricing.engine.RatingIndex`, kept per process while the rules have not changed) and a
:class:`MembershipCache` holding only the memberships of groups that can decide a price for the
stored records' days (:meth:`pricing.engine.RatingIndex.deciding_groups`): the chunk's
customers, or all of them in one streamed pass when a run is large. :class:`SnapshotHolder`
checks the one invalidation signal (:func:`pricing.invalidation.stamp`) per chunk, so a long run
picks up changes to rules, price lists, group names or memberships at the next chunk. Memory is
bounded by the chunk size and the number of customers, never by the records.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, tzinfo

from django.db import connection, transaction

from groups.models import Customer
from pricing import engine, invalidation
from pricing.batch.sql import MEMBERSHIP_TABLE, aware, db_key, pg_array, pg_run
from pricing.clock import billing_tz
from pricing.models import UsageRecord
from pricing.selectors import engine_rules

MEMBERSHIP_CHUNK = 5000  # customers per membership query
MEMBERSHIP_CACHE_MAX = 500_000  # customers kept between chunks before the cache is dropped
PRELOAD_MIN = 2_000  # customers a chunk needs before loading everyone is considered
PRELOAD_SHARE = 10  # ... and it needs at least 1/PRELOAD_SHARE of all customers


# --- The rule index ---------------------------------------------------------------------------


def keyed_rules(rules: Iterable[engine.Rule]) -> list[engine.Rule]:
    """Engine rules whose ``group_id`` / ``customer_id`` are raw-SQL keys (see :func:`db_key`)."""
    return [
        replace(
            rule,
            group_id=db_key(rule.group_id) if rule.group_id is not None else None,
            customer_id=db_key(rule.customer_id) if rule.customer_id is not None else None,
        )
        for rule in rules
    ]


def load_index(
    *, categories: Iterable[str] | None = None, tz: tzinfo | None = None
) -> engine.RatingIndex:
    """Every rule (or those of ``categories``) with all their prices, keyed for raw rows.

    The rule and group ids inside the engine rules are turned into raw-SQL keys so the index,
    the membership cache and the claimed rows all speak the same key.
    """
    rules = engine_rules(categories=categories)
    return engine.RatingIndex(keyed_rules(rules), tz=tz or billing_tz())


# The rule index outlives a run: successive runs and tasks in one process reuse it while the
# rules part of the stamp (and the billing time zone) stay the same. Memberships are not kept
# across runs: they are large, and a web worker should not hold a million of them.
_index_cache: dict[tuple, engine.RatingIndex] = {}
_index_lock = threading.Lock()


def cached_index(stamp: invalidation.Stamp) -> engine.RatingIndex:
    tz = billing_tz()
    key = (connection.alias, stamp.rules, stamp.generation, str(tz))
    index = _index_cache.get(key)
    if index is None:
        with _index_lock:
            index = _index_cache.get(key)
            if index is None:
                index = load_index(tz=tz)
                _index_cache.clear()
                _index_cache[key] = index
    return index


# --- Memberships ------------------------------------------------------------------------------


class MembershipCache:
    """Membership periods of customers, keyed by raw-SQL customer key, loaded on demand.

    Only periods of groups some rule targets are kept: no other group can change a price. A
    chunk that needs a tenth of all customers or more loads every membership in one sequential
    pass instead (a run over millions of records touches every customer anyway, and one scan
    beats a hundred thousand index probes).
    """

    def __init__(self, group_keys: frozenset, preload: bool = True) -> None:
        self.group_keys = group_keys
        self.preload = preload
        self.periods: dict[str, tuple] = {}
        self.complete = False  # every customer's periods are loaded; absent means none
        # The group keys of each customer's periods, in the same order: the hot loop looks
        # them all up at C speed (map) and reads a period only for the best candidate.
        self.keys: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def ensure(self, customer_keys: Iterable[str]) -> int:
        """Load the customers not cached yet; returns the number of queries run."""
        if self.complete:
            return 0
        with self._lock:
            missing = [key for key in set(customer_keys) if key not in self.periods]
            if not missing:
                return 0
            if (
                self.preload
                and len(missing) >= PRELOAD_MIN
                and not self.periods
                and self.load_everyone_if_worth_it(len(missing), locked=True)
            ):
                return 2
            if len(self.periods) + len(missing) > MEMBERSHIP_CACHE_MAX:
                self.periods, self.keys = {}, {}
            loaded: dict[str, list] = {key: [] for key in missing}
            queries = 0
            for start in range(0, len(missing), MEMBERSHIP_CHUNK):
                queries += 1
                self._collect(_membership_rows(missing[start : start + MEMBERSHIP_CHUNK]), loaded)
            self.periods.update((key, tuple(value)) for key, value in loaded.items())
            self.keys.update(_group_keys(loaded))
            return queries

    def load_everyone_if_worth_it(self, customers: int, *, locked: bool = False) -> bool:
        """Load every membership when ``customers`` is a tenth of all customers or more."""
        if self.complete:
            return True
        total = Customer.objects.count()
        if customers * PRELOAD_SHARE < total or total > MEMBERSHIP_CACHE_MAX:
            return False
        if locked:
            self._load_all()
        else:
            with self._lock:
                self._load_all()
        return True

    def _collect(self, rows: Iterable[tuple], into: dict[str, list]) -> None:
        group_keys = self.group_keys
        interned: dict[str, str] = {}
        for customer, group, joined, left in rows:
            if group in group_keys:
                group = interned.setdefault(group, group)
                periods = into.get(customer)
                if periods is None:
                    periods = into[customer] = []
                periods.append((group, joined, left))

    def _load_all(self) -> None:
        """The memberships of the cache's groups in one pass (server-side cursor on PostgreSQL)."""
        loaded: dict[str, list] = {}
        if connection.vendor == "postgresql" and self.group_keys:
            import psycopg

            connection.ensure_connection()
            with (
                transaction.atomic(),
                connection.wrap_database_errors,
                psycopg.ServerCursor(connection.connection, "rating_memberships") as cursor,
            ):
                cursor.execute(
                    "SELECT customer_id::text, group_id::text, joined_at, left_at "
                    f"FROM {MEMBERSHIP_TABLE} WHERE group_id = ANY(%s::uuid[])",
                    [pg_array(self.group_keys)],
                    binary=True,
                )
                while rows := cursor.fetchmany(20_000):
                    self._collect(rows, loaded)
        elif connection.vendor != "postgresql" and self.group_keys:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT customer_id, group_id, joined_at, left_at FROM {MEMBERSHIP_TABLE} "
                    "WHERE group_id IN (SELECT value FROM json_each(%s))",
                    [json.dumps(sorted(self.group_keys))],
                )
                while rows := cursor.fetchmany(20_000):
                    self._collect([(c, g, aware(j), aware(lf)) for c, g, j, lf in rows], loaded)
        self.periods = {key: tuple(value) for key, value in loaded.items()}
        self.keys = dict(_group_keys(loaded))
        self.complete = True


def _group_keys(loaded: dict[str, list]) -> Iterator[tuple[str, tuple[str, ...]]]:
    for key, periods in loaded.items():
        yield key, tuple(period[0] for period in periods)


def _membership_rows(customer_keys: list[str]) -> list[tuple]:
    if connection.vendor == "postgresql":
        return pg_run(
            f"SELECT customer_id::text, group_id::text, joined_at, left_at FROM {MEMBERSHIP_TABLE} "
            "WHERE customer_id = ANY(%s::uuid[])",
            [pg_array(customer_keys)],
        )
    with connection.cursor() as cursor:
        marks = ",".join(["%s"] * len(customer_keys))
        cursor.execute(
            f"SELECT customer_id, group_id, joined_at, left_at FROM {MEMBERSHIP_TABLE} "
            f"WHERE customer_id IN ({marks})",
            customer_keys,
        )
        return [
            (customer, group, aware(joined), aware(left))
            for customer, group, joined, left in cursor.fetchall()
        ]


# --- Snapshot of everything rating reads ------------------------------------------------------


@dataclass
class Snapshot:
    """Rules and memberships as of ``stamp``; shared by the chunks (and threads) of one run.

    ``days`` is the span of billing days of the usage records when the snapshot was taken (None:
    there were none): the cache holds memberships of the groups that can decide a price within
    it. A record outside it (stored since, backdated) is rated with all its customer's
    memberships, read for it (:func:`rate_rows`).
    """

    stamp: invalidation.Stamp
    index: engine.RatingIndex
    members: MembershipCache
    days: tuple[date, date] | None = None
    # The engine's charge of a (price, quantity) pair once worked out (rate_rows): a price of
    # this snapshot's index by identity, and a quantity; bounded by CHARGES_KEPT.
    charges: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, stamp: invalidation.Stamp | None = None, *, preload: bool = True) -> Snapshot:
        stamp = stamp if stamp is not None else invalidation.stamp()
        index = cached_index(stamp)
        days = usage_days(index.tz)
        members = MembershipCache(index.deciding_groups(days), preload)
        return cls(stamp=stamp, index=index, members=members, days=days)


def usage_days(tz: tzinfo) -> tuple[date, date] | None:
    """First and last billing day of all usage records (two index probes)."""
    instants = UsageRecord.objects.order_by("occurred_at").values_list("occurred_at", flat=True)
    first = instants.first()
    if first is None:
        return None
    return engine.billing_day(first, tz), engine.billing_day(instants.last(), tz)


class SnapshotHolder:
    """Keeps one snapshot per run and replaces it when the rating inputs' stamp moves.

    ``preload=False`` (short runs, such as a polling request's slice) never loads every
    membership at once, only those of the customers at hand.
    """

    def __init__(self, *, preload: bool = True) -> None:
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self.preload = preload

    def current(self) -> Snapshot:
        stamp = invalidation.stamp()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.stamp == stamp:
            return snapshot
        with self._lock:
            if self._snapshot is None or self._snapshot.stamp != stamp:
                self._snapshot = Snapshot.load(stamp, preload=self.preload)
            return self._snapshot


def customers_in_full(keys: set[str]) -> tuple[dict[str, str], dict[str, list]]:
    """Names and every membership period of these customers (one query)."""
    names: dict[str, str] = {}
    periods: dict[str, list] = {}
    rows = Customer.objects.filter(pk__in=[uuid.UUID(key) for key in keys]).values_list(
        "pk", "name", "memberships__group_id", "memberships__joined_at", "memberships__left_at"
    )
    for pk, name, group, joined, left in rows:
        key = db_key(pk)
        names[key] = name
        if group is not None:
            periods.setdefault(key, []).append((db_key(group), joined, left))
    return names, periods
