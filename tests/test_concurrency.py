"""Several OS processes racing on one database, on SQLite and PostgreSQL (SPEC §4: "also under concurrency").

Each scenario sets up rows through the ``db`` fixture, then starts spawned worker
processes (tests/workers.py) that each open their own ``stocksbot.connect(url)``
and meet at a barrier before every racing step. Nothing here is timed: the
assertions are about what the database holds afterwards and what each caller
was told.
"""

from __future__ import annotations

from decimal import Decimal
from random import Random

import pytest

from factories import make_order, make_strategy
from stocksbot import OrderStatus, PositionStatus, StorageService, TradeEffect
from stocksbot.verify import verify
from workers import results_of, run_workers

D = Decimal
WORKERS = 4


@pytest.fixture
def storage(db):
    """The service on the default account of the test database (the workers use the same account)."""
    return StorageService(db)


def test_the_same_execution_raced_by_several_processes_is_recorded_once(database_url, storage):
    """4 processes record the same 5 broker executions at once: one trade each, every caller told the same id."""
    order = make_order(storage, "AAPL", "buy", 10)
    executions = [f"exec-{n}" for n in range(5)]

    returned = results_of(run_workers(
        database_url, "record_executions", [(order.order_id, "1.5", "100", executions)] * WORKERS,
    ))

    trades = storage.get_trades(order_id=order.order_id)
    assert sorted(executions) == sorted(t.external_trade_id for t in trades)  # exactly one row per execution
    for number, _ in enumerate(executions):
        assert len({ids[number] for ids in returned}) == 1  # every caller got the same trade back
    assert sorted(t.trade_id for t in trades) == sorted(returned[0])
    order = storage.get_order(order.order_id)
    assert (OrderStatus.PARTIALLY_FILLED, D("7.5")) == (order.status, order.filled_quantity)  # 5 x 1.5, once
    [position] = storage.get_open_positions(symbol="AAPL")
    assert (D("7.5"), D(750)) == (position.quantity, position.cost_basis)


def test_fills_from_several_processes_on_one_order_all_count(database_url, storage):
    """4 processes x 50 fills of 1 on an order of 200: all 200 count, none is lost, no error surfaces."""
    order = make_order(storage, "AAPL", "buy", 200)

    returned = results_of(run_workers(
        database_url, "record_fills",
        [(order.order_id, 50, "1", str(100 + number), f"w{number}") for number in range(WORKERS)],
    ))

    assert 200 == len({trade_id for ids in returned for trade_id in ids})
    trades = storage.get_trades(order_id=order.order_id)
    assert 200 == len(trades)
    order = storage.get_order(order.order_id)
    assert (OrderStatus.FILLED, D(200)) == (order.status, order.filled_quantity)
    assert order.terminal_at is not None
    assert D("101.5") == order.avg_fill_price  # 50 x (100 + 101 + 102 + 103) / 200 = 20300 / 200
    [position] = storage.get_open_positions(symbol="AAPL")
    assert (D(200), D(20300)) == (position.quantity, position.cost_basis)
    assert 1 == sum(1 for t in trades if t.effect is TradeEffect.OPEN)


