"""Reads for "simulate rating": one simulation with a what-if, the coverage grid, effective pricing.

Everything here calls the rating engine exactly as rating does and stores nothing:

- :func:`simulate` runs :func:`pricing.selectors.evaluate` (the function the rate API calls) for
  the actual memberships and, when asked, once more with hypothetical ones.
- :func:`coverage` loads the rules once and asks the engine for every (category, group) cell in
  memory, so its query count does not depend on the number of groups on the page.
- :func:`effective_pricing` rates every item of every category in memory with the process's cached
  rule book (:mod:`pricing.rulecache`) and the customer's groups read once.

Modules by role: :mod:`.one` (a simulation and its trace), :mod:`.prefill`, :mod:`.coverage`,
:mod:`.effective`, and :mod:`.common` (what they share).
"""

from pricing.simulation.common import (
    COVERAGE_PAGE_SIZE,
    OUTCOME_BADGE,
    TRACE_FULL_LIMIT,
    WHAT_IF_ADD_LIMIT,
    basis_of,
    billing_now,
    customer_choices,
    format_price,
    format_quantity,
    item_codes_for,
    items_by_category,
    noon_on,
)
from pricing.simulation.coverage import (
    Coverage,
    CoverageCell,
    CoverageRow,
    coverage,
    coverage_groups,
)
from pricing.simulation.effective import (
    EffectivePrice,
    EffectivePricing,
    effective_pricing,
)
from pricing.simulation.one import (
    GroupChoice,
    Side,
    Simulation,
    TraceRow,
    simulate,
    simulate_url,
)
from pricing.simulation.prefill import (
    RulePrefill,
    prefill_from_rule,
)

__all__ = [
    "COVERAGE_PAGE_SIZE",
    "OUTCOME_BADGE",
    "TRACE_FULL_LIMIT",
    "WHAT_IF_ADD_LIMIT",
    "Coverage",
    "CoverageCell",
    "CoverageRow",
    "EffectivePrice",
    "EffectivePricing",
    "GroupChoice",
    "RulePrefill",
    "Side",
    "Simulation",
    "TraceRow",
    "basis_of",
    "billing_now",
    "coverage",
    "coverage_groups",
    "customer_choices",
    "effective_pricing",
    "format_price",
    "format_quantity",
    "item_codes_for",
    "items_by_category",
    "noon_on",
    "prefill_from_rule",
    "simulate",
    "simulate_url",
]
