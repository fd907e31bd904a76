"""`stocksbot demo` and :func:`stocksbot.demo.run_demo`: the session, its hand-checked P&L, run once.

The expected numbers below are the hand computation in the docstring of
stocksbot/demo.py, written out again here (not imported), compared exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import stocksbot
from stocksbot.paths import migration_ids
from stocksbot.cli import main
from stocksbot.demo import DEMO_MARKS, DemoReport, run_demo

D = Decimal

# (symbol, strategy, side, status) -> (quantity, cost basis, realized P&L)
POSITIONS = {
    ("AAPL", "momentum", "long", "closed"): (D(0), D(0), D("1766.70")),
    ("NVDA", "momentum", "long", "open"): (D(50), D("43975.00"), D("-0.25")),
    ("MSFT", "mean-reversion", "long", "closed"): (D(0), D(0), D("-551.10")),
    ("TSLA", "mean-reversion", "short", "open"): (D(60), D("10800.00"), D("399.20")),
    ("KO", "pairs", "long", "closed"): (D(0), D(0), D("297.80")),
    ("KO", "pairs", "short", "open"): (D(100), D("6150.00"), D("-0.60")),
    ("PEP", "pairs", "short", "open"): (D(150), D("25500.00"), D("-0.90")),
}
TOTAL_REALIZED = D("1910.85")
# strategy -> (total trades, closing, winning, win rate, realized P&L, commission + fees)
METRICS = {
    "momentum": (6, 2, 2, D(1), D("1766.45"), D("3.55")),
    "mean-reversion": (4, 2, 1, D("0.5"), D("-151.90"), D("1.90")),
    "pairs": (4, 1, 1, D(1), D("296.30"), D("3.70")),
}
# symbol -> (side, quantity, cost basis, market value, unrealized P&L) at DEMO_MARKS
PORTFOLIO = {
    "KO": ("short", D(100), D("6150.00"), D("6100.00"), D("50.00")),
    "NVDA": ("long", D(50), D("43975.00"), D("45000.00"), D("1025.00")),
    "PEP": ("short", D(150), D("25500.00"), D("25800.00"), D("-300.00")),
    "TSLA": ("short", D(60), D("10800.00"), D("10500.00"), D("300.00")),
}
ORDER_STATES = {
    "demo-1": ("filled", D(300), D("189.76666667")),
    "demo-2": ("filled", D(100), D("195.00")),
    "demo-3": ("cancelled", D(50), D("879.50")),
    "demo-4": ("rejected", D(0), None),
    "demo-5": ("filled", D(100), D("410.00")),
    "demo-6": ("filled", D(100), D("404.50")),
    "demo-7": ("filled", D(100), D("180.00")),
    "demo-8": ("filled", D(40), D("170.00")),
    "demo-9": ("filled", D(200), D("60.00")),
    "demo-10": ("filled", D(150), D("170.00")),
    "demo-11": ("filled", D(300), D("61.50")),
    "demo-12": ("submitted", D(0), None),
}
TABLE_TITLES = ["Open positions (4):", "Closed positions (3):", "Orders (13):", "Trades (14):", "Strategies:",
                "Portfolio at the demo marks", "Settings:"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STOCKSBOT_DEBUG", raising=False)


def snapshot(db: stocksbot.Database, account_id: str = "default") -> dict:
    """Everything the demo's numbers depend on, read back from the database."""
    storage = stocksbot.StorageService(db, account_id)
    names = {s.strategy_id: s.name for s in storage.list_strategies()}
    positions = sorted(
        ((p.symbol, names[p.strategy_id], p.side.value, p.status.value), (p.quantity, p.cost_basis, p.realized_pnl))
        for p in storage.list_positions()
    )
    metrics = {}
    for strategy_id, name in names.items():
        m = storage.get_strategy_metrics(strategy_id)
        metrics[name] = (m.total_trades, m.closing_trades, m.winning_trades, m.win_rate, m.realized_pnl, m.total_fees)
    summary = storage.get_portfolio_summary(DEMO_MARKS)
    portfolio = {
        line.symbol: (line.side.value, line.quantity, line.cost_basis, line.market_value, line.unrealized_pnl)
        for line in summary.lines
    }
    orders = {
        o.client_order_id: (o.status.value, o.filled_quantity, o.avg_fill_price)
        for o in storage.list_orders(limit=None) if o.client_order_id.startswith("demo-")
    }
    trades = storage.get_trades()
    return {
        "positions": dict(positions),
        "metrics": metrics,
        "portfolio": portfolio,
        "realized": summary.total_realized_pnl,
        "unrealized": summary.total_unrealized_pnl,
        "orders": orders,
        "trades": [(t.external_trade_id, t.leg, t.quantity, t.price, t.commission, t.fees, t.realized_pnl) for t in trades],
    }


