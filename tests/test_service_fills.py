"""Fill accounting through StorageService, on SQLite and PostgreSQL (SPEC §4 "Recording a fill").

Every expected number is worked out by hand in a comment next to it: average
cost, the share of basis a reduce takes out, the fee split of a flip. Money is
Decimal throughout; equality is exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal, localcontext

import pytest

from factories import BOOK_TABLES, fill_order, make_order, make_strategy, snapshot
from stocksbot import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    OrderSide,
    OrderStatus,
    OrderType,
    OverfillError,
    PositionSide,
    PositionStatus,
    StorageService,
    TradeEffect,
)
from stocksbot import trades as trade_queries
from stocksbot.values import new_id

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    """A fixed execution time, ``minutes`` after T0."""
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def storage(db):
    """The service on the default account of the test database."""
    return StorageService(db)


def position_trades(storage, position_id):
    """The trade rows of one position, in execution order (trades.sql: list_trades_by_position)."""
    with storage.db.connection() as conn:
        return trade_queries.list_trades_by_position(conn, account_id=storage.account_id, position_id=position_id)


def assert_realized_is_sum_of_trades(storage, position_id):
    """A position's realized P&L is exactly the sum of its trade rows' realized P&L."""
    position = storage.get_position(position_id)
    assert sum((t.realized_pnl for t in position_trades(storage, position_id)), D(0)) == position.realized_pnl


# --- opening, adding, reducing, closing -------------------------------------------------------


def test_opening_a_long_realizes_minus_commission_and_fees(storage):
    """Buy 10 @ 100 with 1.00 commission and 0.25 fees: a long of cost 1000, realized -1.25."""
    trade = fill_order(storage, "AAPL", "buy", 10, "100.00", commission="1.00", fees="0.25", executed_at=at(0))

    assert TradeEffect.OPEN == trade.effect
    assert 0 == trade.leg
    assert OrderSide.BUY == trade.side
    assert (D(10), D(100), D(1), D("0.25")) == (trade.quantity, trade.price, trade.commission, trade.fees)
    assert D("-1.25") == trade.realized_pnl  # -(1.00 + 0.25)
    position = storage.get_position(trade.position_id)
    assert PositionSide.LONG == position.side
    assert PositionStatus.OPEN == position.status
    assert D(10) == position.quantity
    assert D(1000) == position.cost_basis  # 10 x 100.00
    assert D(100) == position.avg_entry_price
    assert D("-1.25") == position.realized_pnl
    assert at(0) == position.opened_at
    assert position.closed_at is None
    assert [position] == storage.get_open_positions()


def test_adding_at_a_new_price_updates_cost_basis_and_average(storage):
    """Adding to a long adds the notional to the cost basis; the average is derived from it."""
    first = fill_order(storage, "AAPL", "buy", 10, "100", commission="1.00")
    second = fill_order(storage, "AAPL", "buy", 5, "106", commission="0.50")

    assert TradeEffect.INCREASE == second.effect
    assert first.position_id == second.position_id
    assert D("-0.50") == second.realized_pnl  # an increase realizes only its own commission
    position = storage.get_position(first.position_id)
    assert D(15) == position.quantity
    assert D(1530) == position.cost_basis  # 10 x 100 + 5 x 106 = 1000 + 530
    assert D(102) == position.avg_entry_price  # 1530 / 15
    assert D("-1.50") == position.realized_pnl  # -1.00 - 0.50

    fill_order(storage, "AAPL", "buy", 3, "100.01")
    position = storage.get_position(first.position_id)
    assert D(18) == position.quantity
    assert D("1830.03") == position.cost_basis  # 1530 + 3 x 100.01 = 1530 + 300.03, kept exact
    assert D("101.66833333") == position.avg_entry_price  # 1830.03 / 18 = 101.668333..., rounded to 8 places


def test_partial_reduce_realizes_the_share_of_cost_basis(storage):
    """Selling 5 of a long of 15 (cost 1530) takes out 1530 x 5/15 = 510 of basis."""
    opened = fill_order(storage, "AAPL", "buy", 10, "100")
    fill_order(storage, "AAPL", "buy", 5, "106")  # long 15, cost 1530

    trade = fill_order(storage, "AAPL", "sell", 5, "110", commission="1.00", fees="0.10")

    assert TradeEffect.REDUCE == trade.effect
    assert opened.position_id == trade.position_id
    assert D("38.90") == trade.realized_pnl  # proceeds 5 x 110 = 550, basis 510: gross 40, minus 1.00 + 0.10
    position = storage.get_position(opened.position_id)
    assert PositionStatus.OPEN == position.status
    assert D(10) == position.quantity
    assert D(1020) == position.cost_basis  # 1530 - 510
    assert D(102) == position.avg_entry_price  # unchanged by a reduce: 1020 / 10
    assert D("38.90") == position.realized_pnl
    assert_realized_is_sum_of_trades(storage, opened.position_id)


def test_partial_reduce_rounds_the_basis_taken_out_half_even(storage):
    """Long 3 with cost 30.02: selling 1 takes out 30.02 / 3 = 10.006666... -> 10.00666667 of basis."""
    opened = fill_order(storage, "AAPL", "buy", 1, "10.00")
    fill_order(storage, "AAPL", "buy", 2, "10.01")  # cost 10.00 + 20.02 = 30.02

    trade = fill_order(storage, "AAPL", "sell", 1, "11")

    assert D("0.99333333") == trade.realized_pnl  # 11 - 10.00666667
    position = storage.get_position(opened.position_id)
    assert D(2) == position.quantity
    assert D("20.01333333") == position.cost_basis  # 30.02 - 10.00666667


def test_full_close_closes_the_position_and_sums_its_trades(storage):
    """The fill that brings a long to zero takes out all remaining basis and closes the position."""
    opened = fill_order(storage, "AAPL", "buy", 10, "100", executed_at=at(0))
    fill_order(storage, "AAPL", "buy", 5, "106", executed_at=at(10))  # long 15, cost 1530
    # Sell 5: realized 38.90, cost 1020 left.
    fill_order(storage, "AAPL", "sell", 5, "110", commission="1.00", fees="0.10", executed_at=at(20))

    trade = fill_order(storage, "AAPL", "sell", 10, "95", fees="0.50", executed_at=at(30))

    assert TradeEffect.CLOSE == trade.effect
    assert D("-70.50") == trade.realized_pnl  # proceeds 10 x 95 = 950, basis 1020: gross -70, minus 0.50
    position = storage.get_position(opened.position_id)
    assert PositionStatus.CLOSED == position.status
    assert D(0) == position.quantity
    assert D(0) == position.cost_basis
    assert at(30) == position.closed_at
    # 38.90 - 70.50; over its life: sells 550 + 950 - buys 1000 + 530 - fees 1.10 + 0.50 = -31.60
    assert D("-31.60") == position.realized_pnl
    realized = [t.realized_pnl for t in position_trades(storage, opened.position_id)]
    assert [D(0), D(0), D("38.90"), D("-70.50")] == realized
    assert_realized_is_sum_of_trades(storage, opened.position_id)
    assert [] == storage.get_open_positions()

    reopened = fill_order(storage, "AAPL", "buy", 1, "96")
    assert opened.position_id != reopened.position_id  # a closed position never reopens
    assert TradeEffect.OPEN == reopened.effect


def test_short_open_reduce_close(storage):
    """A short: sell 10 @ 50, buy back 4 @ 45, then 6 @ 52; its basis is what the sale brought in."""
    opened = fill_order(storage, "MSFT", "sell", 10, "50", commission="1.00")
    assert TradeEffect.OPEN == opened.effect
    assert D(-1) == opened.realized_pnl  # -(1.00)
    position = storage.get_position(opened.position_id)
    assert (PositionSide.SHORT, D(10), D(500)) == (position.side, position.quantity, position.cost_basis)

    reduced = fill_order(storage, "MSFT", "buy", 4, "45")
    assert TradeEffect.REDUCE == reduced.effect
    assert D(20) == reduced.realized_pnl  # basis 500 x 4/10 = 200, cost 4 x 45 = 180: gross 200 - 180
    position = storage.get_position(opened.position_id)
    assert (D(6), D(300), D(50)) == (position.quantity, position.cost_basis, position.avg_entry_price)

    closed = fill_order(storage, "MSFT", "buy", 6, "52", commission="0.50")
    assert TradeEffect.CLOSE == closed.effect
    assert D("-12.50") == closed.realized_pnl  # basis 300, cost 6 x 52 = 312: gross -12, minus 0.50
    position = storage.get_position(opened.position_id)
    assert PositionStatus.CLOSED == position.status
    assert D(0) == position.quantity
    assert position.closed_at is not None
    # -1 + 20 - 12.50; over its life: sold 500 - bought 180 + 312 - commissions 1.50 = 6.50
    assert D("6.50") == position.realized_pnl
    assert_realized_is_sum_of_trades(storage, opened.position_id)


# --- flips ---------------------------------------------------------------------------------------


def test_flip_writes_two_legs_sharing_the_execution_id(storage):
    """Selling 25 against a long of 10 closes it and opens a short of 15; fees split 10:15."""
    long_trade = fill_order(storage, "AAPL", "buy", 10, "100")  # long 10, cost 1000
    order = make_order(storage, "AAPL", "sell", 25)

    returned = storage.record_fill(
        order.order_id, quantity=25, price="110", commission="5.00", fees="2.50", external_trade_id="exec-flip",
    )

    legs = storage.get_trades(order_id=order.order_id)
    assert [0, 1] == [t.leg for t in legs]
    closing, opening = legs
    assert returned == closing  # record_fill returns the closing leg
    assert ["exec-flip", "exec-flip"] == [t.external_trade_id for t in legs]

    assert long_trade.position_id == closing.position_id
    assert TradeEffect.CLOSE == closing.effect
    assert D(10) == closing.quantity
    assert (D("2.00"), D("1.00")) == (closing.commission, closing.fees)  # 5.00 x 10/25, 2.50 x 10/25
    assert D("97.00") == closing.realized_pnl  # 10 x 110 - 1000 = 100 gross, minus 2.00 + 1.00

    assert long_trade.position_id != opening.position_id
    assert TradeEffect.OPEN == opening.effect
    assert D(15) == opening.quantity
    assert (D("3.00"), D("1.50")) == (opening.commission, opening.fees)  # the rest: 5.00 - 2.00, 2.50 - 1.00
    assert D("-4.50") == opening.realized_pnl  # -(3.00 + 1.50)
    assert D("5.00") == closing.commission + opening.commission
    assert D("2.50") == closing.fees + opening.fees

    old = storage.get_position(long_trade.position_id)
    assert (PositionStatus.CLOSED, D(0), D("97.00")) == (old.status, old.quantity, old.realized_pnl)
    new = storage.get_position(opening.position_id)
    assert (PositionSide.SHORT, PositionStatus.OPEN) == (new.side, new.status)
    assert (D(15), D(1650), D(110)) == (new.quantity, new.cost_basis, new.avg_entry_price)  # 15 x 110
    assert D("-4.50") == new.realized_pnl
    assert [new] == storage.get_open_positions(symbol="AAPL")
    assert_realized_is_sum_of_trades(storage, old.position_id)
    assert_realized_is_sum_of_trades(storage, new.position_id)

    order = storage.get_order(order.order_id)
    assert (OrderStatus.FILLED, D(25), D(110)) == (order.status, order.filled_quantity, order.avg_fill_price)


def test_flip_fee_shares_add_up_when_the_split_does_not_divide(storage):
    """Long 1, sell 3 with commission 1.00 and fees 0.01: shares of 1/3 round, yet sum to the totals."""
    fill_order(storage, "AAPL", "buy", 1, "10")
    order = make_order(storage, "AAPL", "sell", 3)
    storage.record_fill(order.order_id, quantity=3, price="10", commission="1.00", fees="0.01")

    closing, opening = storage.get_trades(order_id=order.order_id)
    assert D("1.00") == closing.commission + opening.commission
    assert D("0.01") == closing.fees + opening.fees
    # Each share is its proportion to within one unit of the money scale: 1.00 x 1/3 = 0.3333..., 0.01 x 1/3.
    unit = D("0.00000001")
    assert abs(closing.commission - D(1) / 3) <= unit
    assert abs(closing.fees - D("0.01") / 3) <= unit
    assert (D(1), D(2)) == (closing.quantity, opening.quantity)
    # Gross is 0 on the closing leg (10 - 10) and on the opening leg: the fill realizes exactly -(1.00 + 0.01).
    assert D("-1.01") == closing.realized_pnl + opening.realized_pnl
    assert -(closing.commission + closing.fees) == closing.realized_pnl
    assert -(opening.commission + opening.fees) == opening.realized_pnl


def test_flip_of_a_short_opens_a_long(storage):
    """Buying 7 against a short of 4 (sold at 50) closes it (gross 4 x (50 - 48) = 8) and opens a long of 3."""
    short = fill_order(storage, "MSFT", "sell", 4, "50")
    closing = fill_order(storage, "MSFT", "buy", 7, "48")

    assert (short.position_id, TradeEffect.CLOSE, D(8)) == (closing.position_id, closing.effect, closing.realized_pnl)
    [long_position] = storage.get_open_positions(symbol="MSFT")
    assert (PositionSide.LONG, D(3), D(144)) == (long_position.side, long_position.quantity, long_position.cost_basis)


# --- refused fills -----------------------------------------------------------------------------


def test_overfill_is_refused_and_writes_nothing(db, storage):
    """A fill larger than what remains raises OverfillError (an InvalidTransitionError) and writes nothing."""
    order = make_order(storage, "AAPL", "buy", 10)
    storage.record_fill(order.order_id, quantity=6, price="100", external_trade_id="e1")
    before = snapshot(db)

    with pytest.raises(OverfillError) as raised:
        storage.record_fill(order.order_id, quantity=5, price="100", commission="1", external_trade_id="e2")

    assert isinstance(raised.value, InvalidTransitionError)
    assert before == snapshot(db)
    storage.record_fill(order.order_id, quantity=4, price="100", external_trade_id="e2")  # what remains is fine
    assert OrderStatus.FILLED == storage.get_order(order.order_id).status


def _order_in(storage, status):
    """A 10-share buy order brought to ``status`` through the public API."""
    if status == "pending":
        return make_order(storage, "AAPL", "buy", 10, submit=False)
    order = make_order(storage, "AAPL", "buy", 10)
    if status == "filled":
        storage.record_fill(order.order_id, quantity=10, price="100")
    elif status != "submitted":
        storage.update_order_status(order.order_id, status, reason="test")
    return storage.get_order(order.order_id)


@pytest.mark.parametrize("status", ["pending", "cancelled", "rejected", "expired", "filled"])
def test_fill_on_an_order_that_is_not_working_is_refused(db, storage, status):
    """Only submitted and partially filled orders take fills; anything else writes nothing."""
    order = _order_in(storage, status)
    assert status == order.status.value
    before = snapshot(db)

    with pytest.raises(InvalidTransitionError):
        storage.record_fill(order.order_id, quantity=1, price="100", external_trade_id="late")

    assert before == snapshot(db)


def test_fill_on_an_unknown_order_is_not_found(db, storage):
    """A fill naming an order that does not exist raises NotFoundError and writes nothing."""
    make_order(storage)
    before = snapshot(db)

    with pytest.raises(NotFoundError):
        storage.record_fill(new_id(), quantity=1, price="100")

    assert before == snapshot(db)


@pytest.mark.slow
def test_ten_thousand_fills_of_a_tenth_add_up_exactly(db, storage):
    """10,000 fills of 0.1 fill an order of 1000 exactly: no float drift anywhere."""
    order = make_order(storage, "AAPL", "buy", 1000)
    # One transaction on SQLite, as the engine would batch. On PostgreSQL, updating one row
    # 40,000 times in one transaction is quadratic (each new version extends the row's HOT
    # chain until commit: ~13 minutes measured), so there it commits every 100 fills.
    batch = 10_000 if db.dialect == "sqlite" else 100
    for _ in range(10_000 // batch):
        with db.transaction():
            for _ in range(batch):
                storage.record_fill(order.order_id, quantity="0.1", price="10")

    order = storage.get_order(order.order_id)
    assert D("1000") == order.filled_quantity
    assert OrderStatus.FILLED == order.status
    assert D(10) == order.avg_fill_price
    [position] = storage.get_open_positions(symbol="AAPL")
    assert D("1000") == position.quantity
    assert D("10000") == position.cost_basis  # 10,000 x (0.1 x 10)
    assert 10_000 == len(storage.get_trades(order_id=order.order_id))


@pytest.mark.parametrize("sells", [(3,), (1, 2), (1, 1, 1), (2, 1)], ids=lambda sells: "+".join(map(str, sells)))
def test_round_trip_at_two_prices_realizes_exactly(storage, sells):
    """Buy 1 @ 10.00 and 2 @ 10.01, sell 3 @ 11 in any pieces: exactly 33 - 30.02 = 2.98."""
    opened = fill_order(storage, "AAPL", "buy", 1, "10.00")
    fill_order(storage, "AAPL", "buy", 2, "10.01")
    for quantity in sells:
        fill_order(storage, "AAPL", "sell", quantity, "11")

    position = storage.get_position(opened.position_id)
    assert PositionStatus.CLOSED == position.status
    assert D("2.98") == position.realized_pnl
    assert_realized_is_sum_of_trades(storage, opened.position_id)


# --- the order's fill state -------------------------------------------------------------------


def test_order_fill_state_progresses_with_its_fills(storage):
    """submitted -> partially_filled -> filled, with filled quantity and volume-weighted price."""
    order = make_order(storage, "AAPL", "buy", 10)
    assert (OrderStatus.SUBMITTED, D(0), None, None) == (
        order.status, order.filled_quantity, order.avg_fill_price, order.terminal_at,
    )

    storage.record_fill(order.order_id, quantity=4, price="10.00")
    order = storage.get_order(order.order_id)
    assert (OrderStatus.PARTIALLY_FILLED, D(4), D(10)) == (order.status, order.filled_quantity, order.avg_fill_price)
    assert order.terminal_at is None
    assert D(6) == order.remaining_quantity

    storage.record_fill(order.order_id, quantity=6, price="10.50")
    order = storage.get_order(order.order_id)
    assert (OrderStatus.FILLED, D(10)) == (order.status, order.filled_quantity)
    assert D("10.30") == order.avg_fill_price  # (4 x 10.00 + 6 x 10.50) / 10 = (40 + 63) / 10
    assert D(103) == order.filled_notional
    assert order.terminal_at is not None
    assert order.terminal_at >= order.created_at


def test_order_average_fill_price_is_volume_weighted_and_rounded(storage):
    """Fills of 1 @ 10.00 and 2 @ 10.01 average 30.02 / 3 = 10.006666... -> 10.00666667."""
    order = make_order(storage, "AAPL", "buy", 3)
    storage.record_fill(order.order_id, quantity=1, price="10.00")
    storage.record_fill(order.order_id, quantity=2, price="10.01")

    order = storage.get_order(order.order_id)
    assert D("30.02") == order.filled_notional
    assert D("10.00666667") == order.avg_fill_price


def test_fills_and_derived_prices_do_not_depend_on_the_callers_decimal_context(storage):
    """A caller's low-precision, round-down decimal context neither rounds inputs nor changes derived prices."""
    order = make_order(storage, "AAPL", "buy", 3)
    with localcontext() as context:
        context.prec = 6
        context.rounding = ROUND_DOWN
        storage.record_fill(order.order_id, quantity=1, price="10.00000123")
        storage.record_fill(order.order_id, quantity=2, price="10.01")
        order = storage.get_order(order.order_id)
        [position] = storage.get_open_positions()

    assert [D("10.00000123"), D("10.01")] == [t.price for t in storage.get_trades(order_id=order.order_id)]
    assert D("30.02000123") == order.filled_notional  # 10.00000123 + 2 x 10.01
    assert D("10.00666708") == order.avg_fill_price  # 30.02000123 / 3 = 10.006667076..., half-even to 8 places
    assert D("10.00666708") == position.avg_entry_price


