"""Reads for the price list pages: a list's derivation chain and its effective prices.

The prices are the engine's (:func:`pricing.selectors.list_prices` resolves the chain through
:func:`pricing.engine.resolve_lists`); this module only shapes them for a page. Three queries
whatever the number of items or the depth of the chain.
"""

from dataclasses import dataclass

from pricing import engine
from pricing.models import PriceList
from pricing.selectors import list_prices


@dataclass(frozen=True)
class ChainLink:
    """One list of a derivation chain, with how it derives from the next one."""

    pk: object
    code: str
    name: str
    factor: object
    surcharge: object
    rounding: int
    based: bool
    base_code: str = ""

    @property
    def factor_text(self) -> str:
        return engine.format_price(self.factor)

    @property
    def surcharge_text(self) -> str:
        return engine.format_price(self.surcharge) if self.surcharge else ""


@dataclass(frozen=True)
class EffectivePrice:
    """An item a derived list prices through its base chain."""

    item_code: str
    price: engine.ItemPrice
    description: str
    source: str

    @property
    def price_text(self) -> str:
        return engine.format_price(self.price.unit_price)


def derivation_chain(price_list: PriceList) -> list[ChainLink]:
    """The list, then its base, its base's base ... (a cycle, refused on save, stops it).

    No query for a list based on nothing; one otherwise."""
    if price_list.base_price_list_id is None:
        return [
            ChainLink(
                price_list.pk,
                price_list.code,
                price_list.name,
                price_list.factor,
                price_list.surcharge,
                price_list.rounding,
                False,
            )
        ]
    rows = {
        pk: (code, name, base, factor, surcharge, rounding)
        for pk, code, name, base, factor, surcharge, rounding in PriceList.objects.values_list(
            "pk", "code", "name", "base_price_list_id", "factor", "surcharge", "rounding"
        )
    }
    links, current, seen = [], price_list.pk, set()
    while current is not None and current in rows and current not in seen:
        seen.add(current)
        code, name, base, factor, surcharge, rounding = rows[current]
        base_code = rows[base][0] if base in rows else ""
        links.append(
            ChainLink(current, code, name, factor, surcharge, rounding, base is not None, base_code)
        )
        current = base
    return links


def inherited_prices(price_list: PriceList, own_codes: set[str]) -> list[EffectivePrice]:
    """The items a derived list prices from its base chain (not its own), with their source."""
    if price_list.base_price_list_id is None:
        return []
    prices = list_prices([price_list.pk], derived=True)[price_list.pk]
    return [
        EffectivePrice(code, price, engine.describe(price, price_list.currency), price.source(code))
        for code, price in sorted(prices.items(), key=lambda kv: kv[0].lower())
        if code not in own_codes
    ]
