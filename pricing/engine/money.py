"""How an amount is computed from a price and a quantity, exactly, in Decimal.

amount = unit price x quantity, rounded half-up to the cent, once, at the end.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

CENT = Decimal("0.01")
# Enough digits for any product of two values the models accept (2 x 18 digits): the default
# context's 28 would round before the cent for the largest of them.
EXACT = Context(prec=60)


def round_amount(unit_price: Decimal, quantity: Decimal) -> Decimal:
    """``unit_price x quantity`` rounded half-up to 2 decimal places, computed exactly."""
    return EXACT.multiply(unit_price, quantity).quantize(CENT, rounding=ROUND_HALF_UP)
