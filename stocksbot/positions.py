"""Typed functions over queries/positions.sql: each takes a connection and returns models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .errors import RowValidationError
from .models import Position, PositionSide, PositionStatus
from .sqlfiles import canonical_row, is_sqlite, model_builder, row_as, rows_as, statements
from .values import MONEY_STEP as _E8
from .values import QUANTITY_STEP as _E9
from .values import build_exact, money_from_db, timestamp_from_db, timestamp_to_db

_UNLIMITED = 2**62

#: The columns of a full ``positions`` row, in the order every full-row query of positions.sql lists them.
POSITION_COLUMNS = (
    "account_id", "position_id", "strategy_id", "symbol", "side", "status", "quantity_e9", "cost_basis_e8",
    "realized_pnl_e8", "opened_at", "updated_at", "closed_at",
)
#: What a fill reads of an open position (positions.sql: find_open_position_for_fill), in this order.
POSITION_FILL_COLUMNS = ("position_id", "side", "quantity_e9", "cost_basis_e8")
#: What a batch of fills reads of each open position (positions.sql, PostgreSQL file: list_open_positions_for_fills).
POSITION_FILL_KEYED_COLUMNS = ("symbol", "strategy_key", *POSITION_FILL_COLUMNS)
_SIDES = {member.value: member for member in PositionSide}
_STATUSES = {member.value: member for member in PositionStatus}
_build_position = model_builder(Position)
_timestamp = timestamp_from_db


def _sql(conn: Any) -> Any:
    return statements(conn, "positions")


def statements_of(conn: Any) -> Any:
    """The :class:`~stocksbot.sqlfiles.Statement` of every query of positions.sql, for the driver of ``conn``
    (StorageService batches them; everything else calls the functions below)."""
    return statements(conn, "positions")


def strategy_key(strategy_id: str | None) -> str:
    """The key of the one-open-position rule: the strategy id, or '' for no strategy."""
    return strategy_id or ""


def position_from_tuple(row: tuple[Any, ...]) -> Position:
    """Build a :class:`Position` from a full ``positions`` row as a tuple in :data:`POSITION_COLUMNS` order.

    No pydantic validation runs: the table's constraints vouch for each column (see
    orders.order_from_tuple); ``avg_entry_price`` is the model's computed field.
    """
    return build_exact(_position, row)


def _position(row: tuple[Any, ...]) -> Position:
    """position_from_tuple's work, under the exact decimal context (values.build_exact)."""
    try:
        (account_id, position_id, strategy_id, symbol, side, status, quantity_e9, cost_basis_e8, realized_pnl_e8,
         opened_at, updated_at, closed_at) = row
        opened = _timestamp(opened_at)
        # Equal texts are equal instants: parse each distinct timestamp of the row once.
        updated = opened if updated_at == opened_at else _timestamp(updated_at)
        return _build_position({
            "position_id": position_id,
            "account_id": account_id,
            "strategy_id": strategy_id,
            "symbol": symbol,
            "side": _SIDES[side],
            "status": _STATUSES[status],
            "quantity": _E9 * quantity_e9,
            "cost_basis": _E8 * cost_basis_e8,
            "realized_pnl": _E8 * realized_pnl_e8,
            "opened_at": opened,
            "updated_at": updated,
            "closed_at": None if closed_at is None else updated if closed_at == updated_at else _timestamp(closed_at),
        })
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise RowValidationError(f"a positions row does not fit the Position model: {exc!r}", query="positions") from exc


def position_from_row(row: Any) -> Position:
    """Build a :class:`Position` from a full ``positions`` row given as a mapping."""
    try:
        values = tuple(row[column] for column in POSITION_COLUMNS)
    except (KeyError, TypeError) as exc:
        raise RowValidationError(f"a positions row does not fit the Position model: {exc!r}", query="positions") from exc
    return position_from_tuple(values)


def _one(conn: Any, query: str, params: dict[str, Any]) -> Position | None:
    """Run a one-row query of positions.sql and map its row (or None)."""
    statement = getattr(_sql(conn), query)
    return row_as(statement, statement(conn, params), POSITION_COLUMNS, _position, position_from_row)


def _many(conn: Any, query: str, params: dict[str, Any]) -> list[Position]:
    """Run a many-row query of positions.sql and map its rows."""
    statement = getattr(_sql(conn), query)
    return rows_as(statement, statement(conn, params), POSITION_COLUMNS, _position, position_from_row)