def assert_hand_computed(state: dict) -> None:
    assert state["positions"] == POSITIONS
    assert state["metrics"] == METRICS
    assert state["portfolio"] == PORTFOLIO
    assert state["realized"] == TOTAL_REALIZED
    assert state["unrealized"] == D("1075.00")
    assert state["orders"] == ORDER_STATES
    assert len(state["trades"]) == 14
    assert sum(t[-1] for t in state["trades"]) == TOTAL_REALIZED  # trades and positions agree exactly


# --- run_demo on both engines -----------------------------------------------------------


def test_run_demo_records_the_hand_computed_session(db: stocksbot.Database) -> None:
    report = run_demo(db)

    assert isinstance(report, DemoReport) and report.recorded
    assert_hand_computed(snapshot(db))
    assert report.portfolio.total_realized_pnl == TOTAL_REALIZED
    assert [(s.name, m.realized_pnl) for s, m in report.strategies] == [
        ("mean-reversion", D("-151.90")), ("momentum", D("1766.45")), ("pairs", D("296.30")),
    ]
    assert [o.client_order_id for o in report.orders if o.client_order_id.startswith("demo-")] == list(ORDER_STATES)


def test_run_demo_details_partial_fills_flip_and_idempotent_redelivery(db: stocksbot.Database) -> None:
    run_demo(db)
    storage = stocksbot.StorageService(db)

    demo1 = storage.get_order_by_client_order_id("demo-1")
    fills = storage.get_trades(order_id=demo1.order_id)
    assert [(t.external_trade_id, t.quantity, t.price) for t in fills] == [
        ("EX-1001-1", D(100), D("189.50")), ("EX-1001-2", D(100), D("189.80")), ("EX-1001-3", D(100), D("190.00")),
    ]  # EX-1001-2 was delivered twice and recorded once
    assert demo1.external_id == "BRK-1001"

    flip = storage.get_trades(order_id=storage.get_order_by_client_order_id("demo-11").order_id)
    assert [(t.leg, t.effect.value, t.quantity, t.commission, t.fees, t.realized_pnl) for t in flip] == [
        (0, "close", D(200), D("1.00"), D("0.20"), D("298.80")),
        (1, "open", D(100), D("0.50"), D("0.10"), D("-0.60")),
    ]
    assert {t.external_trade_id for t in flip} == {"EX-1011-1"}

    aapl = [t for t in storage.get_trades(symbol="AAPL")]
    assert [(t.effect.value, t.realized_pnl) for t in aapl] == [
        ("open", D("-0.50")), ("increase", D("-0.50")), ("increase", D("-0.50")),
        ("reduce", D("522.73333333")), ("close", D("1245.46666667")),
    ]  # 18976.66666667 and 37953.33333333 of basis removed: together exactly 1770.00 gross

    demo3 = storage.get_order_by_client_order_id("demo-3")
    assert (demo3.status_reason, demo3.remaining_quantity) == ("end of day: the unfilled 150 cancelled", D(150))
    demo4 = storage.get_order_by_client_order_id("demo-4")
    assert demo4.status_reason == "broker: insufficient buying power"
    demo6 = storage.get_order_by_client_order_id("demo-6")
    assert (demo6.order_type.value, demo6.stop_price) == ("stop", D("405.00"))
    assert every_trade_has_an_execution_id(storage)
    assert storage.get_config_value("risk.max_open_positions") == 10
    assert storage.get_config_value("trading_enabled") is True


def every_trade_has_an_execution_id(storage: stocksbot.StorageService) -> bool:
    return all(t.external_trade_id for t in storage.get_trades())


def test_run_demo_twice_records_once(db: stocksbot.Database) -> None:
    first = run_demo(db)
    before = snapshot(db)

    second = run_demo(db)

    assert (first.recorded, second.recorded) == (True, False)
    assert snapshot(db) == before
    assert_hand_computed(before)
    assert "already recorded" in second.render()


