"""Writing a rated chunk back: one statement per chunk and outcome kind, only over rows still
pending.

PostgreSQL: ``UPDATE ... FROM unnest(arrays)`` joined on ``ctid``, with per-outcome arrays (rule,
codes, price, currency) indexed by an outcome number. SQLite: ``UPDATE ... FROM json_each(...)``
by ``rowid``. Amounts are always the engine's (:func:`pricing.engine.charge`), computed in Python
and stored exactly (integer cents on SQLite, :class:`pricing.fields.ExactDecimalField`).

Only rows still pending at that place are updated, so a record is never rated twice. Rating
writes no indexed column of the usage table, and its pages keep free space (fillfactor), so on
PostgreSQL each row is rewritten in place (a HOT update).
"""

from __future__ import annotations

import functools
import json
from datetime import datetime

from django.db import connection

from pricing.batch.rating import RatedChunk
from pricing.batch.sql import USAGE_TABLE, db_key, pg_array, pg_run
from pricing.models import UsageRecord, UsageStatus, keep_terms, terms_of

AMOUNT = UsageRecord._meta.get_field("amount")
RELATION = "__RELATION__"  # the table or partition a PostgreSQL statement updates

# Rated rows: per-row arrays (handle, amount, outcome number) and per-outcome arrays indexed by
# the outcome number, so each row's rule, codes, price and price terms come from an array
# subscript. Rows priced by anything but a plain per-unit price also carry their own unit price
# and billed quantity (the second form, used only for chunks that have such rows); their
# breakdown is the engine's charge of the outcome's terms, worked out when shown
# (``UsageRecord.breakdown``), so no document is written per row.
_PG_RATED = f"""
UPDATE __RELATION__ AS u SET
    status = '{UsageStatus.RATED}',
    rule_id = (%(rule_ids)s::uuid[])[v.k],
    rule_code = (%(rule_codes)s::text[])[v.k],
    price_list_id = (%(list_ids)s::uuid[])[v.k],
    price_list_code = (%(list_codes)s::text[])[v.k],
    unit_price = (%(prices)s::numeric[])[v.k],
    amount = v.amount,
    billed_quantity = NULL,
    price_terms_id = NULL,
    price_breakdown = NULL,
    currency = (%(currencies)s::text[])[v.k],
    rated_at = %(at)s,
    unrated_reason = ''
FROM unnest(%(handles)s::tid[], %(outcomes)s::int[], %(amounts)s::numeric[]) AS v(tid, k, amount)
WHERE u.ctid = v.tid AND u.status = '{UsageStatus.PENDING}'
"""

_PG_RATED_DETAILED = f"""
UPDATE __RELATION__ AS u SET
    status = '{UsageStatus.RATED}',
    rule_id = (%(rule_ids)s::uuid[])[v.k],
    rule_code = (%(rule_codes)s::text[])[v.k],
    price_list_id = (%(list_ids)s::uuid[])[v.k],
    price_list_code = (%(list_codes)s::text[])[v.k],
    unit_price = COALESCE(v.unit, (%(prices)s::numeric[])[v.k]),
    amount = v.amount,
    billed_quantity = v.billed,
    price_terms_id = (%(terms)s::uuid[])[v.k],
    price_breakdown = NULL,
    currency = (%(currencies)s::text[])[v.k],
    rated_at = %(at)s,
    unrated_reason = ''
FROM unnest(
    %(handles)s::tid[], %(outcomes)s::int[], %(amounts)s::numeric[], %(units)s::numeric[],
    %(billed)s::numeric[]
) AS v(tid, k, amount, unit, billed)
WHERE u.ctid = v.tid AND u.status = '{UsageStatus.PENDING}'
"""

_PG_UNRATED = f"""
UPDATE __RELATION__ AS u SET
    status = '{UsageStatus.UNRATED}', rule_id = NULL, rule_code = '', price_list_id = NULL,
    price_list_code = '', unit_price = NULL, amount = NULL, billed_quantity = NULL,
    price_terms_id = NULL, price_breakdown = NULL, currency = '', rated_at = %s,
    unrated_reason = v.reason
FROM unnest(%s::tid[], %s::text[]) AS v(tid, reason)
WHERE u.ctid = v.tid AND u.status = '{UsageStatus.PENDING}'
"""

# SQLite: one statement per chunk over a JSON array (json_each), not one per row: executemany
# pays SQLite's per-statement cost 20,000 times, this pays it once.
_SQLITE_RATED = f"""
UPDATE {USAGE_TABLE} AS u SET
    status = '{UsageStatus.RATED}',
    amount = json_extract(v.value, '$[1]'),
    rule_id = json_extract(v.value, '$[2]'),
    rule_code = json_extract(v.value, '$[3]'),
    price_list_id = json_extract(v.value, '$[4]'),
    price_list_code = json_extract(v.value, '$[5]'),
    unit_price = COALESCE(json_extract(v.value, '$[8]'), json_extract(v.value, '$[6]')),
    billed_quantity = json_extract(v.value, '$[9]'),
    price_terms_id = json_extract(v.value, '$[10]'),
    price_breakdown = NULL,
    currency = json_extract(v.value, '$[7]'),
    rated_at = %s,
    unrated_reason = ''
FROM json_each(%s) AS v
WHERE u.rowid = json_extract(v.value, '$[0]') AND u.status = '{UsageStatus.PENDING}'
"""

