"""Reliability 1: four writer processes and a reader, on one SQLite file and on PostgreSQL.

Four OS processes each send 2,000 fills (times STOCKSBOT_RELIABILITY_SCALE, default
0.25) spread over the same orders and the same (symbol, strategy) positions, with a
share of executions sent by two writers at once. No error may reach a caller
(transient lock and serialization errors are retried inside stocksbot and counted
in ``db.retries``), and afterwards every invariant holds, recomputed from the rows
(tests/reliability_workers.py: check_invariants). A reader process lists positions
and reads snapshots the whole time: it must keep making progress and never see a
half-applied fill.

Full size: ``STOCKSBOT_RELIABILITY_SCALE=1 python -m pytest -s -m slow tests/test_reliability_writers.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import stocksbot
from reliability_workers import (
    check_invariants,
    child,
    finish,
    kill_all,
    make_plan,
    read_book,
    release_together,
    report,
    scaled,
    seed,
    setup_plan,
)

pytestmark = pytest.mark.slow

WRITERS = 4
FULL_FILLS_PER_WRITER = 2000


def test_concurrent_writers_lose_nothing_and_readers_see_whole_fills(
    database_url: str, engine: str, tmp_path: Path
) -> None:
    """4 writers x N fills on overlapping orders: zero caller errors, every invariant, a live reader."""
    fills_per_writer = scaled(FULL_FILLS_PER_WRITER, minimum=50)
    plan = make_plan(
        workers=WRITERS, fills_per_worker=fills_per_writer, orders_per_key=4, duplicate_share=0.03,
        run_seed=seed(),
    )
    with stocksbot.connect(database_url) as db:
        setup_plan(stocksbot.StorageService(db), plan)
    plan_path = plan.save(tmp_path / "plan.json")

    go, stop = tmp_path / "go", tmp_path / "stop"
    readies = [tmp_path / f"ready-{n}" for n in range(WRITERS + 1)]
    writers = [
        child("writer", "--url", database_url, "--plan", str(plan_path), "--worker", str(n),
              "--ready", str(readies[n]), "--go", str(go))
        for n in range(WRITERS)
    ]
    reader = child("reader", "--url", database_url, "--ready", str(readies[-1]), "--go", str(go), "--stop", str(stop))
    try:
        release_together([*writers, reader], readies, go)
        results = [finish(writer) for writer in writers]
        stop.touch()
        seen = finish(reader)
    finally:
        stop.touch()
        kill_all([*writers, reader])

    sent = sum(result["sent"] for result in results)
    errors = [error for result in results for error in result["errors"]]
    retries = sum(result["retries"] for result in results)
    acknowledged = {execution for result in results for execution in result["acknowledged"]}
    with stocksbot.connect(database_url) as db:
        book = read_book(db)
    found = check_invariants(book, planned=plan.unique_fills())
    recorded = {trade["external_trade_id"] for trade in book["trades"]}
    report(
        "concurrent-writers", engine, writers=WRITERS, fills=sent, unique_executions=len(plan.unique_fills()),
        racing_duplicates=plan.duplicates, retries=retries, errors=sum(r["error_count"] for r in results),
        trades=found.trades, flips=found.flips, positions=found.positions, closed_positions=found.closed_positions,
        reader_listings=seen["listings"], reader_snapshots=seen["snapshots"],
        reader_states=seen["distinct_states"], half_applied_seen=len(seen["problems"]),
        rows_lost=len(set(plan.unique_fills()) - recorded), violations=len(found.violations),
        writer_seconds=max(r["seconds"] for r in results), seed=plan.seed,
    )

    assert [] == errors, "errors reached the callers"
    assert acknowledged == set(plan.unique_fills()), "every execution sent must be acknowledged"
    assert recorded == set(plan.unique_fills()), "the executions recorded must be exactly the ones sent"
    assert [] == found.violations
    assert found.executions == len(plan.unique_fills())
    assert all(order["status"] == "filled" for order in book["orders"]), "each order's fills add up to its quantity"
    assert [] == seen["errors"], "the reader failed"
    assert [] == seen["problems"], "the reader saw a half-applied fill"
    assert seen["snapshots"] > 0 and seen["listings"] > 0
    assert seen["distinct_states"] >= 2, "the reader never read while the writers were writing"
