"""``stocksbot db verify``: the maintained figures checked against the trades, on SQLite and PostgreSQL.

A book written through StorageService always verifies; a figure changed behind its back
(a hand edit) is reported with what it says and what the trades say; a history loaded
with import_trades that the orders and positions do not add up to is reported too.
The command is built here exactly as stocksbot/cli.py wires it (``add_verify_command``).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import stocksbot
from stocksbot import StorageService
from stocksbot.verify import EXIT_INCONSISTENT, add_verify_command, verify

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


@pytest.fixture
def storage(db: stocksbot.Database) -> StorageService:
    return StorageService(db)


def _book(storage: StorageService) -> dict[str, Any]:
    """A strategy with a long position built by two fills and reduced by a third; a second account too."""
    strategy = storage.create_strategy("trend")
    buy = storage.create_order("AAPL", "buy", "market", 10, strategy_id=strategy.strategy_id)
    storage.update_order_status(buy.order_id, "submitted")
    storage.record_fill(buy.order_id, quantity=4, price=100, commission=1, executed_at=T0)
    storage.record_fills([{"order_id": buy.order_id, "quantity": 6, "price": 101, "executed_at": T0 + timedelta(minutes=1)}])
    sell = storage.create_order("AAPL", "sell", "market", 3, strategy_id=strategy.strategy_id)
    storage.update_order_status(sell.order_id, "submitted")
    trade = storage.record_fill(sell.order_id, quantity=3, price=110, executed_at=T0 + timedelta(minutes=2))
    other = StorageService(storage.db, "paper")
    order = other.create_order("KO", "sell", "market", 2)
    other.update_order_status(order.order_id, "submitted")
    other.record_fill(order.order_id, quantity=2, price=60)
    return {"strategy": strategy.strategy_id, "buy": buy.order_id, "position": trade.position_id}


def _run(url: str, *options: str) -> tuple[int, str]:
    """``stocksbot db verify`` as cli.py wires it; (exit code, stdout)."""
    parser = argparse.ArgumentParser(prog="stocksbot db")
    add_verify_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["verify", "--database-url", url, *options])
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = args.handler(args)
    return code, out.getvalue()


def test_a_book_written_by_the_service_verifies(db, storage, database_url):
    """Fills, a batch and a reduce in two accounts: no difference; the command exits 0 and says so."""
    _book(storage)

    report = verify(db)

    assert report.ok and [] == report.differences
    assert 1 == report.strategies
    code, out = _run(database_url)
    assert 0 == code
    assert "all agree with the trades" in out


def test_a_hand_edited_figure_is_reported_with_both_values(db, storage, database_url):
    """Metrics, an order's filled quantity and a position's realized P&L changed behind the service's back:
    one line each, naming the row, the kept value and what the trades add up to; exit 5."""
    book = _book(storage)
    with db.transaction() as conn:
        conn.execute("UPDATE strategy_metrics SET winning_trades = 0, total_fees_e8 = total_fees_e8 + 1")
        conn.execute(_sql(conn, "UPDATE orders SET filled_quantity_e9 = 9000000000, status = 'partially_filled', "
                                "terminal_at = NULL WHERE order_id = ?"), (book["buy"],))
        conn.execute(_sql(conn, "UPDATE positions SET realized_pnl_e8 = 0 WHERE position_id = ?"), (book["position"],))

    lines = [difference.line() for difference in verify(db).differences]

    assert [
        f"strategy_metrics default/{book['strategy']}: winning_trades: maintained 0, trades say 1; "
        "total_fees_e8: maintained 100000001, trades say 100000000",
        f"order_fill default/{book['buy']}: filled_quantity 9, its trades add up to 10",
        f"position_pnl default/{book['position']}: realized_pnl 0, its trades add up to 27.2",
    ] == lines  # the trades' P&L: -1 (the first fill's commission) + 3 x (110 - 100.6) = 27.2
    code, out = _run(database_url, "--json")
    assert EXIT_INCONSISTENT == code
    document = json.loads(out)
    assert (False, 3) == (document["ok"], len(document["differences"]))


def test_an_imported_history_the_orders_do_not_add_up_to_is_reported(db, storage):
    """import_trades loads trades as given: an order's fill and its position's P&L now differ, and verify says so;
    the strategy metrics still agree (the import kept them)."""
    book = _book(storage)
    storage.import_trades([{
        "order_id": book["buy"], "position_id": book["position"], "symbol": "AAPL", "side": "buy",
        "effect": "increase", "quantity": 2, "price": 99, "realized_pnl": D("-0.5"), "executed_at": T0,
        "strategy_id": book["strategy"], "external_trade_id": "imported-1",
    }])

    kinds = [difference.kind for difference in verify(db).differences]

    assert ["order_fill", "position_pnl"] == kinds


def test_a_row_missing_from_strategy_metrics_is_reported(db, storage):
    """Trades of a strategy with no maintained row at all (deleted by hand): reported as maintained 0."""
    book = _book(storage)
    with db.transaction() as conn:
        conn.execute("DELETE FROM strategy_metrics")

    [difference] = verify(db).differences

    assert ("strategy_metrics", book["strategy"]) == (difference.kind, difference.row_id)
    assert difference.detail.startswith("total_trades: maintained 0, trades say 3")


def _sql(conn: Any, text: str) -> str:
    from stocksbot.sqlfiles import is_sqlite

    return text if is_sqlite(conn) else text.replace("?", "%s")
