"""The maintained strategy metrics (strategy_metrics) always equal the full recomputation from trades.

StorageService adds each trade it writes to its strategy's row in the same transaction
(record_fill, record_fills, close_position, import_trades); get_strategy_metrics reads that
row. These tests drive every writer through random books and compare the row with the
recomputation (strategies.find_strategy_metrics, strategy_metrics.list_recomputed_metrics),
on SQLite and PostgreSQL; and check that migration 0006 backfills the history it finds.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import stocksbot
from stocksbot import InvalidTransitionError, StorageService, StrategyMetrics, strategies, strategy_metrics
from stocksbot.migrate import Migrator
from stocksbot.paths import migration_ids
from stocksbot.values import new_id

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


@pytest.fixture
def storage(db: stocksbot.Database) -> StorageService:
    return StorageService(db)


def recomputed(db: stocksbot.Database, account: str, strategy_id: str) -> StrategyMetrics:
    with db.connection() as conn:
        return strategies.find_strategy_metrics(conn, account_id=account, strategy_id=strategy_id)


def assert_maintained_equals_recomputed(db: stocksbot.Database, accounts: tuple[str, ...] = ("default",)) -> None:
    with db.connection() as conn:
        kept = strategy_metrics.list_maintained_metrics(conn)
        summed = strategy_metrics.list_recomputed_metrics(conn)
    assert [m for m in kept if m.total_trades] == summed
    for account in accounts:
        for strategy in StorageService(db, account).list_strategies():
            assert recomputed(db, account, strategy.strategy_id) == StorageService(db, account).get_strategy_metrics(
                strategy.strategy_id
            )


def _random_book(storage: StorageService, rng: random.Random, steps: int) -> None:
    """Orders on a few symbols and strategies, filled one by one, in batches, closed, and imported."""
    strategy_ids: list[str | None] = [
        (storage.get_strategy_by_name(f"s{n}") or storage.create_strategy(f"s{n}")).strategy_id for n in range(3)
    ]
    strategy_ids.append(None)
    for step in range(steps):
        symbol = rng.choice(("AAPL", "MSFT"))
        strategy_id = rng.choice(strategy_ids)
        action = rng.random()
        if action < 0.15 and storage.get_open_positions(symbol=symbol, strategy_id=strategy_id):
            position = storage.get_open_positions(symbol=symbol, strategy_id=strategy_id)[0]
            if position.strategy_id == strategy_id:
                storage.close_position(position.position_id, exit_price=D(rng.randint(90, 110)), commission=D("0.5"))
            continue
        quantity = rng.randint(1, 9)
        order = storage.create_order(symbol, rng.choice(("buy", "sell")), "market", quantity, strategy_id=strategy_id)
        storage.update_order_status(order.order_id, "submitted")
        parts = [quantity] if quantity == 1 or rng.random() < 0.5 else [quantity // 2, quantity - quantity // 2]
        fills = [
            {"order_id": order.order_id, "quantity": part, "price": D(rng.randint(9000, 11000)).scaleb(-2),
             "commission": D(rng.randint(0, 3)), "fees": D(rng.randint(0, 9)).scaleb(-3),
             "executed_at": T0 + timedelta(seconds=step), "external_trade_id": f"e{order.order_id}-{n}"}
            for n, part in enumerate(parts)
        ]
        if rng.random() < 0.5:
            storage.record_fills(fills)
        else:
            for fill in fills:
                storage.record_fill(**fill)
        if rng.random() < 0.2:
            with pytest.raises(InvalidTransitionError):  # a refused fill (overfill, or a filled order) changes nothing
                storage.record_fill(order.order_id, quantity=1, price=100)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_maintained_metrics_always_equal_the_recomputation(db, storage, seed):
    """After every kind of write, each strategy's row equals the sum over its trades, figure for figure."""
    rng = random.Random(seed)
    for _ in range(3):
        _random_book(storage, rng, 15)
        assert_maintained_equals_recomputed(db)


