"""The average-cost arithmetic of stocksbot.accounting: hand-computed cases, then properties.

Pure functions only: no database, so these run once, not per engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocksbot.accounting import (
    FillEffect,
    Holding,
    Leg,
    UnitHolding,
    apply_fill,
    apply_fill_units,
    average_price,
    market_value,
    notional,
    notional_units,
    order_fill_status,
    split_by_quantity,
    unrealized_pnl,
)

D = Decimal
CENT_OF_A_CENT = D("0.00000001")  # one unit of the money scale
NANO = D("0.000000001")  # one unit of the quantity scale


def run(fills: list[tuple], holding: Holding | None = None) -> list[Leg]:
    """Apply (side, quantity, price[, commission, fees]) fills in turn; return every leg made."""
    legs: list[Leg] = []
    for side, quantity, price, *charges in fills:
        effect = apply_fill(holding, side, D(quantity), D(price), *map(D, charges))
        legs.extend(effect.legs)
        holding = effect.legs[-1].after
    return legs


# --- longs -------------------------------------------------------------------------


def test_opening_a_long_realizes_minus_its_commission_and_fees():
    """buy 10 @ 100, commission 1, fees 0.25: basis 10 × 100 = 1000, realized −(1 + 0.25)."""
    effect = apply_fill(None, "buy", D(10), D(100), D(1), D("0.25"))

    opened = Leg("open", D(10), D(1), D("0.25"), D(0), D("-1.25"), Holding("long", D(10), D(1000)))
    assert FillEffect((opened,)) == effect


def test_adding_at_a_new_price_moves_the_average():
    """long 10 @ 100 (1000), buy 5 @ 106: basis 1000 + 530 = 1530 over 15, average 102."""
    (leg,) = apply_fill(Holding("long", D(10), D(1000)), "buy", D(5), D(106)).legs

    assert ("increase", D(0), D(0)) == (leg.effect, leg.gross_pnl, leg.realized_pnl)
    assert Holding("long", D(15), D(1530)) == leg.after
    assert D(102) == average_price(leg.after.cost_basis, leg.after.quantity)


def test_partial_reduce_takes_out_the_average_cost():
    """long 15 @ avg 102 (1530), sell 6 @ 110, commission 0.5:
    basis out 1530 × 6 / 15 = 612; gross 660 − 612 = 48; realized 48 − 0.5 = 47.5; left 9, 918 (avg 102)."""
    (leg,) = apply_fill(Holding("long", D(15), D(1530)), "sell", D(6), D(110), D("0.5")).legs

    assert ("reduce", D(6), D(48), D("47.5")) == (leg.effect, leg.quantity, leg.gross_pnl, leg.realized_pnl)
    assert Holding("long", D(9), D(918)) == leg.after


def test_full_close_takes_out_the_whole_basis():
    """long 9 (918), sell 9 @ 95, fees 0.1: gross 855 − 918 = −63; realized −63.1; no holding left."""
    (leg,) = apply_fill(Holding("long", D(9), D(918)), "sell", D(9), D(95), fees=D("0.1")).legs

    assert ("close", D(-63), D("-63.1"), None) == (leg.effect, leg.gross_pnl, leg.realized_pnl, leg.after)


# --- shorts ------------------------------------------------------------------------


def test_short_open_reduce_close():
    """sell 4 @ 50, commission 1: short 4, basis 200, realized −1;
    buy 1 @ 45: basis out 200 × 1 / 4 = 50, gross 50 − 45 = 5, left 3 (150);
    buy 3 @ 52: gross 150 − 156 = −6, closed.
    Total realized −1 + 5 − 6 = −2 = proceeds 200 − costs (45 + 156) − commission 1."""
    opened, reduced, closed = run([("sell", 4, 50, 1, 0), ("buy", 1, 45), ("buy", 3, 52)])

    assert ("open", D(-1), Holding("short", D(4), D(200))) == (opened.effect, opened.realized_pnl, opened.after)
    assert ("reduce", D(5), Holding("short", D(3), D(150))) == (reduced.effect, reduced.realized_pnl, reduced.after)
    assert ("close", D(-6), None) == (closed.effect, closed.realized_pnl, closed.after)


# --- flips -------------------------------------------------------------------------


def test_flip_splits_commission_and_fees_by_quantity():
    """long 10 @ 100 (1000), sell 15 @ 110, commission 3, fees 1.5:
    closing leg 10/15 → commission 2, fees 1; gross 1100 − 1000 = 100; realized 97.
    opening leg 5/15 → commission 1, fees 0.5; short 5, basis 5 × 110 = 550; realized −1.5."""
    closing, opening = apply_fill(Holding("long", D(10), D(1000)), "sell", D(15), D(110), D(3), D("1.5")).legs

    assert Leg("close", D(10), D(2), D(1), D(100), D(97), None) == closing
    assert Leg("open", D(5), D(1), D("0.5"), D(0), D("-1.5"), Holding("short", D(5), D(550))) == opening


def test_short_flips_to_long():
    """short 2 (basis 20), buy 5 @ 9: close 2 → gross 20 − 18 = 2; open long 3, basis 27."""
    closing, opening = apply_fill(Holding("short", D(2), D(20)), "buy", D(5), D(9)).legs

    assert ("close", D(2), D(2), None) == (closing.effect, closing.quantity, closing.gross_pnl, closing.after)
    assert Holding("long", D(3), D(27)) == opening.after


def test_uneven_split_gives_the_remainder_to_the_opening_leg():
    """long 1, sell 3 with commission 0.00000001: closing share 0.00000001 × 1/3 → rounds to 0,
    so the opening leg (2 of 3) pays the whole 0.00000001."""
    closing, opening = apply_fill(Holding("long", D(1), D(10)), "sell", D(3), D(10), CENT_OF_A_CENT).legs

    assert (D(0), CENT_OF_A_CENT) == (closing.commission, opening.commission)
    assert (D(0), -CENT_OF_A_CENT) == (closing.realized_pnl, opening.realized_pnl)


def test_a_tied_split_is_rounded_on_the_closing_leg():
    """long 1, sell 2 with fees 0.00000001: the closing share is half a unit, half-even → 0;
    the opening leg gets the remainder 0.00000001 (not the other way round)."""
    closing, opening = apply_fill(Holding("long", D(1), D(10)), "sell", D(2), D(10), fees=CENT_OF_A_CENT).legs

    assert (D(0), CENT_OF_A_CENT) == (closing.fees, opening.fees)


@pytest.mark.parametrize(
    ("total", "part", "whole", "expected"),
    [
        ("3", "10", "15", ("2", "1")),
        ("0.00000001", "1", "3", ("0", "0.00000001")),  # 1/3 of a unit rounds to 0
        ("0.00000001", "2", "3", ("0.00000001", "0")),  # 2/3 of a unit rounds to 1
        ("0.00000001", "1", "2", ("0", "0.00000001")),  # half a unit: half-even → 0
        ("0.00000003", "1", "2", ("0.00000002", "0.00000001")),  # 1.5 units: half-even → 2
        ("7", "0", "4", ("0", "7")),
        ("7", "4", "4", ("7", "0")),
    ],
)
def test_split_by_quantity(total, part, whole, expected):
    """The part's share is rounded half-even; the rest gets what remains, so they add up."""
    assert tuple(map(D, expected)) == split_by_quantity(D(total), D(part), D(whole))