# --- close_position ----------------------------------------------------------------------------


def test_close_position_records_a_closing_order_and_its_fill(storage):
    """Closing a long of 10 (cost 1000) at 105 records a filled sell order and realizes 50 - fees."""
    strategy = make_strategy(storage)
    opened = fill_order(storage, "AAPL", "buy", 10, "100", commission="1.00", strategy_id=strategy.strategy_id)

    closed = storage.close_position(opened.position_id, exit_price="105", commission="1.00", fees="0.50")

    assert (PositionStatus.CLOSED, D(0)) == (closed.status, closed.quantity)
    assert closed.closed_at is not None
    assert D("47.50") == closed.realized_pnl  # -1.00 at open; 10 x 105 - 1000 = 50 gross, minus 1.50
    [closing_order] = [o for o in storage.list_orders(limit=None) if o.order_id != opened.order_id]
    assert (OrderSide.SELL, OrderType.MARKET, OrderStatus.FILLED) == (
        closing_order.side, closing_order.order_type, closing_order.status,
    )
    assert (D(10), D(10), D(105)) == (
        closing_order.quantity, closing_order.filled_quantity, closing_order.avg_fill_price,
    )
    assert strategy.strategy_id == closing_order.strategy_id
    [fill] = storage.get_trades(order_id=closing_order.order_id)
    assert (TradeEffect.CLOSE, opened.position_id, D("48.50")) == (fill.effect, fill.position_id, fill.realized_pnl)
    assert_realized_is_sum_of_trades(storage, opened.position_id)

    with pytest.raises(InvalidTransitionError):
        storage.close_position(opened.position_id, exit_price="105")


