"""Orders: the SPEC §4 lifecycle as a table of every (from, to) pair, lookups, prices, listings,
and the typed query module stocksbot.orders called directly on a connection.

Every test runs on SQLite and on PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from stocksbot import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    StorageService,
    ValidationError,
)
from stocksbot import orders
from stocksbot.values import money_to_db, new_id, quantity_to_db, timestamp_to_db

S = OrderStatus
ACCOUNT = "default"
TABLES = ("strategies", "orders", "positions", "trades", "config")
T0 = datetime(2024, 3, 1, 14, 30, 0, 123456, tzinfo=timezone.utc)
T1 = datetime(2024, 3, 1, 14, 30, 1, 5, tzinfo=timezone.utc)
T2 = datetime(2024, 3, 1, 14, 31, 0, 0, tzinfo=timezone.utc)
T3 = datetime(2024, 3, 2, 9, 0, 0, 999999, tzinfo=timezone.utc)

#: The transitions SPEC §4 allows. partially_filled and filled are reached by a fill;
#: a second partial fill keeps an order partially_filled.
ALLOWED = {
    (S.PENDING, S.SUBMITTED),
    (S.PENDING, S.CANCELLED), (S.SUBMITTED, S.CANCELLED), (S.PARTIALLY_FILLED, S.CANCELLED),
    (S.PENDING, S.REJECTED), (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.EXPIRED), (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.SUBMITTED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.SUBMITTED, S.FILLED), (S.PARTIALLY_FILLED, S.FILLED),
}
EVERY_PAIR = [pytest.param(a, b, id=f"{a.value}->{b.value}") for a in S for b in S]
TERMINAL = {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}


# --- helpers ---------------------------------------------------------------------------


def snapshot(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of the five tables, read with plain SQL (the 'nothing changed' witness)."""
    with db.connection() as conn:
        return {table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()] for table in TABLES}


def order_in(svc: StorageService, status: OrderStatus) -> Order:
    """A market buy of 10 AAPL brought to ``status`` through the public API (4 filled when partial)."""
    order = svc.create_order("AAPL", "buy", "market", 10)
    if status is S.PENDING:
        return order
    if status in (S.CANCELLED, S.REJECTED):
        return svc.update_order_status(order.order_id, status)
    svc.update_order_status(order.order_id, S.SUBMITTED)
    if status is S.EXPIRED:
        svc.update_order_status(order.order_id, S.EXPIRED)
    elif status is S.PARTIALLY_FILLED:
        svc.record_fill(order.order_id, quantity=4, price=100)
    elif status is S.FILLED:
        svc.record_fill(order.order_id, quantity=10, price=100)
    current = svc.get_order(order.order_id)
    assert current is not None and current.status is status
    return current


def move(svc: StorageService, order: Order, target: OrderStatus) -> Order:
    """Try to move ``order`` to ``target``: fill states by a fill, every other by update_order_status."""
    if target is S.PARTIALLY_FILLED:
        svc.record_fill(order.order_id, quantity=1, price=100)
    elif target is S.FILLED:
        svc.record_fill(order.order_id, quantity=order.remaining_quantity or 1, price=100)
    else:
        return svc.update_order_status(order.order_id, target, reason=f"to {target.value}")
    moved = svc.get_order(order.order_id)
    assert moved is not None
    return moved


@pytest.fixture
def svc(db: Any) -> StorageService:
    """The default account's service on the engine under test."""
    return StorageService(db)


# --- the lifecycle table ------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), EVERY_PAIR)
def test_lifecycle_transition(db: Any, svc: StorageService, source: OrderStatus, target: OrderStatus):
    """Each (from, to) pair: an allowed move lands on `to`; any other raises InvalidTransitionError and changes nothing."""
    order = order_in(svc, source)
    if (source, target) in ALLOWED:
        moved = move(svc, order, target)
        assert target is moved.status
        assert moved == svc.get_order(order.order_id)
        assert (moved.terminal_at is not None) is (target in TERMINAL)
        assert moved.updated_at >= order.updated_at
        assert moved.created_at == order.created_at
        if target in (S.CANCELLED, S.REJECTED, S.EXPIRED, S.SUBMITTED):
            assert f"to {target.value}" == moved.status_reason
        expected_filled = {S.FILLED: Decimal(10), S.PARTIALLY_FILLED: order.filled_quantity + 1}
        assert expected_filled.get(target, order.filled_quantity) == moved.filled_quantity
    else:
        before = snapshot(db)
        with pytest.raises(InvalidTransitionError):
            move(svc, order, target)
        assert before == snapshot(db)
        assert order == svc.get_order(order.order_id)


