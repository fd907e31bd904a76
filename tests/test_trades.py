"""Trades: the rows fills write, read back through get_trades and the typed query module
stocksbot.trades (find_trade, find_trade_by_execution, list_trades, list_trades_by_position),
and the database constraints that guard them.

The fill arithmetic itself (P&L, flips, idempotency) is tested in test_service_fills.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from stocksbot import ConflictError, OrderSide, StorageService, Trade, TradeEffect
from stocksbot import trades
from stocksbot.values import money_to_db, new_id, quantity_to_db

ACCOUNT = "default"
T0 = datetime(2024, 3, 1, 14, 30, 0, 123456, tzinfo=timezone.utc)
T1 = datetime(2024, 3, 1, 14, 30, 0, 123457, tzinfo=timezone.utc)
T2 = datetime(2024, 3, 4, 9, 30, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def svc(db: Any) -> StorageService:
    """The default account's service on the engine under test."""
    return StorageService(db)


def working_order(svc: StorageService, symbol: str = "AAPL", side: str = "buy", quantity: Any = 10, strategy_id: str | None = None) -> str:
    """A submitted market order; returns its id."""
    order = svc.create_order(symbol, side, "market", quantity, strategy_id=strategy_id)
    svc.update_order_status(order.order_id, "submitted")
    return order.order_id


# --- find_trade / find_trade_by_execution ---------------------------------------------------------


def test_typed_find_trade_returns_the_recorded_row(db: Any, svc: StorageService):
    """trades.find_trade and find_trade_by_execution return the exact row record_fill wrote."""
    order_id = working_order(svc)
    trade = svc.record_fill(order_id, quantity="4", price="101.5", commission="1.25", fees="0.05",
                            executed_at=T0, external_trade_id="EX-1")
    position = svc.get_open_positions(symbol="AAPL")[0]
    assert (order_id, position.position_id, "AAPL", OrderSide.BUY, 0, TradeEffect.OPEN) == (
        trade.order_id, trade.position_id, trade.symbol, trade.side, trade.leg, trade.effect,
    )
    assert (Decimal(4), Decimal("101.5"), Decimal("1.25"), Decimal("0.05"), Decimal("-1.3")) == (
        trade.quantity, trade.price, trade.commission, trade.fees, trade.realized_pnl,
    )
    assert ("EX-1", T0, None, ACCOUNT) == (trade.external_trade_id, trade.executed_at, trade.strategy_id, trade.account_id)
    with db.connection() as conn:
        assert trade == trades.find_trade(conn, account_id=ACCOUNT, trade_id=trade.trade_id)
        assert trade == trades.find_trade_by_execution(conn, account_id=ACCOUNT, order_id=order_id, external_trade_id="EX-1")
        assert trade == trades.find_trade_by_execution(conn, account_id=ACCOUNT, order_id=order_id, external_trade_id="EX-1", leg=0)
        assert None is trades.find_trade_by_execution(conn, account_id=ACCOUNT, order_id=order_id, external_trade_id="EX-1", leg=1)
        assert None is trades.find_trade_by_execution(conn, account_id=ACCOUNT, order_id=order_id, external_trade_id="ex-1")
        assert None is trades.find_trade_by_execution(conn, account_id=ACCOUNT, order_id=new_id(), external_trade_id="EX-1")
        assert None is trades.find_trade_by_execution(conn, account_id="paper", order_id=order_id, external_trade_id="EX-1")
        assert None is trades.find_trade(conn, account_id=ACCOUNT, trade_id=new_id())
        assert None is trades.find_trade(conn, account_id="paper", trade_id=trade.trade_id)


def test_flip_legs_are_found_by_leg(db: Any, svc: StorageService):
    """The two rows of a flip share the execution id; find_trade_by_execution tells them apart by leg."""
    svc.record_fill(working_order(svc, quantity=3), quantity=3, price=10, executed_at=T0)
    order_id = working_order(svc, side="sell", quantity=5)
    closing = svc.record_fill(order_id, quantity=5, price=12, executed_at=T1, external_trade_id="FLIP-1")
    with db.connection() as conn:
        first = trades.find_trade_by_execution(conn, account_id=ACCOUNT, order_id=order_id, external_trade_id="FLIP-1")
        second = trades.find_trade_by_execution(conn, account_id=ACCOUNT, order_id=order_id, external_trade_id="FLIP-1", leg=1)
    assert closing == first
    assert (0, TradeEffect.CLOSE, Decimal(3)) == (first.leg, first.effect, first.quantity)
    assert (1, TradeEffect.OPEN, Decimal(2), "FLIP-1") == (second.leg, second.effect, second.quantity, second.external_trade_id)
    assert first.position_id != second.position_id
    assert [second.position_id] == [p.position_id for p in svc.get_open_positions()]


