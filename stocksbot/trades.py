"""Typed functions over queries/trades.sql: each takes a connection and returns models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from .errors import RowValidationError
from .models import OrderSide, Trade, TradeEffect
from .sqlfiles import is_sqlite, model_builder, row_as, rows_as, statements
from .values import MONEY_STEP as _E8
from .values import QUANTITY_STEP as _E9
from .values import build_exact, timestamp_from_db, timestamp_to_db

_UNLIMITED = 2**62

#: The columns of a full ``trades`` row, in the order every full-row query of trades.sql lists them.
TRADE_COLUMNS = (
    "account_id", "trade_id", "order_id", "position_id", "strategy_id", "symbol", "side", "leg", "effect",
    "quantity_e9", "price_e8", "commission_e8", "fees_e8", "realized_pnl_e8", "external_trade_id", "executed_at",
    "created_at",
)
_SIDES = {member.value: member for member in OrderSide}
_EFFECTS = {member.value: member for member in TradeEffect}
_build_trade = model_builder(Trade)


def _sql(conn: Any) -> Any:
    return statements(conn, "trades")


def statements_of(conn: Any) -> Any:
    """The :class:`~stocksbot.sqlfiles.Statement` of every query of trades.sql, for the driver of ``conn``
    (StorageService batches them; everything else calls the functions below)."""
    return statements(conn, "trades")


def trade_from_tuple(row: tuple[Any, ...]) -> Trade:
    """Build a :class:`Trade` from a full ``trades`` row as a tuple in :data:`TRADE_COLUMNS` order.

    No pydantic validation runs: the table's constraints vouch for each column (see
    orders.order_from_tuple).
    """
    return build_exact(_trade, row)


def _trade(row: tuple[Any, ...]) -> Trade:
    """trade_from_tuple's work, under the exact decimal context (values.build_exact)."""
    try:
        (account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect, quantity_e9, price_e8,
         commission_e8, fees_e8, realized_pnl_e8, external_trade_id, executed_at, created_at) = row
        if type(leg) is not int:
            raise TypeError(f"leg {leg!r} is not an integer")
        executed = timestamp_from_db(executed_at)
        return _build_trade({
            "trade_id": trade_id,
            "account_id": account_id,
            "order_id": order_id,
            "position_id": position_id,
            "strategy_id": strategy_id,
            "symbol": symbol,
            "side": _SIDES[side],
            "leg": leg,
            "effect": _EFFECTS[effect],
            "quantity": _E9 * quantity_e9,
            "price": _E8 * price_e8,
            "commission": _E8 * commission_e8,
            "fees": _E8 * fees_e8,
            "realized_pnl": _E8 * realized_pnl_e8,
            "external_trade_id": external_trade_id,
            "executed_at": executed,
            "created_at": executed if created_at == executed_at else timestamp_from_db(created_at),
        })
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise RowValidationError(f"a trades row does not fit the Trade model: {exc!r}", query="trades") from exc


def trade_from_row(row: Any) -> Trade:
    """Build a :class:`Trade` from a full ``trades`` row given as a mapping."""
    try:
        values = tuple(row[column] for column in TRADE_COLUMNS)
    except (KeyError, TypeError) as exc:
        raise RowValidationError(f"a trades row does not fit the Trade model: {exc!r}", query="trades") from exc
    return trade_from_tuple(values)


def _one(conn: Any, query: str, params: dict[str, Any]) -> Trade | None:
    """Run a one-row query of trades.sql and map its row (or None)."""
    statement = getattr(_sql(conn), query)
    return row_as(statement, statement(conn, params), TRADE_COLUMNS, _trade, trade_from_row)


def _many(conn: Any, query: str, params: dict[str, Any]) -> list[Trade]:
    """Run a many-row query of trades.sql and map its rows."""
    statement = getattr(_sql(conn), query)
    return rows_as(statement, statement(conn, params), TRADE_COLUMNS, _trade, trade_from_row)


def insert_trade(
    conn: Any, *, account_id: str, trade_id: str, order_id: str, position_id: str, strategy_id: str | None,
    symbol: str, side: str, leg: int, effect: str, quantity_e9: int, price_e8: int, commission_e8: int,
    fees_e8: int, realized_pnl_e8: int, external_trade_id: str | None, executed_at: datetime, created_at: datetime,
) -> Trade:
    """Insert one trade row and return it as a Trade, built from exactly the values written
    (trades.sql: insert_trade)."""
    values = {
        "account_id": account_id, "trade_id": trade_id, "order_id": order_id, "position_id": position_id,
        "strategy_id": strategy_id, "symbol": symbol, "side": str(side), "leg": leg, "effect": str(effect),
        "quantity_e9": quantity_e9, "price_e8": price_e8, "commission_e8": commission_e8, "fees_e8": fees_e8,
        "realized_pnl_e8": realized_pnl_e8, "external_trade_id": external_trade_id,
        "executed_at": timestamp_to_db(executed_at), "created_at": timestamp_to_db(created_at),
    }
    _sql(conn).insert_trade(conn, values)
    return trade_from_tuple(tuple(values.values()))


def find_trade(conn: Any, *, account_id: str, trade_id: str) -> Trade | None:
    """One trade by id, or None (trades.sql: find_trade)."""
    return _one(conn, "find_trade", {"account_id": account_id, "trade_id": trade_id})


