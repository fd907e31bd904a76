"""Accounts: two StorageServices on one database (say paper and live) never see or change each
other's orders, positions, trades, strategies or settings, and may reuse each other's keys.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

import pytest

from stocksbot import NotFoundError, StorageService

TABLES = ("strategies", "orders", "positions", "trades", "config")


def rows_of(db: Any, account_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row one account owns in the five tables, read with plain SQL."""
    with db.connection() as conn:
        return {
            table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() if row["account_id"] == account_id]
            for table in TABLES
        }


@pytest.fixture
def live(db: Any) -> StorageService:
    """The 'live' account."""
    return StorageService(db, account_id="live")


@pytest.fixture
def paper(db: Any) -> StorageService:
    """The 'paper' account, on the same database."""
    return StorageService(db, account_id="paper")


@pytest.fixture
def live_book(live: StorageService) -> dict[str, Any]:
    """A strategy, a filled order with its trade and position, a pending order and a setting in 'live'."""
    strategy = live.create_strategy("trend", config={"window": 20})
    order = live.create_order("AAPL", "buy", "limit", 10, limit_price=150, strategy_id=strategy.strategy_id, client_order_id="c-1")
    live.update_order_status(order.order_id, "submitted", external_id="BRK-1")
    trade = live.record_fill(order.order_id, quantity=10, price=150, commission=1, external_trade_id="EX-1")
    pending = live.create_order("MSFT", "sell", "market", 3)
    live.set_config_value("risk.max", "5", "int")
    return {
        "strategy": strategy.strategy_id, "order": order.order_id, "pending": pending.order_id,
        "trade": trade.trade_id, "position": trade.position_id,
    }


def test_reads_do_not_cross_accounts(paper: StorageService, live: StorageService, live_book: dict[str, Any]):
    """Every lookup and listing of another account's rows returns None or nothing."""
    assert None is paper.get_order(live_book["order"])
    assert None is paper.get_order_by_client_order_id("c-1")
    assert None is paper.get_order_by_external_id("BRK-1")
    assert None is paper.get_position(live_book["position"])
    assert None is paper.get_strategy(live_book["strategy"])
    assert None is paper.get_strategy_by_name("trend")
    assert None is paper.get_strategy_metrics(live_book["strategy"])
    assert None is paper.get_config_value("risk.max")
    assert None is paper.get_config_entry("risk.max")
    assert ([], [], [], [], [], [], []) == (
        paper.list_orders(), paper.get_open_positions(), paper.list_positions(), paper.get_trades(),
        paper.get_trades(order_id=live_book["order"]), paper.list_strategies(), paper.list_config(),
    )
    summary = paper.get_portfolio_summary()
    assert ([], Decimal(0), "paper") == (summary.lines, summary.total_realized_pnl, summary.account_id)
    assert live_book["order"] == live.get_order_by_client_order_id("c-1").order_id
    assert 1 == len(live.get_trades())


ACTIONS: list[tuple[str, Callable[[StorageService, dict[str, Any]], Any]]] = [
    ("update_order_status", lambda svc, book: svc.update_order_status(book["pending"], "cancelled")),
    ("submit", lambda svc, book: svc.update_order_status(book["pending"], "submitted")),
    ("record_fill", lambda svc, book: svc.record_fill(book["order"], quantity=1, price=1)),
    ("close_position", lambda svc, book: svc.close_position(book["position"], exit_price=160)),
    ("update_strategy_config", lambda svc, book: svc.update_strategy_config(book["strategy"], {"window": 1})),
    ("set_strategy_active", lambda svc, book: svc.set_strategy_active(book["strategy"], False)),
    ("create_order with its strategy", lambda svc, book: svc.create_order("AAPL", "buy", "market", 1, strategy_id=book["strategy"])),
    ("create_position with its strategy", lambda svc, book: svc.create_position("AAPL", "long", 1, 1, strategy_id=book["strategy"])),
]


