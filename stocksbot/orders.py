"""Typed functions over queries/orders.sql: each takes a connection and returns models.

Query functions never commit: they run in the caller's transaction (or autocommit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import RowValidationError
from .models import Order, OrderSide, OrderStatus, OrderType
from .sqlfiles import canonical_row, is_sqlite, model_builder, row_as, rows_as, statements
from .values import MONEY_STEP as _E8
from .values import QUANTITY_STEP as _E9
from .values import build_exact, timestamp_from_db, timestamp_to_db

_UNLIMITED = 2**62

#: The columns of a full ``orders`` row, in the order every full-row query of orders.sql lists them.
ORDER_COLUMNS = (
    "account_id", "order_id", "client_order_id", "external_id", "strategy_id", "symbol", "side", "order_type",
    "quantity_e9", "limit_price_e8", "stop_price_e8", "status", "status_reason", "filled_quantity_e9",
    "filled_notional_e8", "created_at", "updated_at", "terminal_at",
)
#: What a fill reads of its order (orders.sql: find_order_for_fill), in this order.
ORDER_FILL_COLUMNS = (
    "order_id", "status", "quantity_e9", "filled_quantity_e9", "filled_notional_e8", "strategy_id", "symbol", "side",
)
_SIDES = {member.value: member for member in OrderSide}
_TYPES = {member.value: member for member in OrderType}
_STATUSES = {member.value: member for member in OrderStatus}
_build_order = model_builder(Order)
_timestamp = timestamp_from_db


def _sql(conn: Any) -> Any:
    return statements(conn, "orders")


def statements_of(conn: Any) -> Any:
    """The :class:`~stocksbot.sqlfiles.Statement` of every query of orders.sql, for the driver of ``conn``
    (StorageService batches them; everything else calls the functions below)."""
    return statements(conn, "orders")


def order_from_tuple(row: tuple[Any, ...]) -> Order:
    """Build an :class:`Order` from a full ``orders`` row as a tuple in :data:`ORDER_COLUMNS` order.

    No pydantic validation runs: the table's NOT NULL and CHECK constraints already
    guarantee each column's form; the enums are looked up (an unknown value is a
    RowValidationError) and the scaled integers and timestamp texts converted.
    """
    return build_exact(_order, row)


def _order(row: tuple[Any, ...]) -> Order:
    """order_from_tuple's work, under the exact decimal context (values.build_exact)."""
    try:
        (account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type, quantity_e9,
         limit_price_e8, stop_price_e8, status, status_reason, filled_e9, notional_e8, created_at, updated_at,
         terminal_at) = row
        created = _timestamp(created_at)
        # Equal texts are equal instants: parse each distinct timestamp of the row once.
        updated = created if updated_at == created_at else _timestamp(updated_at)
        return _build_order({
            "order_id": order_id,
            "account_id": account_id,
            "client_order_id": client_order_id,
            "external_id": external_id,
            "strategy_id": strategy_id,
            "symbol": symbol,
            "side": _SIDES[side],
            "order_type": _TYPES[order_type],
            "quantity": _E9 * quantity_e9,
            "limit_price": None if limit_price_e8 is None else _E8 * limit_price_e8,
            "stop_price": None if stop_price_e8 is None else _E8 * stop_price_e8,
            "status": _STATUSES[status],
            "status_reason": status_reason,
            "filled_quantity": _E9 * filled_e9,
            "filled_notional": _E8 * notional_e8,
            "created_at": created,
            "updated_at": updated,
            "terminal_at": None if terminal_at is None else updated if terminal_at == updated_at else _timestamp(terminal_at),
        })
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise RowValidationError(f"an orders row does not fit the Order model: {exc!r}", query="orders") from exc