def test_close_position_of_a_short_buys_it_back(storage):
    """Closing a short of 4 sold at 50 at 45 buys 4 back and realizes 4 x (50 - 45) = 20."""
    opened = fill_order(storage, "MSFT", "sell", 4, "50")

    closed = storage.close_position(opened.position_id, exit_price="45")

    assert (PositionStatus.CLOSED, D(20)) == (closed.status, closed.realized_pnl)
    [closing_order] = [o for o in storage.list_orders(limit=None) if o.order_id != opened.order_id]
    assert (OrderSide.BUY, OrderStatus.FILLED, D(4)) == (
        closing_order.side, closing_order.status, closing_order.quantity,
    )


def test_close_position_of_an_unknown_position_is_not_found(db, storage):
    """close_position on a position id that does not exist raises NotFoundError and writes nothing."""
    before = snapshot(db)
    with pytest.raises(NotFoundError):
        storage.close_position(new_id(), exit_price="1")
    assert before == snapshot(db)


# --- idempotency ---------------------------------------------------------------------------------


def test_the_same_execution_twice_counts_once(db, storage):
    """Re-sending an execution returns the recorded trade and changes nothing: order, position, metrics."""
    strategy = make_strategy(storage)
    order = make_order(storage, "AAPL", "buy", 10, strategy_id=strategy.strategy_id)
    first = storage.record_fill(order.order_id, quantity=4, price="100", commission="1", external_trade_id="x-1")
    before = snapshot(db)

    again = storage.record_fill(order.order_id, quantity=4, price="100", commission="1", external_trade_id="x-1")

    assert first == again
    assert before == snapshot(db)
    order = storage.get_order(order.order_id)
    assert (OrderStatus.PARTIALLY_FILLED, D(4)) == (order.status, order.filled_quantity)
    assert D(4) == storage.get_position(first.position_id).quantity
    metrics = storage.get_strategy_metrics(strategy.strategy_id)
    assert (1, D(-1), D(1)) == (metrics.total_trades, metrics.realized_pnl, metrics.total_fees)