@pytest.mark.parametrize("action", [a for _, a in ACTIONS], ids=[name for name, _ in ACTIONS])
def test_acting_on_another_accounts_ids_is_not_found(db: Any, paper: StorageService, live_book: dict[str, Any], action: Any):
    """Acting in 'paper' on an id of 'live' raises NotFoundError and changes nothing in either account."""
    before = {account: rows_of(db, account) for account in ("live", "paper")}
    with pytest.raises(NotFoundError):
        action(paper, live_book)
    assert before == {account: rows_of(db, account) for account in ("live", "paper")}


def test_deleting_a_setting_in_one_account_leaves_the_other(paper: StorageService, live: StorageService, live_book: dict[str, Any]):
    """delete_config_value in 'paper' of a key only 'live' has returns False and leaves 'live' alone."""
    assert False is paper.delete_config_value("risk.max")
    assert 5 == live.get_config_value("risk.max")


def test_same_keys_in_both_accounts(db: Any, paper: StorageService, live: StorageService):
    """The same client_order_id, broker id, strategy name and config key exist in both accounts, each its own row."""
    made = {}
    for svc, window, mode in ((live, 20, "live"), (paper, 5, "paper")):
        strategy = svc.create_strategy("trend", config={"window": window})
        order = svc.create_order("AAPL", "buy", "market", 1, client_order_id="bot-0001", strategy_id=strategy.strategy_id)
        svc.update_order_status(order.order_id, "submitted", external_id="BROKER-9")
        svc.set_config_value("mode", mode)
        svc.set_config_value("limit", window, "int")
        made[svc.account_id] = (strategy, order)
    for svc, window, mode in ((live, 20, "live"), (paper, 5, "paper")):
        strategy, order = made[svc.account_id]
        assert strategy == svc.get_strategy_by_name("trend")
        assert {"window": window} == svc.get_strategy_by_name("trend").config
        assert order.order_id == svc.get_order_by_client_order_id("bot-0001").order_id
        assert order.order_id == svc.get_order_by_external_id("BROKER-9").order_id
        assert (mode, window) == (svc.get_config_value("mode"), svc.get_config_value("limit"))
        assert [svc.account_id] == sorted({o.account_id for o in svc.list_orders()})
    assert made["live"][1].order_id != made["paper"][1].order_id
    paper.delete_config_value("mode")
    assert ("live", None) == (live.get_config_value("mode"), paper.get_config_value("mode"))
    paper.update_strategy_config(made["paper"][0].strategy_id, {"window": 6})
    assert {"window": 20} == live.get_strategy(made["live"][0].strategy_id).config


def test_a_fill_in_one_account_leaves_the_others_position(db: Any, paper: StorageService, live: StorageService):
    """A fill in 'live' opens its own AAPL position; 'paper's open AAPL position and its rows stay exactly as they were."""
    theirs = paper.create_position("AAPL", "long", 10, 100)
    paper_before = rows_of(db, "paper")
    order = live.create_order("AAPL", "sell", "market", 4)
    live.update_order_status(order.order_id, "submitted")
    trade = live.record_fill(order.order_id, quantity=4, price=120)
    assert paper_before == rows_of(db, "paper")
    assert theirs == paper.get_position(theirs.position_id)
    mine = live.get_position(trade.position_id)
    assert (trade.position_id != theirs.position_id, "short", Decimal(4), "live") == (
        True, mine.side.value, mine.quantity, mine.account_id,
    )
    assert [theirs] == paper.get_open_positions(symbol="AAPL")
    assert [mine] == live.get_open_positions(symbol="AAPL")
    assert Decimal(0) == paper.get_portfolio_summary().total_realized_pnl


def test_default_account(db: Any):
    """StorageService(db) works in the 'default' account, which is the same as naming it."""
    implicit, explicit = StorageService(db), StorageService(db, account_id="default")
    assert "default" == implicit.account_id
    strategy = implicit.create_strategy("s")
    assert strategy == explicit.get_strategy(strategy.strategy_id)
    assert "default" == strategy.account_id
    assert None is StorageService(db, account_id="Default").get_strategy(strategy.strategy_id)  # ids are case-sensitive
