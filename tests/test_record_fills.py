"""StorageService.record_fills: many fills in one transaction, each exactly as record_fill would record it.

record_fills reads and locks every order and open position of the batch up front and
sends all its writes at the end (docs/performance.md), so these tests hold it to the
one-by-one path: the same book, the same trades and metrics, the same errors, the same
idempotency — on SQLite and PostgreSQL. Two accounts of one database play the two
sides: "one" records each fill with record_fill, "batch" records the same fills with
record_fills.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import stocksbot
from factories import snapshot
from stocksbot import ConflictError, InvalidTransitionError, NotFoundError, OverfillError, StorageService, Trade
from stocksbot.sqlfiles import QUERY_CALLS
from stocksbot.values import new_id

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
SYMBOLS = ("AAPL", "MSFT", "KO")


@pytest.fixture
def one(db: stocksbot.Database) -> StorageService:
    return StorageService(db, account_id="one")


@pytest.fixture
def batch(db: stocksbot.Database) -> StorageService:
    return StorageService(db, account_id="batch")


def _book(storage: StorageService, setup: list[dict[str, Any]]) -> list[str]:
    """Create the same strategies and submitted orders in ``storage``'s account; their order ids."""
    strategies: dict[str, str] = {}
    order_ids = []
    for item in setup:
        strategy_id = None
        if item["strategy"] is not None:
            if item["strategy"] not in strategies:
                strategies[item["strategy"]] = storage.create_strategy(item["strategy"]).strategy_id
            strategy_id = strategies[item["strategy"]]
        order = storage.create_order(item["symbol"], item["side"], "market", item["quantity"], strategy_id=strategy_id)
        storage.update_order_status(order.order_id, "submitted")
        order_ids.append(order.order_id)
    return order_ids


def _scenario(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Orders and fills that open, increase, reduce, close and flip positions, with and without a
    strategy, with repeated broker executions and fills without an execution id."""
    rng = random.Random(seed)
    setup = [
        {"symbol": rng.choice(SYMBOLS), "side": rng.choice(("buy", "sell")), "quantity": rng.choice((5, 8, 13)),
         "strategy": rng.choice(("alpha", "beta", None))}
        for _ in range(12)
    ]
    fills: list[dict[str, Any]] = []
    left = [item["quantity"] for item in setup]
    for step in range(40):
        index = rng.randrange(len(setup))
        if left[index] == 0:
            continue
        quantity = rng.randint(1, left[index])
        left[index] -= quantity
        fill = {
            "index": index, "quantity": D(quantity), "price": D(rng.randint(9000, 11000)).scaleb(-2),
            "commission": D(rng.choice((0, 1, 3))).scaleb(-1), "fees": D(rng.randint(0, 99)).scaleb(-4),
            "executed_at": T0 + timedelta(seconds=step),
            "external_trade_id": None if rng.random() < 0.2 else f"E{step}",
        }
        fills.append(fill)
        if fill["external_trade_id"] and rng.random() < 0.2:
            fills.append(dict(fill))  # the broker delivers the same execution again
    return setup, fills


def _calls(fills: list[dict[str, Any]], order_ids: list[str]) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in fill.items() if k != "index"}, "order_id": order_ids[fill["index"]]} for fill in fills]


def _canonical_book(db: stocksbot.Database, account: str) -> dict[str, Any]:
    """The account's book without its ids and clock times: what must match between the two paths."""
    rows = snapshot(db, ("orders", "positions", "trades"))
    orders = {row["order_id"]: row for row in rows["orders"] if row["account_id"] == account}
    order_number = {oid: n for n, oid in enumerate(sorted(orders, key=lambda o: orders[o]["created_at"]))}
    positions = sorted(
        (row for row in rows["positions"] if row["account_id"] == account),
        key=lambda p: (p["symbol"], p["strategy_id"] is None, p["opened_at"], p["position_id"]),
    )
    position_number = {row["position_id"]: n for n, row in enumerate(positions)}
    strategy_names = {s.strategy_id: s.name for s in StorageService(db, account).list_strategies()}
    keep_order = ("status", "filled_quantity_e9", "filled_notional_e8", "symbol", "side")
    keep_position = ("symbol", "side", "status", "quantity_e9", "cost_basis_e8", "realized_pnl_e8", "opened_at", "closed_at")
    keep_trade = ("symbol", "side", "leg", "effect", "quantity_e9", "price_e8", "commission_e8", "fees_e8",
                  "realized_pnl_e8", "external_trade_id", "executed_at")
    return {
        "orders": sorted(
            (order_number[oid], *(row[k] for k in keep_order), row["terminal_at"] is None) for oid, row in orders.items()
        ),
        "positions": [(strategy_names.get(p["strategy_id"]), *(p[k] for k in keep_position)) for p in positions],
        "trades": sorted(
            (order_number[t["order_id"]], position_number[t["position_id"]], strategy_names.get(t["strategy_id"]),
             *(t[k] for k in keep_trade))
            for t in rows["trades"] if t["account_id"] == account
        ),
        "metrics": sorted(
            (name, tuple(m.model_dump(exclude={"strategy_id"}).values()))
            for sid, name in strategy_names.items()
            for m in [StorageService(db, account).get_strategy_metrics(sid)]
        ),
    }


def _trade_view(trade: Trade) -> tuple[Any, ...]:
    return (trade.symbol, trade.side, trade.leg, trade.effect, trade.quantity, trade.price, trade.commission,
            trade.fees, trade.realized_pnl, trade.external_trade_id, trade.executed_at)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [7, 100])