_SQLITE_UNRATED = f"""
UPDATE {USAGE_TABLE} AS u SET
    status = '{UsageStatus.UNRATED}', rule_id = NULL, rule_code = '', price_list_id = NULL,
    price_list_code = '', unit_price = NULL, amount = NULL, billed_quantity = NULL,
    price_terms_id = NULL, price_breakdown = NULL, currency = '', rated_at = %s,
    unrated_reason = json_extract(v.value, '$[1]')
FROM json_each(%s) AS v
WHERE u.rowid = json_extract(v.value, '$[0]') AND u.status = '{UsageStatus.PENDING}'
"""


def write(chunk: RatedChunk, at: datetime, relation: str = USAGE_TABLE) -> int:
    """Store a rated chunk (inside the claiming transaction); returns rows written.

    ``relation`` holds the chunk's rows: on a partitioned usage table (PostgreSQL), the
    partition the row handles (``ctid``) belong to; a ``ctid`` means nothing across partitions.
    """
    written = 0
    if connection.vendor == "postgresql":
        # claim set the plan for this transaction: the planner cannot know that a few
        # thousand ctids beat a scan of the table; a TID nested loop makes each row one fetch.
        if chunk.handles:
            rules = [rule for rule, _ in chunk.outcomes]
            params = {
                "at": at,
                "handles": pg_array(chunk.handles, quote=True),
                "outcomes": pg_array(map(str, chunk.outcome_ids)),
                "amounts": pg_array(map(str, chunk.amounts)),
                "rule_ids": [rule.id for rule in rules],
                "rule_codes": [rule.code for rule in rules],
                "list_ids": [rule.price_list_id for rule in rules],
                "list_codes": [rule.price_list_code for rule in rules],
                "prices": [price.unit_price for _, price in chunk.outcomes],
                "currencies": [rule.currency for rule in rules],
            }
            statement = _PG_RATED
            if chunk.details:
                statement = _PG_RATED_DETAILED
                details = [chunk.details.get(n) for n in range(len(chunk.handles))]
                params["units"] = pg_array(_text(d and d.unit_price) for d in details)
                params["billed"] = pg_array(_text(d and d.billed_quantity) for d in details)
                params["terms"] = [
                    None if t is None else t.key for t in _kept_terms(chunk.outcomes)
                ]
            written += pg_run(statement.replace(RELATION, relation), params, fetch=False)
        if chunk.unrated:
            handles, reasons = zip(*chunk.unrated, strict=True)
            written += pg_run(
                _PG_UNRATED.replace(RELATION, relation),
                [at, pg_array(handles, quote=True), list(reasons)],
                fetch=False,
            )
        return written
    with connection.cursor() as cursor:
        stamp = connection.ops.adapt_datetimefield_value(at)
        # Prices travel as JSON strings, as Django's own Decimal adapter would send them;
        # amounts as the field stores them (integer cents).
        to_cents = functools.partial(AMOUNT.get_db_prep_value, connection=connection)
        terms = _kept_terms(chunk.outcomes) if chunk.details else [None] * len(chunk.outcomes)
        outcomes = [
            (
                db_key(rule.id),
                rule.code,
                db_key(rule.price_list_id),
                rule.price_list_code,
                str(price.unit_price),
                rule.currency,
            )
            for rule, price in chunk.outcomes
        ]
        if chunk.handles:
            details = chunk.details
            rated = [
                (
                    handle,
                    to_cents(amount),
                    *outcomes[k - 1],
                    *_sqlite_detail(details.get(n)),
                    terms[k - 1] and terms[k - 1].key.hex,
                )
                for n, (handle, amount, k) in enumerate(
                    zip(chunk.handles, chunk.amounts, chunk.outcome_ids, strict=True)
                )
            ]
            cursor.execute(_SQLITE_RATED, [stamp, json.dumps(rated)])
            written += cursor.rowcount
        if chunk.unrated:
            cursor.execute(_SQLITE_UNRATED, [stamp, json.dumps(chunk.unrated)])
            written += cursor.rowcount
        return written


def _text(value) -> str:
    """A value of a PostgreSQL array literal (NULL for None)."""
    return "NULL" if value is None else str(value)


def _kept_terms(outcomes) -> list:
    """The terms of each outcome's price (None where it is simple), stored if new."""
    terms = [None if price.simple else terms_of(price) for _, price in outcomes]
    keep_terms(t for t in terms if t is not None)
    return terms


def _sqlite_detail(found) -> tuple:
    """The per-row unit price and billed quantity of a row (nothing when simple)."""
    if found is None:
        return (None, None)
    return (str(found.unit_price), str(found.billed_quantity))
