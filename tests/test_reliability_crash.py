"""Reliability 2: a writer SIGKILLed at random moments, 20 times (times STOCKSBOT_RELIABILITY_SCALE).

The writer (tests/reliability_workers.py crash-writer) creates and submits the
plan's orders if they are missing, then records the plan's fills in order,
appending each execution id to an ack file (flush + fsync) once ``record_fill``
has returned. The parent kills it at a random moment, restarts it a few fills
before the last ack (so acknowledged fills are re-sent too), and after the last
kill checks: the database opens cleanly (SQLite ``PRAGMA integrity_check``),
every acknowledged fill is there, nothing is half-applied (every invariant, and a
full average-cost replay), and re-sending every fill of the plan, acknowledged or
not, leaves exactly the set sent.

Full size: ``STOCKSBOT_RELIABILITY_SCALE=1 python -m pytest -s -m slow tests/test_reliability_crash.py``.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

import stocksbot
from reliability_workers import (
    check_invariants,
    check_replay,
    child,
    kill_all,
    make_plan,
    read_acks,
    read_book,
    report,
    scaled,
    seed,
    setup_plan,
)

pytestmark = pytest.mark.slow

FULL_CRASHES = 20
MAX_KILL_DELAY = 0.8  # seconds after the writer has connected; setting up the orders is inside the window


def test_a_writer_killed_at_random_points_loses_no_acknowledged_fill(
    database_url: str, engine: str, tmp_path: Path
) -> None:
    """SIGKILL x N: clean open, acknowledged fills present, no half-applied fill, re-sending is safe."""
    crashes_wanted = scaled(FULL_CRASHES, minimum=5)
    plan = make_plan(
        workers=1, fills_per_worker=400 * crashes_wanted, orders_per_key=2, duplicate_share=0,
        run_seed=seed() + 2, tag="c",
    )
    plan_path = plan.save(tmp_path / "plan.json")
    ack = tmp_path / "acks"
    fills = plan.fills[0]
    rng = random.Random(plan.seed)

    position = {fill.execution_id: index for index, fill in enumerate(fills)}
    crashes = finished_runs = resent_acknowledged = 0
    while crashes < crashes_wanted and finished_runs < 3:
        acknowledged = read_acks(ack)
        next_fill = max((position[execution] for execution in acknowledged), default=-1) + 1
        start = max(0, next_fill - rng.randint(0, 3))  # re-send a few acknowledged fills
        resent_acknowledged += next_fill - start
        ready = tmp_path / f"ready-{crashes}-{finished_runs}"
        writer = child("crash-writer", "--url", database_url, "--plan", str(plan_path), "--start", str(start),
                       "--ack", str(ack), "--ready", str(ready))
        try:
            while not ready.exists() and writer.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, MAX_KILL_DELAY))
            if writer.poll() is None:
                writer.send_signal(signal.SIGKILL)
                crashes += 1
            else:
                finished_runs += 1
            _, stderr = writer.communicate(timeout=120)
            assert writer.returncode in (0, -signal.SIGKILL), f"the writer failed on its own: {stderr}"
        finally:
            kill_all([writer])

    acknowledged_ids = set(read_acks(ack))
    planned = plan.unique_fills()
    integrity = "n/a"
    if engine == "sqlite":
        import sqlite3

        path = stocksbot.db.DatabaseURL.parse(database_url).sqlite_path
        with sqlite3.connect(path) as raw:
            integrity = raw.execute("PRAGMA integrity_check").fetchone()[0]
            foreign_keys = raw.execute("PRAGMA foreign_key_check").fetchall()
        assert "ok" == integrity
        assert [] == foreign_keys

    with stocksbot.connect(database_url) as db:  # opens cleanly, and its schema check passes on a write
        storage = stocksbot.StorageService(db)
        book = read_book(db)
        recorded = {trade["external_trade_id"] for trade in book["trades"]}
        after_crashes = check_invariants(book, planned=planned)
        replay_after_crashes = check_replay(book)
        missing = acknowledged_ids - recorded

        order_ids = setup_plan(storage, plan)  # a no-op for the orders that exist
        for fill in fills:  # every fill of the plan, acknowledged or not, in plan order
            storage.record_fill(
                order_ids[fill.client_order_id], quantity=fill.quantity, price=fill.price,
                commission=fill.commission, fees=fill.fees, external_trade_id=fill.execution_id,
            )
        final = read_book(db)
    final_found = check_invariants(final, planned=planned)
    final_recorded = [trade["external_trade_id"] for trade in final["trades"] if trade["leg"] == 0]

    report(
        "crash", engine, crashes=crashes, finished_runs=finished_runs, acknowledged=len(acknowledged_ids),
        recorded_at_last_crash=len(recorded), unacknowledged_but_committed=len(recorded - acknowledged_ids),
        resent_acknowledged=resent_acknowledged, planned_fills=len(fills), integrity_check=integrity,
        rows_lost=len(missing), violations=len(after_crashes.violations) + len(replay_after_crashes),
        final_trades=final_found.trades, final_flips=final_found.flips,
        final_violations=len(final_found.violations) + len(check_replay(final)), seed=plan.seed,
    )

    assert crashes >= 1, "the writer was never killed while running"
    assert set() == missing, "acknowledged fills are missing after the crashes"
    assert recorded <= set(planned), "a fill that was never sent was recorded"
    assert [] == after_crashes.violations
    assert [] == replay_after_crashes
    assert sorted(final_recorded) == sorted(planned), "after re-sending: exactly the executions sent, once each"
    assert [] == final_found.violations
    assert [] == check_replay(final)
    assert all(order["status"] == "filled" for order in final["orders"])


def test_the_invariant_checks_catch_a_tampered_book(db: stocksbot.Database, engine: str) -> None:
    """The checks are not vacuous: each kind of damage a crash could do is reported."""
    storage = stocksbot.StorageService(db)
    plan = make_plan(workers=1, fills_per_worker=60, orders_per_key=2, duplicate_share=0, run_seed=7, tag="t")
    order_ids = setup_plan(storage, plan)
    for fill in plan.fills[0]:
        storage.record_fill(order_ids[fill.client_order_id], quantity=fill.quantity, price=fill.price,
                            commission=fill.commission, fees=fill.fees, external_trade_id=fill.execution_id)
    book = read_book(db)
    assert [] == check_invariants(book, planned=plan.unique_fills()).violations
    assert [] == check_replay(book)

    reduce = next(t for t in book["trades"] if t["effect"] == "reduce")
    tamperings = {
        "an order's filled quantity without its trade": ("orders", "filled_quantity_e9", book["orders"][0]["order_id"], -1),
        "a trade without its order update": ("trades", "quantity_e9", book["trades"][0]["trade_id"], 1),
        "a position's quantity": ("positions", "quantity_e9", book["positions"][-1]["position_id"], 1),
        "a position's realized P&L": ("positions", "realized_pnl_e8", book["positions"][0]["position_id"], 1),
        "a leg's realized P&L": ("trades", "realized_pnl_e8", reduce["trade_id"], 1),
        "a fee": ("trades", "fees_e8", book["trades"][3]["trade_id"], 1),
    }
    for what, (name, column, key, delta) in tamperings.items():
        damaged = {table: [dict(row) for row in rows] for table, rows in book.items()}
        id_column = {"orders": "order_id", "trades": "trade_id", "positions": "position_id"}[name]
        row = next(r for r in damaged[name] if r[id_column] == key)
        row[column] += delta
        caught = check_invariants(damaged, planned=plan.unique_fills()).violations + check_replay(damaged)
        assert caught, f"tampering with {what} went unnoticed"
    duplicated = {table: list(rows) for table, rows in book.items()}
    duplicated["trades"] = duplicated["trades"] + [dict(duplicated["trades"][0], trade_id="~duplicate")]
    assert check_invariants(duplicated, planned=plan.unique_fills()).violations, "a doubled execution went unnoticed"
