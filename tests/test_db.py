"""The connection layer (stocksbot.db): SQLite pragmas, transactions and savepoints, pooled
PostgreSQL connections never left idle in transaction, SQL_ECHO, URL forms, error translation,
and closing.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

import stocksbot
from stocksbot import (
    ConfigType,
    ConfigurationError,
    ConflictError,
    OrderStatus,
    DatabaseUnavailableError,
    StorageService,
    TransientError,
)
from stocksbot import config as config_queries
from stocksbot import orders, strategies
from stocksbot.db import DatabaseURL
from stocksbot.values import new_id

SQLITE_ONLY = pytest.mark.parametrize("engine", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
POSTGRES_ONLY = pytest.mark.parametrize("engine", [pytest.param("postgres", marks=pytest.mark.postgres)])
NOW = datetime(2024, 3, 1, 14, 30, tzinfo=timezone.utc)


def put(conn: Any, key: str, value: int = 1, account_id: str = "default") -> None:
    """Write one int setting through the typed config module on ``conn``."""
    config_queries.upsert_config_value(
        conn, account_id=account_id, key=key, value=str(value), value_type=ConfigType.INT, updated_at=NOW,
    )


def keys(db: Any) -> list[str]:
    """The config keys of the default account, read on a fresh connection of ``db``."""
    return [entry.key for entry in StorageService(db).list_config()]


def pragma(conn: Any, name: str) -> Any:
    """The value of one SQLite PRAGMA."""
    row = conn.execute(f"PRAGMA {name}").fetchone()
    return next(iter(row.values()))


# --- SQLite pragmas ---------------------------------------------------------------------------------


@SQLITE_ONLY
def test_sqlite_file_pragmas(db: Any):
    """A SQLite file database runs in WAL mode with foreign keys on, a busy timeout and full sync, on every thread."""
    seen: list[tuple[Any, ...]] = []

    def read() -> None:
        with db.connection() as conn:
            seen.append(tuple(pragma(conn, name) for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")))

    read()
    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    assert 2 == len(seen) and seen[0] == seen[1]
    journal_mode, foreign_keys, busy_timeout, synchronous = seen[0]
    assert ("wal", 1, 2) == (journal_mode, foreign_keys, synchronous)
    assert busy_timeout > 0


def test_sqlite_memory_database(tmp_path: Path):
    """sqlite:///:memory: connects with foreign keys on, migrates, and is private to its Database."""
    with stocksbot.connect("sqlite:///:memory:") as db, stocksbot.connect("sqlite:///:memory:") as other:
        assert (True, "sqlite") == (db.url.is_memory, db.dialect)
        with db.connection() as conn:
            assert 1 == pragma(conn, "foreign_keys")
            assert pragma(conn, "busy_timeout") > 0
        db.migrate()
        strategy = StorageService(db).create_strategy("in memory")
        assert strategy == StorageService(db).get_strategy(strategy.strategy_id)
        with other.connection() as conn:
            assert [] == conn.execute("SELECT name FROM sqlite_master WHERE name = 'strategies'").fetchall()
    assert [] == list(tmp_path.iterdir())


# --- transactions -------------------------------------------------------------------------------------


def test_transaction_commits(db: Any, database_url: str):
    """Work inside `with db.transaction()` is invisible to other connections until the block ends, then committed."""
    with stocksbot.connect(database_url) as other:
        with db.transaction() as conn:
            assert db.in_transaction
            put(conn, "a")
            assert [] == keys(other)
        assert not db.in_transaction
        assert ["a"] == keys(other)


def test_transaction_rolls_back_on_exception(db: Any, database_url: str):
    """An exception inside the block rolls everything back and propagates unchanged."""
    boom = RuntimeError("boom")
    with pytest.raises(RuntimeError) as caught:
        with db.transaction() as conn:
            put(conn, "a")
            put(conn, "b")
            raise boom
    assert boom is caught.value
    assert not db.in_transaction
    assert [] == keys(db)
    with stocksbot.connect(database_url) as other:
        assert [] == keys(other)


def test_nested_transaction_is_a_savepoint(db: Any):
    """An inner block that fails rolls back only its own work; the outer block goes on and commits."""
    with db.transaction() as outer:
        put(outer, "a")
        with pytest.raises(RuntimeError):
            with db.transaction() as inner:
                assert inner is outer
                put(inner, "b")
                with db.transaction() as innermost:
                    put(innermost, "c")
                raise RuntimeError("inner fails")
        with db.transaction() as inner:
            put(inner, "d")
        put(outer, "e")
    assert ["a", "d", "e"] == keys(db)