# --- whole lives -------------------------------------------------------------------


def test_round_trip_realizes_exactly_proceeds_minus_costs():
    """buy 1 @ 10.00 and 2 @ 10.01 (costs 10 + 20.02 = 30.02), sell 3 @ 11 (proceeds 33): 33 − 30.02 = 2.98."""
    legs = run([("buy", 1, "10.00"), ("buy", 2, "10.01"), ("sell", 3, 11)])

    assert D("2.98") == sum(leg.realized_pnl for leg in legs)
    assert None is legs[-1].after


def test_averages_that_do_not_divide_evenly_still_sum_exactly():
    """buy 3 @ 10 and 4 @ 10.01: 7 held, basis 30 + 40.04 = 70.04 (average 10.00571428571…).
    sell 1 @ 11:    out 70.04 / 7 = 10.005714285714… → 10.00571429; gross 0.99428571; left 6, 60.03428571.
    sell 1 @ 10.50: out 60.03428571 / 6 = 10.005714285 exactly, a tie → half-even 10.00571428;
                    gross 0.49428572; left 5, 50.02857143.
    sell 5 @ 9.99:  out the remaining 50.02857143; gross 49.95 − 50.02857143 = −0.07857143.
    Total 0.99428571 + 0.49428572 − 0.07857143 = 1.41 = proceeds (11 + 10.50 + 49.95) − costs 70.04."""
    legs = run([("buy", 3, 10), ("buy", 4, "10.01"), ("sell", 1, 11), ("sell", 1, "10.50"), ("sell", 5, "9.99")])

    assert [D("0.99428571"), D("0.49428572"), D("-0.07857143")] == [leg.gross_pnl for leg in legs[2:]]
    assert Holding("long", D(5), D("50.02857143")) == legs[3].after
    assert D("1.41") == sum(leg.realized_pnl for leg in legs)