def test_lifecycle_table_is_the_spec_list():
    """The table covers all 49 pairs, and exactly the 12 SPEC moves (9 by status, 3 by fill) are allowed."""
    assert 49 == len(EVERY_PAIR)
    assert 12 == len(ALLOWED)
    assert not any(source in TERMINAL for source, _ in ALLOWED)
    assert not any(target is S.PENDING for _, target in ALLOWED)


@pytest.mark.parametrize("target", [S.FILLED, S.PARTIALLY_FILLED, S.PENDING], ids=str)
@pytest.mark.parametrize("source", [S.PENDING, S.SUBMITTED, S.PARTIALLY_FILLED], ids=str)
def test_update_order_status_refuses_fill_states_and_pending(db: Any, svc: StorageService, source: OrderStatus, target: OrderStatus):
    """filled, partially_filled and pending cannot be set directly (as enum or text); nothing changes."""
    order = order_in(svc, source)
    before = snapshot(db)
    for status in (target, target.value):
        with pytest.raises(InvalidTransitionError):
            svc.update_order_status(order.order_id, status)
    assert before == snapshot(db)


@pytest.mark.parametrize("status", [S.SUBMITTED, S.CANCELLED, S.REJECTED, S.EXPIRED], ids=str)
def test_update_of_an_unknown_order_is_not_found(db: Any, svc: StorageService, status: OrderStatus):
    """update_order_status on an id that does not exist raises NotFoundError and writes nothing."""
    svc.create_order("AAPL", "buy", "market", 1)
    before = snapshot(db)
    with pytest.raises(NotFoundError):
        svc.update_order_status(new_id(), status)
    assert before == snapshot(db)


def test_unknown_order_lookups_and_fill(db: Any, svc: StorageService):
    """get_* of an absent order return None; record_fill on it raises NotFoundError."""
    assert None is svc.get_order(new_id())
    assert None is svc.get_order_by_external_id("BROKER-404")
    assert None is svc.get_order_by_client_order_id("client-404")
    with pytest.raises(NotFoundError):
        svc.record_fill(new_id(), quantity=1, price=1)
    assert [] == svc.get_trades()


def test_terminal_at_is_set_once_and_kept(svc: StorageService):
    """An order gets terminal_at when it becomes terminal; a refused later move leaves it as it was."""
    order = order_in(svc, S.SUBMITTED)
    assert None is order.terminal_at
    cancelled = svc.update_order_status(order.order_id, S.CANCELLED)
    assert cancelled.terminal_at is not None
    assert cancelled.terminal_at == cancelled.updated_at
    with pytest.raises(InvalidTransitionError):
        svc.update_order_status(order.order_id, S.EXPIRED)
    assert cancelled == svc.get_order(order.order_id)


# --- broker and client ids ---------------------------------------------------------------------


def test_external_id_is_recorded_on_submit_and_findable(svc: StorageService):
    """The broker id given on submit is stored, found by get_order_by_external_id, and kept by a later move without one."""
    order = svc.create_order("MSFT", "sell", "limit", "2.5", limit_price="410.12")
    assert None is order.external_id
    submitted = svc.update_order_status(order.order_id, "submitted", external_id="ALPACA-7f3e:1")
    assert "ALPACA-7f3e:1" == submitted.external_id
    assert submitted == svc.get_order_by_external_id("ALPACA-7f3e:1")
    cancelled = svc.update_order_status(order.order_id, "cancelled")
    assert "ALPACA-7f3e:1" == cancelled.external_id
    assert cancelled == svc.get_order_by_external_id("ALPACA-7f3e:1")
    assert None is svc.get_order_by_external_id("alpaca-7f3e:1")  # ids are case-sensitive, never re-cased


def test_duplicate_external_id_is_a_conflict(db: Any, svc: StorageService):
    """A second order submitted with a broker id already taken raises ConflictError and stays pending."""
    first = svc.create_order("AAPL", "buy", "market", 1)
    second = svc.create_order("AAPL", "buy", "market", 1)
    svc.update_order_status(first.order_id, "submitted", external_id="B-1")
    before = snapshot(db)
    with pytest.raises(ConflictError) as caught:
        svc.update_order_status(second.order_id, "submitted", external_id="B-1")
    if db.dialect == "postgresql":
        assert "uq_orders_account_external_id" == caught.value.constraint
    assert before == snapshot(db)
    assert second == svc.get_order(second.order_id)
    assert first.order_id == svc.get_order_by_external_id("B-1").order_id