def test_outer_rollback_undoes_committed_savepoints(db: Any):
    """Work of inner blocks that succeeded is still undone when the outer block fails."""
    with pytest.raises(KeyError):
        with db.transaction() as outer:
            with db.transaction() as inner:
                put(inner, "a")
            put(outer, "b")
            raise KeyError("outer fails")
    assert [] == keys(db)


def test_failed_service_call_inside_a_transaction_keeps_the_rest(db: Any):
    """A service call that fails inside an outer transaction (a unique-key conflict) undoes only itself."""
    svc = StorageService(db)
    with db.transaction():
        svc.create_strategy("a")
        with pytest.raises(ConflictError):
            svc.create_strategy("a")
        svc.create_strategy("b")
        svc.set_config_value("after", "1", "int")
    assert ["a", "b"] == [s.name for s in svc.list_strategies()]
    assert 1 == svc.get_config_value("after")


def test_service_calls_join_the_callers_transaction(db: Any):
    """Service calls inside `with db.transaction()` are one unit: an exception afterwards undoes them all."""
    svc = StorageService(db)
    with pytest.raises(RuntimeError):
        with db.transaction():
            strategy = svc.create_strategy("s")
            order = svc.create_order("AAPL", "buy", "market", 1, strategy_id=strategy.strategy_id)
            svc.update_order_status(order.order_id, "submitted")
            svc.record_fill(order.order_id, quantity=1, price=10)
            raise RuntimeError("abort the session")
    assert ([], [], [], []) == (svc.list_strategies(), svc.list_orders(), svc.list_positions(), svc.get_trades())


def test_outside_a_transaction_each_statement_commits(db: Any, database_url: str):
    """A write through db.connection() outside any transaction is committed at once (autocommit)."""
    with db.connection() as conn:
        put(conn, "auto")
    with stocksbot.connect(database_url) as other:
        assert ["auto"] == keys(other)


def test_transactions_belong_to_their_thread(db: Any):
    """Another thread is not inside this thread's transaction and does not see its uncommitted work."""
    seen: dict[str, Any] = {}

    def look() -> None:
        seen["in_transaction"] = db.in_transaction
        seen["keys"] = keys(db)

    with db.transaction() as conn:
        put(conn, "mine")
        worker = threading.Thread(target=look)
        worker.start()
        worker.join()
        assert ["mine"] == keys(db)
    assert {"in_transaction": False, "keys": []} == seen
    assert ["mine"] == keys(db)


def test_run_in_transaction_retries_transient_errors(db: Any):
    """run_in_transaction retries work that hit a TransientError, in a fresh transaction, and returns its result."""
    calls: list[int] = []

    def work(conn: Any) -> str:
        calls.append(len(calls))
        put(conn, f"attempt{len(calls)}")
        if len(calls) == 1:
            raise TransientError("simulated serialization failure")
        return "done"

    retries = db.retries
    assert "done" == db.run_in_transaction(work)
    assert ([0, 1], retries + 1) == (calls, db.retries)
    assert ["attempt2"] == keys(db)


def test_run_in_transaction_does_not_retry_other_errors(db: Any):
    """A ConflictError (or any non-transient error) is raised at once, after one attempt, with nothing written."""
    calls: list[int] = []

    def work(conn: Any) -> None:
        calls.append(1)
        put(conn, "x")
        raise ConflictError("not retryable")

    with pytest.raises(ConflictError):
        db.run_in_transaction(work)
    assert ([1], []) == (calls, keys(db))


# A deferred constraint trigger runs at COMMIT: this one ends its own server process there, so the
# client loses the connection in the middle of committing, as when the network drops at that moment.
LOSE_THE_COMMIT = """
CREATE FUNCTION test_lose_the_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_terminate_backend(pg_backend_pid());
    PERFORM pg_sleep(5);  -- the termination lands here
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER test_lose_the_commit AFTER INSERT ON {table} DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION test_lose_the_commit();
"""