def insert_position(
    conn: Any, *, account_id: str, position_id: str, strategy_id: str | None, symbol: str, side: str,
    quantity_e9: int, cost_basis_e8: int, realized_pnl_e8: int, opened_at: datetime,
) -> Position | None:
    """Open a position; None if one is already open for (symbol, strategy) (positions.sql: insert_position)."""
    row = insert_position_row(
        conn, account_id=account_id, position_id=position_id, strategy_id=strategy_id, symbol=symbol, side=side,
        quantity_e9=quantity_e9, cost_basis_e8=cost_basis_e8, realized_pnl_e8=realized_pnl_e8, opened_at=opened_at,
    )
    return None if row is None else position_from_tuple(row)


def find_position(conn: Any, *, account_id: str, position_id: str) -> Position | None:
    """One position by id, or None (positions.sql: find_position)."""
    return _one(conn, "find_position", {"account_id": account_id, "position_id": position_id})


def find_open_position(conn: Any, *, account_id: str, symbol: str, strategy_id: str | None) -> Position | None:
    """The open position of (symbol, strategy), or None (positions.sql: find_open_position)."""
    return _one(conn, "find_open_position", {
        "account_id": account_id, "symbol": symbol, "strategy_key": strategy_key(strategy_id),
    })


def lock_open_position(conn: Any, *, account_id: str, symbol: str, strategy_id: str | None) -> Position | None:
    """Lock and return the open position of (symbol, strategy), or None (positions.sql: lock_open_position)."""
    return _one(conn, "lock_open_position", {
        "account_id": account_id, "symbol": symbol, "strategy_key": strategy_key(strategy_id),
    })


def update_position_holding(
    conn: Any, *, account_id: str, position_id: str, quantity_e9: int, cost_basis_e8: int,
    realized_pnl_delta_e8: int, updated_at: datetime,
) -> bool:
    """Set an open position's quantity and cost basis and add realized P&L; False if it is not open
    (positions.sql: update_position_holding)."""
    return 1 == _sql(conn).update_position_holding(conn, {
        "account_id": account_id, "position_id": position_id, "quantity_e9": quantity_e9,
        "cost_basis_e8": cost_basis_e8, "realized_pnl_delta_e8": realized_pnl_delta_e8,
        "updated_at": timestamp_to_db(updated_at),
    })


def mark_position_closed(
    conn: Any, *, account_id: str, position_id: str, realized_pnl_delta_e8: int, closed_at: datetime,
) -> bool:
    """Close an open position, adding the closing realized P&L; False if it is not open
    (positions.sql: mark_position_closed)."""
    return 1 == _sql(conn).mark_position_closed(conn, {
        "account_id": account_id, "position_id": position_id, "realized_pnl_delta_e8": realized_pnl_delta_e8,
        "closed_at": timestamp_to_db(closed_at),
    })


# --- the fill path: rows as tuples, no models -------------------------------------------------------------


def find_open_position_for_fill(conn: Any, *, account_id: str, symbol: str, strategy_id: str | None) -> tuple[Any, ...] | None:
    """What a fill reads of the open position of (symbol, strategy), as a tuple in
    :data:`POSITION_FILL_COLUMNS` order, locked for the rest of the transaction; None if none is open.

    One query on both engines, locking as orders.find_order_for_fill does
    (positions.sql: find_open_position_for_fill).
    """
    queries = _sql(conn)
    row = queries.find_open_position_for_fill(conn, {
        "account_id": account_id, "symbol": symbol, "strategy_key": strategy_key(strategy_id),
    })
    return canonical_row(queries.find_open_position_for_fill, row, POSITION_FILL_COLUMNS)


def list_open_positions_for_fills(
    conn: Any, *, account_id: str, keys: list[tuple[str, str | None]],
) -> dict[tuple[str, str], tuple[Any, ...] | None]:
    """:func:`find_open_position_for_fill` for a batch of (symbol, strategy_id) pairs, each open
    position locked, in key order: ``{(symbol, strategy_key): row or None}``.

    PostgreSQL runs one statement for them all (positions.sql, PostgreSQL file:
    list_open_positions_for_fills); SQLite runs find_open_position_for_fill once per pair, in process.
    """
    queries = _sql(conn)
    ordered = sorted({(symbol, strategy_key(strategy_id)) for symbol, strategy_id in keys})
    if is_sqlite(conn):
        statement = queries.find_open_position_for_fill
        rows = statement.each(conn, [
            {"account_id": account_id, "symbol": symbol, "strategy_key": key} for symbol, key in ordered
        ])
        return {key: canonical_row(statement, row, POSITION_FILL_COLUMNS) for key, row in zip(ordered, rows)}
    held: dict[tuple[str, str], tuple[Any, ...] | None] = dict.fromkeys(ordered)
    if ordered:
        rows = queries.list_open_positions_for_fills(conn, {
            "account_id": account_id, "symbols": [symbol for symbol, _ in ordered],
            "strategy_keys": [key for _, key in ordered],
        })
        for row in rows:
            row = canonical_row(queries.list_open_positions_for_fills, row, POSITION_FILL_KEYED_COLUMNS)
            held[(row[0], row[1])] = row[2:]
    return held


