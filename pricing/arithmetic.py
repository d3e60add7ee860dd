"""A rated result's arithmetic in words, for the pages (the simulation's winner, the
customer's prices): the engine's steps (:class:`pricing.engine.Step`), the rounding, and where
the price came from (:meth:`pricing.engine.ItemPrice.source`). Nothing is computed here."""

from pricing import engine


def charge_lines(result: engine.Result, currency: str | None = None) -> list[str]:
    """ "tier 1: 100 x 2 = 200", ..., then the amount rounded once (empty when not rated)."""
    charge = result.charge
    if not result.rated or charge is None:
        return []
    lines = [str(step) for step in charge.steps]
    suffix = f" {currency}" if currency else ""
    lines.append(f"amount, rounded half-up to the cent once: {charge.amount}{suffix}")
    return lines


def price_source(result: engine.Result, item_code: str) -> str:
    """ "derived: 0.80 x STD-RETAIL-2026 minute 0.50", or "" for the rule's own list's item."""
    if not result.rated or result.rule is None:
        return ""
    price = result.rule.prices.get(item_code)
    return price.source(item_code) if price is not None else ""


def price_note(result: engine.Result, item_code: str) -> str:
    """The price model in the engine's words when it is not a plain per-unit price, and where
    a derived price came from: "graduated tiers from 1.60 CZK · derived: 0.80 x STD GB 2.00"."""
    if not result.rated or result.rule is None:
        return ""
    price = result.rule.prices.get(item_code)
    if price is None:
        return ""
    parts = [] if price.simple else [engine.describe(price, result.currency or "")]
    if price.derivation is not None:
        parts.append(price.source(item_code))
    return " · ".join(parts)
