"""Typed functions over queries/orders.sql: each takes a connection and returns models.

Query functions never commit: they run in the caller's transaction (or autocommit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import RowValidationError
from .models import Order, OrderStatus
from .sqlfiles import query_file
from .values import (
    money_from_db,
    quantity_from_db,
    ratio,
    timestamp_from_db,
    timestamp_to_db,
)

_UNLIMITED = 2**62


def _sql(conn: Any) -> Any:
    return query_file(conn, "orders")


def order_from_row(row: dict[str, Any]) -> Order:
    """Build an :class:`Order` from a full ``orders`` row (scaled integers and timestamp text)."""
    try:
        filled_e9 = row["filled_quantity_e9"]
        notional_e8 = row["filled_notional_e8"]
        filled = quantity_from_db(filled_e9)
        notional = money_from_db(notional_e8)
        return Order(
            order_id=row["order_id"],
            account_id=row["account_id"],
            client_order_id=row["client_order_id"],
            external_id=row["external_id"],
            strategy_id=row["strategy_id"],
            symbol=row["symbol"],
            side=row["side"],
            order_type=row["order_type"],
            quantity=quantity_from_db(row["quantity_e9"]),
            limit_price=None if row["limit_price_e8"] is None else money_from_db(row["limit_price_e8"]),
            stop_price=None if row["stop_price_e8"] is None else money_from_db(row["stop_price_e8"]),
            status=row["status"],
            status_reason=row["status_reason"],
            filled_quantity=filled,
            filled_notional=notional,
            avg_fill_price=ratio(notional, filled) if filled_e9 else None,
            created_at=timestamp_from_db(row["created_at"]),
            updated_at=timestamp_from_db(row["updated_at"]),
            terminal_at=None if row["terminal_at"] is None else timestamp_from_db(row["terminal_at"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RowValidationError(f"an orders row does not fit the Order model: {exc}", query="orders") from exc


def _one(row: dict[str, Any] | None) -> Order | None:
    return None if row is None else order_from_row(row)


def insert_order(
    conn: Any, *, account_id: str, order_id: str, client_order_id: str, strategy_id: str | None,
    symbol: str, side: str, order_type: str, quantity_e9: int, limit_price_e8: int | None,
    stop_price_e8: int | None, created_at: datetime,
) -> Order:
    """Insert a new pending order (orders.sql: insert_order)."""
    row = _sql(conn).insert_order(
        conn, account_id=account_id, order_id=order_id, client_order_id=client_order_id,
        strategy_id=strategy_id, symbol=symbol, side=str(side), order_type=str(order_type),
        quantity_e9=quantity_e9, limit_price_e8=limit_price_e8, stop_price_e8=stop_price_e8,
        created_at=timestamp_to_db(created_at),
    )
    return order_from_row(row)


def find_order(conn: Any, *, account_id: str, order_id: str) -> Order | None:
    """One order by id, or None (orders.sql: find_order)."""
    return _one(_sql(conn).find_order(conn, account_id=account_id, order_id=order_id))


def find_order_by_client_order_id(conn: Any, *, account_id: str, client_order_id: str) -> Order | None:
    """One order by client order id, or None (orders.sql: find_order_by_client_order_id)."""
    return _one(_sql(conn).find_order_by_client_order_id(conn, account_id=account_id, client_order_id=client_order_id))


def find_order_by_external_id(conn: Any, *, account_id: str, external_id: str) -> Order | None:
    """One order by broker order id, or None (orders.sql: find_order_by_external_id)."""
    return _one(_sql(conn).find_order_by_external_id(conn, account_id=account_id, external_id=external_id))


def list_orders(
    conn: Any, *, account_id: str, status: str | None = None, symbol: str | None = None,
    strategy_id: str | None = None, limit: int | None = 100,
) -> list[Order]:
    """Orders newest first, optionally filtered (orders.sql: list_orders)."""
    rows = _sql(conn).list_orders(
        conn, account_id=account_id, status=None if status is None else str(status), symbol=symbol,
        strategy_id=strategy_id, limit=_UNLIMITED if limit is None else limit,
    )
    return [order_from_row(row) for row in rows]


def list_open_orders(conn: Any, *, account_id: str) -> list[Order]:
    """Orders not yet terminal, oldest first (orders.sql: list_open_orders)."""
    return [order_from_row(row) for row in _sql(conn).list_open_orders(conn, account_id=account_id)]


def lock_order(conn: Any, *, account_id: str, order_id: str) -> Order | None:
    """Lock one order's row for this transaction and return it, or None (orders.sql: lock_order)."""
    return _one(_sql(conn).lock_order(conn, account_id=account_id, order_id=order_id))


def apply_order_fill(
    conn: Any, *, account_id: str, order_id: str, fill_quantity_e9: int, fill_notional_e8: int, updated_at: datetime,
) -> Order | None:
    """Add a fill to a working order; None if not working or it would overfill (orders.sql: apply_order_fill)."""
    return _one(_sql(conn).apply_order_fill(
        conn, account_id=account_id, order_id=order_id, fill_quantity_e9=fill_quantity_e9,
        fill_notional_e8=fill_notional_e8, updated_at=timestamp_to_db(updated_at),
    ))


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
    query = getattr(_sql(conn), _MARK_QUERIES[status])
    return _one(query(
        conn, account_id=account_id, order_id=order_id, external_id=external_id,
        status_reason=status_reason, updated_at=timestamp_to_db(updated_at),
    ))


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
    "apply_order_fill", "find_order", "find_order_by_client_order_id", "find_order_by_external_id",
    "insert_order", "list_open_orders", "list_orders", "lock_order", "mark_order", "mark_order_cancelled",
    "mark_order_expired", "mark_order_rejected", "mark_order_submitted", "order_from_row",
]
