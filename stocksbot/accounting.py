"""The domain arithmetic of fills and positions: pure functions, no I/O.

:func:`apply_fill` computes in ``Decimal``; :func:`apply_fill_units` is the same arithmetic
on the columns' scaled integers (quantity in 10**-9, money in 10**-8), which the fill path
uses, and which ``tests/test_accounting.py`` proves equal to it digit for digit.

Positions use the **average-cost** method (SPEC §4). A fill on the side of the
open position (or with none open) adds its notional ``quantity × price`` to the
position's ``cost_basis``; the average entry price is only ever derived from it
(``cost_basis / quantity``). A fill on the other side takes out the share of the
basis that it sells, ``cost_basis × q / quantity``, and realizes the difference
between that basis and the fill's notional (proceeds minus basis for a long,
basis minus cost for a short). The fill that brings the position to zero takes
out exactly the basis that remains, so over a position's life the basis taken
out equals the basis put in, and its realized P&L is exactly its sell proceeds
minus its buy costs minus all its commissions and fees, whatever the rounding
of the averages along the way. A fill larger than the position *flips* it: one
leg closes the old position, a second opens a new one on the other side for the
remainder at the fill price, and the fill's commission and fees are split
between the legs in proportion to quantity.

Every derived amount of money is rounded once, half to even, to the money scale
(8 places, :func:`stocksbot.values.round_money`); products and ratios are
computed exactly before that one rounding, under this module's own decimal
context, so no result depends on the caller's context. Quantities are never
rounded. Every leg's ``realized_pnl`` is its gross P&L minus its own commission
and fees, so an opening leg realizes ``-(commission + fees)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from fractions import Fraction

from .values import MONEY_PLACES, MONEY_SCALE, QUANTITY_SCALE, round_money

# Wide enough that sums, differences and products of any storable values (at
# most 20 digits each) are exact; rounding to the money scale is explicit.
_CONTEXT = Context(prec=100, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])

_POSITION_SIDE = {"buy": "long", "sell": "short"}
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Holding:
    """An open position's state: side 'long'|'short', quantity > 0, cost_basis >= 0 (money)."""

    side: str
    quantity: Decimal
    cost_basis: Decimal


@dataclass(frozen=True, slots=True)
class Leg:
    """What one trade row does to one position."""

    effect: str  # 'open' | 'increase' | 'reduce' | 'close'
    quantity: Decimal  # > 0, the leg's quantity
    commission: Decimal  # the leg's share of the fill's commission
    fees: Decimal  # the leg's share of the fill's fees
    gross_pnl: Decimal  # realized gross P&L of the leg (0 for open/increase)
    realized_pnl: Decimal  # gross_pnl - commission - fees
    after: Holding | None  # the position after this leg; None when it closed it


@dataclass(frozen=True, slots=True)
class FillEffect:
    """One fill applied to the (maybe absent) open position: one leg, or two for a flip."""

    legs: tuple[Leg, ...]  # legs[0] acts on the existing position (or opens one); a flip adds legs[1] = 'open'


def apply_fill(
    holding: Holding | None,
    side: str,
    quantity: Decimal,
    price: Decimal,
    commission: Decimal = _ZERO,
    fees: Decimal = _ZERO,
) -> FillEffect:
    """Apply one fill ('buy'|'sell' ``quantity`` at ``price``) to the open position, if any.

    Returns the legs the fill makes: 'open' (no position), 'increase' (same
    side), 'reduce' or 'close' (other side, up to the position's quantity), or
    for a larger fill on the other side a 'close' leg followed by an 'open' leg
    of the remainder, with commission and fees split by quantity. Raises
    ValueError for a non-positive quantity or price, negative commission or
    fees, an unknown side, or a holding that is not an open position (and
    TypeError for a number that is not a Decimal or an int).
    """
    with localcontext(_CONTEXT):
        if side not in _POSITION_SIDE:
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        _check("quantity", quantity)
        _check("price", price)
        _check("commission", commission, zero_ok=True)
        _check("fees", fees, zero_ok=True)
        position_side = _POSITION_SIDE[side]
        if holding is None:
            return FillEffect((_open(position_side, quantity, price, commission, fees),))
        if holding.side not in ("long", "short"):
            raise ValueError(f"holding side must be 'long' or 'short', got {holding.side!r}")
        _check("holding quantity", holding.quantity)
        _check("holding cost_basis", holding.cost_basis, zero_ok=True)

        if holding.side == position_side:
            after = Holding(position_side, holding.quantity + quantity, holding.cost_basis + notional(quantity, price))
            return FillEffect((_leg("increase", quantity, commission, fees, _ZERO, after),))
        if quantity < holding.quantity:
            basis_removed = _round_ratio(holding.cost_basis, quantity, holding.quantity)
            gross = _gross(holding.side, basis_removed, notional(quantity, price))
            after = Holding(holding.side, holding.quantity - quantity, holding.cost_basis - basis_removed)
            return FillEffect((_leg("reduce", quantity, commission, fees, gross, after),))
        gross = _gross(holding.side, holding.cost_basis, notional(holding.quantity, price))
        if quantity == holding.quantity:
            return FillEffect((_leg("close", quantity, commission, fees, gross, None),))

        close_commission, open_commission = split_by_quantity(commission, holding.quantity, quantity)
        close_fees, open_fees = split_by_quantity(fees, holding.quantity, quantity)
        closing = _leg("close", holding.quantity, close_commission, close_fees, gross, None)
        opening = _open(position_side, quantity - holding.quantity, price, open_commission, open_fees)
        return FillEffect((closing, opening))


