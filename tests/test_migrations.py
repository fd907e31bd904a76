"""The migrations on both engines: apply, roll back, re-apply, lock, fail safely, and give one schema.

Every test here works on a database it migrates itself (``empty_database_url``),
and reads the schema straight from the catalogues (``sqlite_master`` and PRAGMAs
on SQLite, ``pg_catalog``/``information_schema`` on PostgreSQL), never through
stocksbot's own queries.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from yoyo import read_migrations

from migration_worker import run_together
from stocksbot.db import DatabaseURL, Settings, pg_conninfo
from stocksbot.errors import MigrationError
from stocksbot.migrate import Migrator
from stocksbot.paths import migrations_dir

MIGRATIONS = migrations_dir()
ALL_IDS = [migration.id for migration in read_migrations(str(MIGRATIONS))]
CORE_TABLES = {"strategies", "orders", "positions", "trades", "config"}
#: The core table each of the first five migrations creates.
TABLES_BY_MIGRATION = {
    "0001.create-strategies": "strategies",
    "0002.create-orders": "orders",
    "0003.create-positions": "positions",
    "0004.create-trades": "trades",
    "0005.create-config": "config",
}
YOYO_CLI = Path(sys.executable).with_name("yoyo")


# --- reading a database without stocksbot -------------------------------------------------


@contextmanager
def raw_connection(url: str) -> Iterator[Any]:
    """A plain driver connection (autocommit) to the database at ``url``."""
    parsed = DatabaseURL.parse(url)
    if parsed.dialect == "sqlite":
        conn = sqlite3.connect(parsed.sqlite_path or "", isolation_level=None, timeout=30)
    else:
        conn = psycopg.connect(pg_conninfo(parsed, Settings()), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def rows(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement written with ``?`` placeholders on either driver."""
    if isinstance(conn, psycopg.Connection):
        sql = sql.replace("?", "%s")
    return [tuple(row) for row in conn.execute(sql, params).fetchall()]


def is_yoyo_table(name: str) -> bool:
    return name.startswith("_yoyo") or name.startswith("yoyo_")