def test_client_order_id_defaults_to_the_order_id(svc: StorageService):
    """Without a client_order_id the order id is used, and the order is findable by it."""
    order = svc.create_order("AAPL", "buy", "market", 1)
    assert order.order_id == order.client_order_id
    assert order == svc.get_order_by_client_order_id(order.order_id)


def test_custom_client_order_id_is_findable_and_unique(db: Any, svc: StorageService):
    """A custom client_order_id is stored verbatim and found; reusing it raises ConflictError and adds no order."""
    order = svc.create_order("AAPL", "buy", "market", 1, client_order_id="bot1-2024-03-01-0001")
    assert "bot1-2024-03-01-0001" == order.client_order_id
    assert order.order_id != order.client_order_id
    assert order == svc.get_order_by_client_order_id("bot1-2024-03-01-0001")
    assert None is svc.get_order_by_client_order_id("BOT1-2024-03-01-0001")
    before = snapshot(db)
    with pytest.raises(ConflictError) as caught:
        svc.create_order("MSFT", "sell", "market", 5, client_order_id="bot1-2024-03-01-0001")
    if db.dialect == "postgresql":
        assert "uq_orders_account_client_order_id" == caught.value.constraint
    assert before == snapshot(db)
    assert [order] == svc.list_orders()


# --- prices by order type ----------------------------------------------------------------------

PRICE_RULES = [
    # order_type, limit_price, stop_price, the field a ValidationError names (None: accepted)
    ("market", None, None, None),
    ("market", "10", None, "limit_price"),
    ("market", None, "10", "stop_price"),
    ("limit", None, None, "limit_price"),
    ("limit", "10.25", None, None),
    ("limit", "10.25", "9", "stop_price"),
    ("stop", None, "9.5", None),
    ("stop", None, None, "stop_price"),
    ("stop", "10", "9.5", "limit_price"),
    ("stop_limit", "10.25", "9.5", None),
    ("stop_limit", None, "9.5", "limit_price"),
    ("stop_limit", "10.25", None, "stop_price"),
]


@pytest.mark.parametrize(("order_type", "limit_price", "stop_price", "field"), PRICE_RULES)
def test_prices_required_by_order_type(
    db: Any, svc: StorageService, order_type: str, limit_price: str | None, stop_price: str | None, field: str | None,
):
    """Limit and stop prices are required exactly by the types that name them; otherwise ValidationError(field)."""
    if field is None:
        order = svc.create_order("AAPL", "buy", order_type, 3, limit_price=limit_price, stop_price=stop_price)
        assert OrderType(order_type) is order.order_type
        assert (None if limit_price is None else Decimal(limit_price)) == order.limit_price
        assert (None if stop_price is None else Decimal(stop_price)) == order.stop_price
        assert order == svc.get_order(order.order_id)
        return
    before = snapshot(db)
    with pytest.raises(ValidationError) as caught:
        svc.create_order("AAPL", "buy", order_type, 3, limit_price=limit_price, stop_price=stop_price)
    assert field == caught.value.field
    assert before == snapshot(db)


def test_order_values_round_trip_exactly(svc: StorageService):
    """Quantity (9 places) and prices (8 places) come back as the exact Decimals given, from any accepted input type."""
    order = svc.create_order("BRK.B", OrderSide.SELL, OrderType.STOP_LIMIT, "0.000000001",
                             limit_price=Decimal("123456789.12345678"), stop_price=0.1)
    stored = svc.get_order(order.order_id)
    assert Decimal("0.000000001") == stored.quantity
    assert Decimal("123456789.12345678") == stored.limit_price
    assert Decimal("0.1") == stored.stop_price
    assert OrderSide.SELL is stored.side and "BRK.B" == stored.symbol
    assert Decimal(0) == stored.filled_quantity and None is stored.avg_fill_price


def test_order_for_an_unknown_strategy_is_not_found(db: Any, svc: StorageService):
    """create_order naming a strategy that does not exist raises NotFoundError and writes nothing."""
    before = snapshot(db)
    with pytest.raises(NotFoundError):
        svc.create_order("AAPL", "buy", "market", 1, strategy_id=new_id())
    assert before == snapshot(db)


