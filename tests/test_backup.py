"""Reliability 5: backups (stocksbot/backup.py, stocksbot/cli_backup.py) on both engines.

* round trip: back up, write more, restore: the rows are exactly those at backup time;
* under load: backups taken while two writer processes record fills are consistent
  (SQLite: the copy passes integrity_check) and restore to a book where every
  invariant holds;
* the command line ``stocksbot db backup|restore PATH``;
* what is refused: an existing target, a file that is not a backup, a missing
  SQLite database, a missing pg_dump/pg_restore (named in the error), and the
  password never appears on a client tool's command line.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import stocksbot
from stocksbot import StorageService
from stocksbot.backup import (
    BackupError,
    backup,
    backup_before_upgrade,
    default_backup_path,
    pg_command,
    restore,
)
from stocksbot.cli_backup import add_backup_commands
from stocksbot.db import DatabaseURL
from stocksbot.migrate import Migrator
from factories import fill_order, make_order, make_strategy
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

EVERY_TABLE = ("strategies", "orders", "positions", "trades", "config", "_yoyo_migration")


def rows(db: stocksbot.Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every stocksbot table and of the migration record, in a fixed order."""
    with db.connection() as conn:
        return {
            name: [dict(row) for row in conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2").fetchall()]
            for name in EVERY_TABLE
        }


def some_trading(storage: StorageService, tag: str) -> None:
    strategy = make_strategy(storage, f"backup-{tag}", config={"tag": tag, "risk": "0.5"})
    fill_order(storage, "AAPL", "buy", "10.5", "189.12345678", commission="1.25", strategy_id=strategy.strategy_id)
    fill_order(storage, "AAPL", "sell", "4", "190.5", fees="0.01", strategy_id=strategy.strategy_id)
    make_order(storage, "MSFT", "sell", 3, order_type="limit", limit_price="412.1")
    storage.set_config_value(f"backup.{tag}", {"tag": tag, "n": [1, 2]}, "json")


def restore_target(engine: str, request: pytest.FixtureRequest, tmp_path: Path, label: str) -> str:
    """The URL of a new, empty database to restore a backup into."""
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / f'restored-{label}.db'}"
    server = request.getfixturevalue("pg_server")
    name = server.create()
    request.addfinalizer(lambda: server.drop(name))
    return server.url_for(name)


def suffix(engine: str) -> str:
    return "db" if engine == "sqlite" else "dump"


# --- round trip ------------------------------------------------------------------------------


def test_restore_brings_back_exactly_the_rows_at_backup_time(
    db: stocksbot.Database, database_url: str, engine: str, tmp_path: Path
) -> None:
    """Back up, write more (inserts, updates, a delete), restore: the rows equal those at backup time."""
    storage = StorageService(db)
    some_trading(storage, "before")
    storage.set_config_value("doomed", "1", "int")
    at_backup = rows(db)

    written = backup(database_url, tmp_path / f"round-trip.{suffix(engine)}")
    some_trading(storage, "after")
    order = storage.list_orders(status="submitted")[0]
    storage.update_order_status(order.order_id, "cancelled", reason="after the backup")
    storage.delete_config_value("doomed")
    assert rows(db) != at_backup

    restore(database_url, written)

    assert rows(db) == at_backup
    # The same open Database carries on after the restore, on both engines.
    fill_order(storage, "AAPL", "buy", 1, "100")
    assert [] == check_invariants(read_book(db)).violations


