"""Reliability 6: code and schema that do not match refuse to write (freqtrade #12045 / #11700).

* the database is newer than the code (it records a migration this stocksbot does
  not know): every write raises MigrationError naming the unknown migration and
  saying to upgrade stocksbot, and nothing is written;
* the database is behind the code (a migration is pending): every write raises
  MigrationError saying which migration is pending and to run ``stocksbot db upgrade``;
  after the upgrade, writes work.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import pytest

import stocksbot
from stocksbot import MigrationError, StorageService
from stocksbot.migrate import Migrator
from stocksbot.paths import migration_ids
from factories import make_order

FUTURE_MIGRATION = "0099.add-future-feature"
CORE_TABLES = ("strategies", "orders", "positions", "trades")


def rows(db: stocksbot.Database, tables: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    with db.connection() as conn:
        return {name: [dict(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2").fetchall()] for name in tables}


def writes(storage: StorageService, order_id: str) -> dict[str, Callable[[], Any]]:
    """One call of each kind of write the engine makes."""
    return {
        "create_order": lambda: storage.create_order("AAPL", "buy", "market", 5),
        "update_order_status": lambda: storage.update_order_status(order_id, "cancelled"),
        "record_fill": lambda: storage.record_fill(order_id, quantity=1, price="10", external_trade_id="mismatch-1"),
        "create_strategy": lambda: storage.create_strategy("mismatch"),
        "create_position": lambda: storage.create_position("MSFT", "long", 1, "10"),
        "raw transaction": lambda: storage.db.transaction().__enter__(),
    }


def record_future_migration(db: stocksbot.Database) -> None:
    """Mark a migration this code does not know as applied, as a newer stocksbot's upgrade would."""
    digest = hashlib.sha256(FUTURE_MIGRATION.encode()).hexdigest()
    with db.connection() as conn:
        conn.execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
            f"VALUES ('{digest}', '{FUTURE_MIGRATION}', CURRENT_TIMESTAMP)"
        )


def test_code_older_than_the_schema_refuses_every_write_and_names_the_migration(database_url: str) -> None:
    with stocksbot.connect(database_url) as db:
        order = make_order(StorageService(db), "AAPL", "buy", 10)
        record_future_migration(db)
    with stocksbot.connect(database_url) as db:  # an older stocksbot starting against the newer database
        storage = StorageService(db)
        before = rows(db, (*CORE_TABLES, "config"))
        for name, write in writes(storage, order.order_id).items():
            with pytest.raises(MigrationError) as refused:
                write()
            message = str(refused.value)
            assert FUTURE_MIGRATION in message, name
            assert "newer" in message and "upgrade stocksbot" in message, name
        assert rows(db, (*CORE_TABLES, "config")) == before, "nothing may be written"


def test_a_pending_migration_refuses_writes_until_db_upgrade(database_url: str) -> None:
    newest = migration_ids()[-1]
    assert [newest] == Migrator(database_url).downgrade(1)
    with stocksbot.connect(database_url) as db:
        storage = StorageService(db)
        before = rows(db, CORE_TABLES)
        for name, write in writes(storage, "00000000-0000-7000-8000-000000000000").items():
            with pytest.raises(MigrationError) as refused:
                write()
            message = str(refused.value)
            assert "pending" in message and newest in message, name
            assert "`stocksbot db upgrade`" in message, name
        assert rows(db, CORE_TABLES) == before, "nothing may be written"

    assert [newest] == Migrator(database_url).upgrade()
    with stocksbot.connect(database_url) as db:
        storage = StorageService(db)
        order = make_order(storage, "AAPL", "buy", 2)
        storage.record_fill(order.order_id, quantity=2, price="10")
        storage.set_config_value("after.upgrade", True, "bool")
        assert storage.get_config_value("after.upgrade") is True