# --- reasons -----------------------------------------------------------------------------------


def test_reason_is_stored_as_status_reason(svc: StorageService):
    """The reason of a status change is stored verbatim; a later change with a reason replaces it, one without keeps it."""
    order = svc.create_order("AAPL", "buy", "market", 1)
    assert None is order.status_reason
    submitted = svc.update_order_status(order.order_id, "submitted", reason="  sent: 走 \n")
    assert "  sent: 走 \n" == submitted.status_reason
    rejected = svc.update_order_status(order.order_id, "rejected", reason="insufficient buying power")
    assert "insufficient buying power" == rejected.status_reason
    assert rejected == svc.get_order(order.order_id)

    other = svc.create_order("AAPL", "buy", "market", 1)
    svc.update_order_status(other.order_id, "submitted", reason="sent")
    assert "sent" == svc.update_order_status(other.order_id, "expired").status_reason


# --- listings ----------------------------------------------------------------------------------


@pytest.fixture
def book(svc: StorageService) -> dict[str, Any]:
    """Five orders over two symbols, two strategies and three statuses, created in the order o1..o5."""
    s1 = svc.create_strategy("s1").strategy_id
    s2 = svc.create_strategy("s2").strategy_id
    o1 = svc.create_order("AAPL", "buy", "market", 1, strategy_id=s1)
    o2 = svc.create_order("MSFT", "sell", "market", 2, strategy_id=s2)
    o3 = svc.create_order("AAPL", "sell", "market", 3)
    o4 = svc.create_order("MSFT", "buy", "market", 4, strategy_id=s1)
    o5 = svc.create_order("AAPL", "buy", "market", 5, strategy_id=s2)
    svc.update_order_status(o2.order_id, "submitted")
    svc.update_order_status(o3.order_id, "cancelled")
    svc.update_order_status(o4.order_id, "submitted")
    return {"s1": s1, "s2": s2, **{f"o{n}": o.order_id for n, o in enumerate([o1, o2, o3, o4, o5], start=1)}}


LIST_FILTERS = [
    ({}, ["o5", "o4", "o3", "o2", "o1"]),
    ({"status": "submitted"}, ["o4", "o2"]),
    ({"status": S.PENDING}, ["o5", "o1"]),
    ({"status": "filled"}, []),
    ({"symbol": "AAPL"}, ["o5", "o3", "o1"]),
    ({"symbol": "TSLA"}, []),
    ({"strategy_id": "s1"}, ["o4", "o1"]),
    ({"symbol": "AAPL", "strategy_id": "s2"}, ["o5"]),
    ({"status": "pending", "symbol": "MSFT"}, []),
    ({"status": "cancelled", "symbol": "AAPL"}, ["o3"]),
    ({"limit": 2}, ["o5", "o4"]),
    ({"limit": None}, ["o5", "o4", "o3", "o2", "o1"]),
    ({"symbol": "MSFT", "limit": 1}, ["o4"]),
]


@pytest.mark.parametrize(("filters", "expected"), LIST_FILTERS, ids=lambda v: repr(v) if isinstance(v, dict) else None)
def test_list_orders_filters_newest_first(svc: StorageService, book: dict[str, Any], filters: dict[str, Any], expected: list[str]):
    """list_orders filters by status, symbol and strategy (combined with AND), newest first, up to limit."""
    if "strategy_id" in filters:
        filters = {**filters, "strategy_id": book[filters["strategy_id"]]}
    assert [book[name] for name in expected] == [order.order_id for order in svc.list_orders(**filters)]


def test_list_orders_default_limit_is_100(svc: StorageService):
    """Without a limit list_orders returns the newest 100; limit=None returns all."""
    ids = [svc.create_order("AAPL", "buy", "market", 1).order_id for _ in range(101)]
    listed = svc.list_orders()
    assert 100 == len(listed)
    assert ids[:0:-1] == [order.order_id for order in listed]
    assert 101 == len(svc.list_orders(limit=None))


# --- the typed module, called directly on a connection --------------------------------------------


def _insert(conn: Any, *, created_at: datetime, client_order_id: str | None = None, **values: Any) -> Order:
    order_id = new_id()
    fields = {
        "strategy_id": None, "symbol": "AAPL", "side": OrderSide.BUY, "order_type": OrderType.MARKET,
        "quantity_e9": quantity_to_db(1), "limit_price_e8": None, "stop_price_e8": None, **values,
    }
    return orders.insert_order(
        conn, account_id=ACCOUNT, order_id=order_id, client_order_id=client_order_id or order_id,
        created_at=created_at, **fields,
    )