# --- small functions ---------------------------------------------------------------


def test_notional_rounds_half_even_and_is_exact_beyond_28_digits():
    """0.000000005 × 1 is half a unit → 0; 0.000000015 × 1 → 0.00000002; a 32-digit product is not pre-rounded."""
    quantity, price = D("9000000000.123456789"), D("99999.99999999")
    exact = Fraction(quantity) * Fraction(price)

    assert D(0) == notional(D("0.000000005"), D(1))
    assert D("0.00000002") == notional(D("0.000000015"), D(1))
    assert D(round(exact * 10**8)).scaleb(-8) == notional(quantity, price)


def test_average_price():
    """cost_basis / quantity, half-even to 8 places; 0 for an empty position."""
    assert D("10.015") == average_price(D("20.03"), D(2))
    assert D("10.00571429") == average_price(D("70.04"), D(7))
    assert D(0) == average_price(D("0.00000001"), D(2))  # 0.000000005: tie → even (0)
    assert D(0) == average_price(D(0), D(0))


@pytest.mark.parametrize(
    ("quantity", "filled", "expected"),
    [("10", "4", "partially_filled"), ("10", "10", "filled"), ("0.000000003", "0.000000003", "filled")],
)
def test_order_fill_status(quantity, filled, expected):
    """'filled' exactly when all of the order is filled."""
    assert expected == order_fill_status(D(quantity), D(filled))


@pytest.mark.parametrize(("quantity", "filled"), [("10", "10.000000001"), ("10", "0"), ("0", "0")])
def test_order_fill_status_rejects_overfills_and_empty_fills(quantity, filled):
    """An overfill (or nothing filled) has no fill status."""
    with pytest.raises(ValueError, match=r"overfill|must be positive"):
        order_fill_status(D(quantity), D(filled))


def test_market_value_and_unrealized_pnl():
    """long 10 (1000) at 105: value 1050, unrealized +50; short 5 (550) at 100: value 500 (positive), +50;
    short 0.333333333 (1) at 3: value 0.999999999 → 1.00000000, unrealized 1 − 1 = 0."""
    assert (D(1050), D(50)) == (market_value("long", D(10), D(105)), unrealized_pnl("long", D(10), D(1000), D(105)))
    assert (D(500), D(50)) == (market_value("short", D(5), D(100)), unrealized_pnl("short", D(5), D(550), D(100)))
    assert D(0) == unrealized_pnl("short", D("0.333333333"), D(1), D(3))
    assert D(-5) == unrealized_pnl("short", D(5), D(550), D(111))