def notional(quantity: Decimal, price: Decimal) -> Decimal:
    """The value of ``quantity`` at ``price``: their exact product rounded half-even to money."""
    with localcontext(_CONTEXT):
        return round_money(quantity * price)


def split_by_quantity(total: Decimal, part: Decimal, whole: Decimal) -> tuple[Decimal, Decimal]:
    """Split an amount between ``part`` and the rest of ``whole``, in proportion to quantity.

    The part's share is ``round_money(total × part / whole)`` (computed exactly,
    then rounded half-even) and the rest gets ``total`` minus that share, so the
    two shares always add up to ``total`` exactly; any rounding remainder goes
    to the rest. Raises ValueError unless ``total >= 0``, ``whole > 0`` and
    ``0 <= part <= whole``.
    """
    with localcontext(_CONTEXT):
        _check("total", total, zero_ok=True)
        _check("whole", whole)
        _check("part", part, zero_ok=True)
        if part > whole:
            raise ValueError(f"part {part} exceeds whole {whole}")
        share = _round_ratio(total, part, whole)
        return share, total - share


def average_price(cost_basis: Decimal, quantity: Decimal) -> Decimal:
    """The average entry price ``cost_basis / quantity``, rounded half-even to 8 places; 0 for quantity 0."""
    with localcontext(_CONTEXT):
        _check("cost_basis", cost_basis, zero_ok=True)
        _check("quantity", quantity, zero_ok=True)
        if quantity == 0:
            return round_money(_ZERO)
        return _round_ratio(cost_basis, Decimal(1), quantity)


def order_fill_status(quantity: Decimal, filled_quantity: Decimal) -> str:
    """The status of an order after a fill: 'filled' when all of it is filled, else 'partially_filled'.

    Raises ValueError when ``filled_quantity`` exceeds the order's ``quantity``
    (an overfill) or is not positive (no fill yet).
    """
    _check("quantity", quantity)
    _check("filled_quantity", filled_quantity)
    if filled_quantity > quantity:
        raise ValueError(f"overfill: filled_quantity {filled_quantity} exceeds the order quantity {quantity}")
    return "filled" if filled_quantity == quantity else "partially_filled"


def unrealized_pnl(side: str, quantity: Decimal, cost_basis: Decimal, mark: Decimal) -> Decimal:
    """The P&L of closing the position at ``mark``, before fees.

    Long: market value − cost basis; short: cost basis − ``quantity × mark``
    rounded to money (that is, cost basis − market value). Raises ValueError
    for an unknown side or a negative quantity, cost basis or mark.
    """
    _check("cost_basis", cost_basis, zero_ok=True)
    value = market_value(side, quantity, mark)
    with localcontext(_CONTEXT):
        return value - cost_basis if side == "long" else cost_basis - value


def market_value(side: str, quantity: Decimal, mark: Decimal) -> Decimal:
    """The position's value at ``mark``: ``round_money(quantity × mark)``.

    Positive for both sides: for a short it is what buying the position back
    would cost, not a negative holding. Raises ValueError for an unknown side
    or a negative quantity or mark.
    """
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    _check("quantity", quantity, zero_ok=True)
    _check("mark", mark, zero_ok=True)
    return notional(quantity, mark)


# --- the same arithmetic on scaled integers ---------------------------------------


@dataclass(frozen=True, slots=True)
class UnitHolding:
    """:class:`Holding` in storage units: quantity in 10**-9, cost basis in 10**-8 (the columns' integers)."""

    side: str
    quantity_e9: int
    cost_basis_e8: int


@dataclass(frozen=True, slots=True)
class UnitLeg:
    """:class:`Leg` in storage units."""

    effect: str
    quantity_e9: int
    commission_e8: int
    fees_e8: int
    gross_pnl_e8: int
    realized_pnl_e8: int
    after: UnitHolding | None