def test_a_batch_records_what_one_by_one_records(db, one, batch, seed, size):
    """Fills recorded in batches leave the same orders, positions, trades and strategy metrics as the same
    fills recorded one by one, and return the same trades (repeated executions return the first one)."""
    setup, fills = _scenario(seed)
    one_ids, batch_ids = _book(one, setup), _book(batch, setup)

    returned_one = [one.record_fill(**call) for call in _calls(fills, one_ids)]
    calls = _calls(fills, batch_ids)
    returned_batch = [trade for start in range(0, len(calls), size) for trade in batch.record_fills(calls[start:start + size])]

    assert _canonical_book(db, "one") == _canonical_book(db, "batch")
    assert [_trade_view(t) for t in returned_one] == [_trade_view(t) for t in returned_batch]
    stored = {t.trade_id: t for t in batch.get_trades()}
    assert all(stored[t.trade_id] == t for t in returned_batch)  # what record_fills returns is what it stored
    repeats = [n for n, call in enumerate(calls) if call["external_trade_id"] and any(
        earlier["external_trade_id"] == call["external_trade_id"] and earlier["order_id"] == call["order_id"]
        for earlier in calls[:n]
    )]
    for n in repeats:
        first = next(m for m in range(n) if calls[m]["external_trade_id"] == calls[n]["external_trade_id"]
                     and calls[m]["order_id"] == calls[n]["order_id"])
        assert returned_batch[first].trade_id == returned_batch[n].trade_id


def test_a_batch_repeated_is_a_no_op_returning_the_same_trades(db, batch):
    """Every fill carries an execution id: recording the whole batch again changes nothing."""
    setup, fills = _scenario(7)
    calls = [call for call in _calls(fills, _book(batch, setup)) if call["external_trade_id"]]
    first = batch.record_fills(calls)
    before = snapshot(db)

    again = batch.record_fills(calls)

    assert [t.trade_id for t in first] == [t.trade_id for t in again]
    assert before == snapshot(db)


def test_an_execution_sent_again_with_other_figures_refuses_the_batch(db, batch):
    """Against a recorded execution or an earlier fill of the same batch, another quantity, price,
    commission or fees under the same execution id is a ConflictError, and nothing of the batch is written."""
    order = batch.create_order("AAPL", "buy", "market", 10)
    batch.update_order_status(order.order_id, "submitted")
    sent = {"order_id": order.order_id, "quantity": 2, "price": 100, "commission": "0.5", "external_trade_id": "E1"}
    [recorded] = batch.record_fills([sent])
    before = snapshot(db)
    fresh = {"order_id": order.order_id, "quantity": 1, "price": 100, "external_trade_id": "E2"}

    with pytest.raises(ConflictError, match="execution E1 of order .* already recorded as quantity 2"):
        batch.record_fills([fresh, {**sent, "quantity": 3}])
    with pytest.raises(ConflictError, match="execution E2 of order .* already recorded as quantity 1"):
        batch.record_fills([fresh, {**fresh, "price": 101}])
    assert before == snapshot(db)

    same = batch.record_fills([fresh, {**sent}, {**fresh}])
    assert [same[0].trade_id, recorded.trade_id, same[0].trade_id] == [t.trade_id for t in same]