# --- guards ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holding", "args", "message"),
    [
        (None, ("hold", D(1), D(1)), "side must be 'buy' or 'sell'"),
        (None, ("long", D(1), D(1)), "side must be 'buy' or 'sell'"),
        (None, ("buy", D(0), D(1)), "quantity must be positive"),
        (None, ("buy", D(-1), D(1)), "quantity must be positive"),
        (None, ("buy", D("NaN"), D(1)), "quantity must be positive"),
        (None, ("buy", D(1), D(0)), "price must be positive"),
        (None, ("buy", D(1), D("Infinity")), "price must be positive"),
        (None, ("buy", D(1), D(1), D("-0.01")), "commission must be zero or more"),
        (None, ("buy", D(1), D(1), D(0), D(-1)), "fees must be zero or more"),
        (Holding("buy", D(1), D(1)), ("sell", D(1), D(1)), "holding side must be 'long' or 'short'"),
        (Holding("long", D(0), D(0)), ("sell", D(1), D(1)), "holding quantity must be positive"),
        (Holding("long", D(1), D(-1)), ("sell", D(1), D(1)), "holding cost_basis must be zero or more"),
    ],
)
def test_apply_fill_rejects_bad_input(holding, args, message):
    """Bad input is a ValueError naming what is wrong."""
    with pytest.raises(ValueError, match=message):
        apply_fill(holding, *args)


def test_apply_fill_rejects_floats():
    """Money is never a float."""
    with pytest.raises(TypeError, match="price must be a Decimal"):
        apply_fill(None, "buy", D(1), 10.5)


def test_results_do_not_depend_on_the_callers_decimal_context():
    """A caller's narrow context (4 digits, rounding down) changes nothing."""
    args = (Holding("long", D(7), D("70.04")), "sell", D(1), D(11), D("0.00000001"))
    expected = apply_fill(*args)

    with localcontext(prec=4, rounding="ROUND_DOWN"):
        assert expected == apply_fill(*args)
        assert D("10.00571429") == average_price(D("70.04"), D(7))
        assert D("105.06") == notional(D("70.04"), D("1.5"))
        assert D("-0.01") == unrealized_pnl("long", D("70.04"), D("105.07"), D("1.5"))
        assert (D("0.00000001"), D("0.00000002")) == split_by_quantity(D("0.00000003"), D(1), D(3))


# --- properties --------------------------------------------------------------------

# Whole and tenth quantities times 8-place prices often land on a rounding tie (…5 in the 9th place).
quantities = st.one_of(
    st.integers(1, 1000).map(D),
    st.integers(1, 10_000).map(lambda n: D(n).scaleb(-1)),
    st.decimals(min_value=D("0.000000001"), max_value=D(100_000), places=9),
)
prices = st.one_of(
    st.integers(1, 500).map(D),
    st.decimals(min_value=D("0.00000001"), max_value=D(100_000), places=8),
)
charges = st.one_of(st.just(D(0)), st.decimals(min_value=D(0), max_value=D(100), places=8))
# "free" uses the drawn side and quantity; the others trade against the position: "reduce"
# leaves some of it, "close" exactly none, "flip" goes past zero by the drawn quantity.
# Without a position every mode is "free".
fills = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.sampled_from(["free", "reduce", "close", "flip"]),
        quantities,
        prices,
        charges,
        charges,
    ),
    max_size=30,
)


def money(exact: Fraction) -> Decimal:
    """The test's own rounding: half-even to 8 places (round() of a Fraction is half-even)."""
    return D(round(exact * 10**8)).scaleb(-8)


@dataclass
class Lifetime:
    """The model of one position's life: money in and out, charges, and the unrounded average cost."""

    signed: Decimal = D(0)  # net quantity: > 0 long, < 0 short
    costs: Decimal = D(0)  # notional of every buy leg
    proceeds: Decimal = D(0)  # notional of every sell leg
    charges: Decimal = D(0)  # commission + fees of every leg
    realized: Decimal = D(0)  # sum of the legs' realized_pnl
    ideal_basis: Fraction = Fraction(0)  # basis with reductions taken out exactly, not rounded
    roundings: int = 0  # reductions so far, each may round by half a unit


