"""Price models at their boundaries: tiers, volume, packages, increments, minimums, derivation."""

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricing.engine import (
    CycleError,
    ItemPrice,
    ListSpec,
    Mode,
    Tier,
    billed_quantity,
    charge,
    from_terms,
    price_errors,
    quote,
    resolve_lists,
    terms,
    terms_key,
)
from pricing.engine.prices import amount_of

D = Decimal
DATA = ItemPrice(
    unit_price=D("2.00"),
    mode=Mode.GRADUATED,
    tiers=(Tier(D("100"), D("2.00")), Tier(D("1000"), D("1.50")), Tier(None, D("1.00"))),
)
VOLUME = ItemPrice(
    unit_price=D("2.00"),
    mode=Mode.VOLUME,
    tiers=(Tier(D("100"), D("2.00")), Tier(D("1000"), D("1.50")), Tier(None, D("1.00"))),
)
SMS = ItemPrice(unit_price=D("15.00"), mode=Mode.PACKAGE, package_size=D("1000"))
VOICE = ItemPrice(
    unit_price=D("0.50"),
    first_increment=D("60"),
    next_increment=D("60"),
    minimum_charge=D("0.30"),
)


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        ("100", "200.00"),  # exactly the first tier's edge: all at 2.00
        ("101", "201.50"),  # one unit past it: 100 x 2.00 + 1 x 1.50
        ("1000", "1550.00"),
        ("1500", "2050.00"),  # 200 + 1,350 + 500
        ("0.5", "1.00"),
    ],
)
def test_graduated_tiers_price_each_share_at_its_tier(quantity, amount):
    assert charge(DATA, D(quantity)).amount == D(amount)


@pytest.mark.parametrize(
    ("quantity", "amount", "unit"),
    [
        ("100", "200.00", "2.00"),  # at the edge the first tier still applies (inclusive)
        ("100.000001", "150.00", "1.50"),  # just past it the whole quantity moves up
        ("1000", "1500.00", "1.50"),
        ("2000", "2000.00", "1.00"),
    ],
)
def test_volume_prices_the_whole_quantity_at_the_tier_reached(quantity, amount, unit):
    found = charge(VOLUME, D(quantity))
    assert (found.amount, found.unit_price) == (D(amount), D(unit))


@pytest.mark.parametrize(
    ("quantity", "blocks"), [("1", 1), ("1000", 1), ("1000.000001", 2), ("2500", 3)]
)
def test_packages_round_up_to_whole_blocks(quantity, blocks):
    assert charge(SMS, D(quantity)).amount == D("15.00") * blocks


@pytest.mark.parametrize(
    ("first", "step", "quantity", "billed"),
    [
        ("60", "60", "1", "60"),
        ("60", "60", "60", "60"),  # an exact multiple stays
        ("60", "60", "61", "120"),
        ("60", "60", "120", "120"),
        ("30", "6", "1", "30"),
        ("30", "6", "30", "30"),
        ("30", "6", "31", "36"),
        ("30", "6", "36", "36"),
        ("30", "6", "36.5", "42"),
    ],
)
def test_billing_increments(first, step, quantity, billed):
    price = ItemPrice(unit_price=D("1"), first_increment=D(first), next_increment=D(step))
    assert billed_quantity(price, D(quantity)) == D(billed)
    assert charge(price, D(quantity)).billed_quantity == D(billed)


def test_a_minimum_charge_applies_below_it_and_not_above():
    below = charge(VOICE, D("10"))  # billed 60 s at 0.50/s... in minutes: 60 x 0.50 = 30.00
    assert below.amount == D("30.00")
    cheap = ItemPrice(unit_price=D("0.001"), minimum_charge=D("0.30"))
    assert charge(cheap, D("10")).amount == D("0.30")
    assert charge(cheap, D("10")).minimum_applied
    assert charge(cheap, D("1000")).amount == D("1.00")
    assert not charge(cheap, D("1000")).minimum_applied


def test_zero_price_tiers_are_free_and_rounding_happens_once_at_the_end():
    free_first = ItemPrice(
        unit_price=D("0"),
        mode=Mode.GRADUATED,
        tiers=(Tier(D("10"), D("0")), Tier(None, D("0.333333"))),
    )
    # 10 free, then 3 x 0.333333 = 0.999999 -> 1.00 (rounded once, not per tier)
    assert charge(free_first, D("13")).amount == D("1.00")