def test_imported_trades_count_in_their_strategy_metrics(db, storage):
    """import_trades adds each strategy's imported totals; trades without a strategy count nowhere."""
    strategy = storage.create_strategy("history")
    order = storage.create_order("AAPL", "buy", "market", 10, strategy_id=strategy.strategy_id)
    storage.update_order_status(order.order_id, "submitted")
    opening = storage.record_fill(order.order_id, quantity=10, price=100, commission=1)
    rows = [
        {"order_id": order.order_id, "position_id": opening.position_id, "symbol": "AAPL", "side": "sell",
         "effect": effect, "quantity": 1, "price": 100 + n, "commission": D("0.25"), "realized_pnl": D(pnl),
         "executed_at": T0 + timedelta(minutes=n), "strategy_id": strategy_id}
        for n, (effect, pnl, strategy_id) in enumerate([
            ("reduce", "5", strategy.strategy_id), ("reduce", "-2", strategy.strategy_id), ("reduce", "3", None),
        ])
    ]

    assert 3 == storage.import_trades(rows)

    metrics = storage.get_strategy_metrics(strategy.strategy_id)
    assert (3, 2, 1, D("0.5"), D("2"), D("1.5")) == (
        metrics.total_trades, metrics.closing_trades, metrics.winning_trades, metrics.win_rate,
        metrics.realized_pnl, metrics.total_fees,
    )  # the opening fill (-1, its commission) and the two imported reduces (+5, -2); fees 1 + 0.25 + 0.25
    assert_maintained_equals_recomputed(db)


def test_a_strategy_without_trades_has_zero_metrics_and_an_unknown_one_none(storage):
    """No row yet: zeros and a win rate of 0; no such strategy: None."""
    quiet = storage.create_strategy("quiet")

    assert StrategyMetrics(
        strategy_id=quiet.strategy_id, total_trades=0, closing_trades=0, winning_trades=0,
        win_rate=D(0), realized_pnl=D(0), total_fees=D(0),
    ) == storage.get_strategy_metrics(quiet.strategy_id)
    assert storage.get_strategy_metrics(new_id()) is None


def test_metrics_stay_in_their_account(db):
    """Two accounts with a strategy each: each row counts its own account's trades."""
    live, paper = StorageService(db, "live"), StorageService(db, "paper")
    for storage, quantity in ((live, 3), (paper, 5)):
        strategy = storage.create_strategy("same-name")
        order = storage.create_order("AAPL", "buy", "market", quantity, strategy_id=strategy.strategy_id)
        storage.update_order_status(order.order_id, "submitted")
        storage.record_fill(order.order_id, quantity=quantity, price=10)
    assert_maintained_equals_recomputed(db, ("live", "paper"))
    assert [1, 1] == [s.get_strategy_metrics(s.list_strategies()[0].strategy_id).total_trades for s in (live, paper)]


def test_the_upsert_adds_to_the_row(db, storage):
    """upsert_strategy_metrics creates the row at the first call and adds every later call's figures."""
    strategy = storage.create_strategy("adds")
    with db.transaction() as conn:
        for _ in range(2):
            strategy_metrics.upsert_strategy_metrics(
                conn, account_id="default", strategy_id=strategy.strategy_id, total_trades=2, closing_trades=1,
                winning_trades=1, realized_pnl_e8=150, total_fees_e8=7,
            )
    with db.connection() as conn:
        [row] = strategy_metrics.list_maintained_metrics(conn)
    assert (4, 2, 2, 300, 14) == (row.total_trades, row.closing_trades, row.winning_trades, row.realized_pnl_e8,
                                  row.total_fees_e8)


def test_migration_0006_backfills_the_trades_already_recorded(database_url):
    """Trades recorded, 0006 (and what came after it) rolled back: the table goes; applied again: the
    backfilled rows equal the recomputation from the trades."""
    db = stocksbot.connect(database_url)
    try:
        storage = StorageService(db)
        _random_book(storage, random.Random(5), 12)
        db.close()
        ids = migration_ids()
        from_0006 = ids[ids.index("0006.create-strategy-metrics"):]  # 0006 and every migration after it
        assert from_0006[::-1] == Migrator(database_url).downgrade(len(from_0006))
        with stocksbot.connect(database_url) as raw:
            with raw.connection() as conn:
                names = _tables(conn)
        assert "strategy_metrics" not in names
        assert from_0006 == Migrator(database_url).upgrade()
        db = stocksbot.connect(database_url)
        assert_maintained_equals_recomputed(db)
        assert any(m.total_trades for m in _maintained(db))
    finally:
        db.close()


def _maintained(db: stocksbot.Database) -> list[Any]:
    with db.connection() as conn:
        return strategy_metrics.list_maintained_metrics(conn)


def _tables(conn: Any) -> set[str]:
    from stocksbot.sqlfiles import is_sqlite

    if is_sqlite(conn):
        return {row["name"] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    return {row["tablename"] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}