# --- listings -------------------------------------------------------------------------------------


def test_typed_list_trades_by_position_in_execution_order(db: Any, svc: StorageService):
    """trades.list_trades_by_position returns one position's rows by executed_at, whatever the recording order."""
    buy = working_order(svc, quantity=10)
    late = svc.record_fill(buy, quantity=6, price="100", executed_at=T2)
    early = svc.record_fill(buy, quantity=4, price="99", executed_at=T0)
    other = svc.record_fill(working_order(svc, symbol="MSFT", quantity=1), quantity=1, price=400, executed_at=T1)
    sell = working_order(svc, side="sell", quantity=10)
    close = svc.record_fill(sell, quantity=10, price="101", executed_at=T2 + timedelta(hours=1))
    position_id = early.position_id
    with db.connection() as conn:
        rows = trades.list_trades_by_position(conn, account_id=ACCOUNT, position_id=position_id)
        assert [early, late, close] == rows
        # The effect follows the recording order (the T2 fill opened it); the listing follows executed_at.
        assert [TradeEffect.INCREASE, TradeEffect.OPEN, TradeEffect.CLOSE] == [row.effect for row in rows]
        assert [other] == trades.list_trades_by_position(conn, account_id=ACCOUNT, position_id=other.position_id)
        assert [] == trades.list_trades_by_position(conn, account_id=ACCOUNT, position_id=new_id())
        assert [] == trades.list_trades_by_position(conn, account_id="paper", position_id=position_id)
    assert sum(row.realized_pnl for row in rows) == svc.get_position(position_id).realized_pnl


@pytest.fixture
def tape(svc: StorageService) -> dict[str, Any]:
    """Four fills over two symbols, one strategy and three orders, executed at T0 < T1 < T2 < T2+1h."""
    strategy = svc.create_strategy("tape").strategy_id
    aapl = working_order(svc, quantity=10, strategy_id=strategy)
    msft = working_order(svc, symbol="MSFT", quantity=5)
    msft2 = working_order(svc, symbol="MSFT", side="sell", quantity=5)
    made = {
        "a2": svc.record_fill(aapl, quantity=3, price=100, executed_at=T2),
        "m0": svc.record_fill(msft, quantity=5, price=400, executed_at=T0),
        "a1": svc.record_fill(aapl, quantity=7, price=101, executed_at=T1),
        "m3": svc.record_fill(msft2, quantity=5, price=410, executed_at=T2 + timedelta(hours=1)),
    }
    return {"strategy": strategy, "aapl": aapl, "msft": msft, **{name: trade.trade_id for name, trade in made.items()}}


TRADE_FILTERS = [
    ({}, ["m0", "a1", "a2", "m3"]),
    ({"order_id": "aapl"}, ["a1", "a2"]),
    ({"order_id": "msft"}, ["m0"]),
    ({"symbol": "MSFT"}, ["m0", "m3"]),
    ({"symbol": "TSLA"}, []),
    ({"strategy_id": "strategy"}, ["a1", "a2"]),
    ({"since": T1}, ["a1", "a2", "m3"]),  # since is inclusive, to the microsecond
    ({"since": T1.astimezone(timezone(timedelta(hours=9)))}, ["a1", "a2", "m3"]),
    ({"since": T1 + timedelta(microseconds=1)}, ["a2", "m3"]),
    ({"symbol": "MSFT", "since": T1}, ["m3"]),
    ({"limit": 2}, ["m0", "a1"]),
    ({"symbol": "AAPL", "limit": 1}, ["a1"]),
]


@pytest.mark.parametrize(("filters", "expected"), TRADE_FILTERS, ids=repr)
def test_get_trades_filters_in_execution_order(svc: StorageService, tape: dict[str, Any], filters: dict[str, Any], expected: list[str]):
    """get_trades filters by order, symbol, strategy and since (inclusive), in execution order, up to limit."""
    filters = {key: tape[value] if key in ("order_id", "strategy_id") else value for key, value in filters.items()}
    assert [tape[name] for name in expected] == [trade.trade_id for trade in svc.get_trades(**filters)]