def order_from_row(row: Any) -> Order:
    """Build an :class:`Order` from a full ``orders`` row given as a mapping (scaled integers and timestamp text)."""
    try:
        values = tuple(row[column] for column in ORDER_COLUMNS)
    except (KeyError, TypeError) as exc:
        raise RowValidationError(f"an orders row does not fit the Order model: {exc!r}", query="orders") from exc
    return order_from_tuple(values)


def _one(conn: Any, query: str, params: dict[str, Any]) -> Order | None:
    """Run a one-row query of orders.sql and map its row (or None)."""
    statement = getattr(_sql(conn), query)
    return row_as(statement, statement(conn, params), ORDER_COLUMNS, _order, order_from_row)


def _many(conn: Any, query: str, params: dict[str, Any]) -> list[Order]:
    """Run a many-row query of orders.sql and map its rows."""
    statement = getattr(_sql(conn), query)
    return rows_as(statement, statement(conn, params), ORDER_COLUMNS, _order, order_from_row)


def insert_order(
    conn: Any, *, account_id: str, order_id: str, client_order_id: str, strategy_id: str | None,
    symbol: str, side: str, order_type: str, quantity_e9: int, limit_price_e8: int | None,
    stop_price_e8: int | None, created_at: datetime,
) -> Order:
    """Insert a new pending order (orders.sql: insert_order)."""
    return _one(conn, "insert_order", {
        "account_id": account_id, "order_id": order_id, "client_order_id": client_order_id,
        "strategy_id": strategy_id, "symbol": symbol, "side": str(side), "order_type": str(order_type),
        "quantity_e9": quantity_e9, "limit_price_e8": limit_price_e8, "stop_price_e8": stop_price_e8,
        "created_at": timestamp_to_db(created_at),
    })  # type: ignore[return-value]  # an INSERT ... RETURNING always returns its row


def find_order(conn: Any, *, account_id: str, order_id: str) -> Order | None:
    """One order by id, or None (orders.sql: find_order)."""
    return _one(conn, "find_order", {"account_id": account_id, "order_id": order_id})


def find_order_by_client_order_id(conn: Any, *, account_id: str, client_order_id: str) -> Order | None:
    """One order by client order id, or None (orders.sql: find_order_by_client_order_id)."""
    return _one(conn, "find_order_by_client_order_id", {
        "account_id": account_id, "client_order_id": client_order_id,
    })


def find_order_by_external_id(conn: Any, *, account_id: str, external_id: str) -> Order | None:
    """One order by broker order id, or None (orders.sql: find_order_by_external_id)."""
    return _one(conn, "find_order_by_external_id", {"account_id": account_id, "external_id": external_id})


def list_orders(
    conn: Any, *, account_id: str, status: str | None = None, symbol: str | None = None,
    strategy_id: str | None = None, limit: int | None = 100,
) -> list[Order]:
    """Orders newest first, optionally filtered (orders.sql: list_orders).

    Each filter given is applied (AND); the most selective one picks the query, so its index
    drives the read: a symbol runs list_orders_by_symbol, else a strategy runs
    list_orders_by_strategy, else a status runs list_orders_by_status, else list_orders.
    """
    if symbol is not None:
        return list_orders_by_symbol(
            conn, account_id=account_id, symbol=symbol, status=status, strategy_id=strategy_id, limit=limit,
        )
    if strategy_id is not None:
        return list_orders_by_strategy(conn, account_id=account_id, strategy_id=strategy_id, status=status, limit=limit)
    if status is not None:
        return list_orders_by_status(conn, account_id=account_id, status=status, limit=limit)
    return _many(conn, "list_orders", {"account_id": account_id, "limit": _UNLIMITED if limit is None else limit})


def list_orders_by_status(conn: Any, *, account_id: str, status: str, limit: int | None = 100) -> list[Order]:
    """Orders in one status newest first (orders.sql: list_orders_by_status)."""
    return _many(conn, "list_orders_by_status", {
        "account_id": account_id, "status": str(status), "limit": _UNLIMITED if limit is None else limit,
    })


