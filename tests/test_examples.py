"""examples/engine_loop.py runs as documented, on both engines, and leaves the rows it describes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from stocksbot.paths import migration_ids
import stocksbot

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "engine_loop.py"
D = Decimal


def run_example(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "STOCKSBOT_DEBUG"}}
    environment.update(env or {})
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *argv], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result


def client_order_id(output: str) -> str:
    match = re.search(r"^\[a\] order (breakout-[0-9a-f]{12}): pending \(written before the broker call\)$", output, re.M)
    assert match, output
    return match.group(1)


def test_engine_loop_records_one_orders_life(database_url: str, tmp_path: Path) -> None:
    result = run_example(database_url, cwd=tmp_path)
    out = result.stdout
    coid = client_order_id(out)
    broker_id = re.search(r"^\[a\] broker accepted it as (SIM-\S+): submitted$", out, re.M).group(1)

    expected = [
        f"[a] fill {broker_id}-E1: 50 @ 100.00 -> order partially_filled, 50 of 100 filled",
        f"[a] fill {broker_id}-E2: 25 @ 100.30 -> order partially_filled, 75 of 100 filled",
        f"[a] order {coid}: cancelled, avg fill 100.10",
        "[a] position AAPL long 75 @ 100.10 (cost basis 7507.50), realized P&L -0.50",
        "[a] strategy breakout: 2 trades, realized P&L -0.50, fees 0.50",
        f"[b] find_order_by_client_order_id('{coid}') -> cancelled, broker id {broker_id}",
        f"[b] list_trades: {broker_id}-E1 buy 50 @ 100.00 (open, commission 0.25)",
        f"[b] list_trades: {broker_id}-E2 buy 25 @ 100.30 (increase, commission 0.25)",
        "[b] list_open_orders -> 1 to reconcile with the broker",
        f"[b] {coid}-tp (SIM-TP-{coid[-6:]}): submitted -> expired",
        "[b] list_open_positions -> AAPL long 75",
        "done",
    ]
    lines = out.splitlines()
    for line in expected:
        assert line in lines, line
    assert re.search(rf"^\[a\] fill {broker_id}-E1 delivered again -> trade \S+ already recorded; still 75 of 100 filled$", out, re.M)

    with stocksbot.connect(database_url) as db:
        storage = stocksbot.StorageService(db, "paper")
        order = storage.get_order_by_client_order_id(coid)
        assert (order.status.value, order.external_id, order.filled_quantity, order.avg_fill_price) == (
            "cancelled", broker_id, D(75), D("100.10"),
        )
        assert order.status_reason == "remaining 25 cancelled by the engine"
        trades = storage.get_trades(order_id=order.order_id)
        assert [(t.external_trade_id, t.quantity, t.price, t.commission) for t in trades] == [
            (f"{broker_id}-E1", D(50), D("100.00"), D("0.25")), (f"{broker_id}-E2", D(25), D("100.30"), D("0.25")),
        ]
        take_profit = storage.get_order_by_client_order_id(f"{coid}-tp")
        assert (take_profit.status.value, take_profit.status_reason) == ("expired", "broker: expired at close")
        (position,) = storage.get_open_positions()
        assert (position.symbol, position.quantity, position.cost_basis, position.realized_pnl) == (
            "AAPL", D(75), D("7507.50"), D("-0.50"),
        )
        assert stocksbot.StorageService(db).list_orders() == []  # all in account "paper"


def test_engine_loop_runs_again_on_the_same_database(database_url: str, tmp_path: Path) -> None:
    first = client_order_id(run_example(database_url, cwd=tmp_path).stdout)
    second_run = run_example(database_url, cwd=tmp_path).stdout
    second = client_order_id(second_run)

    assert first != second
    assert "0 migrations applied" in second_run.splitlines()[0]
    assert "[a] strategy breakout: 4 trades, realized P&L -1.00, fees 1.00" in second_run.splitlines()
    with stocksbot.connect(database_url) as db:
        storage = stocksbot.StorageService(db, "paper")
        assert [s.name for s in storage.list_strategies()] == ["breakout"]
        (position,) = storage.get_open_positions()
        assert (position.quantity, position.cost_basis) == (D(150), D("15015.00"))
        assert len(storage.get_trades()) == 4


def test_engine_loop_takes_database_url_from_the_environment(database_url: str, tmp_path: Path) -> None:
    out = run_example(cwd=tmp_path, env={"DATABASE_URL": database_url}).stdout
    coid = client_order_id(out)
    with stocksbot.connect(database_url) as db:
        assert stocksbot.StorageService(db, "paper").get_order_by_client_order_id(coid) is not None


def test_engine_loop_defaults_to_a_temporary_sqlite_file(tmp_path: Path) -> None:
    out = run_example(cwd=tmp_path, env={"TMPDIR": str(tmp_path)}).stdout

    first = out.splitlines()[0]
    match = re.fullmatch(rf"database sqlite:///(\S+/engine_loop\.db) \(sqlite\): {len(migration_ids())} migrations applied", first)
    assert match, first
    path = Path(match.group(1))
    assert path.is_file() and path.is_relative_to(tmp_path)
    assert out.splitlines()[-1] == "done"