def test_an_execution_resent_after_the_order_completed_is_still_a_no_op(db, storage):
    """The fill that completed (then the cancel that ended) an order may be re-sent: same trade, no error."""
    filled = make_order(storage, "AAPL", "buy", 5)
    done = storage.record_fill(filled.order_id, quantity=5, price="100", external_trade_id="x-done")
    cancelled = make_order(storage, "AAPL", "buy", 5)
    partial = storage.record_fill(cancelled.order_id, quantity=2, price="100", external_trade_id="x-part")
    storage.update_order_status(cancelled.order_id, "cancelled")
    before = snapshot(db)

    assert done == storage.record_fill(filled.order_id, quantity=5, price="100", external_trade_id="x-done")
    assert partial == storage.record_fill(cancelled.order_id, quantity=2, price="100", external_trade_id="x-part")
    assert before == snapshot(db)


def test_a_resent_flip_counts_once(db, storage):
    """Re-sending a flip's execution returns its closing leg and writes neither leg again."""
    fill_order(storage, "AAPL", "buy", 10, "100")
    order = make_order(storage, "AAPL", "sell", 25)
    closing = storage.record_fill(order.order_id, quantity=25, price="110", commission="5", external_trade_id="x-flip")
    before = snapshot(db)

    again = storage.record_fill(order.order_id, quantity=25, price="110", commission="5", external_trade_id="x-flip")

    assert closing == again
    assert 0 == again.leg
    assert before == snapshot(db)
    assert 2 == len(storage.get_trades(order_id=order.order_id))
    [short] = storage.get_open_positions(symbol="AAPL")
    assert (PositionSide.SHORT, D(15)) == (short.side, short.quantity)