def find_trade_by_execution(
    conn: Any, *, account_id: str, order_id: str, external_trade_id: str, leg: int = 0,
) -> Trade | None:
    """The trade of one broker execution of an order, or None (trades.sql: find_trade_by_execution)."""
    return _one(conn, "find_trade_by_execution", {
        "account_id": account_id, "order_id": order_id, "external_trade_id": external_trade_id, "leg": leg,
    })


def list_trades_by_executions(
    conn: Any, *, account_id: str, executions: list[tuple[str, str]],
) -> dict[tuple[str, str], Trade]:
    """:func:`find_trade_by_execution` (leg 0) for a batch of (order_id, external_trade_id) pairs:
    ``{(order_id, external_trade_id): trade}`` of those recorded.

    PostgreSQL runs one statement for them all (trades.sql, PostgreSQL file: list_trades_by_executions);
    SQLite runs find_trade_by_execution once per pair, in process.
    """
    queries = _sql(conn)
    if is_sqlite(conn):
        statement = queries.find_trade_by_execution
        rows = statement.each(conn, [
            {"account_id": account_id, "order_id": order_id, "external_trade_id": external, "leg": 0}
            for order_id, external in executions
        ])
        return {
            key: row_as(statement, row, TRADE_COLUMNS, _trade, trade_from_row)
            for key, row in zip(executions, rows) if row is not None
        }
    if not executions:
        return {}
    rows = queries.list_trades_by_executions(conn, {
        "account_id": account_id, "order_ids": [order_id for order_id, _ in executions],
        "external_trade_ids": [external for _, external in executions],
    })
    recorded = rows_as(queries.list_trades_by_executions, rows, TRADE_COLUMNS, _trade, trade_from_row)
    return {(trade.order_id, trade.external_trade_id): trade for trade in recorded}  # type: ignore[misc]


def list_trades(
    conn: Any, *, account_id: str, order_id: str | None = None, symbol: str | None = None,
    strategy_id: str | None = None, since: datetime | None = None, limit: int | None = None,
) -> list[Trade]:
    """Trades in execution order, optionally filtered (trades.sql: list_trades).

    Each filter given is applied (AND; ``since`` is inclusive); the most selective one picks
    the query, so its index drives the read: an order runs list_trades_by_order, else a symbol
    runs list_trades_by_symbol, else a strategy runs list_trades_by_strategy, else list_trades.
    """
    if order_id is not None:
        return list_trades_by_order(
            conn, account_id=account_id, order_id=order_id, symbol=symbol, strategy_id=strategy_id, since=since,
            limit=limit,
        )
    if symbol is not None:
        return list_trades_by_symbol(
            conn, account_id=account_id, symbol=symbol, strategy_id=strategy_id, since=since, limit=limit,
        )
    if strategy_id is not None:
        return list_trades_by_strategy(conn, account_id=account_id, strategy_id=strategy_id, since=since, limit=limit)
    return _many(conn, "list_trades", {
        "account_id": account_id, "since": _since(since), "limit": _UNLIMITED if limit is None else limit,
    })


def _since(since: datetime | None) -> str | None:
    """The ``since`` bound as executed_at column text, or None for no bound."""
    return None if since is None else timestamp_to_db(since)


def list_trades_by_order(
    conn: Any, *, account_id: str, order_id: str, symbol: str | None = None, strategy_id: str | None = None,
    since: datetime | None = None, limit: int | None = None,
) -> list[Trade]:
    """The trades of one order in execution order, optionally filtered (trades.sql: list_trades_by_order)."""
    return _many(conn, "list_trades_by_order", {
        "account_id": account_id, "order_id": order_id, "symbol": symbol, "strategy_id": strategy_id,
        "since": _since(since), "limit": _UNLIMITED if limit is None else limit,
    })


def list_trades_by_symbol(
    conn: Any, *, account_id: str, symbol: str, strategy_id: str | None = None, since: datetime | None = None,
    limit: int | None = None,
) -> list[Trade]:
    """The trades of one symbol in execution order, optionally filtered (trades.sql: list_trades_by_symbol)."""
    return _many(conn, "list_trades_by_symbol", {
        "account_id": account_id, "symbol": symbol, "strategy_id": strategy_id, "since": _since(since),
        "limit": _UNLIMITED if limit is None else limit,
    })


def list_trades_by_strategy(
    conn: Any, *, account_id: str, strategy_id: str, since: datetime | None = None, limit: int | None = None,
) -> list[Trade]:
    """The trades of one strategy in execution order, optionally since a time (trades.sql: list_trades_by_strategy)."""
    return _many(conn, "list_trades_by_strategy", {
        "account_id": account_id, "strategy_id": strategy_id, "since": _since(since),
        "limit": _UNLIMITED if limit is None else limit,
    })


def list_trades_by_position(conn: Any, *, account_id: str, position_id: str) -> list[Trade]:
    """The trades of one position in execution order (trades.sql: list_trades_by_position)."""
    return _many(conn, "list_trades_by_position", {"account_id": account_id, "position_id": position_id})


def insert_trades(conn: Any, *, rows: Iterable[tuple[Any, ...]]) -> int:
    """Insert many trade rows, each a tuple of :data:`TRADE_COLUMNS` values (timestamps as column text),
    in one statement: one executemany on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL; returns how many
    (trades.sql: insert_trades; postgresql/trades.sql overrides it with the COPY).

    Nothing is validated here: the caller (StorageService.import_trades) validated every row once.
    """
    return getattr(_sql(conn), "insert_trades").load(conn, rows, TRADE_COLUMNS)
