"""The rating engine: every rule of pricing, in plain Python, written once.

No ORM, no HTTP, no settings: plain dataclasses in, results and traces out. Every surface (the
API, the pages, the simulation, batch rating, the impact preview, the coverage grid and the
audit) builds on these modules; where a page or a query needs a rule in SQL or the ORM for speed,
that form is derived in :mod:`pricing.rules_sql` and property-tested against these.

- :mod:`.calendar`: the billing day of an instant, instants without an offset, supported dates.
- :mod:`.rules`: a rule, its status on a day (in force), its targets, precedence.
- :mod:`.membership`: when a membership counts.
- :mod:`.money`: exact amounts, their rounding and the largest amount stored.
- :mod:`.prices`: what an item costs (price models, increments, minimum charges, derived
  price lists).
- :mod:`.reasons`: the sentences rating writes.
- :mod:`.book`: rating one record (the rule book, results and traces).
- :mod:`.index`: the rule book indexed for rating many records.
"""

from pricing.engine.book import (
    Result,
    RuleBook,
    Trace,
    TraceEntry,
    Usage,
    first_priced,
    ineligibility,
    rated_result,
)
from pricing.engine.calendar import (
    DATE_MAX,
    DATE_MIN,
    OutOfRange,
    billing_day,
    check_day,
    check_instant,
    day_after,
    day_start,
    days_window,
    month_window,
    read_instant,
)
from pricing.engine.index import NEVER, Period, RatingIndex, Table
from pricing.engine.membership import MembershipPeriod, counts_at, groups_at, groups_of_periods
from pricing.engine.money import CENT, MAX_AMOUNT, round_amount, storable
from pricing.engine.prices import (
    Charge,
    CycleError,
    Derivation,
    ItemPrice,
    ListSpec,
    Mode,
    Quote,
    Step,
    Tier,
    amount_of,
    as_price,
    billed_quantity,
    charge,
    derive,
    describe,
    price_errors,
    quote,
    resolve_lists,
)
from pricing.engine.reasons import Outcome, format_price
from pricing.engine.rules import (
    CUSTOMER,
    EVERYONE,
    GROUP,
    TARGET_RANK,
    Rule,
    Status,
    in_force,
    not_ended,
    precedence_key,
    status_on,
    target_kind,
)
from pricing.engine.terms import from_terms, terms, terms_key

__all__ = [
    "CENT",
    "CUSTOMER",
    "DATE_MAX",
    "DATE_MIN",
    "EVERYONE",
    "GROUP",
    "MAX_AMOUNT",
    "NEVER",
    "TARGET_RANK",
    "Charge",
    "CycleError",
    "Derivation",
    "ItemPrice",
    "ListSpec",
    "MembershipPeriod",
    "Mode",
    "OutOfRange",
    "Outcome",
    "Period",
    "Quote",
    "RatingIndex",
    "Result",
    "Rule",
    "RuleBook",
    "Status",
    "Step",
    "Table",
    "Tier",
    "Trace",
    "TraceEntry",
    "Usage",
    "amount_of",
    "as_price",
    "billed_quantity",
    "billing_day",
    "charge",
    "check_day",
    "check_instant",
    "counts_at",
    "day_after",
    "day_start",
    "days_window",
    "derive",
    "describe",
    "first_priced",
    "format_price",
    "from_terms",
    "groups_at",
    "groups_of_periods",
    "in_force",
    "ineligibility",
    "month_window",
    "not_ended",
    "precedence_key",
    "price_errors",
    "quote",
    "rated_result",
    "read_instant",
    "resolve_lists",
    "round_amount",
    "status_on",
    "storable",
    "target_kind",
    "terms",
    "terms_key",
]