def test_apply_order_fills_changes_only_the_working_orders_a_fill_fits(db: Any):
    """orders.apply_order_fills adds each order's figures to it as apply_order_fill would, and counts only the
    orders it changed: a pending order and a fill past the quantity change nothing (one statement on PostgreSQL)."""
    with db.transaction() as conn:
        working, pending, nearly = (_insert(conn, created_at=T0, quantity_e9=quantity_to_db(q)) for q in (5, 5, 2))
        for order in (working, nearly):
            orders.mark_order_submitted(conn, account_id=ACCOUNT, order_id=order.order_id, updated_at=T0)
        fill = {"fill_quantity_e9": quantity_to_db(5), "fill_notional_e8": money_to_db(500), "updated_at": timestamp_to_db(T1)}
        changed = orders.apply_order_fills(conn, account_id=ACCOUNT, fills=[
            {"order_id": order.order_id, **fill} for order in (working, pending, nearly)
        ])
        assert 1 == changed
        assert 0 == orders.apply_order_fills(conn, account_id=ACCOUNT, fills=[])
        after = {o.order_id: o for o in (orders.find_order(conn, account_id=ACCOUNT, order_id=x.order_id)
                                          for x in (working, pending, nearly))}
    assert (OrderStatus.FILLED, Decimal(5), Decimal(500), T1, T1) == (
        after[working.order_id].status, after[working.order_id].filled_quantity, after[working.order_id].filled_notional,
        after[working.order_id].terminal_at, after[working.order_id].updated_at,
    )
    assert (OrderStatus.PENDING, Decimal(0)) == (after[pending.order_id].status, after[pending.order_id].filled_quantity)
    assert (OrderStatus.SUBMITTED, Decimal(0), T0) == (
        after[nearly.order_id].status, after[nearly.order_id].filled_quantity, after[nearly.order_id].updated_at,
    )


def test_typed_insert_find_and_lock(db: Any):
    """orders.insert_order/find_order/lock_order/find_by_* return the exact row; lock_order changes nothing."""
    with db.transaction() as conn:
        order = _insert(
            conn, created_at=T0, client_order_id="c-1", order_type=OrderType.LIMIT,
            quantity_e9=quantity_to_db("2.5"), limit_price_e8=money_to_db("101.25"),
        )
        assert Decimal("2.5") == order.quantity
        assert Decimal("101.25") == order.limit_price
        assert S.PENDING is order.status
        assert T0 == order.created_at == order.updated_at
        assert None is order.terminal_at and None is order.external_id
        assert order == orders.find_order(conn, account_id=ACCOUNT, order_id=order.order_id)
        assert order == orders.lock_order(conn, account_id=ACCOUNT, order_id=order.order_id)
        assert None is orders.lock_order(conn, account_id=ACCOUNT, order_id=new_id())
        assert None is orders.find_order(conn, account_id=ACCOUNT, order_id=new_id())
    with db.connection() as conn:
        assert order == orders.find_order(conn, account_id=ACCOUNT, order_id=order.order_id)
        assert order == orders.find_order_by_client_order_id(conn, account_id=ACCOUNT, client_order_id="c-1")
        assert None is orders.find_order(conn, account_id="paper", order_id=order.order_id)


def test_typed_mark_functions_are_guarded(db: Any):
    """mark_order_* move an order only from the statuses SPEC §4 allows, returning None (and changing nothing) otherwise."""
    with db.transaction() as conn:
        order = _insert(conn, created_at=T0)
        key = {"account_id": ACCOUNT, "order_id": order.order_id}
        assert None is orders.mark_order_expired(conn, **key, updated_at=T1)
        assert False is orders.apply_order_fill(conn, **key, fill_quantity_e9=1, fill_notional_e8=1, updated_at=T1)
        submitted = orders.mark_order_submitted(conn, **key, external_id="X-1", status_reason="sent", updated_at=T1)
        assert S.SUBMITTED is submitted.status
        assert ("X-1", "sent", T1, None) == (submitted.external_id, submitted.status_reason, submitted.updated_at, submitted.terminal_at)
        assert None is orders.mark_order_submitted(conn, **key, updated_at=T2)
        assert submitted == orders.find_order_by_external_id(conn, account_id=ACCOUNT, external_id="X-1")
        expired = orders.mark_order_expired(conn, **key, updated_at=T2)
        assert (S.EXPIRED, T2, T2, "sent", "X-1") == (
            expired.status, expired.updated_at, expired.terminal_at, expired.status_reason, expired.external_id,
        )
        for mark in (orders.mark_order_submitted, orders.mark_order_cancelled, orders.mark_order_rejected, orders.mark_order_expired):
            assert None is mark(conn, **key, updated_at=T3)
        assert expired == orders.find_order(conn, **key)
        assert None is orders.mark_order_cancelled(conn, account_id=ACCOUNT, order_id=new_id(), updated_at=T3)