@pytest.mark.parametrize("changed", [
    {"quantity": 5}, {"price": "100.01"}, {"commission": "1.5"}, {"fees": "0.01"}, {"commission": 0},
])
def test_an_execution_sent_again_with_other_figures_is_a_conflict_and_changes_nothing(db, storage, changed):
    """The same execution id with another quantity, price, commission or fees is not the same
    execution: ConflictError naming both versions, nothing written; the recorded one stays."""
    order = make_order(storage, "AAPL", "buy", 10)
    sent = {"quantity": 4, "price": "100", "commission": "1", "fees": 0, "external_trade_id": "x-1"}
    first = storage.record_fill(order.order_id, **sent)
    before = snapshot(db)

    with pytest.raises(ConflictError, match=r"execution x-1 of order .* is already recorded as quantity 4(\.0+)?, "
                                            r"price 100(\.0+)?, commission 1(\.0+)?, fees 0.*never changed"):
        storage.record_fill(order.order_id, **{**sent, **changed})

    assert before == snapshot(db)
    assert first == storage.record_fill(order.order_id, **sent)  # the figures as recorded: still a no-op
    assert first == storage.record_fill(order.order_id, **{**sent, "price": "100.000", "fees": "0.00"})  # equal values


def test_a_flip_sent_again_is_compared_over_both_legs(db, storage):
    """A flip's legs split its quantity, commission and fees: the re-sent fill matches their sums."""
    fill_order(storage, "AAPL", "buy", 10, "100")
    order = make_order(storage, "AAPL", "sell", 25)
    sent = {"quantity": 25, "price": "110", "commission": "5", "fees": "0.25", "external_trade_id": "x-flip"}
    closing = storage.record_fill(order.order_id, **sent)
    before = snapshot(db)

    assert closing == storage.record_fill(order.order_id, **sent)
    for changed in ({"quantity": 10}, {"quantity": 24}, {"commission": "2"}, {"fees": "0.1"}):
        with pytest.raises(ConflictError, match="already recorded as quantity 25"):
            storage.record_fill(order.order_id, **{**sent, **changed})
    assert before == snapshot(db)