def test_batches_from_several_processes_on_shared_orders_count_every_execution_once(database_url, db, storage):
    """4 processes x 5 batches of 12 fills over the same 6 orders (two symbols, with and without a strategy):
    each process sends its own executions and, in every batch, 4 the others send too. Every execution counts
    exactly once; each order, position and strategy's metrics add up to the trades; no batch fails."""
    strategy_id = make_strategy(storage).strategy_id
    orders = [make_order(storage, symbol, "buy", 10_000, strategy_id=strategy) for symbol in ("AAPL", "MSFT")
              for strategy in (strategy_id, None, strategy_id)]
    shared = [[(orders[(b + k) % len(orders)].order_id, "2", "50", f"shared-{b}-{k}") for k in range(4)] for b in range(5)]
    arguments = []
    for number in range(WORKERS):
        rng = Random(number)
        arguments.append(([
            [(rng.choice(orders).order_id, "1", str(100 + number), f"w{number}-{b}-{k}") for k in range(8)] + shared[b]
            for b in range(5)
        ],))

    returned = results_of(run_workers(database_url, "record_batches", arguments))

    trades = storage.get_trades()
    executions = {(t.order_id, t.external_trade_id) for t in trades}
    assert len(trades) == len(executions) == WORKERS * 5 * 8 + 5 * 4  # every execution once, whoever sent it
    for b in range(5):  # every process was told the same trade for a shared execution
        assert len({tuple(batches[b][8:]) for batches in returned}) == 1
    for order in orders:
        traded = sum((t.quantity for t in trades if t.order_id == order.order_id), D(0))
        assert (traded, OrderStatus.PARTIALLY_FILLED) == (storage.get_order(order.order_id).filled_quantity,
                                                          storage.get_order(order.order_id).status)
    held = {(p.symbol, p.strategy_id): p.quantity for p in storage.get_open_positions()}
    assert {(symbol, strategy): sum((t.quantity for t in trades if (t.symbol, t.strategy_id) == (symbol, strategy)), D(0))
            for symbol in ("AAPL", "MSFT") for strategy in (strategy_id, None)} == held
    assert 4 == len(storage.list_positions())  # one position per (symbol, strategy), opened once
    assert [] == verify(db).differences  # metrics, order fills and position P&L all equal the trades


@pytest.mark.parametrize("with_strategy", [True, False], ids=["strategy", "no-strategy"])
def test_orders_from_several_processes_open_exactly_one_position(database_url, storage, with_strategy):
    """4 processes fill their own orders on a symbol with no position, at once: one position holds the sum."""
    strategy_id = make_strategy(storage).strategy_id if with_strategy else None
    symbols = ["AAPL", "MSFT", "TSLA"]  # one race per symbol
    orders = {
        symbol: [make_order(storage, symbol, "buy", number + 1, strategy_id=strategy_id) for number in range(WORKERS)]
        for symbol in symbols
    }

    results_of(run_workers(
        database_url, "fill_orders",
        [([(orders[symbol][number].order_id, str(number + 1), "10") for symbol in symbols],)
         for number in range(WORKERS)],
    ))

    for symbol in symbols:
        [position] = [p for p in storage.list_positions() if p.symbol == symbol]  # open or closed: only one
        assert PositionStatus.OPEN == position.status
        assert strategy_id == position.strategy_id
        assert (D(10), D(100)) == (position.quantity, position.cost_basis)  # 1 + 2 + 3 + 4 at 10
        trades = storage.get_trades(symbol=symbol)
        assert {position.position_id} == {t.position_id for t in trades}
        assert ["increase"] * 3 + ["open"] == sorted(t.effect.value for t in trades)
        assert all(storage.get_order(o.order_id).status is OrderStatus.FILLED for o in orders[symbol])


def test_a_status_race_has_exactly_one_winner(database_url, storage):
    """4 processes try to cancel, expire, reject and cancel the same submitted order: one wins, the row is its."""
    targets = ["cancelled", "expired", "rejected", "cancelled"]
    orders = [make_order(storage, "AAPL", "buy", 10) for _ in range(5)]  # five races

    outcomes = results_of(run_workers(
        database_url, "change_status",
        [([o.order_id for o in orders], target, f"worker-{number}") for number, target in enumerate(targets)],
    ))

    for round_number, order in enumerate(orders):
        results = [outcome[round_number] for outcome in outcomes]
        assert 1 == results.count("ok"), results
        assert WORKERS - 1 == results.count("refused")
        winner = results.index("ok")
        order = storage.get_order(order.order_id)
        assert (targets[winner], f"worker-{winner}") == (order.status.value, order.status_reason)
        assert order.terminal_at is not None
        assert D(0) == order.filled_quantity


