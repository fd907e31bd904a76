"""Random order and fill sequences through StorageService keep the books exactly consistent.

Hypothesis draws orders over two symbols and two strategies (plus "no strategy"),
with random sides, quantities of up to 9 decimals, prices of up to 8 decimals,
commissions and fees, partial fills, flips, cancels, fills on cancelled orders and
re-sent executions, and plays them in a random interleaving. After each sequence
the database must agree with an independent model of average-cost accounting
written here in scaled integers (not a call into stocksbot.accounting), and with
itself: orders with their trades, positions with their trades, strategy metrics
with the trades, and no execution recorded twice.

The ``db`` fixture is shared by the examples of one test, so every example works
in a fresh account.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from factories import make_order, make_strategy
from stocksbot import InvalidTransitionError, OrderStatus, StorageService, TradeEffect

QUANTITY_UNIT = 10**9  # quantities are stored x 10^9
MONEY_UNIT = 10**8  # prices and money are stored x 10^8
_accounts = itertools.count(1)


def quantity(units: int) -> Decimal:
    return Decimal(units).scaleb(-9)


def money(units: int) -> Decimal:
    return Decimal(units).scaleb(-8)


# --- the model: average cost in scaled integers --------------------------------------------------


def div_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to an integer, ties to even (both >= 0, denominator > 0)."""
    whole, rest = divmod(numerator, denominator)
    if 2 * rest > denominator or (2 * rest == denominator and whole % 2 == 1):
        whole += 1
    return whole


def notional(quantity_units: int, price_units: int) -> int:
    """quantity x price in money units, rounded half-even to the money scale."""
    return div_half_even(quantity_units * price_units, QUANTITY_UNIT)


@dataclass
class ModelPosition:
    key: tuple[str, int | None]
    side: str  # 'long' | 'short'
    quantity: int
    cost: int
    realized: int = 0
    open: bool = True
    position_id: str | None = None


@dataclass
class ModelLeg:
    position: ModelPosition
    effect: str
    quantity: int
    commission: int
    fees: int
    realized: int


@dataclass
class ModelOrder:
    order_id: str
    key: tuple[str, int | None]
    side: str  # 'buy' | 'sell'
    quantity: int
    fills: list[tuple[int, int, int, int]]  # (quantity, price, commission, fees) still to record
    filled: int = 0
    filled_notional: int = 0
    cancelled: bool = False
    # external id -> (trade id of leg 0, the fill as sent), for re-sending it
    executions: dict[str, tuple[str, tuple[int, int, int, int]]] = field(default_factory=dict)

    @property
    def status(self) -> OrderStatus:
        if self.cancelled:
            return OrderStatus.CANCELLED
        if self.filled == self.quantity:
            return OrderStatus.FILLED
        return OrderStatus.PARTIALLY_FILLED if self.filled else OrderStatus.SUBMITTED