def test_typed_list_open_orders_oldest_first(db: Any):
    """orders.list_open_orders returns pending, submitted and partially filled orders, oldest first; terminal ones are left out."""
    with db.transaction() as conn:
        newest = _insert(conn, created_at=T2)
        oldest = _insert(conn, created_at=T0)
        middle = _insert(conn, created_at=T1)
        gone = _insert(conn, created_at=T0)
        orders.mark_order_submitted(conn, account_id=ACCOUNT, order_id=middle.order_id, updated_at=T2)
        cancelled = orders.mark_order_cancelled(conn, account_id=ACCOUNT, order_id=gone.order_id, status_reason="user", updated_at=T3)
        assert (S.CANCELLED, T3, "user") == (cancelled.status, cancelled.terminal_at, cancelled.status_reason)
        assert None is orders.mark_order_rejected(conn, account_id=ACCOUNT, order_id=gone.order_id, updated_at=T3)
    with db.connection() as conn:
        listed = orders.list_open_orders(conn, account_id=ACCOUNT)
        assert [oldest.order_id, middle.order_id, newest.order_id] == [order.order_id for order in listed]
        assert [S.PENDING, S.SUBMITTED, S.PENDING] == [order.status for order in listed]
        assert [] == orders.list_open_orders(conn, account_id="paper")
        every = orders.list_orders(conn, account_id=ACCOUNT, limit=None)
        assert [newest.order_id, middle.order_id] == [order.order_id for order in every][:2]
        assert {oldest.order_id, gone.order_id} == {order.order_id for order in every[2:]}


def test_typed_mark_order_rejected_from_submitted(db: Any):
    """orders.mark_order_rejected moves a submitted order, recording the reason and terminal_at."""
    with db.transaction() as conn:
        order = _insert(conn, created_at=T0)
        orders.mark_order_submitted(conn, account_id=ACCOUNT, order_id=order.order_id, updated_at=T1)
        rejected = orders.mark_order_rejected(
            conn, account_id=ACCOUNT, order_id=order.order_id, status_reason="market closed", updated_at=T2,
        )
    assert (S.REJECTED, "market closed", T2) == (rejected.status, rejected.status_reason, rejected.terminal_at)
    with db.connection() as conn:
        assert rejected == orders.find_order(conn, account_id=ACCOUNT, order_id=order.order_id)


def test_what_a_fill_reads_of_its_order_stays_locked_until_the_transaction_ends(db: Any, database_url: str):
    """orders.find_order_for_fill: the eight columns a fill needs, in ORDER_FILL_COLUMNS order, or None; the
    order cannot be taken by another writer until the transaction ends (PostgreSQL: its row lock; SQLite:
    the write lock of BEGIN IMMEDIATE)."""
    with db.transaction() as conn:
        order = _insert(conn, created_at=T0, client_order_id="c-1", quantity_e9=quantity_to_db("2.5"))
    with db.transaction() as conn:
        row = orders.find_order_for_fill(conn, account_id=ACCOUNT, order_id=order.order_id)
        assert dict(zip(orders.ORDER_FILL_COLUMNS, row)) == {
            "order_id": order.order_id, "status": "pending", "quantity_e9": 2_500_000_000, "filled_quantity_e9": 0,
            "filled_notional_e8": 0, "strategy_id": None, "symbol": order.symbol, "side": order.side.value,
        }
        assert None is orders.find_order_for_fill(conn, account_id=ACCOUNT, order_id=new_id())
        assert {} == orders.list_orders_for_fills(conn, account_id="paper", order_ids=[order.order_id])
        if db.dialect == "postgresql":
            with psycopg.connect(database_url, autocommit=True) as other, pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT 1 FROM orders WHERE order_id = %s FOR UPDATE NOWAIT", (order.order_id,))
        else:
            other = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
