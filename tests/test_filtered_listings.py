"""Filtered listings: every combination of filters lists exactly what the unfiltered listing holds.

list_orders, get_trades and get_open_positions run one named query per driving filter
(orders.sql: list_orders_by_symbol, ...; the typed module picks it from the filters
given) so that the filter's index drives the read (tests/test_query_plans.py proves the
plans). Splitting the queries must not change a result: for every combination of filters
and limits the listing equals the unfiltered listing filtered in Python, in the same order
and cut at the same limit, and the query the typed module picked is the one its docstring
names. On both engines, over orders in every status, three symbols, three strategies (and
none), fills with tied execution times and open and closed positions, next to another
account's rows.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

import pytest

from stocksbot import Order, OrderStatus, Position, PositionStatus, StorageService
from stocksbot.sqlfiles import QUERY_CALLS
from stocksbot.values import new_id

T0 = datetime(2024, 5, 6, 13, 30, tzinfo=timezone.utc)
SYMBOLS = ("AAPL", "MSFT", "TSLA")
ABSENT_SYMBOL = "NVDA"
ORDER_COUNT = 42


@dataclass
class Market:
    """A book in account "default" (and a smaller one in "paper") and the ids the tests filter by."""

    storage: StorageService
    strategies: list[str]
    filled_order: str  # two fills at the same instant
    partial_order: str


def _drive(storage: StorageService, order: Order, step: int) -> None:
    """Take a new order to one of the seven statuses, with fills for partially_filled and filled.

    Fills execute at T0 + step // 2 seconds: neighbouring orders' fills tie, and a filled
    order's two fills tie too, so the trade_id tie-break of the listings is exercised.
    """
    target = list(OrderStatus)[step % len(OrderStatus)]
    executed_at = T0 + timedelta(seconds=step // 2)
    if target is OrderStatus.PENDING:
        return
    if target is OrderStatus.REJECTED:
        storage.update_order_status(order.order_id, "rejected")
        return
    storage.update_order_status(order.order_id, "submitted")
    if target is OrderStatus.PARTIALLY_FILLED:
        storage.record_fill(order.order_id, quantity=4, price=100 + step, executed_at=executed_at)
    elif target is OrderStatus.FILLED:
        storage.record_fill(order.order_id, quantity=6, price=100 + step, executed_at=executed_at)
        storage.record_fill(order.order_id, quantity=4, price=101 + step, executed_at=executed_at)
    elif target in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        storage.update_order_status(order.order_id, target)


def _book(storage: StorageService, strategies: list[str], count: int) -> list[Order]:
    """``count`` market orders cycling through the symbols, the strategies (and none), both sides and
    every status."""
    made, choices = [], [*strategies, None]
    for step in range(count):
        strategy_id = choices[step % len(choices)]
        side = "sell" if step % 5 == 0 else "buy"
        order = storage.create_order(SYMBOLS[step % 3], side, "market", 10, strategy_id=strategy_id)
        _drive(storage, order, step)
        made.append(order)
    return made


@pytest.fixture
def market(db: Any) -> Market:
    storage = StorageService(db)
    strategies = [storage.create_strategy(f"strategy-{i}").strategy_id for i in range(3)]
    made = _book(storage, strategies, ORDER_COUNT)
    closable = next(p for p in storage.get_open_positions() if p.strategy_id)
    storage.close_position(closable.position_id, exit_price=120, executed_at=T0 + timedelta(minutes=5))
    paper = StorageService(db, account_id="paper")
    _book(paper, [paper.create_strategy("strategy-0").strategy_id], 14)
    statuses = {order.order_id: storage.get_order(order.order_id).status for order in made}  # type: ignore[union-attr]
    return Market(
        storage=storage,
        strategies=strategies,
        filled_order=next(o for o, s in statuses.items() if s is OrderStatus.FILLED),
        partial_order=next(o for o, s in statuses.items() if s is OrderStatus.PARTIALLY_FILLED),
    )


def _calls_of(run: Callable[[], Any], names: Iterable[str]) -> tuple[Any, set[str]]:
    """Run ``run`` and return its result and which of the named queries it executed."""
    names = list(names)
    before = Counter({name: QUERY_CALLS[name] for name in names})
    result = run()
    return result, {name for name in names if QUERY_CALLS[name] > before[name]}


def _cut(rows: list[Any], limit: int | None) -> list[Any]:
    return rows if limit is None else rows[:limit]


# --- orders ------------------------------------------------------------------------------------

ORDER_QUERIES = ("orders.list_orders", "orders.list_orders_by_status", "orders.list_orders_by_symbol",
                 "orders.list_orders_by_strategy")


def _order_query(status: OrderStatus | None, symbol: str | None, strategy_id: str | None) -> str:
    """The query the typed module promises to run: symbol, then strategy, then status, else the account's listing."""
    if symbol is not None:
        return "orders.list_orders_by_symbol"
    if strategy_id is not None:
        return "orders.list_orders_by_strategy"
    return "orders.list_orders_by_status" if status is not None else "orders.list_orders"