class Books:
    """What the database should hold, computed the straightforward way."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, int | None], ModelPosition] = {}
        self.positions: list[ModelPosition] = []
        self.legs: list[ModelLeg] = []

    def fill(self, order: ModelOrder, units: int, price: int, commission: int, fees: int) -> list[ModelLeg]:
        order.filled += units
        order.filled_notional += notional(units, price)
        side = "long" if order.side == "buy" else "short"
        held = self.open.get(order.key)
        if held is None:
            legs = [self._open(order.key, side, units, price, commission, fees)]
        elif held.side == side:
            held.quantity += units
            held.cost += notional(units, price)
            legs = [self._leg(held, "increase", units, commission, fees, 0)]
        elif units < held.quantity:
            removed = div_half_even(held.cost * units, held.quantity)
            value = notional(units, price)
            gross = value - removed if held.side == "long" else removed - value
            held.quantity -= units
            held.cost -= removed
            legs = [self._leg(held, "reduce", units, commission, fees, gross)]
        else:
            closed = held.quantity
            value = notional(closed, price)
            gross = value - held.cost if held.side == "long" else held.cost - value
            close_commission = div_half_even(commission * closed, units)
            close_fees = div_half_even(fees * closed, units)
            held.quantity, held.cost, held.open = 0, 0, False
            del self.open[order.key]
            legs = [self._leg(held, "close", closed, close_commission, close_fees, gross)]
            if units > closed:
                legs.append(self._open(
                    order.key, side, units - closed, price, commission - close_commission, fees - close_fees,
                ))
        self.legs.extend(legs)
        return legs

    def _open(self, key, side, units, price, commission, fees) -> ModelLeg:
        position = ModelPosition(key, side, units, notional(units, price))
        self.open[key] = position
        self.positions.append(position)
        return self._leg(position, "open", units, commission, fees, 0)

    @staticmethod
    def _leg(position, effect, units, commission, fees, gross) -> ModelLeg:
        realized = gross - commission - fees
        position.realized += realized
        return ModelLeg(position, effect, units, commission, fees, realized)


# --- drawing sequences --------------------------------------------------------------------------

quantities = st.one_of(
    st.integers(1, 20).map(lambda shares: shares * QUANTITY_UNIT),  # whole shares
    st.integers(1, 20 * QUANTITY_UNIT),  # up to 9 decimals
)
prices = st.one_of(
    st.integers(1, 500).map(lambda dollars: dollars * MONEY_UNIT),
    st.integers(1, 500 * MONEY_UNIT),  # up to 8 decimals
)
charges = st.one_of(st.just(0), st.integers(0, 10 * MONEY_UNIT))
fills = st.tuples(quantities, prices, charges, charges)
# Orders crowd onto AAPL and strategy 0, so that they meet open positions: reduces, closes, flips.
orders = st.fixed_dictionaries({
    "symbol": st.sampled_from(["AAPL", "AAPL", "AAPL", "MSFT"]),
    "strategy": st.sampled_from([0, 0, 0, 1, None]),
    "side": st.sampled_from(["buy", "sell"]),
    "fills": st.lists(fills, min_size=1, max_size=4),
    "unfilled": st.one_of(st.just(0), quantities),  # > 0 leaves the order partially filled
})


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order_specs=st.lists(orders, min_size=4, max_size=8), data=st.data())
def test_random_fill_sequences_keep_the_books_consistent(db, order_specs, data):
    """Orders, positions, trades and metrics agree with an independent average-cost model after random fills."""
    storage = StorageService(db, account_id=f"acct-{next(_accounts)}")
    strategy_ids = [make_strategy(storage).strategy_id, make_strategy(storage).strategy_id]
    books = Books()
    model_orders: list[ModelOrder] = []
    for spec in order_specs:
        total = sum(units for units, *_ in spec["fills"]) + spec["unfilled"] or QUANTITY_UNIT  # never 0
        strategy_id = None if spec["strategy"] is None else strategy_ids[spec["strategy"]]
        order = make_order(storage, spec["symbol"], spec["side"], quantity(total), strategy_id=strategy_id)
        model_orders.append(ModelOrder(
            order.order_id, (spec["symbol"], spec["strategy"]), spec["side"], total, list(spec["fills"]),
        ))

    executions = itertools.count(1)
    while any(order.fills for order in model_orders):
        order = data.draw(st.sampled_from([o for o in model_orders if o.fills]))
        action = data.draw(st.sampled_from(["fill"] * 8 + ["resend", "cancel"]))
        if action == "resend" and order.executions:
            external_id = data.draw(st.sampled_from(sorted(order.executions)))
            trade_id, (units, price, commission, fees) = order.executions[external_id]
            trade = storage.record_fill(
                order.order_id, quantity=quantity(units), price=money(price), commission=money(commission),
                fees=money(fees), external_trade_id=external_id,
            )
            assert trade_id == trade.trade_id
            event("re-sent execution")
            continue
        if action == "cancel" and not order.cancelled:
            storage.update_order_status(order.order_id, "cancelled", reason="property test")
            order.cancelled = True
            event("cancel")
            continue
        units, price, commission, fees = order.fills.pop(0)
        external_id = f"x-{next(executions)}" if data.draw(st.booleans()) else None
        if order.cancelled:
            try:
                storage.record_fill(order.order_id, quantity=quantity(units), price=money(price))
            except InvalidTransitionError:
                event("fill on a cancelled order refused")
                continue
            raise AssertionError("a fill on a cancelled order was accepted")
        trade = storage.record_fill(
            order.order_id, quantity=quantity(units), price=money(price), commission=money(commission),
            fees=money(fees), external_trade_id=external_id,
        )
        legs = books.fill(order, units, price, commission, fees)
        if external_id is not None:
            order.executions[external_id] = (trade.trade_id, (units, price, commission, fees))
        first = legs[0]
        assert (first.effect, quantity(first.quantity), money(first.realized)) == (
            trade.effect.value, trade.quantity, trade.realized_pnl,
        )
        assert (money(first.commission), money(first.fees)) == (trade.commission, trade.fees)
        _learn_position_id(first.position, trade.position_id)
        for leg in legs:
            event(f"leg: {leg.effect}")
        if len(legs) == 2:
            event("flip")
            symbol, strategy = order.key
            strategy_id = None if strategy is None else strategy_ids[strategy]
            [opened] = [p for p in storage.get_open_positions(symbol=symbol) if p.strategy_id == strategy_id]
            _learn_position_id(legs[1].position, opened.position_id)

    check_books(storage, books, model_orders, strategy_ids)


def _learn_position_id(position: ModelPosition, position_id: str) -> None:
    if position.position_id is None:
        position.position_id = position_id
    assert position.position_id == position_id


def check_books(storage: StorageService, books: Books, model_orders: list[ModelOrder], strategy_ids: list[str]) -> None:
    """The database agrees with the model and with itself."""
    trades = storage.get_trades()
    assert len(books.legs) == len(trades)

    # No execution recorded twice: (order, external id, leg) is unique, and a leg 1 always has its leg 0.
    executions = Counter((t.order_id, t.external_trade_id, t.leg) for t in trades if t.external_trade_id is not None)
    assert all(count == 1 for count in executions.values())
    for order_id, external_id, leg in executions:
        if leg == 1:
            assert (order_id, external_id, 0) in executions

    for model in model_orders:
        order = storage.get_order(model.order_id)
        own = [t for t in trades if t.order_id == model.order_id]
        assert quantity(model.filled) == order.filled_quantity
        assert sum((t.quantity for t in own), Decimal(0)) == order.filled_quantity
        assert money(model.filled_notional) == order.filled_notional
        assert model.status == order.status
        assert (order.terminal_at is not None) == order.status.is_terminal

    positions = {p.position_id: p for p in storage.list_positions(limit=None)}
    assert len(books.positions) == len(positions)
    for model in books.positions:
        position = positions[model.position_id]
        own = [t for t in trades if t.position_id == model.position_id]
        assert model.side == position.side.value
        assert ("open" if model.open else "closed") == position.status.value
        assert quantity(model.quantity) == position.quantity
        assert money(model.cost) == position.cost_basis
        assert money(model.realized) == position.realized_pnl
        assert sum((t.realized_pnl for t in own), Decimal(0)) == position.realized_pnl
        assert (position.closed_at is None) == model.open
    open_keys = Counter((p.symbol, p.strategy_id) for p in positions.values() if p.status.value == "open")
    assert all(count == 1 for count in open_keys.values())

    for number, strategy_id in enumerate(strategy_ids):
        metrics = storage.get_strategy_metrics(strategy_id)
        own = [t for t in trades if t.strategy_id == strategy_id]
        closing = [t for t in own if t.effect in (TradeEffect.REDUCE, TradeEffect.CLOSE)]
        winning = sum(1 for t in closing if t.realized_pnl > 0)
        assert len(own) == metrics.total_trades
        assert len(closing) == metrics.closing_trades
        assert winning == metrics.winning_trades
        # win rate: winning / closing, rounded half-even to 8 places (documented on StrategyMetrics)
        expected_rate = (Decimal(winning) / len(closing)).quantize(Decimal("1e-8")) if closing else Decimal(0)
        assert expected_rate == metrics.win_rate
        assert sum((t.realized_pnl for t in own), Decimal(0)) == metrics.realized_pnl
        assert sum((t.commission + t.fees for t in own), Decimal(0)) == metrics.total_fees
        model_legs = [leg for leg in books.legs if leg.position.key[1] == number]
        assert len(model_legs) == metrics.total_trades
        assert money(sum(leg.realized for leg in model_legs)) == metrics.realized_pnl
        assert money(sum(leg.commission + leg.fees for leg in model_legs)) == metrics.total_fees

    assert money(sum(p.realized for p in books.positions)) == storage.get_portfolio_summary().total_realized_pnl