def test_the_same_execution_id_on_another_order_is_another_execution(storage):
    """Execution ids are scoped by order: the same id on two orders records two trades."""
    first_order = make_order(storage, "AAPL", "buy", 5)
    second_order = make_order(storage, "AAPL", "buy", 5)

    first = storage.record_fill(first_order.order_id, quantity=5, price="100", external_trade_id="exec-7")
    second = storage.record_fill(second_order.order_id, quantity=5, price="101", external_trade_id="exec-7")

    assert first.trade_id != second.trade_id
    assert 2 == len(storage.get_trades(symbol="AAPL"))
    assert D(10) == storage.get_position(first.position_id).quantity
    assert OrderStatus.FILLED == storage.get_order(second_order.order_id).status


# --- transactions ----------------------------------------------------------------------------


def test_a_transaction_that_raises_rolls_back_every_call_in_it(db, storage):
    """Several service calls in one ``with db.transaction():`` all vanish when the block raises."""
    fill_order(storage, "AAPL", "buy", 1, "100")
    before = snapshot(db, ("strategies", *BOOK_TABLES))

    with pytest.raises(RuntimeError, match="engine crashed"):
        with db.transaction():
            strategy = make_strategy(storage)
            order = make_order(storage, "MSFT", "buy", 10, strategy_id=strategy.strategy_id)
            storage.record_fill(order.order_id, quantity=4, price="50")
            trade = fill_order(storage, "AAPL", "sell", 1, "105")
            storage.close_position(storage.get_open_positions(symbol="MSFT")[0].position_id, exit_price="51")
            assert OrderStatus.FILLED == storage.get_order(trade.order_id).status  # visible inside
            raise RuntimeError("engine crashed")

    assert before == snapshot(db, ("strategies", *BOOK_TABLES))
    assert storage.get_order(order.order_id) is None
    assert storage.get_strategy(strategy.strategy_id) is None