@settings(max_examples=300, deadline=None)
@given(fills)
def test_every_position_life_realizes_exactly_proceeds_minus_costs_minus_charges(fills):
    """Against a straightforward model of each position's life, after every fill:
    legs conserve quantity and the fill's commission and fees; the holding matches the net quantity
    (none once it is back to zero), its basis is never negative and stays within half a unit per
    reduction of the exactly-averaged basis; what a reduce realizes is what the basis dropped by;
    basis in − basis out = basis held; and at a close the realized total is exactly
    proceeds − costs − commissions − fees."""
    holding: Holding | None = None
    life = Lifetime()
    closed_lives = 0
    for side, mode, quantity, price, commission, fees in fills:
        held = abs(life.signed)
        if held and mode != "free":
            side = "sell" if life.signed > 0 else "buy"
            if mode == "reduce":
                quantity = held - quantity if quantity < held else (held / 2).quantize(NANO, ROUND_DOWN) or held
            else:
                quantity = held + (quantity if mode == "flip" else 0)
        effect = apply_fill(holding, side, quantity, price, commission, fees)

        legs = effect.legs
        assert quantity == sum(leg.quantity for leg in legs)
        assert commission == sum(leg.commission for leg in legs)
        assert fees == sum(leg.fees for leg in legs)
        if len(legs) == 2:  # a flip: the closing leg's shares are the rounded proportions
            assert ["close", "open"] == [leg.effect for leg in legs]
            assert held == legs[0].quantity
            for total, share in ((commission, legs[0].commission), (fees, legs[0].fees)):
                assert money(Fraction(total) * Fraction(held) / Fraction(quantity)) == share
                assert 0 <= share <= total

        for leg in legs:
            assert leg.realized_pnl == leg.gross_pnl - leg.commission - leg.fees
            value = money(Fraction(leg.quantity) * Fraction(price))
            before = holding.cost_basis if holding is not None else D(0)
            direction = 1 if side == "buy" else -1
            if life.signed == 0:
                expected = "open"
            elif life.signed * direction > 0:
                expected = "increase"
            else:
                expected = "reduce" if leg.quantity < abs(life.signed) else "close"
            assert expected == leg.effect
            if leg.effect in ("open", "increase"):
                assert D(0) == leg.gross_pnl
                life.ideal_basis += Fraction(value)
            else:
                removed = before - (leg.after.cost_basis if leg.after is not None else 0)
                assert leg.gross_pnl == (value - removed if life.signed > 0 else removed - value)
                if leg.after is not None:
                    life.ideal_basis *= Fraction(abs(life.signed) - leg.quantity) / Fraction(abs(life.signed))
                    life.roundings += 1
            if side == "buy":
                life.costs += value
            else:
                life.proceeds += value
            life.charges += leg.commission + leg.fees
            life.realized += leg.realized_pnl
            life.signed += direction * leg.quantity

            if life.signed == 0:  # the position closed: exact accounting, no holding left
                assert None is leg.after
                assert life.realized == life.proceeds - life.costs - life.charges
                closed_lives += 1
                life = Lifetime()
            else:
                after = leg.after
                assert ("long" if life.signed > 0 else "short", abs(life.signed)) == (after.side, after.quantity)
                assert after.cost_basis >= 0
                assert after.cost_basis == after.cost_basis.quantize(CENT_OF_A_CENT)
                assert abs(Fraction(after.cost_basis) - life.ideal_basis) <= Fraction(life.roundings, 2 * 10**8)
                # basis conservation: a long's basis came from buys, a short's from sells
                if life.signed > 0:
                    assert life.realized + life.charges == life.proceeds - (life.costs - after.cost_basis)
                else:
                    assert life.realized + life.charges == (life.proceeds - after.cost_basis) - life.costs
            holding = leg.after


@settings(max_examples=300, deadline=None)
@given(
    total=st.decimals(min_value=D(0), max_value=D(1_000_000), places=8),
    part=st.decimals(min_value=D(0), max_value=D(1_000_000), places=9),
    extra=st.decimals(min_value=D(0), max_value=D(1_000_000), places=9),
)
def test_split_shares_add_up_and_stay_proportional(total, part, extra):
    """Both shares are money, non-negative, add up to the total, and the part's is the rounded proportion."""
    whole = part + extra
    if whole == 0:
        whole = D(1)
    share, rest = split_by_quantity(total, part, whole)

    assert total == share + rest
    assert 0 <= share <= total and 0 <= rest
    assert share == share.quantize(CENT_OF_A_CENT, rounding=ROUND_HALF_EVEN)
    assert money(Fraction(total) * Fraction(part) / Fraction(whole)) == share


