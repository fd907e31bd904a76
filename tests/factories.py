"""Small helpers that make the rows a test needs, through the public StorageService API.

Other test modules import these; keep the signatures stable. Everything goes
through :class:`stocksbot.StorageService`, so a factory never writes a row the
service could not have written itself.

    storage = StorageService(db)
    strategy = make_strategy(storage)
    order = make_order(storage, "AAPL", "buy", 10, strategy_id=strategy.strategy_id)  # submitted
    trade = fill_order(storage, "AAPL", "sell", 4, "101.50")                           # a filled order
    before = snapshot(db)
    ...
    assert snapshot(db) == before
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any, Mapping

import stocksbot
from stocksbot import Order, OrderStatus, Strategy, StorageService, Trade

_names = itertools.count(1)

# Every row of each table, in key order: what "nothing was written" is checked against.
_TABLE_ROWS = {
    "strategies": "SELECT * FROM strategies ORDER BY account_id, strategy_id",
    "orders": "SELECT * FROM orders ORDER BY account_id, order_id",
    "positions": "SELECT * FROM positions ORDER BY account_id, position_id",
    "trades": "SELECT * FROM trades ORDER BY account_id, trade_id",
    "config": "SELECT * FROM config ORDER BY account_id, key",
}
BOOK_TABLES = ("orders", "trades", "positions")


def make_strategy(
    storage: StorageService, name: str | None = None, config: Mapping[str, Any] | None = None, is_active: bool = True,
) -> Strategy:
    """Create a strategy; the name defaults to a fresh ``strategy-N``."""
    return storage.create_strategy(name or f"strategy-{next(_names)}", config=config or {}, is_active=is_active)


def make_order(
    storage: StorageService,
    symbol: str = "AAPL",
    side: str = "buy",
    quantity: Any = 10,
    *,
    order_type: str = "market",
    limit_price: Any = None,
    stop_price: Any = None,
    strategy_id: str | None = None,
    client_order_id: str | None = None,
    external_id: str | None = None,
    submit: bool = True,
) -> Order:
    """Create an order and, unless ``submit=False``, move it to 'submitted' so it can take fills.

    ``external_id`` (the broker's order id) is recorded with the submission.
    Returns the order as it is after the last step.
    """
    order = storage.create_order(
        symbol, side, order_type, quantity, limit_price=limit_price, stop_price=stop_price,
        strategy_id=strategy_id, client_order_id=client_order_id,
    )
    if not submit:
        return order
    return storage.update_order_status(order.order_id, OrderStatus.SUBMITTED, external_id=external_id)


def fill_order(
    storage: StorageService,
    symbol: str,
    side: str,
    quantity: Any,
    price: Any,
    *,
    commission: Any = 0,
    fees: Any = 0,
    strategy_id: str | None = None,
    executed_at: datetime | None = None,
    external_trade_id: str | None = None,
) -> Trade:
    """Submit a market order of ``quantity`` and fill all of it in one execution at ``price``.

    Returns what ``record_fill`` returns: the trade, or a flip's closing leg.
    """
    order = make_order(storage, symbol, side, quantity, strategy_id=strategy_id)
    return storage.record_fill(
        order.order_id, quantity=quantity, price=price, commission=commission, fees=fees,
        executed_at=executed_at, external_trade_id=external_trade_id,
    )


def table_rows(db: stocksbot.Database, table: str) -> list[dict[str, Any]]:
    """Every row of one core table (all accounts), in key order, as plain dicts."""
    with db.connection() as conn:
        return [dict(row) for row in conn.execute(_TABLE_ROWS[table]).fetchall()]


def snapshot(db: stocksbot.Database, tables: tuple[str, ...] = BOOK_TABLES) -> dict[str, list[dict[str, Any]]]:
    """The full contents of ``tables`` (orders, trades and positions by default), to compare before/after."""
    return {table: table_rows(db, table) for table in tables}
