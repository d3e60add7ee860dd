"""A price's terms as plain data, and the key that names them.

A rated record priced by anything but a plain per-unit price keeps the terms it was priced with
(``pricing.models.RatedPrice``), not its breakdown: :func:`pricing.engine.charge` of those terms
and the record's quantity gives the breakdown again, step for step, whenever it is shown. Terms
are immutable and named by their content (:func:`terms_key`), so the same terms are stored once
however many records and workers use them, and a key never names two different prices.

Only what the arithmetic reads is kept (mode, prices, tiers, block size, increments, minimum
charge): where a derived price came from is shown from the rule, not the record.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal

from pricing.engine.prices import ItemPrice, Mode, Tier


def _text(value: Decimal | None) -> str | None:
    # str() keeps a Decimal exactly, exponent included: Decimal(str(d)) is d, digit for digit.
    return None if value is None else str(value)


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def terms(price: ItemPrice) -> dict:
    """What :func:`pricing.engine.charge` reads of a price, as JSON-ready plain data."""
    return {
        "mode": str(price.mode),
        "unit_price": _text(price.unit_price),
        "tiers": [[_text(t.up_to), _text(t.unit_price)] for t in price.tiers],
        "package_size": _text(price.package_size),
        "first_increment": _text(price.first_increment),
        "next_increment": _text(price.next_increment),
        "minimum_charge": _text(price.minimum_charge),
    }


def from_terms(data: dict) -> ItemPrice:
    """The price :func:`terms` describes (charging it gives what charging the original gave)."""
    return ItemPrice(
        unit_price=Decimal(data["unit_price"]),
        mode=Mode(data["mode"]),
        tiers=tuple(Tier(_number(up_to), Decimal(price)) for up_to, price in data["tiers"]),
        package_size=_number(data["package_size"]),
        first_increment=_number(data["first_increment"]),
        next_increment=_number(data["next_increment"]),
        minimum_charge=_number(data["minimum_charge"]),
    )


def terms_key(data: dict) -> uuid.UUID:
    """The name of a price's terms: a digest of their canonical JSON, as a UUID."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    raw = bytearray(hashlib.sha256(canonical.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8 (RFC 9562: custom), as Python 3.14 would set
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC's variant
    return uuid.UUID(bytes=bytes(raw))
