"""What an item costs: price models, billing increments, minimum charges, derived prices.

Every surface prices an item through :func:`charge`; the arithmetic, exactly:

1. **Billed quantity** (:func:`billed_quantity`): with billing increments, the quantity is
   raised to ``first_increment``, then rounded up to whole ``next_increment`` blocks beyond it
   ("60/60", "30/6"); without them it is the quantity itself.
2. **Mode** (:class:`Mode`), on the billed quantity:
   - ``per_unit``: quantity x unit price;
   - ``graduated``: each tier's share of the quantity at that tier's price (the first 100 at
     2.00, the next 900 at 1.50, ...);
   - ``volume``: the whole quantity at the price of the tier it reaches (a tier's ``up_to`` is
     inclusive: exactly 100 is still the first tier);
   - ``package``: whole blocks of ``package_size`` units (rounded up) at the block price.
3. **Minimum charge**: the amount is at least ``minimum_charge``.
4. **Rounding**: the exact Decimal result is rounded half-up to the cent once, at the end
   (:mod:`.money`).

A **derived** price (a price list based on another, :func:`derive`) is the base item with every
per-unit money value turned into ``value x factor + surcharge`` and every block price into
``block price x factor + surcharge x package size``, each rounded half-up to the list's
``rounding`` decimal places; the minimum charge is scaled by the factor (to the cent). A list's
own items override its base's items of the same code; chains resolve from the root
(:func:`resolve_lists`), cycles are refused.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import NamedTuple

from pricing.engine.money import CENT, EXACT, MAX_AMOUNT, round_amount


class Mode(StrEnum):
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"


TIERED = (Mode.GRADUATED, Mode.VOLUME)
_MODE_TEXT = {mode: str(mode) for mode in Mode}
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Tier:
    """Quantities up to ``up_to`` (inclusive; None: no end) at ``unit_price``."""

    up_to: Decimal | None
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Derivation:
    """Where a derived price came from: ``factor x base + surcharge``, rounded."""

    base_code: str
    factor: Decimal
    surcharge: Decimal
    rounding: int
    base: ItemPrice

    def describe(self, item_code: str) -> str:
        """ "derived: 0.80 x STD-RETAIL-2026 minute 0.50" (+ the surcharge when there is one)."""
        surcharge = f" + {format_price(self.surcharge)}" if self.surcharge else ""
        return (
            f"derived: {format_price(self.factor)} x {self.base_code} {item_code} "
            f"{format_price(self.base.unit_price)}{surcharge}"
        )


@dataclass(frozen=True, slots=True)
class ItemPrice:
    """The price of one item on one list.

    ``unit_price`` is the price per unit (``per_unit``), per block (``package``), or the first
    tier's price (``graduated``, ``volume``: the price the lists show).
    """

    unit_price: Decimal
    mode: Mode = Mode.PER_UNIT
    tiers: tuple[Tier, ...] = ()
    package_size: Decimal | None = None
    first_increment: Decimal | None = None
    next_increment: Decimal | None = None
    minimum_charge: Decimal | None = None
    derivation: Derivation | None = field(default=None, compare=False)

    @property
    def simple(self) -> bool:
        """Per unit, no increments, no minimum: amount = quantity x unit price."""
        return (
            self.mode == Mode.PER_UNIT
            and self.first_increment is None
            and self.next_increment is None
            and self.minimum_charge is None
        )

    def source(self, item_code: str) -> str:
        """Where the price came from, in words ("derived: 0.80 x STD ..."; "" for a list's own)."""
        return self.derivation.describe(item_code) if self.derivation is not None else ""

    def provenance(self) -> list[dict]:
        """Where the price came from as plain data, one entry per derivation, nearest first
        (empty for a list's own item): the base list, factor, surcharge, rounding and the base
        price the arithmetic started from."""
        steps, current = [], self.derivation
        while current is not None:
            steps.append(
                {
                    "base_price_list_code": current.base_code,
                    "factor": _plain(current.factor),
                    "surcharge": _plain(current.surcharge),
                    "rounding": current.rounding,
                    "base_unit_price": _plain(current.base.unit_price),
                }
            )
            current = current.base.derivation
        return steps


def as_price(value: ItemPrice | Decimal) -> ItemPrice:
    return value if isinstance(value, ItemPrice) else ItemPrice(unit_price=value)


class Step(NamedTuple):
    """One line of a charge's arithmetic: ``quantity x price = amount`` (or a note).

    A named tuple, as :class:`Charge`: batch rating makes one of each per record priced by a
    model, and a tuple is made several times faster than a frozen dataclass.
    """

    label: str
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    amount: Decimal | None = None

    def __str__(self) -> str:
        if self.quantity is None:
            return self.label
        return (
            f"{self.label}: {_plain(self.quantity)} x {_plain(self.unit_price)} = "
            f"{_plain(self.amount)}"
        )


class Charge(NamedTuple):
    """The result of pricing one record's quantity.

    ``unit_price`` is what one billed unit cost on average (to 6 decimals; the unit price itself
    for ``per_unit`` and ``volume``), what a record stores beside its amount.
    """

    amount: Decimal
    billed_quantity: Decimal
    unit_price: Decimal
    steps: tuple[Step, ...] = ()
    minimum_applied: bool = False
    mode: Mode = Mode.PER_UNIT

    def breakdown(self) -> dict:
        """The arithmetic as plain data (stored with the record, shown by the API)."""
        plain = _plain
        return {
            "mode": _MODE_TEXT[self.mode],
            "billed_quantity": plain(self.billed_quantity),
            "steps": [
                {
                    "label": label,
                    "quantity": None if quantity is None else plain(quantity),
                    "unit_price": None if unit_price is None else plain(unit_price),
                    "amount": None if amount is None else plain(amount),
                }
                for label, quantity, unit_price, amount in self.steps
            ],
            "minimum_applied": self.minimum_applied,
        }


def format_price(value: Decimal) -> str:
    """A unit price as people write it: at least two decimals, no trailing zeros beyond them."""
    text = f"{value.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _plain(value: Decimal) -> str:
    """A Decimal as people write it: no exponent, no trailing zeros.

    Kept for the values seen (batch rating writes a breakdown of several numbers per record,
    and prices, quantities and amounts repeat). Equal non-zero Decimals normalise alike, so
    the value is the key; zero is not kept (``0`` and ``-0`` are equal but print apart).
    """
    kept = bool(value) and value.is_finite()
    text = _PLAIN.get(value) if kept else None
    if text is None:
        text = f"{value.normalize():f}"
        if kept:
            if len(_PLAIN) >= _PLAIN_SIZE:
                _PLAIN.clear()
            _PLAIN[value] = text
    return text


_PLAIN: dict[Decimal, str] = {}
_PLAIN_SIZE = 200_000


def _round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


MICRO = Decimal("0.000001")


def billed_quantity(price: ItemPrice, quantity: Decimal) -> Decimal:
    """The quantity raised to the first increment, then to whole next increments beyond it."""
    first, step = price.first_increment, price.next_increment
    if first is None and step is None:
        return quantity
    first = first or Decimal(0)
    if quantity <= first:
        return first
    if step is None:
        return quantity
    blocks = ((quantity - first) / step).to_integral_value(rounding=ROUND_CEILING)
    return first + blocks * step


def _graduated(tiers: Sequence[Tier], quantity: Decimal, steps: list[Step] | None) -> Decimal:
    """The exact graduated amount: each tier's share of the quantity at the tier's price."""
    exact = below = ZERO
    multiply = EXACT.multiply
    for n, tier in enumerate(tiers, 1):
        if quantity <= below:
            break
        up_to, unit = tier.up_to, tier.unit_price
        top = quantity if up_to is None or quantity <= up_to else up_to
        share = top - below
        part = multiply(share, unit)
        exact += part
        if steps is not None:
            steps.append(Step(f"tier {n}", share, unit, part))
        if top is quantity:  # the quantity ends in this tier
            break
        below = up_to
    return exact


def tier_reached(tiers: Sequence[Tier], quantity: Decimal) -> int:
    """The position of the tier a quantity reaches (``up_to`` inclusive)."""
    for n, tier in enumerate(tiers):
        if tier.up_to is None or quantity <= tier.up_to:
            return n
    return len(tiers) - 1


class Quote(NamedTuple):
    """What a record stores of its charge: :class:`Charge` without the steps."""

    amount: Decimal
    billed_quantity: Decimal
    unit_price: Decimal
    minimum_applied: bool = False


def _work(price: ItemPrice, quantity: Decimal, steps: list[Step] | None) -> Quote | None:
    """The arithmetic of a charge, written once; the steps are appended to ``steps`` when it is
    a list (:func:`charge`), skipped when it is None (:func:`quote`, batch rating's per-record
    call: hence the inlined lookups)."""
    if price.first_increment is None and price.next_increment is None:
        billed = quantity
    else:
        billed = billed_quantity(price, quantity)
        if steps is not None and billed != quantity:
            steps.append(Step(f"billed quantity {_plain(billed)} (quantity {_plain(quantity)})"))
    mode = price.mode
    if mode == _PER_UNIT:
        unit = price.unit_price
        exact = EXACT.multiply(billed, unit)
        if steps is not None:
            steps.append(Step("per unit", billed, unit, exact))
    elif mode == _GRADUATED:
        exact = _graduated(price.tiers, billed, steps)
        unit = None
    elif mode == _VOLUME:
        n = tier_reached(price.tiers, billed)
        unit = price.tiers[n].unit_price
        exact = EXACT.multiply(billed, unit)
        if steps is not None:
            steps.append(Step(f"volume tier {n + 1}", billed, unit, exact))
    else:  # Mode.PACKAGE
        blocks = (billed / price.package_size).to_integral_value(ROUND_CEILING)
        exact = EXACT.multiply(blocks, price.unit_price)
        unit = None
        if steps is not None:
            label = f"blocks of {_plain(price.package_size)}"
            steps.append(Step(label, blocks, price.unit_price, exact))
    amount = exact.quantize(CENT, ROUND_HALF_UP)
    minimum = price.minimum_charge
    minimum_applied = minimum is not None and amount < minimum
    if minimum_applied:
        amount = _round_cents(minimum)
        if steps is not None:
            steps.append(Step(f"minimum charge {_plain(minimum)} applies"))
    if amount > MAX_AMOUNT:
        return None
    if unit is None:  # graduated, package: what one billed unit cost on average
        unit = (exact / billed).quantize(MICRO, ROUND_HALF_UP) if billed else ZERO
    return Quote(amount, billed, unit, minimum_applied)


_PER_UNIT, _GRADUATED, _VOLUME = Mode.PER_UNIT, Mode.GRADUATED, Mode.VOLUME
ZERO = Decimal(0)


def charge(price: ItemPrice | Decimal, quantity: Decimal) -> Charge | None:
    """Price ``quantity`` of an item; None when the amount would exceed ``MAX_AMOUNT``."""
    price = as_price(price)
    steps: list[Step] = []
    found = _work(price, quantity, steps)
    if found is None:
        return None
    amount, billed, unit, minimum_applied = found
    return Charge(amount, billed, unit, tuple(steps), minimum_applied, price.mode)


def quote(price: ItemPrice | Decimal, quantity: Decimal) -> Quote | None:
    """:func:`charge` without building its steps (what batch rating stores per record); the
    steps can be worked out again from the price and the quantity (:func:`charge`)."""
    return _work(as_price(price), quantity, None)


def amount_of(price: ItemPrice, quantity: Decimal) -> Decimal | None:
    """Only the amount of :func:`charge` (None: too large to store), quickly for simple prices:
    the hot loop of batch rating prices most records through this."""
    if price.simple:
        amount = round_amount(price.unit_price, quantity)
        return amount if amount <= MAX_AMOUNT else None
    found = charge(price, quantity)
    return None if found is None else found.amount


def describe(price: ItemPrice, currency: str) -> str:
    """The price in a few words, as a reason names it."""
    unit = f"{price.unit_price.normalize():f} {currency}"
    match price.mode:
        case Mode.GRADUATED:
            text = f"graduated tiers from {unit}"
        case Mode.VOLUME:
            text = f"volume tiers from {unit}"
        case Mode.PACKAGE:
            text = f"{unit} per block of {_plain(price.package_size)}"
        case _:
            text = unit
    if price.first_increment is not None:
        step = price.next_increment or price.first_increment
        text += f", billed {_plain(price.first_increment)}/{_plain(step)}"
    if price.minimum_charge is not None:
        text += f", at least {price.minimum_charge.normalize():f} {currency}"
    return text


# --- Validation ------------------------------------------------------------------------------

TIERS_NEEDED = "Give at least one tier; the last one has no upper bound."
TIER_NOT_POSITIVE = "Tier {n}: its upper bound must be greater than zero."
TIER_NOT_ASCENDING = "Tier {n}: its upper bound must be greater than tier {prev}'s ({value})."
TIER_LAST_BOUNDED = "The last tier must have no upper bound (it takes everything above)."
TIER_OPEN_EARLY = "Tier {n}: only the last tier may have no upper bound."
TIER_NEGATIVE_PRICE = "Tier {n}: its price cannot be negative."
PACKAGE_SIZE_NEEDED = "A package price needs a package size greater than zero."
INCREMENT_NOT_POSITIVE = "Billing increments must be greater than zero."
NEXT_WITHOUT_FIRST = "Give the first increment too (for 60/60 both are 60)."


def price_errors(price: ItemPrice) -> dict[str, list[str]]:
    """Field-level messages for a price that cannot be charged; empty when it is valid."""
    errors: dict[str, list[str]] = {}
    if price.mode in TIERED:
        tier_errors = []
        if not price.tiers:
            tier_errors.append(TIERS_NEEDED)
        previous = None
        for n, tier in enumerate(price.tiers, 1):
            if tier.unit_price < 0:
                tier_errors.append(TIER_NEGATIVE_PRICE.format(n=n))
            last = n == len(price.tiers)
            if tier.up_to is None:
                if not last:
                    tier_errors.append(TIER_OPEN_EARLY.format(n=n))
                continue
            if tier.up_to <= 0:
                tier_errors.append(TIER_NOT_POSITIVE.format(n=n))
            elif previous is not None and tier.up_to <= previous:
                tier_errors.append(
                    TIER_NOT_ASCENDING.format(n=n, prev=n - 1, value=_plain(previous))
                )
            previous = tier.up_to
            if last:
                tier_errors.append(TIER_LAST_BOUNDED)
        if tier_errors:
            errors["tiers"] = tier_errors
    if price.mode == Mode.PACKAGE and (price.package_size is None or price.package_size <= 0):
        errors["package_size"] = [PACKAGE_SIZE_NEEDED]
    for name in ("first_increment", "next_increment"):
        value = getattr(price, name)
        if value is not None and value <= 0:
            errors.setdefault(name, []).append(INCREMENT_NOT_POSITIVE)
    if price.next_increment is not None and price.first_increment is None:
        errors.setdefault("first_increment", []).append(NEXT_WITHOUT_FIRST)
    return errors


# --- Derived price lists ---------------------------------------------------------------------


@dataclass(frozen=True)
class ListSpec:
    """A price list as derivation sees it: its own items and, when derived, its base."""

    code: str
    items: Mapping[str, ItemPrice]
    base_id: Hashable | None = None
    factor: Decimal = ONE
    surcharge: Decimal = Decimal(0)
    rounding: int = 2


class CycleError(ValueError):
    """Price lists based on each other in a circle (args: the codes in the cycle)."""


def _derive_money(value: Decimal, factor: Decimal, surcharge: Decimal, rounding: int) -> Decimal:
    exact = EXACT.multiply(value, factor) + surcharge
    return exact.quantize(Decimal(1).scaleb(-rounding), rounding=ROUND_HALF_UP)


def derive(base: ItemPrice, spec: ListSpec, base_code: str) -> ItemPrice:
    """The price a derived list gives an item it does not list itself."""
    factor, surcharge, rounding = spec.factor, spec.surcharge, spec.rounding
    if base.mode == Mode.PACKAGE:
        per_block = surcharge * (base.package_size or ONE)
        unit = _derive_money(base.unit_price, factor, per_block, rounding)
    else:
        unit = _derive_money(base.unit_price, factor, surcharge, rounding)
    tiers = tuple(
        Tier(t.up_to, _derive_money(t.unit_price, factor, surcharge, rounding)) for t in base.tiers
    )
    minimum = (
        _round_cents(EXACT.multiply(base.minimum_charge, factor))
        if base.minimum_charge is not None
        else None
    )
    return replace(
        base,
        unit_price=unit,
        tiers=tiers,
        minimum_charge=minimum,
        derivation=Derivation(base_code, factor, surcharge, rounding, base),
    )


def chain(lists: Mapping[Hashable, ListSpec], list_id: Hashable) -> list[Hashable]:
    """The list and its bases, nearest first; :class:`CycleError` on a cycle."""
    seen: list[Hashable] = []
    current = list_id
    while current is not None:
        if current in seen:
            raise CycleError(*(lists[i].code for i in seen[seen.index(current) :]))
        seen.append(current)
        spec = lists.get(current)
        current = spec.base_id if spec is not None else None
    return seen


def resolve_lists(lists: Mapping[Hashable, ListSpec]) -> dict[Hashable, dict[str, ItemPrice]]:
    """Every list's effective prices: its own items over its base chain's, derived.

    Lists caught in a cycle (the services refuse to save one) price nothing.
    """
    resolved: dict[Hashable, dict[str, ItemPrice]] = {}

    def prices_of(list_id: Hashable, trail: tuple) -> dict[str, ItemPrice]:
        if list_id in resolved:
            return resolved[list_id]
        spec = lists[list_id]
        if list_id in trail:
            raise CycleError(spec.code)
        prices: dict[str, ItemPrice] = {}
        base_id = spec.base_id
        if base_id is not None and base_id in lists:
            base_code = lists[base_id].code
            for item, base_price in prices_of(base_id, (*trail, list_id)).items():
                prices[item] = derive(base_price, spec, base_code)
        prices.update(spec.items)
        resolved[list_id] = prices
        return prices

    for list_id in lists:
        try:
            prices_of(list_id, ())
        except CycleError:
            resolved[list_id] = {}
    return resolved