def test_a_backup_restores_into_a_new_database(
    db: stocksbot.Database, database_url: str, engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Restoring into an empty database (a new SQLite file, a new PostgreSQL database) gives the same rows."""
    some_trading(StorageService(db), "copy")
    written = backup(db, tmp_path / f"copy.{suffix(engine)}")
    target = restore_target(engine, request, tmp_path, "copy")

    restore(target, written)

    with stocksbot.connect(target) as copy:
        assert rows(copy) == rows(db)
        StorageService(copy).set_config_value("copy.writable", True, "bool")  # schema check passes: writable


# --- under load -------------------------------------------------------------------------------


@pytest.mark.slow
def test_backups_taken_while_writers_run_are_consistent(
    database_url: str, engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two writer processes record fills while backups are taken: every copy is whole and consistent."""
    plan = make_plan(workers=2, fills_per_worker=scaled(800, minimum=100), orders_per_key=2, duplicate_share=0,
                     run_seed=seed() + 5, tag="b")
    with stocksbot.connect(database_url) as db:
        setup_plan(StorageService(db), plan)
    plan_path = plan.save(tmp_path / "plan.json")
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{n}" for n in range(2)]
    writers = [
        child("writer", "--url", database_url, "--plan", str(plan_path), "--worker", str(n),
              "--ready", str(readies[n]), "--go", str(go))
        for n in range(2)
    ]
    copies: list[Path] = []
    try:
        release_together(writers, readies, go)
        while (all(writer.poll() is None for writer in writers) and len(copies) < 8) or not copies:
            copies.append(backup(database_url, tmp_path / f"live-{len(copies)}.{suffix(engine)}"))
            time.sleep(0.3)
        results = [finish(writer) for writer in writers]
    finally:
        kill_all(writers)
    assert all(result["error_count"] == 0 for result in results)

    fills_in_copies = []
    for number, copy in enumerate(copies):
        if engine == "sqlite":
            with sqlite3.connect(copy) as raw:
                assert "ok" == raw.execute("PRAGMA integrity_check").fetchone()[0]
                assert [] == raw.execute("PRAGMA foreign_key_check").fetchall()
        target = restore_target(engine, request, tmp_path, f"live-{number}")
        restore(target, copy)
        with stocksbot.connect(target) as restored:
            book = read_book(restored)
        assert [] == check_invariants(book, planned=plan.unique_fills()).violations, f"backup {number}"
        fills_in_copies.append(len({trade["external_trade_id"] for trade in book["trades"]}))
    with stocksbot.connect(database_url) as db:
        final = read_book(db)
    assert [] == check_invariants(final, planned=plan.unique_fills()).violations
    assert fills_in_copies == sorted(fills_in_copies), "a later backup holds fewer fills than an earlier one"
    report(
        "backup-under-load", engine, backups=len(copies), fills_written=sum(r["sent"] for r in results),
        fills_in_backups="/".join(map(str, fills_in_copies)), restored_and_checked=len(copies), violations=0,
    )


# --- command line -------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    """Parse ``stocksbot db ...`` with the backup commands added as cli.py adds them, and run the handler."""
    root = argparse.ArgumentParser(prog="stocksbot")
    groups = root.add_subparsers(dest="group", required=True)
    db = groups.add_parser("db")
    add_backup_commands(db.add_subparsers(dest="command", required=True))
    args = root.parse_args(argv)
    return args.handler(args)


def test_db_backup_and_db_restore_commands(
    db: stocksbot.Database, database_url: str, engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``db backup PATH`` writes and says where; an existing PATH needs --force; ``db restore PATH`` restores."""
    storage = StorageService(db)
    storage.set_config_value("cli.backup", "before")
    path = tmp_path / f"cli.{suffix(engine)}"

    assert 0 == run_cli(["db", "backup", str(path), "--database-url", database_url])
    out = capsys.readouterr().out
    assert str(path) in out and DatabaseURL.parse(database_url).safe in out
    with pytest.raises(BackupError, match="already exists"):
        run_cli(["db", "backup", str(path), "--database-url", database_url])
    assert 0 == run_cli(["db", "backup", str(path), "--force", "--database-url", database_url])

    storage.set_config_value("cli.backup", "after")
    assert 0 == run_cli(["db", "restore", str(path), "--database-url", database_url])
    assert "restored" in capsys.readouterr().out
    assert "before" == storage.get_config_value("cli.backup")


# --- refusals -------------------------------------------------------------------------------------


def test_restore_refuses_a_file_that_is_not_a_backup_and_changes_nothing(
    db: stocksbot.Database, database_url: str, engine: str, tmp_path: Path
) -> None:
    some_trading(StorageService(db), "kept")
    before = rows(db)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"PGDMX not a backup at all" * 10)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as raw:
        raw.execute("CREATE TABLE t (x)")

    for bad in (junk, foreign, tmp_path / "missing.bin"):
        with pytest.raises(BackupError):
            restore(database_url, bad)
    assert rows(db) == before


def test_backup_refuses_an_existing_path_and_a_missing_sqlite_database(database_url: str, tmp_path: Path) -> None:
    existing = tmp_path / "existing.bin"
    existing.write_text("keep me")
    with pytest.raises(BackupError, match="already exists"):
        backup(database_url, existing)
    assert "keep me" == existing.read_text()

    missing = tmp_path / "nowhere.db"
    with pytest.raises(BackupError, match="no SQLite database"):
        backup(f"sqlite:///{missing}", tmp_path / "out.db")
    assert not missing.exists(), "a backup must not create the database it was asked to copy"
    assert not (tmp_path / "out.db").exists()


def test_file_system_errors_are_backup_errors_with_the_cause_chained(
    db: stocksbot.Database, database_url: str, tmp_path: Path
) -> None:
    """A name the file system refuses (longer than 255 bytes) or a read-only directory: a BackupError."""
    storage = StorageService(db)
    some_trading(storage, "kept")
    before = rows(db)
    too_long = tmp_path / ("b" * 300)
    with pytest.raises(BackupError, match="cannot write the backup .*: File name too long") as written:
        backup(database_url, too_long)
    assert isinstance(written.value.__cause__, OSError)
    with pytest.raises(BackupError, match="cannot restore from .*: File name too long") as restored:
        restore(database_url, too_long)
    assert isinstance(restored.value.__cause__, OSError)
    unencodable = tmp_path / "b-\ud800"  # a lone surrogate: no file system encoding can write it
    with pytest.raises(BackupError, match="cannot write the backup .*: the file name cannot be encoded"):
        backup(database_url, unencodable)
    with pytest.raises(BackupError, match="no backup file at"):
        restore(database_url, unencodable)
    assert rows(db) == before

    longest = tmp_path / ("c" * 255)  # the longest name allowed still gets its temporary file beside it
    assert longest == backup(database_url, longest)
    restore(database_url, longest)
    assert rows(db) == before


def test_a_migration_lock_file_that_cannot_be_made_is_a_migration_error(tmp_path: Path) -> None:
    """SQLite's migration lock is a file beside the database: a name too long for it is one clear error."""
    database = tmp_path / ("d" * 250)  # the database name fits, ``<name>.migrate.lock`` does not
    with pytest.raises(stocksbot.MigrationError, match="cannot open the migration lock file .*: File name too long"):
        Migrator(f"sqlite:///{database}").upgrade()


def test_a_missing_pg_client_tool_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without pg_dump / pg_restore on PATH: a BackupError that names the tool (no server needed)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    url = "postgresql://stocks:s3cret@127.0.0.1:5432/stocks"
    with pytest.raises(BackupError, match="pg_dump not found on PATH"):
        backup(url, tmp_path / "x.dump")
    archive = tmp_path / "x.dump"
    archive.write_bytes(b"PGDMP fake")
    with pytest.raises(BackupError, match="pg_restore not found on PATH"):
        restore(url, archive)


def test_the_password_travels_in_pgpassword_never_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stub = tmp_path / "pg_dump"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    where = DatabaseURL.parse("postgresql://stocks:s3cr%40t@db.example:6543/prod?sslmode=require")

    argv, env = pg_command("pg_dump", where, ["--format=custom"])

    assert str(stub) == argv[0]
    assert "s3cr@t" == env["PGPASSWORD"]
    assert not any("s3cr" in part for part in argv)
    conninfo = argv[argv.index("--dbname") + 1]
    for part in ("host=db.example", "port=6543", "dbname=prod", "user=stocks", "sslmode=require"):
        assert part in conninfo


def test_backup_before_upgrade_and_default_paths(tmp_path: Path, sqlite_template: Path) -> None:
    """``db upgrade --backup``: nothing to save for a new SQLite file; otherwise a new file next to it."""
    assert backup_before_upgrade(f"sqlite:///{tmp_path / 'new.db'}") is None
    live = tmp_path / "live.db"
    shutil.copyfile(sqlite_template, live)
    saved = backup_before_upgrade(f"sqlite:///{live}")
    assert saved is not None and saved.parent == tmp_path and saved.name.startswith("live.db.pre-upgrade-")
    with sqlite3.connect(saved) as raw:
        assert "ok" == raw.execute("PRAGMA integrity_check").fetchone()[0]
    assert default_backup_path("postgresql://u@h/prod", "nightly", tmp_path).name.startswith("prod.nightly-")