def test_a_rolled_back_nested_transaction_keeps_the_outer_work(db, storage):
    """A nested ``with db.transaction():`` is a savepoint: rolling it back keeps what the outer block did."""
    with db.transaction():
        outer = make_order(storage, "AAPL", "buy", 5)
        storage.record_fill(outer.order_id, quantity=5, price="100")
        with pytest.raises(RuntimeError):
            with db.transaction():
                inner = make_order(storage, "AAPL", "buy", 3)
                storage.record_fill(inner.order_id, quantity=3, price="90")
                assert D(8) == storage.get_open_positions(symbol="AAPL")[0].quantity
                raise RuntimeError("undo the inner block")
        assert D(5) == storage.get_open_positions(symbol="AAPL")[0].quantity

    assert OrderStatus.FILLED == storage.get_order(outer.order_id).status
    assert storage.get_order(inner.order_id) is None
    [position] = storage.get_open_positions(symbol="AAPL")
    assert (D(5), D(500)) == (position.quantity, position.cost_basis)
    assert 1 == len(storage.get_trades())


def test_a_refused_call_inside_a_transaction_leaves_the_transaction_usable(db, storage):
    """A call that fails inside ``with db.transaction():`` undoes only itself; the block goes on and commits."""
    with db.transaction():
        order = make_order(storage, "AAPL", "buy", 10)
        storage.record_fill(order.order_id, quantity=5, price="100")
        with pytest.raises(OverfillError):
            storage.record_fill(order.order_id, quantity=6, price="100")
        with pytest.raises(InvalidTransitionError):
            storage.update_order_status(order.order_id, "rejected")
        storage.record_fill(order.order_id, quantity=5, price="102")

    order = storage.get_order(order.order_id)
    assert (OrderStatus.FILLED, D(10), D(101)) == (order.status, order.filled_quantity, order.avg_fill_price)
    assert 2 == len(storage.get_trades(order_id=order.order_id))


# --- reading trades, metrics, portfolio ----------------------------------------------------------


def test_get_trades_filters_by_order_symbol_strategy_since_and_limit(storage):
    """get_trades lists in execution order and combines its filters; ``since`` is inclusive."""
    s1, s2 = make_strategy(storage), make_strategy(storage)
    o1 = make_order(storage, "AAPL", "buy", 10, strategy_id=s1.strategy_id)
    o2 = make_order(storage, "MSFT", "buy", 5, strategy_id=s2.strategy_id)
    o3 = make_order(storage, "AAPL", "sell", 3, strategy_id=s2.strategy_id)
    o4 = make_order(storage, "MSFT", "sell", 2)
    # Recorded out of execution order on purpose.
    t2 = storage.record_fill(o1.order_id, quantity=6, price="101", executed_at=at(2))
    t0 = storage.record_fill(o1.order_id, quantity=4, price="100", executed_at=at(0))
    t1 = storage.record_fill(o2.order_id, quantity=5, price="300", executed_at=at(1))
    t3 = storage.record_fill(o3.order_id, quantity=3, price="102", executed_at=at(3))
    t4 = storage.record_fill(o4.order_id, quantity=2, price="305", executed_at=at(4))

    def ids(**filters):
        return [t.trade_id for t in storage.get_trades(**filters)]

    assert [t.trade_id for t in (t0, t1, t2, t3, t4)] == ids()
    assert [t0.trade_id, t2.trade_id] == ids(order_id=o1.order_id)
    assert [t0.trade_id, t2.trade_id, t3.trade_id] == ids(symbol="AAPL")
    assert [t1.trade_id, t3.trade_id] == ids(strategy_id=s2.strategy_id)
    assert [t2.trade_id, t3.trade_id, t4.trade_id] == ids(since=at(2))
    assert [t0.trade_id, t1.trade_id] == ids(limit=2)
    assert [t2.trade_id] == ids(symbol="AAPL", strategy_id=s1.strategy_id, since=at(1))
    assert [t4.trade_id] == ids(symbol="MSFT", since=at(2), limit=5)
    assert [] == ids(symbol="TSLA")
    assert [] == ids(since=at(5))


def test_strategy_metrics_match_the_trades(storage):
    """Metrics of a strategy with wins, a loss and a flip: by hand and recomputed from get_trades."""
    strategy = make_strategy(storage)
    other = make_strategy(storage)
    sid = strategy.strategy_id
    fill_order(storage, "AAPL", "buy", 10, "100", commission="1", strategy_id=sid)  # open: -1
    fill_order(storage, "AAPL", "sell", 4, "110", commission="1", strategy_id=sid)  # reduce: 440 - 400 - 1 = 39
    fill_order(storage, "AAPL", "sell", 2, "90", strategy_id=sid)  # reduce: 180 - 200 = -20
    # Flip of the long 4 (cost 400) by selling 10 @ 105: close 4 (420 - 400 = 20, fees 0.80 + 0.40 -> 18.80),
    # open a short of 6 at cost 630 (fees 1.20 + 0.60 -> -1.80).
    fill_order(storage, "AAPL", "sell", 10, "105", commission="2", fees="1", strategy_id=sid)
    fill_order(storage, "AAPL", "buy", 6, "100", strategy_id=sid)  # close the short: 630 - 600 = 30
    fill_order(storage, "AAPL", "buy", 3, "100", commission="9", strategy_id=other.strategy_id)  # another strategy

    metrics = storage.get_strategy_metrics(sid)

    assert sid == metrics.strategy_id
    assert 6 == metrics.total_trades  # open, reduce, reduce, close + open (the flip), close
    assert 4 == metrics.closing_trades
    assert 3 == metrics.winning_trades  # 39, 18.80, 30
    assert D("0.75") == metrics.win_rate
    assert D("65.00") == metrics.realized_pnl  # -1 + 39 - 20 + 18.80 - 1.80 + 30
    assert D("5.00") == metrics.total_fees  # 1 + 1 + (2 + 1)

    rows = storage.get_trades(strategy_id=sid)
    closing = [t for t in rows if t.effect in (TradeEffect.REDUCE, TradeEffect.CLOSE)]
    assert len(rows) == metrics.total_trades
    assert len(closing) == metrics.closing_trades
    assert sum(1 for t in closing if t.realized_pnl > 0) == metrics.winning_trades
    assert sum((t.realized_pnl for t in rows), D(0)) == metrics.realized_pnl
    assert sum((t.commission + t.fees for t in rows), D(0)) == metrics.total_fees