def test_typed_list_trades_matches_the_service(db: Any, svc: StorageService, tape: dict[str, Any]):
    """trades.list_trades on a connection returns what get_trades returns."""
    with db.connection() as conn:
        assert svc.get_trades() == trades.list_trades(conn, account_id=ACCOUNT)
        assert svc.get_trades(symbol="AAPL", since=T2) == trades.list_trades(conn, account_id=ACCOUNT, symbol="AAPL", since=T2)
        assert [tape["a2"]] == [t.trade_id for t in trades.list_trades(conn, account_id=ACCOUNT, symbol="AAPL", since=T2)]
        assert [] == trades.list_trades(conn, account_id="paper")


def test_executed_at_keeps_the_instant_to_the_microsecond(svc: StorageService):
    """executed_at given with any offset comes back as the same UTC instant, microseconds included."""
    tokyo = timezone(timedelta(hours=9))
    trade = svc.record_fill(working_order(svc), quantity=1, price=1, executed_at=datetime(2024, 3, 1, 23, 30, 0, 123456, tzinfo=tokyo))
    assert T0 == trade.executed_at
    assert timezone.utc == trade.executed_at.tzinfo
    assert [trade] == svc.get_trades()


# --- constraints on direct inserts ------------------------------------------------------------------


def _trade_values(order_id: str, position_id: str, **overrides: Any) -> dict[str, Any]:
    values = {
        "account_id": ACCOUNT, "trade_id": new_id(), "order_id": order_id, "position_id": position_id,
        "strategy_id": None, "symbol": "AAPL", "side": "buy", "leg": 0, "effect": "increase",
        "quantity_e9": quantity_to_db(1), "price_e8": money_to_db(100), "commission_e8": 0, "fees_e8": 0,
        "realized_pnl_e8": 0, "external_trade_id": None, "executed_at": T1, "created_at": T1,
    }
    return {**values, **overrides}


def test_typed_insert_trade_round_trips(db: Any, svc: StorageService):
    """trades.insert_trade returns the typed row it wrote, exactly."""
    first = svc.record_fill(working_order(svc), quantity=1, price=100, executed_at=T0)
    with db.transaction() as conn:
        written = trades.insert_trade(conn, **_trade_values(
            first.order_id, first.position_id, quantity_e9=quantity_to_db("0.000000001"),
            price_e8=money_to_db("99999.99999999"), commission_e8=money_to_db("0.01"), external_trade_id="manual-1",
        ))
        assert (Decimal("0.000000001"), Decimal("99999.99999999"), Decimal("0.01"), "manual-1", T1) == (
            written.quantity, written.price, written.commission, written.external_trade_id, written.executed_at,
        )
        assert isinstance(written, Trade)
        assert written == trades.find_trade(conn, account_id=ACCOUNT, trade_id=written.trade_id)


BAD_TRADES = [
    # what is wrong, overrides (position/order "missing" replaced below), constraint (None: unnamed on SQLite)
    ("unknown position", {"position_id": "missing"}, "fk_trades_position", False),
    ("unknown order", {"order_id": "missing"}, "fk_trades_order", False),
    ("duplicate execution", {"external_trade_id": "EX-1"}, "uq_trades_account_order_execution_leg", False),
    ("opening leg 1 that reduces", {"leg": 1, "effect": "reduce"}, "ck_trades_leg_effect", True),
    ("zero quantity", {"quantity_e9": 0}, "ck_trades_quantity_e9", True),
    ("negative fees", {"fees_e8": -1}, "ck_trades_fees_e8", True),
    ("unknown side", {"side": "hold"}, "ck_trades_side", True),
]


@pytest.mark.parametrize(("what", "overrides", "constraint", "named_on_sqlite"), BAD_TRADES, ids=[case[0] for case in BAD_TRADES])
def test_database_refuses_bad_trade_rows(db: Any, svc: StorageService, what: str, overrides: dict[str, Any], constraint: str, named_on_sqlite: bool):
    """A trade row that breaks a foreign key, the execution key or a CHECK raises ConflictError and the transaction writes nothing."""
    first = svc.record_fill(working_order(svc), quantity=1, price=100, executed_at=T0, external_trade_id="EX-1")
    overrides = {key: new_id() if value == "missing" else value for key, value in overrides.items()}
    before = svc.get_trades()
    with pytest.raises(ConflictError) as caught:
        with db.transaction() as conn:
            trades.insert_trade(conn, **_trade_values(first.order_id, first.position_id, external_trade_id="EX-2"))
            trades.insert_trade(conn, **{**_trade_values(first.order_id, first.position_id), **overrides})
    if db.dialect == "postgresql" or named_on_sqlite:
        assert constraint == caught.value.constraint
    assert "trades.insert_trade" == caught.value.query
    assert before == svc.get_trades()