def test_run_demo_per_account_is_isolated(db: stocksbot.Database) -> None:
    run_demo(db, "paper")
    run_demo(db, "live")

    assert_hand_computed(snapshot(db, "paper"))
    assert_hand_computed(snapshot(db, "live"))
    assert stocksbot.StorageService(db).list_orders() == []


def test_run_demo_refuses_an_account_with_a_strategy_of_the_same_name(db: stocksbot.Database) -> None:
    storage = stocksbot.StorageService(db)
    storage.create_strategy("pairs", {"mine": True})

    with pytest.raises(stocksbot.ConflictError, match="already has a strategy named 'pairs'"):
        run_demo(db)

    assert [s.name for s in storage.list_strategies()] == ["pairs"]  # the whole session rolled back
    assert storage.list_orders() == [] and storage.get_trades() == [] and storage.list_config() == []


def test_report_renders_every_table(db: stocksbot.Database) -> None:
    text = run_demo(db).render()

    for title in TABLE_TITLES:
        assert title in text, title
    assert "Recorded a sample trading session in account 'default'" in text
    lines = text.splitlines()
    assert "realized P&L:     1910.85" in lines
    assert "unrealized P&L:   1075.00" in lines
    assert "total P&L:        2985.85" in lines
    assert any(line.split()[:8] == ["AAPL", "momentum", "long", "closed", "0", "-", "0.00", "1766.70"] for line in lines)
    assert any(line.split()[:7] == ["mean-reversion", "yes", "4", "2", "1", "50.00%", "-151.90"] for line in lines)


# --- the command ------------------------------------------------------------------------


def test_demo_command_migrates_an_empty_database_first(capsys, empty_database_url: str) -> None:
    code = main(["demo", "--database-url", empty_database_url, "--account", "paper"])
    out, err = capsys.readouterr()

    assert (code, err) == (0, "")
    assert out.startswith("migrated ") and f"{len(migration_ids())} migrations applied" in out.splitlines()[0]
    assert "Recorded a sample trading session in account 'paper'" in out
    assert "--account paper" in out.splitlines()[-1]
    with stocksbot.connect(empty_database_url) as db:
        assert_hand_computed(snapshot(db, "paper"))


def test_demo_command_reports_a_conflict_in_one_line(capsys, database_url: str) -> None:
    with stocksbot.connect(database_url) as db:
        stocksbot.StorageService(db).create_strategy("momentum")

    code = main(["demo", "--database-url", database_url])
    out, err = capsys.readouterr()

    assert code == 1
    assert err.splitlines() == [
        "stocksbot: error: account 'default' already has a strategy named 'momentum' that the demo did not "
        "record: run the demo in another account (--account demo)"
    ]


def run_demo_command(cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "STOCKSBOT_DEBUG"}}
    return subprocess.run(
        [sys.executable, "-m", "stocksbot", "demo"], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=300,
    )


def test_stocksbot_demo_creates_the_default_sqlite_database_once(tmp_path: Path) -> None:
    first = run_demo_command(tmp_path)

    assert (first.returncode, first.stderr) == (0, "")
    assert (tmp_path / "stocksbot.db").is_file()
    assert first.stdout.splitlines()[0] == f"migrated sqlite:///./stocksbot.db: {len(migration_ids())} migrations applied"
    assert "Recorded a sample trading session in account 'default' of sqlite:///./stocksbot.db" in first.stdout
    for title in TABLE_TITLES:
        assert title in first.stdout, title
    with stocksbot.connect(f"sqlite:///{tmp_path / 'stocksbot.db'}") as db:
        before = snapshot(db)
    assert_hand_computed(before)

    second = run_demo_command(tmp_path)

    assert (second.returncode, second.stderr) == (0, "")
    assert "migrated" not in second.stdout
    assert "already recorded in account 'default'" in second.stdout
    with stocksbot.connect(f"sqlite:///{tmp_path / 'stocksbot.db'}") as db:
        assert snapshot(db) == before
    # The tables after the headline print the same numbers (only the headline differs).
    assert first.stdout.split("\n\n")[1:] == second.stdout.split("\n\n")[1:]


def test_two_demos_racing_record_the_session_once(db: stocksbot.Database) -> None:
    """Two runs at once: one records, the other waits (SQLite) or loses on a unique key (PostgreSQL)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: run_demo(db), range(2)))

    assert sorted(report.recorded for report in reports) == [False, True]
    assert_hand_computed(snapshot(db))