@POSTGRES_ONLY
def test_a_commit_whose_outcome_is_unknown_is_never_retried(db: Any, database_url: str):
    """The connection lost during COMMIT: run_in_transaction raises CommitOutcomeUnknownError after one
    attempt (running the work again could apply it twice), the cause chained; the pool goes on."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(LOSE_THE_COMMIT.format(table="config", condition="NEW.key = 'lost'"))
    calls: list[int] = []

    def work(conn: Any) -> None:
        calls.append(1)
        put(conn, "lost")

    with pytest.raises(stocksbot.CommitOutcomeUnknownError, match="lost while committing") as raised:
        db.run_in_transaction(work)

    assert [1] == calls
    assert isinstance(raised.value, stocksbot.DatabaseUnavailableError)
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert db.run_in_transaction(lambda conn: put(conn, "after")) is None
    assert ["after"] == keys(db)  # the lost one was rolled back by the server: the client could not know


@POSTGRES_ONLY
def test_a_fill_whose_commit_was_lost_is_recorded_once_when_re_sent(db: Any, database_url: str):
    """The engine's recovery from an unknown commit: re-send the fill with its execution id."""
    storage = StorageService(db)
    order = storage.create_order("AAPL", "buy", "market", 10)
    storage.update_order_status(order.order_id, "submitted")
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(LOSE_THE_COMMIT.format(table="trades", condition="NEW.external_trade_id = 'x-lost'"))
    fill = {"quantity": 4, "price": "100", "external_trade_id": "x-lost"}

    with pytest.raises(stocksbot.CommitOutcomeUnknownError):
        storage.record_fill(order.order_id, **fill)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("DROP TRIGGER test_lose_the_commit ON trades")
    trade = storage.record_fill(order.order_id, **fill)
    again = storage.record_fill(order.order_id, **fill)

    assert trade == again
    assert [trade] == storage.get_trades(order_id=order.order_id)
    assert Decimal(4) == storage.get_order(order.order_id).filled_quantity


# --- PostgreSQL: no connection left idle in transaction ---------------------------------------------------


def backend_states(pg_server: Any, db: Any) -> list[str]:
    """The states of stocksbot's server connections to the test database (pg_stat_activity)."""
    with pg_server.admin() as admin:
        rows = admin.execute(
            "SELECT state FROM pg_stat_activity WHERE datname = %s AND application_name = 'stocksbot'",
            (db.url.pg_params["dbname"],),
        ).fetchall()
    return [row[0] for row in rows]


def _commit(db: Any, svc: StorageService) -> None:
    with db.transaction() as conn:
        put(conn, "k")


def _read(db: Any, svc: StorageService) -> None:
    svc.get_order(new_id())
    svc.list_orders()
    svc.get_config_value("k")


def _failed_transaction(db: Any, svc: StorageService) -> None:
    with pytest.raises(RuntimeError):
        with db.transaction() as conn:
            put(conn, "never")
            raise RuntimeError("boom")


def _conflict(db: Any, svc: StorageService) -> None:
    svc.create_strategy("dup")
    with pytest.raises(ConflictError):
        svc.create_strategy("dup")


def _rolled_back_savepoint(db: Any, svc: StorageService) -> None:
    with db.transaction():
        svc.create_strategy("dup2")
        with pytest.raises(ConflictError):
            svc.create_strategy("dup2")
        svc.create_strategy("after")


@POSTGRES_ONLY
@pytest.mark.parametrize("work", [_commit, _read, _failed_transaction, _conflict, _rolled_back_savepoint],
                         ids=["commit", "read", "failed-transaction", "conflict", "savepoint-rollback"])
def test_no_pooled_connection_is_left_idle_in_transaction(db: Any, pg_server: Any, work: Any):
    """After a commit, a read, a rollback or a translated error, every pooled connection is plain idle."""
    svc = StorageService(db)
    work(db, svc)
    states = backend_states(pg_server, db)
    assert "idle" in states
    assert [] == [state for state in states if state != "idle"]


@POSTGRES_ONLY
def test_pool_connections_in_threads_end_idle(db: Any, pg_server: Any):
    """Several threads each running transactions leave every pooled connection idle afterwards."""
    svc = StorageService(db)
    errors: list[BaseException] = []

    def session(n: int) -> None:
        try:
            for i in range(5):
                svc.set_config_value(f"t{n}.{i}", i, "int")
                svc.list_config()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=session, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [] == errors
    assert 20 == len(svc.list_config())
    states = backend_states(pg_server, db)
    assert states and all("idle" == state for state in states)


# --- SQL_ECHO -------------------------------------------------------------------------------------------