def list_orders_by_symbol(
    conn: Any, *, account_id: str, symbol: str, status: str | None = None, strategy_id: str | None = None,
    limit: int | None = 100,
) -> list[Order]:
    """Orders of one symbol newest first, optionally of one status and strategy (orders.sql: list_orders_by_symbol)."""
    return _many(conn, "list_orders_by_symbol", {
        "account_id": account_id, "symbol": symbol, "status": None if status is None else str(status),
        "strategy_id": strategy_id, "limit": _UNLIMITED if limit is None else limit,
    })


def list_orders_by_strategy(
    conn: Any, *, account_id: str, strategy_id: str, status: str | None = None, limit: int | None = 100,
) -> list[Order]:
    """Orders of one strategy newest first, optionally of one status (orders.sql: list_orders_by_strategy)."""
    return _many(conn, "list_orders_by_strategy", {
        "account_id": account_id, "strategy_id": strategy_id, "status": None if status is None else str(status),
        "limit": _UNLIMITED if limit is None else limit,
    })


def list_open_orders(conn: Any, *, account_id: str) -> list[Order]:
    """Orders not yet terminal, oldest first (orders.sql: list_open_orders)."""
    return _many(conn, "list_open_orders", {"account_id": account_id})


def lock_order(conn: Any, *, account_id: str, order_id: str) -> Order | None:
    """Lock one order's row for this transaction and return it, or None (orders.sql: lock_order)."""
    return _one(conn, "lock_order", {"account_id": account_id, "order_id": order_id})


def apply_order_fill(
    conn: Any, *, account_id: str, order_id: str, fill_quantity_e9: int, fill_notional_e8: int, updated_at: datetime,
) -> bool:
    """Add a fill to a working order; False if it is not working or the fill would overfill it
    (orders.sql: apply_order_fill)."""
    return 1 == _sql(conn).apply_order_fill(conn, {
        "account_id": account_id, "order_id": order_id, "fill_quantity_e9": fill_quantity_e9,
        "fill_notional_e8": fill_notional_e8, "updated_at": timestamp_to_db(updated_at),
    })


def find_order_for_fill(conn: Any, *, account_id: str, order_id: str) -> tuple[Any, ...] | None:
    """What a fill reads of its order, as a tuple in :data:`ORDER_FILL_COLUMNS` order, locked for
    the rest of the transaction; None if there is no such order. Call it inside ``db.transaction()``.

    One query on both engines (orders.sql: find_order_for_fill). On PostgreSQL it takes the
    order's row lock (``FOR UPDATE``); on SQLite a stocksbot write transaction always starts
    with ``BEGIN IMMEDIATE``, which already holds the database's write lock. It reads only
    the eight columns a fill needs: a full row costs SQLite about 4 µs more to hand over.
    """
    queries = _sql(conn)
    row = queries.find_order_for_fill(conn, {"account_id": account_id, "order_id": order_id})
    return canonical_row(queries.find_order_for_fill, row, ORDER_FILL_COLUMNS)