def tables(url: str) -> set[str]:
    """The application tables of the database (yoyo's own tables left out)."""
    with raw_connection(url) as conn:
        if isinstance(conn, sqlite3.Connection):
            names = rows(conn, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        else:
            names = rows(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {name for (name,) in names if not is_yoyo_table(name)}


def yoyo_bookkeeping(url: str) -> tuple[Counter[tuple[str, str]], Counter[str], int]:
    """(operations per (migration, operation) in _yoyo_log, rows per migration in _yoyo_migration, lock rows)."""
    with raw_connection(url) as conn:
        log = Counter(rows(conn, "SELECT migration_id, operation FROM _yoyo_log"))
        marks = Counter(migration_id for (migration_id,) in rows(conn, "SELECT migration_id FROM _yoyo_migration"))
        (locks,) = rows(conn, "SELECT COUNT(*) FROM yoyo_lock")[0]
    return log, marks, locks


# --- the schema, normalised so both engines can be compared -----------------------------------

TYPE_FAMILIES = {"text": "text", "bigint": "bigint", "integer": "integer", "boolean": "boolean"}
CONSTRAINT_KINDS = {"p": "primary key", "f": "foreign key", "c": "check", "u": "unique", "x": "exclusion"}
NAMED_CONSTRAINT = re.compile(r"CONSTRAINT\s+\"?(\w+)\"?\s+(PRIMARY\s+KEY|FOREIGN\s+KEY|CHECK|UNIQUE)", re.IGNORECASE)


def normalise_sql(text: str | None) -> str | None:
    """Lower case, no casts (``'x'::text``), no parentheses, single spaces: comparable across engines."""
    if text is None:
        return None
    text = re.sub(r"::[a-z ]+(\[\])?", "", text.lower())
    text = re.sub(r"=\s*any\s*\(array\[(.*?)\]\)", r"in (\1)", text)  # PostgreSQL's spelling of IN (...)
    return " ".join(text.replace("(", " ").replace(")", " ").split())


def type_family(declared: str) -> str:
    return TYPE_FAMILIES.get(declared.strip().lower(), f"unexpected:{declared}")


def sqlite_schema(conn: sqlite3.Connection) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for name, sql in rows(conn, "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"):
        if is_yoyo_table(name):
            continue
        columns, primary_key = [], []
        for _cid, column, declared, notnull, default, pk, hidden in rows(conn, f'PRAGMA table_xinfo("{name}")'):
            generated = {2: "virtual", 3: "stored"}.get(hidden)
            columns.append((column, type_family(declared), bool(notnull), normalise_sql(default), generated))
            if pk:
                primary_key.append((pk, column))
        foreign_keys: dict[int, list[Any]] = {}
        for fk_id, _seq, target, source_column, target_column, *_ in rows(conn, f'PRAGMA foreign_key_list("{name}")'):
            foreign_keys.setdefault(fk_id, [target, [], []])
            foreign_keys[fk_id][1].append(source_column)
            foreign_keys[fk_id][2].append(target_column)
        indexes = []
        for _seq, index, unique, origin, _partial in rows(conn, f'PRAGMA index_list("{name}")'):
            if origin == "pk":
                continue  # the primary key's own index; compared as primary_key
            index_columns = tuple(column for _n, _cid, column in sorted(rows(conn, f'PRAGMA index_info("{index}")')))
            (index_sql,) = rows(conn, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (index,))[0]
            where = re.split(r"\bWHERE\b", index_sql, maxsplit=1, flags=re.IGNORECASE)
            indexes.append((index, bool(unique), index_columns, normalise_sql(where[1]) if len(where) == 2 else None))
        schema[name] = {
            "columns": columns,
            "primary_key": tuple(column for _pk, column in sorted(primary_key)),
            "constraints": sorted((match[0], " ".join(match[1].lower().split())) for match in NAMED_CONSTRAINT.findall(sql)),
            "foreign_keys": sorted((target, tuple(source), tuple(dest)) for target, source, dest in foreign_keys.values()),
            "indexes": sorted(indexes),
        }
    return schema


def postgres_schema(conn: psycopg.Connection) -> dict[str, Any]:
    attnames = (
        "ARRAY(SELECT a.attname FROM unnest({keys}) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.attnum ORDER BY k.ord)"
    )
    schema: dict[str, Any] = {}
    for (name,) in rows(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"):
        if is_yoyo_table(name):
            continue
        columns = [
            (column, type_family(data_type), nullable == "NO", normalise_sql(default), "stored" if generated == "ALWAYS" else None)
            for column, data_type, nullable, default, generated in rows(
                conn,
                "SELECT column_name, data_type, is_nullable, column_default, is_generated "
                "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? "
                "ORDER BY ordinal_position",
                (name,),
            )
        ]
        constraints = rows(
            conn,
            f"SELECT con.conname, con.contype, ref.relname, {attnames.format(keys='con.conkey', rel='con.conrelid')}, "
            f"{attnames.format(keys='con.confkey', rel='con.confrelid')} "
            "FROM pg_constraint con LEFT JOIN pg_class ref ON ref.oid = con.confrelid "
            "WHERE con.conrelid = to_regclass(?)",
            (name,),
        )
        indexes = rows(
            conn,
            f"SELECT i.relname, ix.indisunique, ix.indisprimary, pg_get_expr(ix.indpred, ix.indrelid), "
            f"{attnames.format(keys='CAST(ix.indkey AS int2[])', rel='ix.indrelid')} "
            "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid WHERE ix.indrelid = to_regclass(?)",
            (name,),
        )
        schema[name] = {
            "columns": columns,
            "primary_key": next(tuple(keys) for _n, kind, _r, keys, _f in constraints if kind == "p"),
            "constraints": sorted((conname, CONSTRAINT_KINDS.get(kind, kind)) for conname, kind, *_ in constraints),
            "foreign_keys": sorted(
                (target, tuple(keys), tuple(target_keys)) for _n, kind, target, keys, target_keys in constraints if kind == "f"
            ),
            "indexes": sorted(
                (index, unique, tuple(keys), normalise_sql(where))
                for index, unique, primary, where, keys in indexes if not primary
            ),
        }
    return schema


def schema_of(url: str) -> dict[str, Any]:
    """Tables, columns, keys, constraints and indexes of the database at ``url``, normalised."""
    with raw_connection(url) as conn:
        return sqlite_schema(conn) if isinstance(conn, sqlite3.Connection) else postgres_schema(conn)


# --- apply, roll back, apply ----------------------------------------------------------------


def test_apply_rollback_apply_leaves_the_same_schema(empty_database_url):
    """upgrade → downgrade to the bottom → upgrade: tables appear, vanish and reappear identically; history logs it all."""
    migrator = Migrator(empty_database_url)

    assert ALL_IDS == migrator.upgrade()
    assert CORE_TABLES <= tables(empty_database_url)
    assert all(state.applied and state.applied_at is not None for state in migrator.status())
    assert [] == migrator.pending()
    first_schema = schema_of(empty_database_url)

    assert list(reversed(ALL_IDS)) == migrator.downgrade(steps=len(ALL_IDS))
    assert set() == tables(empty_database_url)
    assert [(id_, False, None) for id_ in ALL_IDS] == [(s.id, s.applied, s.applied_at) for s in migrator.status()]
    assert ALL_IDS == migrator.pending()

    assert ALL_IDS == migrator.upgrade()
    assert CORE_TABLES <= tables(empty_database_url)
    assert [] == migrator.pending()
    assert first_schema == schema_of(empty_database_url)

    history = migrator.history()
    operations = {id_: [entry.operation for entry in history if entry.migration_id == id_] for id_ in ALL_IDS}
    assert {id_: ["apply", "rollback", "apply"] for id_ in ALL_IDS} == operations
    assert sorted(entry.at for entry in history) == [entry.at for entry in history]
    assert all(entry.at.utcoffset() == timedelta(0) for entry in history)
    log, marks, locks = yoyo_bookkeeping(empty_database_url)
    assert Counter({(id_, op): 2 if op == "apply" else 1 for id_ in ALL_IDS for op in ("apply", "rollback")}) == log
    assert Counter(ALL_IDS) == marks
    assert 0 == locks


def assert_tables_match(url: str, applied: list[str]) -> None:
    """The tables created by the applied migrations exist, those of the rolled-back ones do not."""
    present = tables(url)
    for id_, table in TABLES_BY_MIGRATION.items():
        assert (table in present) == (id_ in applied), f"{table} after {id_} {'applied' if id_ in applied else 'rolled back'}"


def test_downgrade_steps_rolls_back_exactly_the_newest_n(empty_database_url):
    """downgrade(steps=N) removes the newest N migrations and their tables, nothing older; 0 steps is refused."""
    migrator = Migrator(empty_database_url)
    migrator.upgrade()

    assert [ALL_IDS[-1]] == migrator.downgrade(steps=1)
    assert_tables_match(empty_database_url, ALL_IDS[:-1])
    assert [ALL_IDS[-2], ALL_IDS[-3]] == migrator.downgrade(steps=2)
    assert_tables_match(empty_database_url, ALL_IDS[:-3])
    assert ALL_IDS[-3:] == migrator.pending()
    with pytest.raises(MigrationError, match="at least 1"):
        migrator.downgrade(steps=0)
    assert ALL_IDS[-3:] == migrator.pending()
    assert list(reversed(ALL_IDS[:-3])) == migrator.downgrade(steps=len(ALL_IDS) + 10)
    assert [] == migrator.downgrade(steps=1)
    assert set() == tables(empty_database_url)
    assert ALL_IDS == migrator.upgrade()
    assert_tables_match(empty_database_url, ALL_IDS)


def test_status_and_history_of_a_never_migrated_database(empty_database_url):
    """On a brand-new database, status() lists every migration as pending and history() is empty."""
    migrator = Migrator(empty_database_url)

    assert [(id_, False) for id_ in ALL_IDS] == [(state.id, state.applied) for state in migrator.status()]
    assert ALL_IDS == migrator.pending()
    assert [] == migrator.history()


# --- one schema on both engines ----------------------------------------------------------------


def test_the_log_names_the_user_and_host_as_yoyo_does_looking_the_host_up_once(empty_database_url, monkeypatch):
    """Each _yoyo_log row carries yoyo's user and host values; the DNS lookup runs once, not once per row."""
    import getpass
    import socket

    from stocksbot import migrate

    lookups = []
    real_getfqdn = socket.getfqdn
    monkeypatch.setattr(socket, "getfqdn", lambda *a: lookups.append(a) or real_getfqdn(*a))
    migrate._who_and_where.cache_clear()
    migrator = Migrator(empty_database_url)

    migrator.upgrade()
    migrator.downgrade(steps=2)

    entries = migrator.history()
    assert len(ALL_IDS) + 2 == len(entries)
    assert {(getpass.getuser(), real_getfqdn())} == {(entry.username, entry.hostname) for entry in entries}
    assert 1 == len(lookups)


def test_schema_is_identical_on_sqlite_and_postgresql(pg_server, tmp_path):
    """Tables, columns (name, type family, NOT NULL, default), keys, constraint and index names match."""
    sqlite_url = f"sqlite:///{tmp_path / 'schema.db'}"
    pg_name = pg_server.create()
    try:
        pg_url = pg_server.url_for(pg_name)
        Migrator(sqlite_url).upgrade()
        Migrator(pg_url).upgrade()
        sqlite_side, postgres_side = schema_of(sqlite_url), schema_of(pg_url)
    finally:
        pg_server.drop(pg_name)

    assert CORE_TABLES <= set(sqlite_side)
    assert sqlite_side == postgres_side
    for table, shape in sqlite_side.items():
        assert ("account_id",) == shape["primary_key"][:1], f"{table} is keyed by account first"
        assert all(not column[0].endswith(("_e8", "_e9")) or column[1] == "bigint" for column in shape["columns"])
        assert all(name.startswith(("pk_", "ck_", "fk_", "uq_")) for name, _kind in shape["constraints"])
        assert all(index.startswith(("uq_", "ix_")) and unique == index.startswith("uq_") for index, unique, *_ in shape["indexes"])


# --- concurrent runs and locks ----------------------------------------------------------------


def test_concurrent_upgrades_apply_each_migration_exactly_once(empty_database_url, database_url, tmp_path):
    """Four processes upgrading one new database at the same moment: all succeed, each migration runs once."""
    results = run_together(tmp_path, "upgrade", empty_database_url, count=4)

    assert [(0, "")] * 4 == [(result.returncode, result.stderr) for result in results]
    assert sorted(ALL_IDS) == sorted(id_ for result in results for id_ in result.output or [])
    log, marks, locks = yoyo_bookkeeping(empty_database_url)
    assert Counter({(id_, "apply"): 1 for id_ in ALL_IDS}) == log
    assert Counter(ALL_IDS) == marks
    assert 0 == locks
    assert schema_of(database_url) == schema_of(empty_database_url)


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a sleeping child process, killed after the test."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def insert_lock_row(url: str, pid: int, ctime: str) -> None:
    """Leave a yoyo_lock row, as a migration run killed while holding the lock would."""
    Migrator(url).break_lock()  # creates yoyo's lock table on a new database
    with raw_connection(url) as conn:
        rows(conn, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, ?, ?) RETURNING pid", (ctime, pid))


def lock_pids(url: str) -> list[int]:
    with raw_connection(url) as conn:
        return [pid for (pid,) in rows(conn, "SELECT pid FROM yoyo_lock")]


def test_a_stale_lock_of_a_dead_process_is_cleared(empty_database_url, dead_pid):
    """A yoyo_lock row left by a process that no longer exists does not block upgrade: it is cleared."""
    insert_lock_row(empty_database_url, dead_pid, "2024-01-01 00:00:00.000000")

    assert ALL_IDS == Migrator(empty_database_url).upgrade()
    assert [] == lock_pids(empty_database_url)
    assert CORE_TABLES <= tables(empty_database_url)


@pytest.mark.parametrize("engine", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
def test_a_stale_lock_left_by_the_yoyo_cli_is_cleared_on_sqlite(empty_database_url, dead_pid):
    """The yoyo CLI writes ctime as ISO text with a 'T' on SQLite; such a stale row is cleared too."""
    insert_lock_row(empty_database_url, dead_pid, "2024-01-01T00:00:00.000000")

    assert ALL_IDS == Migrator(empty_database_url).upgrade()
    assert [] == lock_pids(empty_database_url)


def test_a_lock_of_a_live_process_fails_naming_the_unlock_command(empty_database_url, live_pid, monkeypatch):
    """A lock row of a running process stops upgrade with MigrationError; break_lock() then clears it."""
    monkeypatch.setenv("STOCKSBOT_MIGRATION_LOCK_TIMEOUT", "1")
    insert_lock_row(empty_database_url, live_pid, "2024-01-01 00:00:00.000000")
    migrator = Migrator(empty_database_url)

    with pytest.raises(MigrationError, match="stocksbot db unlock") as failure:
        migrator.upgrade()

    assert str(live_pid) in str(failure.value)
    assert [live_pid] == lock_pids(empty_database_url), "a live process's lock must not be stolen"
    assert set() == tables(empty_database_url)
    assert migrator.break_lock() is True
    assert migrator.break_lock() is False
    assert ALL_IDS == migrator.upgrade()


# --- failure safety -------------------------------------------------------------------------


BROKEN_MIGRATION = """\
-- A migration whose first statement succeeds and whose second fails.
-- depends: 0001.create-strategies

CREATE TABLE half_done (half_done_id TEXT NOT NULL);

INSERT INTO no_such_table (no_such_column) VALUES (1);
"""


def test_a_migration_failing_halfway_leaves_nothing_half_done(empty_database_url, tmp_path):
    """The failed migration's first table is gone and it is not marked; the earlier one stays applied."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    for path in MIGRATIONS.glob("0001.*.sql"):
        shutil.copy(path, directory / path.name)
    (directory / "0002.break-halfway.sql").write_text(BROKEN_MIGRATION)
    (directory / "0002.break-halfway.rollback.sql").write_text("DROP TABLE half_done;\n")
    migrator = Migrator(empty_database_url, directory=directory)

    with pytest.raises(MigrationError, match="no_such_table"):
        migrator.upgrade()

    assert {"strategies"} == tables(empty_database_url)
    assert [("0001.create-strategies", True), ("0002.break-halfway", False)] == [
        (state.id, state.applied) for state in migrator.status()
    ]
    log, marks, locks = yoyo_bookkeeping(empty_database_url)
    assert Counter({("0001.create-strategies", "apply"): 1}) == log
    assert Counter(["0001.create-strategies"]) == marks
    assert 0 == locks, "the lock is released after a failure"
    with pytest.raises(MigrationError, match="no_such_table"):
        migrator.upgrade()
    assert {"strategies"} == tables(empty_database_url)


# --- plain yoyo ---------------------------------------------------------------------------------


def test_plain_yoyo_apply_applies_the_same_migrations(empty_database_url):
    """`yoyo apply --batch --database <url> migrations/` works, and stocksbot then sees nothing pending."""
    yoyo_url = DatabaseURL.parse(empty_database_url).yoyo_url()

    completed = subprocess.run(
        [str(YOYO_CLI), "apply", "--batch", "--no-config-file", "--database", yoyo_url, str(MIGRATIONS)],
        capture_output=True, text=True, timeout=120,
    )

    assert 0 == completed.returncode, completed.stderr
    assert CORE_TABLES <= tables(empty_database_url)
    migrator = Migrator(empty_database_url)
    assert [] == migrator.pending()
    assert [] == migrator.upgrade()
    assert {id_: ["apply"] for id_ in ALL_IDS} == {
        id_: [entry.operation for entry in migrator.history() if entry.migration_id == id_] for id_ in ALL_IDS
    }