def test_the_breakdown_names_each_step():
    found = charge(DATA, D("101"))
    assert [str(step) for step in found.steps] == ["tier 1: 100 x 2 = 200", "tier 2: 1 x 1.5 = 1.5"]
    assert found.breakdown()["steps"][1]["quantity"] == "1"


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ((), "at least one tier"),
        (
            (Tier(D("100"), D("1")), Tier(D("50"), D("1")), Tier(None, D("1"))),
            "greater than tier 1",
        ),
        ((Tier(None, D("1")), Tier(D("50"), D("1"))), "only the last tier"),
        ((Tier(D("100"), D("1")),), "no upper bound"),
        ((Tier(D("0"), D("1")), Tier(None, D("1"))), "greater than zero"),
        ((Tier(D("10"), D("-1")), Tier(None, D("1"))), "cannot be negative"),
    ],
)
def test_bad_tiers_are_refused_with_field_messages(tiers, message):
    errors = price_errors(ItemPrice(unit_price=D("1"), mode=Mode.GRADUATED, tiers=tiers))
    assert any(message in text for text in errors["tiers"])


def test_package_and_increment_checks():
    assert "package_size" in price_errors(ItemPrice(unit_price=D("1"), mode=Mode.PACKAGE))
    assert "first_increment" in price_errors(ItemPrice(unit_price=D("1"), next_increment=D("6")))
    assert not price_errors(VOICE)


def test_a_derived_list_prices_its_base_items_and_keeps_its_own():
    lists = {
        "std": ListSpec("STD", {"minute": ItemPrice(D("0.50")), "sms": ItemPrice(D("1.00"))}),
        "promo": ListSpec("PROMO", {"sms": ItemPrice(D("0.10"))}, base_id="std", factor=D("0.8")),
    }
    prices = resolve_lists(lists)["promo"]
    assert prices["minute"].unit_price == D("0.40")
    assert prices["minute"].source("minute") == "derived: 0.80 x STD minute 0.50"
    assert prices["sms"].unit_price == D("0.10")  # its own item wins
    assert prices["sms"].source("sms") == ""


def test_chains_derive_from_the_root_with_surcharge_and_rounding():
    lists = {
        "base": ListSpec("BASE", {"gb": ItemPrice(D("2.00"))}),
        "std": ListSpec("STD", {}, base_id="base", factor=D("1.1"), surcharge=D("0.05")),
        "promo": ListSpec("PROMO", {}, base_id="std", factor=D("0.8"), rounding=1),
    }
    prices = resolve_lists(lists)
    assert prices["std"]["gb"].unit_price == D("2.25")  # 2.00 x 1.1 + 0.05
    assert prices["promo"]["gb"].unit_price == D("1.8")  # 2.25 x 0.8 = 1.80 -> 1.8 (1 place)


def test_a_cycle_of_base_lists_prices_nothing_and_is_reported():
    from pricing.engine.prices import chain

    lists = {
        "a": ListSpec("A", {"x": ItemPrice(D("1"))}, base_id="b"),
        "b": ListSpec("B", {}, base_id="a"),
    }
    with pytest.raises(CycleError):
        chain(lists, "a")
    assert resolve_lists(lists) == {"a": {}, "b": {}}


def test_derived_tiers_packages_and_minimums():
    base = ListSpec("BASE", {"data": DATA, "sms": SMS, "voice": VOICE})
    promo = ListSpec("PROMO", {}, base_id="base", factor=D("0.5"), surcharge=D("0.01"))
    prices = resolve_lists({"base": base, "promo": promo})["promo"]
    assert [t.unit_price for t in prices["data"].tiers] == [D("1.01"), D("0.76"), D("0.51")]
    assert prices["sms"].unit_price == D("17.50")  # 15 x 0.5 + 0.01 x 1,000 units per block
    assert prices["voice"].minimum_charge == D("0.15")


QUANTITIES = st.decimals(min_value=D("0.000001"), max_value=D("100000"), places=6)
PRICES = st.decimals(min_value=D("0"), max_value=D("1000"), places=6)