def apply_fill_units(
    holding: UnitHolding | None, side: str, quantity_e9: int, price_e8: int, commission_e8: int = 0, fees_e8: int = 0,
) -> tuple[UnitLeg, ...]:
    """:func:`apply_fill` on the columns' scaled integers, for the fill path: the same legs, digit for digit.

    Every rounding is the same single half-even rounding of an exact ratio, done by integer
    division, so it needs no decimal context and no conversion to and from ``Decimal``
    (``tests/test_accounting.py`` checks it against :func:`apply_fill`). The caller passes
    validated values: quantity and price > 0, commission and fees >= 0.
    """
    position_side = _POSITION_SIDE.get(side)
    if position_side is None:
        raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
    if quantity_e9 <= 0 or price_e8 <= 0 or commission_e8 < 0 or fees_e8 < 0:
        raise ValueError("quantity and price must be positive, commission and fees zero or more")
    if holding is None:
        return (_open_units(position_side, quantity_e9, price_e8, commission_e8, fees_e8),)
    held, basis = holding.quantity_e9, holding.cost_basis_e8
    if holding.side == position_side:
        after = UnitHolding(position_side, held + quantity_e9, basis + notional_units(quantity_e9, price_e8))
        return (_leg_units("increase", quantity_e9, commission_e8, fees_e8, 0, after),)
    if quantity_e9 < held:
        removed = _div_half_even(basis * quantity_e9, held)
        gross = _gross_units(holding.side, removed, notional_units(quantity_e9, price_e8))
        after = UnitHolding(holding.side, held - quantity_e9, basis - removed)
        return (_leg_units("reduce", quantity_e9, commission_e8, fees_e8, gross, after),)
    gross = _gross_units(holding.side, basis, notional_units(held, price_e8))
    if quantity_e9 == held:
        return (_leg_units("close", quantity_e9, commission_e8, fees_e8, gross, None),)
    close_commission = _div_half_even(commission_e8 * held, quantity_e9)
    close_fees = _div_half_even(fees_e8 * held, quantity_e9)
    return (
        _leg_units("close", held, close_commission, close_fees, gross, None),
        _open_units(position_side, quantity_e9 - held, price_e8, commission_e8 - close_commission, fees_e8 - close_fees),
    )


def notional_units(quantity_e9: int, price_e8: int) -> int:
    """:func:`notional` in storage units: ``quantity × price`` rounded half-even to 10**-8."""
    return _div_half_even(quantity_e9 * price_e8, QUANTITY_SCALE)


def _div_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (denominator > 0) rounded half to even, exactly."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient & 1):
        quotient += 1
    return quotient


def _gross_units(position_side: str, basis_removed_e8: int, value_e8: int) -> int:
    return value_e8 - basis_removed_e8 if position_side == "long" else basis_removed_e8 - value_e8


def _open_units(position_side: str, quantity_e9: int, price_e8: int, commission_e8: int, fees_e8: int) -> UnitLeg:
    after = UnitHolding(position_side, quantity_e9, notional_units(quantity_e9, price_e8))
    return _leg_units("open", quantity_e9, commission_e8, fees_e8, 0, after)


def _leg_units(
    effect: str, quantity_e9: int, commission_e8: int, fees_e8: int, gross_e8: int, after: UnitHolding | None,
) -> UnitLeg:
    return UnitLeg(effect, quantity_e9, commission_e8, fees_e8, gross_e8, gross_e8 - commission_e8 - fees_e8, after)


# --- helpers -----------------------------------------------------------------


def _check(name: str, value: Decimal, *, zero_ok: bool = False) -> None:
    """Raise unless ``value`` is a finite Decimal (or int) > 0, or >= 0 when ``zero_ok``."""
    if not isinstance(value, (Decimal, int)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not Decimal(value).is_finite() or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'zero or more' if zero_ok else 'positive'}, got {value}")


def _round_ratio(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``round_money(amount × part / whole)``, computed exactly before the one rounding."""
    exact = Fraction(amount) * Fraction(part) / Fraction(whole)
    return Decimal(round(exact * MONEY_SCALE)).scaleb(-MONEY_PLACES)  # round() of a Fraction is half-even


def _gross(position_side: str, basis_removed: Decimal, value: Decimal) -> Decimal:
    """Realized gross P&L of taking ``basis_removed`` out of a position for ``value``."""
    return value - basis_removed if position_side == "long" else basis_removed - value


def _open(position_side: str, quantity: Decimal, price: Decimal, commission: Decimal, fees: Decimal) -> Leg:
    """The leg that opens a new position of ``quantity`` at ``price``."""
    return _leg("open", quantity, commission, fees, _ZERO, Holding(position_side, quantity, notional(quantity, price)))


def _leg(
    effect: str, quantity: Decimal, commission: Decimal, fees: Decimal, gross: Decimal, after: Holding | None
) -> Leg:
    """A leg with its realized P&L: gross minus its own commission and fees."""
    return Leg(effect, quantity, commission, fees, gross, gross - commission - fees, after)