def test_every_order_filter_combination_lists_the_unfiltered_rows_that_match(market: Market) -> None:
    """list_orders with any status, symbol, strategy and limit (given or not, present or absent) returns the
    unfiltered listing filtered in Python, newest first, cut at the limit, through the promised query."""
    storage = market.storage
    every = storage.list_orders(limit=None)
    assert ORDER_COUNT + 1 == len(every)  # and the closing order of close_position
    assert {"default"} == {order.account_id for order in every}
    assert every == sorted(every, key=lambda order: (order.created_at, order.order_id), reverse=True)

    statuses: list[OrderStatus | None] = [None, *OrderStatus]
    symbols = [None, *SYMBOLS, ABSENT_SYMBOL]
    strategies = [None, *market.strategies, new_id()]
    wrong, non_empty_combined = [], 0
    for status, symbol, strategy_id, limit in itertools.product(statuses, symbols, strategies, [None, 1, 3]):
        expected = _cut([
            order for order in every
            if status in (None, order.status) and symbol in (None, order.symbol) and strategy_id in (None, order.strategy_id)
        ], limit)
        listed, ran = _calls_of(
            lambda: storage.list_orders(status=status, symbol=symbol, strategy_id=strategy_id, limit=limit),
            ORDER_QUERIES,
        )
        if listed != expected or ran != {_order_query(status, symbol, strategy_id)}:
            wrong.append((status, symbol, strategy_id, limit, sorted(ran)))
        non_empty_combined += bool(expected) and sum(f is not None for f in (status, symbol, strategy_id)) > 1

    assert [] == wrong
    assert non_empty_combined > 30  # the book has rows for many combinations, so the comparison is not vacuous


@pytest.mark.parametrize("filter_by", ["symbol", "strategy_id"])
def test_filtered_order_listing_keeps_the_default_limit_of_100(db: Any, filter_by: str) -> None:
    """By symbol or by strategy, list_orders still returns the newest 100 by default and all with limit=None."""
    storage = StorageService(db)
    strategy_id = storage.create_strategy("busy").strategy_id
    ids = [storage.create_order("AAPL", "buy", "market", 1, strategy_id=strategy_id).order_id for _ in range(101)]
    value = "AAPL" if filter_by == "symbol" else strategy_id

    listed = storage.list_orders(**{filter_by: value})

    assert ids[:0:-1] == [order.order_id for order in listed]
    assert 101 == len(storage.list_orders(limit=None, **{filter_by: value}))


# --- trades ------------------------------------------------------------------------------------

TRADE_QUERIES = (
    "trades.list_trades", "trades.list_trades_by_order", "trades.list_trades_by_symbol", "trades.list_trades_by_strategy",
)


