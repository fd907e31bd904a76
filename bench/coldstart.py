"""``python -m bench.coldstart IMPL URL``: W6, one new process that imports, connects and migrates.

The driver times the whole process, interpreter start to exit. Each branch imports only
what that implementation needs (this module imports nothing heavy at the top):

* stocksbot: ``stocksbot.connect(url).migrate()``;
* raw: the driver, then each ``migrations/NNNN.*.sql`` file in its own transaction with
  its id recorded in a one-table ledger (what a hand-written migrator does);
* sqlalchemy: the ORM models and ``metadata.create_all``.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
LEDGER = "CREATE TABLE IF NOT EXISTS schema_migrations (migration_id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"


def _migration_files() -> list[Path]:
    return sorted(path for path in MIGRATIONS.glob("*.sql") if not path.name.endswith(".rollback.sql"))


def stocksbot_start(url: str) -> None:
    import stocksbot

    db = stocksbot.connect(url)
    db.migrate()
    db.close()


def raw_start(url: str, synchronous: str) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if url.startswith("sqlite:"):
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None, timeout=30)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(LEDGER)
        applied = {row[0] for row in conn.execute("SELECT migration_id FROM schema_migrations")}
        for path in _migration_files():
            if path.stem in applied:
                continue
            conn.executescript("BEGIN IMMEDIATE;\n" + path.read_text(encoding="utf-8"))
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (path.stem, now))
            conn.execute("COMMIT")
        conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(LEDGER)
        applied = {row[0] for row in conn.execute("SELECT migration_id FROM schema_migrations")}
        for path in _migration_files():
            if path.stem in applied:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (path.stem, now))


def sqlalchemy_start(url: str, synchronous: str) -> None:
    from sqlalchemy import create_engine, event

    from .sa_models import Base

    if url.startswith("sqlite:"):
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.close()
    else:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    Base.metadata.create_all(engine)
    engine.dispose()


def main() -> None:
    impl, url = sys.argv[1], sys.argv[2]
    synchronous = os.environ.get("STOCKSBOT_SQLITE_SYNCHRONOUS", "FULL")
    if impl == "stocksbot":
        stocksbot_start(url)
    elif impl == "raw":
        raw_start(url, synchronous)
    elif impl == "sqlalchemy":
        sqlalchemy_start(url, synchronous)
    else:
        raise SystemExit(f"unknown implementation {impl!r}")


if __name__ == "__main__":
    main()