@given(quantity=QUANTITIES, price=PRICES)
def test_one_open_tier_and_packages_of_one_are_per_unit_pricing(quantity, price):
    per_unit = charge(ItemPrice(price), quantity).amount
    for mode in (Mode.GRADUATED, Mode.VOLUME):
        tiered = ItemPrice(price, mode=mode, tiers=(Tier(None, price),))
        assert charge(tiered, quantity).amount == per_unit
    whole = quantity.to_integral_value(rounding="ROUND_CEILING")
    package = ItemPrice(price, mode=Mode.PACKAGE, package_size=D("1"))
    assert charge(package, quantity).amount == charge(ItemPrice(price), whole).amount
    assert amount_of(ItemPrice(price), quantity) == per_unit


@given(quantity=QUANTITIES, split=QUANTITIES, low=PRICES, high=PRICES)
def test_graduated_is_the_sum_of_its_shares(quantity, split, low, high):
    price = ItemPrice(low, mode=Mode.GRADUATED, tiers=(Tier(split, low), Tier(None, high)))
    first = min(quantity, split)
    expected = (first * low + max(quantity - split, D(0)) * high).quantize(
        D("0.01"), "ROUND_HALF_UP"
    )
    assert charge(price, quantity).amount == expected


@given(
    values=st.lists(
        st.decimals(allow_nan=False, allow_infinity=False, places=None)
        | st.sampled_from([Decimal("0"), Decimal("-0"), Decimal("0.000"), Decimal("-0.00")]),
        max_size=20,
    )
)
def test_plain_numbers_read_the_same_when_remembered(values):
    """``_plain`` keeps what it wrote by value: equal numbers written with other exponents
    (1.0, 1.00) and zeros of either sign still read as the plain format writes each."""
    from pricing.engine.prices import _plain

    for value in values + values[::-1]:
        assert _plain(value) == f"{value.normalize():f}"


@st.composite
def any_price(draw) -> ItemPrice:
    """Any valid price: every mode, with or without increments and a minimum charge."""
    mode = draw(st.sampled_from(list(Mode)))
    unit = draw(PRICES)
    tiers: tuple[Tier, ...] = ()
    if mode in (Mode.GRADUATED, Mode.VOLUME):
        bounds = draw(st.lists(QUANTITIES, max_size=3))
        ups = sorted(set(bounds))
        prices = draw(st.lists(PRICES, min_size=len(ups) + 1, max_size=len(ups) + 1))
        tiers = (*(Tier(u, p) for u, p in zip(ups, prices, strict=False)), Tier(None, prices[-1]))
    first = draw(st.none() | QUANTITIES)
    price = ItemPrice(
        unit_price=unit,
        mode=mode,
        tiers=tiers,
        package_size=draw(QUANTITIES) if mode == Mode.PACKAGE else None,
        first_increment=first,
        next_increment=draw(st.none() | QUANTITIES) if first is not None else None,
        minimum_charge=draw(st.none() | PRICES),
    )
    assert not price_errors(price)
    return price


@given(price=any_price(), quantity=QUANTITIES)
def test_a_quote_is_the_charge_without_its_steps(price, quantity):
    """Batch rating stores quotes; what the API shows is the charge. One arithmetic."""
    found, quoted = charge(price, quantity), quote(price, quantity)
    if found is None:
        assert quoted is None
    else:
        assert quoted == (
            found.amount,
            found.billed_quantity,
            found.unit_price,
            found.minimum_applied,
        )


@given(price=any_price(), quantity=QUANTITIES)
def test_kept_terms_charge_what_the_price_charged(price, quantity):
    """A record keeps its price's terms; charging them again gives the same breakdown."""
    data = terms(price)
    again = from_terms(json.loads(json.dumps(data)))  # as stored and read back
    assert charge(again, quantity) == charge(price, quantity)
    if charge(price, quantity) is not None:
        assert charge(again, quantity).breakdown() == charge(price, quantity).breakdown()
    assert terms_key(terms(again)) == terms_key(data)


def test_terms_keys_differ_for_different_terms():
    base = ItemPrice(unit_price=D("0.50"), first_increment=D(60), next_increment=D(60))
    keys = {
        terms_key(terms(p))
        for p in (
            base,
            ItemPrice(unit_price=D("0.50")),
            ItemPrice(unit_price=D("0.51"), first_increment=D(60), next_increment=D(60)),
            ItemPrice(unit_price=D("0.50"), first_increment=D(60), next_increment=D(1)),
        )
    }
    assert len(keys) == 4
    assert terms_key(terms(base)).version == 8
