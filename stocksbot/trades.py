"""Typed functions over queries/trades.sql: each takes a connection and returns models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import RowValidationError
from .models import Trade
from .sqlfiles import query_file
from .values import money_from_db, quantity_from_db, timestamp_from_db, timestamp_to_db

_UNLIMITED = 2**62


def _sql(conn: Any) -> Any:
    return query_file(conn, "trades")


def trade_from_row(row: dict[str, Any]) -> Trade:
    """Build a :class:`Trade` from a full ``trades`` row."""
    try:
        return Trade(
            trade_id=row["trade_id"],
            account_id=row["account_id"],
            order_id=row["order_id"],
            position_id=row["position_id"],
            strategy_id=row["strategy_id"],
            symbol=row["symbol"],
            side=row["side"],
            leg=row["leg"],
            effect=row["effect"],
            quantity=quantity_from_db(row["quantity_e9"]),
            price=money_from_db(row["price_e8"]),
            commission=money_from_db(row["commission_e8"]),
            fees=money_from_db(row["fees_e8"]),
            realized_pnl=money_from_db(row["realized_pnl_e8"]),
            external_trade_id=row["external_trade_id"],
            executed_at=timestamp_from_db(row["executed_at"]),
            created_at=timestamp_from_db(row["created_at"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RowValidationError(f"a trades row does not fit the Trade model: {exc}", query="trades") from exc


def _one(row: dict[str, Any] | None) -> Trade | None:
    return None if row is None else trade_from_row(row)


def insert_trade(
    conn: Any, *, account_id: str, trade_id: str, order_id: str, position_id: str, strategy_id: str | None,
    symbol: str, side: str, leg: int, effect: str, quantity_e9: int, price_e8: int, commission_e8: int,
    fees_e8: int, realized_pnl_e8: int, external_trade_id: str | None, executed_at: datetime, created_at: datetime,
) -> Trade:
    """Insert one trade row (trades.sql: insert_trade)."""
    return trade_from_row(_sql(conn).insert_trade(
        conn, account_id=account_id, trade_id=trade_id, order_id=order_id, position_id=position_id,
        strategy_id=strategy_id, symbol=symbol, side=str(side), leg=leg, effect=str(effect),
        quantity_e9=quantity_e9, price_e8=price_e8, commission_e8=commission_e8, fees_e8=fees_e8,
        realized_pnl_e8=realized_pnl_e8, external_trade_id=external_trade_id,
        executed_at=timestamp_to_db(executed_at), created_at=timestamp_to_db(created_at),
    ))


def find_trade(conn: Any, *, account_id: str, trade_id: str) -> Trade | None:
    """One trade by id, or None (trades.sql: find_trade)."""
    return _one(_sql(conn).find_trade(conn, account_id=account_id, trade_id=trade_id))


def find_trade_by_execution(
    conn: Any, *, account_id: str, order_id: str, external_trade_id: str, leg: int = 0,
) -> Trade | None:
    """The trade of one broker execution of an order, or None (trades.sql: find_trade_by_execution)."""
    return _one(_sql(conn).find_trade_by_execution(
        conn, account_id=account_id, order_id=order_id, external_trade_id=external_trade_id, leg=leg,
    ))


def list_trades(
    conn: Any, *, account_id: str, order_id: str | None = None, symbol: str | None = None,
    strategy_id: str | None = None, since: datetime | None = None, limit: int | None = None,
) -> list[Trade]:
    """Trades in execution order, optionally filtered (trades.sql: list_trades)."""
    rows = _sql(conn).list_trades(
        conn, account_id=account_id, order_id=order_id, symbol=symbol, strategy_id=strategy_id,
        since=None if since is None else timestamp_to_db(since), limit=_UNLIMITED if limit is None else limit,
    )
    return [trade_from_row(row) for row in rows]


def list_trades_by_position(conn: Any, *, account_id: str, position_id: str) -> list[Trade]:
    """The trades of one position in execution order (trades.sql: list_trades_by_position)."""
    rows = _sql(conn).list_trades_by_position(conn, account_id=account_id, position_id=position_id)
    return [trade_from_row(row) for row in rows]