def _trade_query(order_id: str | None, symbol: str | None, strategy_id: str | None) -> str:
    """The query the typed module promises to run: order, then symbol, then strategy."""
    if order_id is not None:
        return "trades.list_trades_by_order"
    if symbol is not None:
        return "trades.list_trades_by_symbol"
    return "trades.list_trades_by_strategy" if strategy_id is not None else "trades.list_trades"


def test_every_trade_filter_combination_lists_the_unfiltered_rows_that_match(market: Market) -> None:
    """get_trades with any order, symbol, strategy, since (inclusive) and limit returns the unfiltered
    listing filtered in Python, in execution order (ties by trade id), cut at the limit, through the
    promised query."""
    storage = market.storage
    every = storage.get_trades()
    assert {"default"} == {trade.account_id for trade in every}
    assert every == sorted(every, key=lambda trade: (trade.executed_at, trade.trade_id))
    assert len({trade.executed_at for trade in every}) < len(every)  # ties exist

    order_ids = [None, market.filled_order, market.partial_order, new_id()]
    symbols = [None, *SYMBOLS[:2], ABSENT_SYMBOL]
    strategies = [None, market.strategies[0], market.strategies[2], new_id()]
    tied = T0 + timedelta(seconds=5)
    sinces = [None, tied, tied + timedelta(microseconds=1)]
    wrong, non_empty_combined = [], 0
    for order_id, symbol, strategy_id, since, limit in itertools.product(
        order_ids, symbols, strategies, sinces, [None, 1, 2],
    ):
        expected = _cut([
            trade for trade in every
            if order_id in (None, trade.order_id) and symbol in (None, trade.symbol)
            and strategy_id in (None, trade.strategy_id) and (since is None or trade.executed_at >= since)
        ], limit)
        listed, ran = _calls_of(
            lambda: storage.get_trades(order_id=order_id, symbol=symbol, strategy_id=strategy_id, since=since, limit=limit),
            TRADE_QUERIES,
        )
        if listed != expected or ran != {_trade_query(order_id, symbol, strategy_id)}:
            wrong.append((order_id, symbol, strategy_id, since, limit, sorted(ran)))
        non_empty_combined += bool(expected) and sum(f is not None for f in (order_id, symbol, strategy_id, since)) > 1

    assert [] == wrong
    assert non_empty_combined > 30


# --- open positions --------------------------------------------------------------------------

POSITION_QUERIES = ("positions.list_open_positions", "positions.list_open_positions_by_strategy")


def test_every_open_position_filter_combination_lists_the_unfiltered_rows_that_match(market: Market) -> None:
    """get_open_positions with any symbol and strategy returns the unfiltered open positions filtered in
    Python, by symbol then opening time, never a closed one, through the promised query."""
    storage = market.storage
    every: list[Position] = storage.get_open_positions()
    assert {PositionStatus.OPEN} == {position.status for position in every}
    assert every == sorted(every, key=lambda position: (position.symbol, position.opened_at, position.position_id))
    assert any(p.status is PositionStatus.CLOSED and p.strategy_id for p in storage.list_positions(limit=None))

    wrong, non_empty_combined = [], 0
    for symbol, strategy_id in itertools.product([None, *SYMBOLS, ABSENT_SYMBOL], [None, *market.strategies, new_id()]):
        expected = [p for p in every if symbol in (None, p.symbol) and strategy_id in (None, p.strategy_id)]
        listed, ran = _calls_of(lambda: storage.get_open_positions(symbol=symbol, strategy_id=strategy_id), POSITION_QUERIES)
        query = "positions.list_open_positions_by_strategy" if strategy_id is not None else "positions.list_open_positions"
        if listed != expected or ran != {query}:
            wrong.append((symbol, strategy_id, sorted(ran)))
        non_empty_combined += bool(expected) and symbol is not None and strategy_id is not None

    assert [] == wrong
    assert non_empty_combined >= 3