def test_a_refused_fill_refuses_the_whole_batch_with_the_error_one_by_one_meets(db, one, batch):
    """An overfill in the middle: the batch raises the OverfillError record_fill raises there, and nothing
    of the batch is written."""
    one_order = one.create_order("AAPL", "buy", "market", 10)
    one.update_order_status(one_order.order_id, "submitted")
    order = batch.create_order("AAPL", "buy", "market", 10)
    batch.update_order_status(order.order_id, "submitted")
    fills = [{"quantity": 4, "price": 100}, {"quantity": 4, "price": 101}, {"quantity": 4, "price": 102}]
    with pytest.raises(OverfillError) as sequential:
        for fill in fills:
            one.record_fill(one_order.order_id, **fill)
    before = snapshot(db)

    with pytest.raises(OverfillError) as batched:
        batch.record_fills([{"order_id": order.order_id, **fill} for fill in fills])

    assert before == snapshot(db)
    assert str(sequential.value).replace(one_order.order_id, "X") == str(batched.value).replace(order.order_id, "X")


def test_an_unknown_or_closed_order_refuses_the_batch(db, batch):
    """NotFoundError for an order not in the account; InvalidTransitionError for one not working."""
    order = batch.create_order("AAPL", "buy", "market", 10)
    batch.update_order_status(order.order_id, "submitted")
    cancelled = batch.create_order("MSFT", "buy", "market", 10)
    batch.update_order_status(cancelled.order_id, "cancelled")
    before = snapshot(db)

    with pytest.raises(NotFoundError):
        batch.record_fills([{"order_id": order.order_id, "quantity": 1, "price": 10}, {"order_id": new_id(), "quantity": 1, "price": 10}])
    with pytest.raises(InvalidTransitionError):
        batch.record_fills([{"order_id": order.order_id, "quantity": 1, "price": 10}, {"order_id": cancelled.order_id, "quantity": 1, "price": 10}])
    assert before == snapshot(db)


def test_a_batch_can_flip_close_and_reopen_one_position(db, batch):
    """Buy 5, sell 8 (a flip to short 3), buy 3 (closes), buy 2 (a new long) in one batch."""
    orders = []
    for side, quantity in (("buy", 5), ("sell", 8), ("buy", 3), ("buy", 2)):
        order = batch.create_order("KO", side, "market", quantity)
        batch.update_order_status(order.order_id, "submitted")
        orders.append((order.order_id, quantity))

    trades = batch.record_fills([
        {"order_id": order_id, "quantity": quantity, "price": 60 + n, "executed_at": T0 + timedelta(minutes=n)}
        for n, (order_id, quantity) in enumerate(orders)
    ])

    assert ["open", "close", "close", "open"] == [t.effect for t in trades]  # a flip returns its closing leg
    positions = sorted(batch.list_positions(), key=lambda p: p.opened_at)
    assert [("long", "closed"), ("short", "closed"), ("long", "open")] == [(p.side, p.status) for p in positions]
    assert D(2) == positions[-1].quantity


def test_a_batch_runs_a_fixed_number_of_statements_on_postgresql(db, batch):
    """On PostgreSQL a batch reads its orders, executions and positions and updates its orders and positions
    with one statement each, whatever its size; SQLite runs their per-row queries, one per row, in process."""
    order_ids = _book(batch, [{"symbol": symbol, "side": "buy", "quantity": 10, "strategy": None} for symbol in SYMBOLS * 4])
    calls = [{"order_id": order_id, "quantity": 1, "price": 10, "external_trade_id": f"E{n}"} for n, order_id in enumerate(order_ids)]
    batch.record_fills(calls[:6])  # the positions exist: the next batch updates them
    counted = ("orders.list_orders_for_fills", "orders.find_order_for_fill", "trades.list_trades_by_executions",
               "trades.find_trade_by_execution", "positions.list_open_positions_for_fills",
               "positions.find_open_position_for_fill", "orders.apply_order_fills", "orders.apply_order_fill",
               "positions.update_position_holdings", "positions.update_position_holding")
    before = {name: QUERY_CALLS[name] for name in counted}

    batch.record_fills(calls[6:])

    ran = {name: QUERY_CALLS[name] - before[name] for name in counted if QUERY_CALLS[name] > before[name]}
    if db.dialect == "postgresql":
        assert dict.fromkeys(("orders.list_orders_for_fills", "trades.list_trades_by_executions",
                              "positions.list_open_positions_for_fills", "orders.apply_order_fills",
                              "positions.update_position_holdings"), 1) == ran
    else:
        assert {"orders.find_order_for_fill": 6, "trades.find_trade_by_execution": 6,
                "positions.find_open_position_for_fill": 3, "orders.apply_order_fill": 6,
                "positions.update_position_holding": 3} == ran
    assert [D(4)] * 3 == [p.quantity for p in batch.list_positions()]  # four fills of 1 per symbol