def test_strategy_metrics_of_a_strategy_without_trades_and_of_no_strategy(storage):
    """A strategy with no trades has zero metrics (win rate 0); an unknown strategy has none."""
    idle = make_strategy(storage)

    metrics = storage.get_strategy_metrics(idle.strategy_id)

    assert (0, 0, 0, D(0), D(0), D(0)) == (
        metrics.total_trades, metrics.closing_trades, metrics.winning_trades,
        metrics.win_rate, metrics.realized_pnl, metrics.total_fees,
    )
    assert storage.get_strategy_metrics(new_id()) is None


def test_portfolio_summary_values_a_long_and_a_short_at_marks(storage):
    """Long AAPL 10 @ 100 marked 110 and short MSFT 5 @ 200 marked 190: market value and unrealized by hand."""
    fill_order(storage, "AAPL", "buy", 10, "100", commission="1.00")
    fill_order(storage, "MSFT", "sell", 5, "200", fees="0.50")
    fill_order(storage, "TSLA", "buy", 2, "50")
    fill_order(storage, "TSLA", "sell", 2, "60")  # closed: realized 2 x (60 - 50) = 20

    summary = storage.get_portfolio_summary(marks={"AAPL": "110", "MSFT": D("190")})

    aapl, msft = summary.lines
    assert ("AAPL", PositionSide.LONG, D(10), D(1000), D(100)) == (
        aapl.symbol, aapl.side, aapl.quantity, aapl.cost_basis, aapl.avg_entry_price,
    )
    assert (D(110), D(1100), D(100)) == (aapl.mark, aapl.market_value, aapl.unrealized_pnl)  # 10 x 110; 1100 - 1000
    assert ("MSFT", PositionSide.SHORT, D(5), D(1000)) == (msft.symbol, msft.side, msft.quantity, msft.cost_basis)
    assert (D(190), D(950), D(50)) == (msft.mark, msft.market_value, msft.unrealized_pnl)  # 5 x 190; 1000 - 950
    assert D(2000) == summary.total_cost_basis
    assert D(2050) == summary.total_market_value  # 1100 + 950
    assert D(150) == summary.total_unrealized_pnl  # 100 + 50
    assert D("18.50") == summary.total_realized_pnl  # -1.00 - 0.50 + 20


def test_portfolio_summary_without_marks_has_no_totals(storage):
    """Without a mark for every line the market value and unrealized totals are None."""
    fill_order(storage, "AAPL", "buy", 10, "100")
    fill_order(storage, "MSFT", "sell", 5, "200")

    unmarked = storage.get_portfolio_summary()
    partly = storage.get_portfolio_summary(marks={"AAPL": "110"})

    assert (None, None) == (unmarked.total_market_value, unmarked.total_unrealized_pnl)
    assert all((line.mark, line.market_value, line.unrealized_pnl) == (None, None, None) for line in unmarked.lines)
    assert D(2000) == unmarked.total_cost_basis
    assert D(0) == unmarked.total_realized_pnl
    assert (None, None) == (partly.total_market_value, partly.total_unrealized_pnl)
    assert D(100) == partly.lines[0].unrealized_pnl
    assert partly.lines[1].unrealized_pnl is None


# --- one instant per fill ------------------------------------------------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["record_fill", "record_fills"])
def test_every_row_a_fill_writes_carries_one_instant(storage, batched):
    """Without a broker time, the fill's execution time is the time it was recorded, and the order's
    updated_at, the trade's created_at and the position's updated_at are that same instant; with a
    broker time, the rows it changes still share one recording instant."""
    storage.create_position("AAPL", "long", 5, "90")  # the fills below add to it: the holding update writes updated_at
    for executed_at in (None, at(3)):
        order = make_order(storage, "AAPL", "buy", 4)
        fill = {"order_id": order.order_id, "quantity": 4, "price": "100", "executed_at": executed_at}
        trade = storage.record_fills([fill])[0] if batched else storage.record_fill(**fill)
        recorded = storage.get_order(order.order_id).updated_at
        assert recorded == trade.created_at == storage.get_position(trade.position_id).updated_at
        assert (recorded if executed_at is None else executed_at) == trade.executed_at