def list_orders_for_fills(conn: Any, *, account_id: str, order_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """:func:`find_order_for_fill` for a batch of orders, each locked, in order_id order (concurrent
    batches take their locks in one order, so they cannot deadlock): ``{order_id: row}`` of those that exist.

    PostgreSQL runs one statement for them all (orders.sql, PostgreSQL file: list_orders_for_fills);
    SQLite runs find_order_for_fill once per order, in process, where a statement costs no round trip.
    """
    queries = _sql(conn)
    ordered = sorted(set(order_ids))
    if is_sqlite(conn):
        statement = queries.find_order_for_fill
        rows = statement.each(conn, [{"account_id": account_id, "order_id": order_id} for order_id in ordered])
        return {
            order_id: canonical_row(statement, row, ORDER_FILL_COLUMNS)
            for order_id, row in zip(ordered, rows) if row is not None
        }
    rows = queries.list_orders_for_fills(conn, {"account_id": account_id, "order_ids": ordered})
    rows = [canonical_row(queries.list_orders_for_fills, row, ORDER_FILL_COLUMNS) for row in rows]
    return {row[0]: row for row in rows}


def apply_order_fills(conn: Any, *, account_id: str, fills: list[dict[str, Any]]) -> int:
    """:func:`apply_order_fill` for a batch of orders, each ``fills`` item the dict of one order's
    ``order_id``, ``fill_quantity_e9``, ``fill_notional_e8`` and ``updated_at`` (timestamp text);
    returns how many orders changed (each one that is still working and not overfilled).

    PostgreSQL runs one statement for them all (orders.sql, PostgreSQL file: apply_order_fills);
    SQLite runs apply_order_fill once per order, in process.
    """
    queries = _sql(conn)
    if is_sqlite(conn):
        statement = queries.apply_order_fill
        return sum(statement(conn, {**fill, "account_id": account_id}) for fill in fills)
    if not fills:
        return 0
    return queries.apply_order_fills(conn, {
        "account_id": account_id, "order_ids": [fill["order_id"] for fill in fills],
        "fill_quantities_e9": [fill["fill_quantity_e9"] for fill in fills],
        "fill_notionals_e8": [fill["fill_notional_e8"] for fill in fills],
        "updated_ats": [fill["updated_at"] for fill in fills],
    })


_MARK_QUERIES = {
    OrderStatus.SUBMITTED: "mark_order_submitted",
    OrderStatus.CANCELLED: "mark_order_cancelled",
    OrderStatus.REJECTED: "mark_order_rejected",
    OrderStatus.EXPIRED: "mark_order_expired",
}


def mark_order(
    conn: Any, *, account_id: str, order_id: str, status: OrderStatus, external_id: str | None = None,
    status_reason: str | None = None, updated_at: datetime,
) -> Order | None:
    """Guarded move to submitted/cancelled/rejected/expired; None when the order's status does not allow it
    (orders.sql: mark_order_submitted, mark_order_cancelled, mark_order_rejected, mark_order_expired)."""
    return _one(conn, _MARK_QUERIES[status], {
        "account_id": account_id, "order_id": order_id, "external_id": external_id,
        "status_reason": status_reason, "updated_at": timestamp_to_db(updated_at),
    })


def mark_order_submitted(conn: Any, **kwargs: Any) -> Order | None:
    """Move a pending order to submitted (orders.sql: mark_order_submitted)."""
    return mark_order(conn, status=OrderStatus.SUBMITTED, **kwargs)


def mark_order_cancelled(conn: Any, **kwargs: Any) -> Order | None:
    """Move a working order to cancelled (orders.sql: mark_order_cancelled)."""
    return mark_order(conn, status=OrderStatus.CANCELLED, **kwargs)


def mark_order_rejected(conn: Any, **kwargs: Any) -> Order | None:
    """Move a pending or submitted order to rejected (orders.sql: mark_order_rejected)."""
    return mark_order(conn, status=OrderStatus.REJECTED, **kwargs)


def mark_order_expired(conn: Any, **kwargs: Any) -> Order | None:
    """Move a submitted or partially filled order to expired (orders.sql: mark_order_expired)."""
    return mark_order(conn, status=OrderStatus.EXPIRED, **kwargs)


__all__ = [
    "ORDER_COLUMNS", "ORDER_FILL_COLUMNS", "apply_order_fill", "apply_order_fills", "find_order",
    "find_order_by_client_order_id", "find_order_by_external_id", "find_order_for_fill", "insert_order",
    "list_open_orders", "list_orders", "list_orders_by_status", "list_orders_by_strategy", "list_orders_by_symbol",
    "list_orders_for_fills", "lock_order", "mark_order", "mark_order_cancelled", "mark_order_expired",
    "mark_order_rejected", "mark_order_submitted", "order_from_row", "order_from_tuple", "statements_of",
]