ECHO_SCRIPT = """
import sys
import stocksbot

with stocksbot.connect(sys.argv[1]) as db:
    svc = stocksbot.StorageService(db)
    svc.set_config_value("echo", "1", "int")
    svc.get_config_value("echo")
    svc.list_orders()
"""


def run_script(script: str, url: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter with ``env`` added (DATABASE_URL and SQL_ECHO cleared first)."""
    import os

    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQL_ECHO")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", script, url], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("value", ["1", "true", "TRUE"])
def test_sql_echo_logs_each_statement_with_name_and_duration(database_url: str, tmp_path: Path, value: str):
    """With SQL_ECHO on, every statement is logged to stderr with its query name and its duration in ms."""
    result = run_script(ECHO_SCRIPT, database_url, tmp_path, SQL_ECHO=value)
    assert 0 == result.returncode, result.stderr
    assert "" == result.stdout
    for name in ("config.upsert_config_value", "config.find_config_value", "orders.list_orders"):
        assert re.search(rf"stocksbot\.sql {re.escape(name)} \d+\.\d{{3}} ms", result.stderr), result.stderr
    assert re.search(r"orders\.list_orders \d+\.\d{3} ms \(0 rows\): SELECT ", result.stderr)
    assert re.search(r"config\.upsert_config_value \d+\.\d{3} ms: INSERT INTO config", result.stderr)


@pytest.mark.parametrize("value", [None, "0", "", "false"])
def test_without_sql_echo_nothing_is_logged(database_url: str, tmp_path: Path, value: str | None):
    """With SQL_ECHO unset or off, statements are not logged."""
    result = run_script(ECHO_SCRIPT, database_url, tmp_path, **({} if value is None else {"SQL_ECHO": value}))
    assert 0 == result.returncode, result.stderr
    assert ("", "") == (result.stdout, result.stderr)


# --- URL forms ------------------------------------------------------------------------------------------


def test_sqlite_relative_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """sqlite:///relative.db opens relative.db in the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with stocksbot.connect("sqlite:///data/rel.db") as db:
        db.migrate()
        StorageService(db).set_config_value("k", "v")
        assert ("sqlite", "data/rel.db") == (db.dialect, db.url.sqlite_path)
    assert (tmp_path / "data" / "rel.db").is_file()
    with sqlite3.connect(tmp_path / "data" / "rel.db") as raw:
        assert [("k", "v")] == raw.execute("SELECT key, value FROM config").fetchall()


def test_sqlite_absolute_url(tmp_path: Path):
    """sqlite:////absolute/path.db (four slashes) opens that absolute path."""
    path = tmp_path / "abs.db"
    url = f"sqlite:///{path}"
    assert url.startswith("sqlite:////")
    with stocksbot.connect(url) as db:
        db.migrate()
        assert str(path) == db.url.sqlite_path
    assert path.is_file()


def test_sqlite_url_to_a_missing_directory_is_a_configuration_error(tmp_path: Path):
    """A SQLite path whose directory does not exist is a ConfigurationError at connect time."""
    with pytest.raises(ConfigurationError):
        stocksbot.connect(f"sqlite:///{tmp_path}/no/such/dir/x.db")


@POSTGRES_ONLY
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgres_url_forms(database_url: str, scheme: str):
    """postgresql://, postgres:// and postgresql+psycopg:// all reach the same database."""
    url = scheme + database_url[database_url.index("://"):]
    with stocksbot.connect(url) as db:
        assert "postgresql" == db.dialect
        with db.connection() as conn:
            row = conn.execute("SELECT current_database() AS name, current_setting('TimeZone') AS tz").fetchone()
        assert (database_url.rsplit("/", 1)[1], "UTC") == (row["name"], row["tz"])
        StorageService(db).set_config_value("scheme", scheme)


@pytest.mark.parametrize("url", [
    "mysql://user@host/db", "mssql+pyodbc://h/db", "http://example.com/db", "sqlite:relative.db",
    "sqlite://", "sqlite:///", "postgresql", "oracle://user:s3cret@host/db",
])
def test_unknown_or_malformed_url_is_a_configuration_error(url: str):
    """An unknown scheme or a URL without a usable path raises ConfigurationError, never showing a password."""
    with pytest.raises(ConfigurationError) as caught:
        stocksbot.connect(url)
    assert "s3cret" not in str(caught.value)


def test_safe_url_never_shows_the_password():
    """DatabaseURL.safe replaces the password; the parsed parameters keep it for the driver."""
    parsed = DatabaseURL.parse("postgresql://bob:s3cret@db.example:5433/prod?sslmode=require")
    assert "s3cret" not in parsed.safe and "***" in parsed.safe
    assert {"user": "bob", "password": "s3cret", "host": "db.example", "port": 5433, "dbname": "prod", "sslmode": "require"} == parsed.pg_params


def test_unreachable_server_is_database_unavailable():
    """A PostgreSQL URL nobody listens on raises DatabaseUnavailableError, without the password."""
    with pytest.raises(DatabaseUnavailableError) as caught:
        stocksbot.connect("postgresql://postgres:s3cret@127.0.0.1:1/stocksbot")
    assert "s3cret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


@pytest.mark.postgres
def test_missing_postgres_database_is_named_in_one_line(pg_server: Any):
    """A PostgreSQL URL naming a database that does not exist fails at connect with one line saying so."""
    name = f"stocksbot_missing_{new_id()[:8]}"
    with pytest.raises(stocksbot.StocksbotError) as caught:
        stocksbot.connect(pg_server.url_for(name))
    assert "does not exist" in str(caught.value) and name in str(caught.value)
    assert 1 == len(str(caught.value).splitlines())


@pytest.mark.postgres
def test_missing_postgres_database_is_a_configuration_error(pg_server: Any):
    """A missing database is a configuration problem (ConfigurationError), not a transient outage."""
    with pytest.raises(ConfigurationError):
        stocksbot.connect(pg_server.url_for(f"stocksbot_missing_{new_id()[:8]}"))


def test_database_url_environment_variable(database_url: str, monkeypatch: pytest.MonkeyPatch):
    """connect() without an argument uses DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    with stocksbot.connect() as db, stocksbot.connect(database_url) as same:
        StorageService(db).set_config_value("via-env", "1", "int")
        assert 1 == StorageService(same).get_config_value("via-env")
        assert same.url == db.url


def test_default_url_is_stocksbot_db_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Without an argument or DATABASE_URL, connect() opens ./stocksbot.db."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with stocksbot.connect() as db:
        assert ("sqlite", "./stocksbot.db") == (db.dialect, db.url.sqlite_path)
    assert (tmp_path / "stocksbot.db").is_file()


# --- driver errors come back translated ---------------------------------------------------------------------


def _duplicate_strategy(conn: Any) -> None:
    for _ in range(2):
        strategies.insert_strategy(conn, account_id="default", strategy_id=new_id(), name="dup", config={}, is_active=True, created_at=NOW)


def _zero_quantity_order(conn: Any) -> None:
    strategies.insert_strategy(conn, account_id="default", strategy_id=new_id(), name="first", config={}, is_active=True, created_at=NOW)
    orders.insert_order(
        conn, account_id="default", order_id=new_id(), client_order_id="c", strategy_id=None, symbol="AAPL", side="buy",
        order_type="market", quantity_e9=0, limit_price_e8=None, stop_price_e8=None, created_at=NOW,
    )


def _order_of_a_missing_strategy(conn: Any) -> None:
    strategies.insert_strategy(conn, account_id="default", strategy_id=new_id(), name="first", config={}, is_active=True, created_at=NOW)
    orders.insert_order(
        conn, account_id="default", order_id=new_id(), client_order_id="c", strategy_id=new_id(), symbol="AAPL", side="buy",
        order_type="market", quantity_e9=1, limit_price_e8=None, stop_price_e8=None, created_at=NOW,
    )


VIOLATIONS = [
    # work, query, constraint (on PostgreSQL; SQLite names only CHECKs), SQLSTATE, SQLite extended error name
    pytest.param(_duplicate_strategy, "strategies.insert_strategy", "uq_strategies_account_name", "23505",
                 "SQLITE_CONSTRAINT_UNIQUE", id="unique"),
    pytest.param(_zero_quantity_order, "orders.insert_order", "ck_orders_quantity_e9", "23514",
                 "SQLITE_CONSTRAINT_CHECK", id="check"),
    pytest.param(_order_of_a_missing_strategy, "orders.insert_order", "fk_orders_strategy", "23503",
                 "SQLITE_CONSTRAINT_FOREIGNKEY", id="foreign-key"),
]


@pytest.mark.parametrize(("work", "query", "constraint", "sqlstate", "sqlite_name"), VIOLATIONS)
def test_driver_errors_are_translated(db: Any, work: Any, query: str, constraint: str, sqlstate: str, sqlite_name: str):
    """A constraint violation comes back as ConflictError naming the query, with the driver error as __cause__; the transaction is undone."""
    with pytest.raises(ConflictError) as caught:
        with db.transaction() as conn:
            work(conn)
    error = caught.value
    assert query == error.query
    assert isinstance(error, stocksbot.StocksbotError)
    if db.dialect == "postgresql":
        assert isinstance(error.__cause__, psycopg.errors.IntegrityError)
        assert (sqlstate, constraint) == (error.__cause__.sqlstate, error.constraint)
    else:
        assert isinstance(error.__cause__, sqlite3.IntegrityError)
        assert sqlite_name == error.__cause__.sqlite_errorname
        if sqlite_name == "SQLITE_CONSTRAINT_CHECK":
            assert constraint == error.constraint
    assert [] == StorageService(db).list_strategies()


# --- closing --------------------------------------------------------------------------------------------------


def test_a_closed_database_refuses_use(database_url: str):
    """After close() (which may be called twice) every use raises ConfigurationError."""
    db = stocksbot.connect(database_url)
    svc = StorageService(db)
    svc.set_config_value("k", "v")
    db.close()
    db.close()
    attempts = [
        lambda: db.connection().__enter__(),
        lambda: db.transaction().__enter__(),
        lambda: db.run_in_transaction(lambda conn: None),
        lambda: svc.list_orders(),
        lambda: svc.set_config_value("k", "w"),
    ]
    for attempt in attempts:
        with pytest.raises(ConfigurationError):
            attempt()


def test_with_connect_closes_the_sqlite_database(tmp_path: Path):
    """Leaving `with stocksbot.connect(url) as db:` closes every connection: the WAL is checkpointed away and use is refused."""
    path = tmp_path / "closing.db"
    with stocksbot.connect(f"sqlite:///{path}") as db:
        db.migrate()
        StorageService(db).set_config_value("k", "v")
        assert Path(f"{path}-wal").exists()
    assert not Path(f"{path}-wal").exists()
    with pytest.raises(ConfigurationError):
        StorageService(db).get_config_value("k")
    with sqlite3.connect(path) as raw:
        assert [("k",)] == raw.execute("SELECT key FROM config").fetchall()


@POSTGRES_ONLY
def test_with_connect_closes_the_postgres_pool(database_url: str, pg_server: Any):
    """Leaving `with stocksbot.connect(url) as db:` closes the pool: its server connections go away and use is refused."""
    with stocksbot.connect(database_url) as db:
        StorageService(db).set_config_value("k", "v")
        assert backend_states(pg_server, db)
    for _ in range(200):  # the server notices a closed socket a moment later: wait for it, up to 10 s
        if not backend_states(pg_server, db):
            break
        time.sleep(0.05)
    assert [] == backend_states(pg_server, db)
    with pytest.raises(ConfigurationError):
        StorageService(db).get_config_value("k")


# --- how named queries bind ---------------------------------------------------------------------------


def test_a_named_query_binds_a_repeated_parameter_and_reports_a_missing_one(db: Any):
    """The typed modules pass a dict of parameters; on SQLite it is bound positionally. A parameter used
    twice in the SQL gets its one value in both places, and a missing one is the driver's own error,
    translated and chained, not a KeyError."""
    storage = StorageService(db)
    order = storage.create_order("AAPL", "buy", "market", 10)
    storage.update_order_status(order.order_id, "submitted")
    with db.transaction() as conn:  # apply_order_fill names :fill_quantity_e9 three times and :updated_at twice
        assert orders.apply_order_fill(conn, account_id="default", order_id=order.order_id, fill_quantity_e9=10**10,
                                       fill_notional_e8=10**10, updated_at=NOW)
    filled = storage.get_order(order.order_id)
    assert (OrderStatus.FILLED, Decimal(10), NOW, NOW) == (filled.status, filled.filled_quantity, filled.updated_at, filled.terminal_at)
    with pytest.raises(stocksbot.StocksbotError) as caught, db.connection() as conn:
        orders.statements_of(conn).find_order(conn, {"account_id": "default"})
    assert "orders.find_order" == caught.value.query
    assert isinstance(caught.value.__cause__, (sqlite3.ProgrammingError, psycopg.ProgrammingError))
    assert "order_id" in str(caught.value)