def test_fills_racing_a_cancel_leave_a_consistent_order(database_url, storage):
    """4 processes fill an order of 100 while a fifth cancels it: whatever wins, the order matches its trades."""
    order = make_order(storage, "AAPL", "buy", 100)
    fillers = [("fill_until_refused", order.order_id, 25, "1", "50", f"w{number}") for number in range(WORKERS)]

    outcomes = results_of(run_workers(
        database_url, "run_task", [*fillers, ("cancel_once_filled", order.order_id, "10")],
    ))

    *fills, cancel = outcomes
    accepted = sum(outcome.count("filled") for outcome in fills)
    refused = sum(outcome.count("refused") for outcome in fills)
    for outcome in fills:  # once an order refuses fills it refuses them for good
        if "refused" in outcome:
            assert "filled" not in outcome[outcome.index("refused"):]
    trades = storage.get_trades(order_id=order.order_id)
    order = storage.get_order(order.order_id)
    assert accepted == len(trades)
    assert D(accepted) == order.filled_quantity == sum((t.quantity for t in trades), D(0))
    assert order.terminal_at is not None
    if cancel == "ok":
        assert OrderStatus.CANCELLED == order.status
        assert order.filled_quantity < 100
        assert refused == 100 - accepted
    else:
        assert OrderStatus.FILLED == order.status
        assert (100, 0) == (accepted, refused)
    positions = storage.get_open_positions(symbol="AAPL")
    assert [order.filled_quantity] == [p.quantity for p in positions]


def test_a_flip_raced_by_several_processes_is_recorded_once(database_url, storage):
    """4 processes record the same flipping execution at once: both legs once, every caller gets the closing leg."""
    long_trade = make_order(storage, "AAPL", "buy", 10)
    storage.record_fill(long_trade.order_id, quantity=10, price="100")
    order = make_order(storage, "AAPL", "sell", 25)

    returned = results_of(run_workers(
        database_url, "record_executions", [(order.order_id, "25", "110", ["flip-1"])] * WORKERS,
    ))

    closing, opening = storage.get_trades(order_id=order.order_id)
    assert [[closing.trade_id]] * WORKERS == returned
    assert (0, 1, TradeEffect.CLOSE, TradeEffect.OPEN) == (closing.leg, opening.leg, closing.effect, opening.effect)
    [short] = storage.get_open_positions(symbol="AAPL")
    assert (opening.position_id, D(15), D(1650)) == (short.position_id, short.quantity, short.cost_basis)
    assert D(25) == storage.get_order(order.order_id).filled_quantity


def test_opposite_orders_from_several_processes_reduce_close_and_flip_consistently(database_url, storage):
    """Buys and sells of 1-4 shares raced by 4 processes for 5 rounds: one open position, books add up."""
    strategy_id = make_strategy(storage).strategy_id
    sides = ["buy", "sell", "buy", "sell"]  # worker n trades n + 1 shares: net -2 a round, -10 in all
    rounds = [
        [make_order(storage, "AAPL", side, number + 1, strategy_id=strategy_id) for number, side in enumerate(sides)]
        for _ in range(5)
    ]

    results_of(run_workers(
        database_url, "fill_orders",
        [([(orders[number].order_id, str(number + 1), str(100 + 3 * number)) for orders in rounds],)
         for number in range(WORKERS)],
    ))

    trades = storage.get_trades()
    assert all(storage.get_order(o.order_id).status is OrderStatus.FILLED for orders in rounds for o in orders)
    for orders in rounds:
        for o in orders:
            assert o.quantity == sum((t.quantity for t in trades if t.order_id == o.order_id), D(0))
    [short] = storage.get_open_positions(symbol="AAPL")
    assert ("short", D(10)) == (short.side.value, short.quantity)  # 5 x (1 - 2 + 3 - 4) = -10
    for position in storage.list_positions():
        own = [t for t in trades if t.position_id == position.position_id]
        signed = sum((t.quantity if t.side.value == "buy" else -t.quantity for t in own), D(0))
        held = position.quantity if position.side.value == "long" else -position.quantity
        assert held == signed  # a position holds exactly what its trades bought and sold
        assert position.realized_pnl == sum((t.realized_pnl for t in own), D(0))
        # One opening and at most one closing leg each. (Not by position in the list: trades list by
        # executed_at, stamped when record_fill is called, before it waits for the position's lock.)
        effects = [t.effect for t in own]
        assert 1 == effects.count(TradeEffect.OPEN)
        assert (position.status is PositionStatus.CLOSED) == (1 == effects.count(TradeEffect.CLOSE))
        assert effects.count(TradeEffect.CLOSE) <= 1
    metrics = storage.get_strategy_metrics(strategy_id)
    assert (len(trades), sum((t.realized_pnl for t in trades), D(0))) == (metrics.total_trades, metrics.realized_pnl)