# --- the integer twin of the fill path ----------------------------------------------------


def _e9(value: Decimal) -> int:
    return int(value.scaleb(9))


def _e8(value: Decimal) -> int:
    return int(value.scaleb(8))


def _as_units(leg: Leg) -> tuple:
    after = None if leg.after is None else (leg.after.side, _e9(leg.after.quantity), _e8(leg.after.cost_basis))
    return (leg.effect, _e9(leg.quantity), _e8(leg.commission), _e8(leg.fees), _e8(leg.gross_pnl),
            _e8(leg.realized_pnl), after)


def _unit_tuple(leg) -> tuple:
    after = None if leg.after is None else (leg.after.side, leg.after.quantity_e9, leg.after.cost_basis_e8)
    return (leg.effect, leg.quantity_e9, leg.commission_e8, leg.fees_e8, leg.gross_pnl_e8, leg.realized_pnl_e8, after)


@settings(max_examples=500, deadline=None)
@given(fills)
def test_apply_fill_units_makes_the_legs_of_apply_fill_digit_for_digit(fills):
    """The fill path's integer arithmetic against the Decimal one, over whole position lives (opens, adds,
    reduces on rounding ties, exact closes, flips with split charges): every leg equal, in storage units."""
    holding: Holding | None = None
    units: UnitHolding | None = None
    signed = D(0)
    for side, mode, quantity, price, commission, fees in fills:
        held = abs(signed)
        if held and mode != "free":
            side = "sell" if signed > 0 else "buy"
            if mode == "reduce":
                quantity = held - quantity if quantity < held else (held / 2).quantize(NANO, ROUND_DOWN) or held
            else:
                quantity = held + (quantity if mode == "flip" else 0)
        legs = apply_fill(holding, side, quantity, price, commission, fees).legs
        unit_legs = apply_fill_units(units, side, _e9(quantity), _e8(price), _e8(commission), _e8(fees))

        assert [_as_units(leg) for leg in legs] == [_unit_tuple(leg) for leg in unit_legs]
        holding, units = legs[-1].after, unit_legs[-1].after
        signed += quantity if side == "buy" else -quantity
        if holding is None:
            signed = D(0)


@pytest.mark.parametrize("holding, fill", [
    (None, ("buy", D("99999999999.999999999"), D("99999999999.99999999"), D(0), D(0))),  # 20-digit operands
    (Holding("long", D(3), D("0.00000001")), ("sell", D(1), D("0.00000001"), D("0.00000001"), D(0))),  # ties
    (Holding("long", D(3), D("0.00000003")), ("sell", D(5), D(1), D("0.00000003"), D("0.00000001"))),  # flip
    (Holding("short", D("0.000000001"), D("0.00000001")), ("buy", D("0.000000002"), D("0.00000001"), D(0), D(0))),
])
def test_apply_fill_units_at_the_edges(holding, fill):
    side, quantity, price, commission, fees = fill
    units = None if holding is None else UnitHolding(holding.side, _e9(holding.quantity), _e8(holding.cost_basis))
    legs = apply_fill(holding, side, quantity, price, commission, fees).legs
    unit_legs = apply_fill_units(units, side, _e9(quantity), _e8(price), _e8(commission), _e8(fees))

    assert [_as_units(leg) for leg in legs] == [_unit_tuple(leg) for leg in unit_legs]
    assert _e8(notional(quantity, price)) == notional_units(_e9(quantity), _e8(price))


@pytest.mark.parametrize("args", [
    (None, "hold", 1, 1), (None, "buy", 0, 1), (None, "buy", 1, 0), (None, "buy", 1, 1, -1), (None, "buy", 1, 1, 0, -1),
])
def test_apply_fill_units_refuses_what_apply_fill_refuses(args):
    with pytest.raises(ValueError):
        apply_fill_units(*args)