def update_position_holdings(conn: Any, *, account_id: str, holdings: list[dict[str, Any]]) -> int:
    """:func:`update_position_holding` for a batch of open positions, each ``holdings`` item the dict of
    one position's ``position_id``, ``quantity_e9``, ``cost_basis_e8``, ``realized_pnl_delta_e8`` and
    ``updated_at`` (timestamp text); returns how many positions changed (each one still open).

    PostgreSQL runs one statement for them all (positions.sql, PostgreSQL file:
    update_position_holdings); SQLite runs update_position_holding once per position, in process.
    """
    queries = _sql(conn)
    if is_sqlite(conn):
        statement = queries.update_position_holding
        return sum(statement(conn, {**holding, "account_id": account_id}) for holding in holdings)
    if not holdings:
        return 0
    return queries.update_position_holdings(conn, {
        "account_id": account_id, "position_ids": [holding["position_id"] for holding in holdings],
        "quantities_e9": [holding["quantity_e9"] for holding in holdings],
        "cost_bases_e8": [holding["cost_basis_e8"] for holding in holdings],
        "realized_pnl_deltas_e8": [holding["realized_pnl_delta_e8"] for holding in holdings],
        "updated_ats": [holding["updated_at"] for holding in holdings],
    })


def insert_position_row(
    conn: Any, *, account_id: str, position_id: str, strategy_id: str | None, symbol: str, side: str,
    quantity_e9: int, cost_basis_e8: int, realized_pnl_e8: int, opened_at: datetime,
) -> tuple[Any, ...] | None:
    """insert_position with its row as a tuple in :data:`POSITION_COLUMNS` order, built from the values
    written (the statement returns no row), or None if one is already open (positions.sql: insert_position)."""
    opened = timestamp_to_db(opened_at)
    inserted = _sql(conn).insert_position(conn, {
        "account_id": account_id, "position_id": position_id, "strategy_id": strategy_id, "symbol": symbol,
        "side": str(side), "quantity_e9": quantity_e9, "cost_basis_e8": cost_basis_e8,
        "realized_pnl_e8": realized_pnl_e8, "opened_at": opened,
    })
    if not inserted:
        return None
    return (account_id, position_id, strategy_id, symbol, str(side), "open", quantity_e9, cost_basis_e8,
            realized_pnl_e8, opened, opened, None)


def list_open_positions(
    conn: Any, *, account_id: str, symbol: str | None = None, strategy_id: str | None = None,
) -> list[Position]:
    """Open positions by symbol, optionally of one symbol and strategy (positions.sql: list_open_positions).

    A strategy runs list_open_positions_by_strategy (its index drives the read; a symbol
    given too is an optional predicate there); otherwise list_open_positions runs.
    """
    if strategy_id is not None:
        return list_open_positions_by_strategy(conn, account_id=account_id, strategy_id=strategy_id, symbol=symbol)
    return _many(conn, "list_open_positions", {"account_id": account_id, "symbol": symbol})


def list_open_positions_by_strategy(
    conn: Any, *, account_id: str, strategy_id: str, symbol: str | None = None,
) -> list[Position]:
    """Open positions of one strategy by symbol, optionally of one symbol
    (positions.sql: list_open_positions_by_strategy)."""
    return _many(conn, "list_open_positions_by_strategy", {
        "account_id": account_id, "strategy_id": strategy_id, "symbol": symbol,
    })


def list_positions(conn: Any, *, account_id: str, limit: int | None = None) -> list[Position]:
    """Every position, newest first (positions.sql: list_positions)."""
    return _many(conn, "list_positions", {"account_id": account_id, "limit": _UNLIMITED if limit is None else limit})


def sum_realized_pnl(conn: Any, *, account_id: str) -> Decimal:
    """Realized P&L of every position of the account (positions.sql: sum_realized_pnl)."""
    return money_from_db(_sql(conn).sum_realized_pnl(conn, {"account_id": account_id}))
