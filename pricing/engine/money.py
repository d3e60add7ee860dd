"""How an amount is computed from a price and a quantity, exactly, in Decimal.

Every amount is computed in exact Decimal arithmetic and rounded half-up to the cent, once, at
the end (how an item's price turns a quantity into an amount is :mod:`.prices`). Amounts are
stored exactly on every database up to :data:`MAX_AMOUNT`; a record whose amount would exceed
it is not rated (the reason says so) rather than stored inexactly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

CENT = Decimal("0.01")
# Enough digits for any product of two values the models accept (2 x 18 digits): the default
# context's 28 would round before the cent for the largest of them.
EXACT = Context(prec=60)
# The largest amount of one record: 10^16 less a cent. Stored exactly as integer cents on SQLite
# (with room for sums) and as numeric(20, 2) on PostgreSQL.
MAX_AMOUNT = Decimal("9999999999999999.99")


def round_amount(unit_price: Decimal, quantity: Decimal) -> Decimal:
    """``unit_price x quantity`` rounded half-up to 2 decimal places, computed exactly."""
    return EXACT.multiply(unit_price, quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def storable(amount: Decimal) -> bool:
    """Whether an amount can be stored exactly (at most :data:`MAX_AMOUNT`)."""
    return amount <= MAX_AMOUNT
