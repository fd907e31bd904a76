"""Typed functions over queries/positions.sql: each takes a connection and returns models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .errors import RowValidationError
from .models import Position
from .sqlfiles import query_file
from .values import money_from_db, quantity_from_db, ratio, timestamp_from_db, timestamp_to_db

_UNLIMITED = 2**62
_ZERO = Decimal(0)


def _sql(conn: Any) -> Any:
    return query_file(conn, "positions")


def strategy_key(strategy_id: str | None) -> str:
    """The key of the one-open-position rule: the strategy id, or '' for no strategy."""
    return strategy_id or ""


def position_from_row(row: dict[str, Any]) -> Position:
    """Build a :class:`Position` from a full ``positions`` row; avg_entry_price = cost_basis / quantity."""
    try:
        quantity = quantity_from_db(row["quantity_e9"])
        cost_basis = money_from_db(row["cost_basis_e8"])
        return Position(
            position_id=row["position_id"],
            account_id=row["account_id"],
            strategy_id=row["strategy_id"],
            symbol=row["symbol"],
            side=row["side"],
            status=row["status"],
            quantity=quantity,
            cost_basis=cost_basis,
            avg_entry_price=ratio(cost_basis, quantity) if row["quantity_e9"] else _ZERO,
            realized_pnl=money_from_db(row["realized_pnl_e8"]),
            opened_at=timestamp_from_db(row["opened_at"]),
            updated_at=timestamp_from_db(row["updated_at"]),
            closed_at=None if row["closed_at"] is None else timestamp_from_db(row["closed_at"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RowValidationError(f"a positions row does not fit the Position model: {exc}", query="positions") from exc


def _one(row: dict[str, Any] | None) -> Position | None:
    return None if row is None else position_from_row(row)


def insert_position(
    conn: Any, *, account_id: str, position_id: str, strategy_id: str | None, symbol: str, side: str,
    quantity_e9: int, cost_basis_e8: int, realized_pnl_e8: int, opened_at: datetime,
) -> Position | None:
    """Open a position; None if one is already open for (symbol, strategy) (positions.sql: insert_position)."""
    return _one(_sql(conn).insert_position(
        conn, account_id=account_id, position_id=position_id, strategy_id=strategy_id, symbol=symbol,
        side=str(side), quantity_e9=quantity_e9, cost_basis_e8=cost_basis_e8, realized_pnl_e8=realized_pnl_e8,
        opened_at=timestamp_to_db(opened_at),
    ))


def find_position(conn: Any, *, account_id: str, position_id: str) -> Position | None:
    """One position by id, or None (positions.sql: find_position)."""
    return _one(_sql(conn).find_position(conn, account_id=account_id, position_id=position_id))


def find_open_position(conn: Any, *, account_id: str, symbol: str, strategy_id: str | None) -> Position | None:
    """The open position of (symbol, strategy), or None (positions.sql: find_open_position)."""
    return _one(_sql(conn).find_open_position(
        conn, account_id=account_id, symbol=symbol, strategy_key=strategy_key(strategy_id)
    ))


def lock_open_position(conn: Any, *, account_id: str, symbol: str, strategy_id: str | None) -> Position | None:
    """Lock and return the open position of (symbol, strategy), or None (positions.sql: lock_open_position)."""
    return _one(_sql(conn).lock_open_position(
        conn, account_id=account_id, symbol=symbol, strategy_key=strategy_key(strategy_id)
    ))


def update_position_holding(
    conn: Any, *, account_id: str, position_id: str, quantity_e9: int, cost_basis_e8: int,
    realized_pnl_delta_e8: int, updated_at: datetime,
) -> Position | None:
    """Set quantity and cost basis, add realized P&L (positions.sql: update_position_holding)."""
    return _one(_sql(conn).update_position_holding(
        conn, account_id=account_id, position_id=position_id, quantity_e9=quantity_e9,
        cost_basis_e8=cost_basis_e8, realized_pnl_delta_e8=realized_pnl_delta_e8,
        updated_at=timestamp_to_db(updated_at),
    ))


def mark_position_closed(
    conn: Any, *, account_id: str, position_id: str, realized_pnl_delta_e8: int, closed_at: datetime,
) -> Position | None:
    """Close an open position (positions.sql: mark_position_closed)."""
    return _one(_sql(conn).mark_position_closed(
        conn, account_id=account_id, position_id=position_id, realized_pnl_delta_e8=realized_pnl_delta_e8,
        closed_at=timestamp_to_db(closed_at),
    ))


def list_open_positions(
    conn: Any, *, account_id: str, symbol: str | None = None, strategy_id: str | None = None,
) -> list[Position]:
    """Open positions by symbol (positions.sql: list_open_positions)."""
    rows = _sql(conn).list_open_positions(conn, account_id=account_id, symbol=symbol, strategy_id=strategy_id)
    return [position_from_row(row) for row in rows]


def list_positions(conn: Any, *, account_id: str, limit: int | None = None) -> list[Position]:
    """Every position, newest first (positions.sql: list_positions)."""
    rows = _sql(conn).list_positions(conn, account_id=account_id, limit=_UNLIMITED if limit is None else limit)
    return [position_from_row(row) for row in rows]


def sum_realized_pnl(conn: Any, *, account_id: str) -> Decimal:
    """Realized P&L of every position of the account (positions.sql: sum_realized_pnl)."""
    return money_from_db(_sql(conn).sum_realized_pnl(conn, account_id=account_id))
