"""Connections, dialects and transactions for SQLite and PostgreSQL.

``connect(url)`` returns a :class:`Database`. Everything below it takes a
connection from :meth:`Database.connection`, which is the connection of the
enclosing :meth:`Database.transaction` when there is one (per thread), or a
short-lived autocommit connection otherwise.

SQLite is opened as a production store: WAL, ``foreign_keys=ON``, a busy
timeout and ``BEGIN IMMEDIATE`` for every write transaction, so writers queue on
the busy timeout instead of failing on a stale snapshot. PostgreSQL goes through
a psycopg-pool pool of autocommit connections; a transaction is an explicit
``conn.transaction()``, so no pooled connection is ever left idle in transaction.
"""

from __future__ import annotations

import logging
import os
import random
import re
import select
import sqlite3
import sys
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import CommitOutcomeUnknownError, ConfigurationError, DatabaseUnavailableError, TransientError, translate

if TYPE_CHECKING:  # pragma: no cover
    from psycopg_pool import ConnectionPool

    from .sqlfiles import QueryFile

log = logging.getLogger("stocksbot")
T = TypeVar("T")

DEFAULT_URL = "sqlite:///./stocksbot.db"


# --- settings ------------------------------------------------------------------------


def _env_number(name: str, default: float, cast: Callable[[str], float] = float) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise ConfigurationError(f"{name}={raw!r} must not be negative")
    return value


@dataclass(frozen=True)
class Settings:
    """Tunables read from ``STOCKSBOT_*`` environment variables (documented in the README)."""

    pool_min_size: int = 1
    pool_max_size: int = 10
    pool_timeout: float = 30.0
    connect_timeout: int = 10
    sqlite_busy_timeout: float = 30.0
    sqlite_synchronous: str = "FULL"
    retry_attempts: int = 8
    sql_echo: bool = False

    @classmethod
    def from_env(cls) -> "Settings":
        synchronous = os.environ.get("STOCKSBOT_SQLITE_SYNCHRONOUS", "FULL").upper()
        if synchronous not in {"NORMAL", "FULL", "EXTRA"}:
            raise ConfigurationError(f"STOCKSBOT_SQLITE_SYNCHRONOUS={synchronous!r}: use NORMAL, FULL or EXTRA")
        settings = cls(
            pool_min_size=_env_number("STOCKSBOT_POOL_MIN_SIZE", 1, int),
            pool_max_size=_env_number("STOCKSBOT_POOL_MAX_SIZE", 10, int),
            pool_timeout=_env_number("STOCKSBOT_POOL_TIMEOUT", 30.0),
            connect_timeout=_env_number("STOCKSBOT_CONNECT_TIMEOUT", 10, int),
            sqlite_busy_timeout=_env_number("STOCKSBOT_SQLITE_BUSY_TIMEOUT", 30.0),
            sqlite_synchronous=synchronous,
            retry_attempts=_env_number("STOCKSBOT_RETRY_ATTEMPTS", 8, int),
            sql_echo=os.environ.get("SQL_ECHO", "").strip().lower() in {"1", "true", "yes", "on"},
        )
        if settings.pool_max_size < max(1, settings.pool_min_size):
            raise ConfigurationError("STOCKSBOT_POOL_MAX_SIZE must be at least STOCKSBOT_POOL_MIN_SIZE and 1")
        return settings


# --- URLs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. ``safe`` is the form to print: it never carries the password."""

    dialect: str  # "sqlite" or "postgresql"
    safe: str
    sqlite_path: str | None = None  # a filesystem path, or ":memory:"
    pg_params: dict[str, Any] | None = None

    @property
    def is_memory(self) -> bool:
        return self.sqlite_path == ":memory:"

    @classmethod
    def parse(cls, url: str) -> "DatabaseURL":
        """Parse ``sqlite:///rel.db``, ``sqlite:////abs.db``, ``sqlite:///:memory:`` or a PostgreSQL URL."""
        if not isinstance(url, str) or "://" not in url:
            raise ConfigurationError(f"not a database URL: {_redact(str(url))!r} (expected sqlite:///path or postgresql://...)")
        scheme, _, rest = url.partition("://")
        scheme = scheme.lower()
        if scheme == "sqlite":
            if not rest.startswith("/") or rest == "/":
                raise ConfigurationError(f"SQLite URL needs a path: sqlite:///relative.db or sqlite:////absolute.db, got {url!r}")
            path = rest[1:].split("?", 1)[0]
            return cls("sqlite", f"sqlite:///{path}", sqlite_path=path if path == ":memory:" else unquote(path))
        if scheme in {"postgresql", "postgres", "postgresql+psycopg"}:
            parts = urlsplit("postgresql://" + rest)
            info: dict[str, Any] = {"dbname": unquote(parts.path.lstrip("/")) or None}
            if parts.hostname:
                info["host"] = unquote(parts.hostname)
            if parts.port:
                info["port"] = parts.port
            if parts.username:
                info["user"] = unquote(parts.username)
            if parts.password is not None:
                info["password"] = unquote(parts.password)
            info.update(parse_qsl(parts.query))
            info = {key: value for key, value in info.items() if value is not None}
            return cls("postgresql", _redact(f"postgresql://{rest}"), pg_params=info)
        raise ConfigurationError(f"unknown database URL scheme {scheme!r}: use sqlite:///path or postgresql://user@host/db")

    def yoyo_url(self) -> str:
        """The same database as a yoyo URL (psycopg 3 needs ``postgresql+psycopg``)."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        info = dict(self.pg_params or {})
        from urllib.parse import quote, urlencode

        auth = ""
        if "user" in info:
            auth = quote(info.pop("user"), safe="")
            if "password" in info:
                auth += ":" + quote(info.pop("password"), safe="")
            auth += "@"
        host = info.pop("host", "")
        port = f":{info.pop('port')}" if "port" in info else ""
        dbname = quote(info.pop("dbname", ""), safe="")
        query = f"?{urlencode(info)}" if info else ""
        return f"postgresql+psycopg://{auth}{host}{port}/{dbname}{query}"


_URL_PASSWORD = re.compile(r"(?P<user>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/]*@")


def redact_passwords(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (for messages that quote arguments)."""
    return _URL_PASSWORD.sub(r"\g<user>***@", text)


def _redact(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    except ValueError:
        return "<unparseable URL>"


# --- the database ----------------------------------------------------------------------


class _ThreadState(threading.local):
    """Per-thread state: the thread's connection and transaction depth.

    The class attributes are every thread's defaults, so a thread that has not set them yet
    reads them as plain attributes; ``getattr(local, "conn", None)`` on a bare
    ``threading.local`` raises and catches an AttributeError instead, about 0.5 µs on every
    read outside a transaction.
    """

    conn: Any = None
    depth: int = 0


class Database:
    """One database, SQLite or PostgreSQL: connections, transactions, queries, migrations."""

    def __init__(self, url: str | None = None, *, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        if url is not None and not url.strip():
            raise ConfigurationError("the database URL is empty")
        self.url = DatabaseURL.parse(url or os.environ.get("DATABASE_URL") or DEFAULT_URL)
        self.dialect = self.url.dialect
        if self.settings.sql_echo:
            _enable_echo()
        self._local = _ThreadState()
        self._closed = False
        self._schema_checked = False
        self.retries = 0  # transient errors retried by run_in_transaction, for the reliability reports
        if self.dialect == "sqlite":
            self._engine: _Engine = _SQLiteEngine(self.url, self.settings)
        else:
            self._engine = _PostgresEngine(self.url, self.settings)

    def __repr__(self) -> str:
        return f"<stocksbot.Database {self.url.safe}>"

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection (and the pool). The Database cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            self._engine.close()

    @property
    def queries(self) -> "dict[str, QueryFile]":
        """Every query file for this database's dialect, by file stem (loaded at first use, once per process)."""
        from .sqlfiles import load_queries

        return load_queries(self.dialect)

    def query_file(self, name: str) -> "QueryFile":
        """The named queries of ``queries/<name>.sql`` for this database's dialect."""
        return self.queries[name]

    # -- connections and transactions --

    @property
    def in_transaction(self) -> bool:
        """True inside a ``with db.transaction():`` block on this thread."""
        return self._local.depth > 0

    def connection(self) -> Any:
        """The current transaction's connection, or a fresh autocommit connection for one unit of reads.

        A context manager yielding the connection (a class, not a generator: it is on every read's path).
        """
        if self._closed:
            raise ConfigurationError("this Database is closed")
        current = self._local.conn
        if current is not None:
            return _Given(current)
        return self._engine.autocommit_connection()

    def transaction(self) -> Any:
        """Commit on success, roll back on error; nested use is a SAVEPOINT. Yields the connection."""
        if self._closed:
            raise ConfigurationError("this Database is closed")
        return _TransactionScope(self)

    def read(self, work: Callable[[Any], T]) -> T:
        """Run one unit of reads, ``work(conn)``, on the current transaction's connection or a pooled one.

        Outside a transaction, on PostgreSQL, a connection that turns out to be dead when
        used (the server ended it since its last use: a restart, ``pg_terminate_backend``)
        is dropped by the pool and the reads run once more on another; a second failure is
        raised (DatabaseUnavailableError) as is.
        """
        if self._closed:
            raise ConfigurationError("this Database is closed")
        current = self._local.conn
        if current is not None:
            return work(current)
        if self.dialect == "sqlite":
            engine = self._engine
            if engine.shared_connection is None:  # a file database: the thread's own connection, nothing to release
                return work(engine._connection())
            with engine.autocommit_connection() as conn:
                return work(conn)
        try:
            with self._engine.autocommit_connection() as conn:
                return work(conn)
        except DatabaseUnavailableError:
            with self._engine.autocommit_connection() as conn:
                return work(conn)

    def run_in_transaction(self, work: Callable[[Any], T]) -> T:
        """Run ``work(conn)`` as one transaction, retrying transient conflicts with bounded backoff.

        Inside an enclosing transaction the work joins it (as a savepoint) and is
        not retried here: the enclosing unit of work owns the retry.
        """
        if self.in_transaction:
            with self.transaction() as conn:
                return work(conn)
        attempt = 0
        while True:
            try:
                with self.transaction() as conn:
                    return work(conn)
            except CommitOutcomeUnknownError:  # it may have committed: running the work again could apply it twice
                raise
            except TransientError:
                attempt += 1
                if attempt > self.settings.retry_attempts:
                    raise
                self.retries += 1
                time.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))

    # -- migrations --

    def migrate(self) -> list[str]:
        """Apply every pending migration (locked against concurrent runs); returns the ids applied."""
        from .migrate import Migrator

        applied = Migrator(self).upgrade()
        self._schema_checked = False
        return applied

    def _check_schema(self, conn: Any) -> None:
        """Refuse to write to a database whose schema this code does not match (checked once).

        A newer schema (migrations this code does not know) means an older stocksbot
        is running against a database a newer one migrated; a pending migration means
        the deploy skipped ``stocksbot db upgrade``. Either way writing could corrupt data.
        """
        from .errors import MigrationError
        from .paths import migration_ids

        try:
            rows = _fetch_all(conn, "SELECT migration_id FROM _yoyo_migration")
        except Exception as exc:  # the table does not exist: never migrated
            raise MigrationError(
                f"database {self.url.safe} has no stocksbot schema: run `stocksbot db upgrade`"
            ) from translate(exc)
        applied = {row["migration_id"] for row in rows}
        known = migration_ids()
        unknown = sorted(applied - set(known))
        if unknown:
            raise MigrationError(
                f"database schema is newer than this stocksbot (unknown migrations: {', '.join(unknown)}): "
                "upgrade stocksbot before writing; it refuses to write to protect the data"
            )
        pending = [mid for mid in known if mid not in applied]
        if pending:
            raise MigrationError(
                f"database schema is behind this stocksbot ({len(pending)} pending: {', '.join(pending)}): "
                "run `stocksbot db upgrade`"
            )
        self._schema_checked = True

    # -- internals --

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this Database is closed")

    @property
    def sqlite_connection_for_migrations(self) -> sqlite3.Connection | None:
        """For an in-memory SQLite database: the one connection that holds it (yoyo must use it)."""
        return self._engine.shared_connection if isinstance(self._engine, _SQLiteEngine) else None


class _Given:
    """A context manager that yields a connection already held by someone else (and does not release it)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        return None


class _TransactionScope:
    """``with db.transaction() as conn``: the outermost one begins and commits, nested ones are savepoints."""

    __slots__ = ("db", "depth", "inner")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.depth = 0
        self.inner: Any = None

    def __enter__(self) -> Any:
        db = self.db
        local = db._local
        depth = self.depth = local.depth
        if depth == 0:
            self.inner = db._engine.begin()
            conn = self.inner.__enter__()
            local.conn, local.depth = conn, 1
            if not db._schema_checked:
                try:
                    db._check_schema(conn)
                except BaseException:
                    local.conn, local.depth = None, 0
                    self.inner.__exit__(*sys.exc_info())
                    raise
            return conn
        conn = local.conn
        local.depth = depth + 1
        self.inner = db._engine.savepoint(conn, depth)
        try:
            self.inner.__enter__()
        except BaseException:
            local.depth = depth
            raise
        return conn

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> Any:
        local = self.db._local
        if self.depth == 0:
            local.conn, local.depth = None, 0  # as the transaction ends, before its COMMIT or ROLLBACK
        try:
            return self.inner.__exit__(exc_type, exc, traceback)
        finally:
            if self.depth:
                local.depth = self.depth


def _fetch_all(conn: Any, sql: str) -> list[dict[str, Any]]:
    """Run one parameterless statement on either driver and return its rows as dicts."""
    if isinstance(conn, sqlite3.Connection):
        return list(conn.execute(sql).fetchall())
    with conn.transaction():  # a savepoint: a failure here must not abort the caller's transaction
        return list(conn.execute(sql).fetchall())


def connect(url: str | None = None) -> Database:
    """Open the database at ``url``, or ``DATABASE_URL``, or ``sqlite:///./stocksbot.db``."""
    return Database(url)


def _enable_echo() -> None:
    sql_log = logging.getLogger("stocksbot.sql")
    sql_log.setLevel(logging.DEBUG)
    if not sql_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        sql_log.addHandler(handler)


# --- engines ---------------------------------------------------------------------------


class _Engine:
    def autocommit_connection(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def begin(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def savepoint(self, conn: Any, depth: int) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip([column[0] for column in cursor.description], row))


class _SQLiteEngine(_Engine):
    """One connection per thread (one shared connection for ``:memory:``), ``BEGIN IMMEDIATE`` writes."""

    def __init__(self, url: DatabaseURL, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self._local = _ThreadState()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.shared_connection: sqlite3.Connection | None = None
        self.memory_name: str | None = None
        if url.is_memory:
            from .values import new_id

            # A named shared-cache memory database, so yoyo's own connections reach the same data.
            self.memory_name = f"file:stocksbot-{new_id()}?mode=memory&cache=shared"
            self.shared_connection = self._open()
            self._memory_lock = threading.RLock()
        else:
            parent = Path(url.sqlite_path or ".").expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigurationError(f"cannot open SQLite database {url.safe}: directory {parent} does not exist")
            self._connection()  # open now, so a bad path fails at connect time

    def _open(self) -> sqlite3.Connection:
        try:
            if self.memory_name:
                conn = sqlite3.connect(self.memory_name, uri=True, isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(
                    self.url.sqlite_path or "", isolation_level=None, timeout=self.settings.sqlite_busy_timeout,
                    check_same_thread=False,
                )
            conn.row_factory = _dict_row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(self.settings.sqlite_busy_timeout * 1000)}")
            if not self.memory_name:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self.settings.sqlite_synchronous}")
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(f"cannot open SQLite database {self.url.safe}: {exc}") from exc
        with self._lock:
            self._all.append(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self.shared_connection is not None:
            return self.shared_connection
        conn = self._local.conn
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def autocommit_connection(self) -> Any:
        if self.shared_connection is not None:
            return self._memory_connection()
        return _Given(self._connection())

    @contextmanager
    def _memory_connection(self) -> Iterator[sqlite3.Connection]:
        with self._memory_lock:
            yield self.shared_connection  # type: ignore[misc]

    def begin(self) -> "_SQLiteTransaction":
        return _SQLiteTransaction(self)

    @contextmanager
    def savepoint(self, conn: sqlite3.Connection, depth: int) -> Iterator[None]:
        name = f"stocksbot_sp_{depth}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {name}")

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing is best effort
                log.warning("closing a SQLite connection failed", exc_info=True)


class _SQLiteTransaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error) on the thread's SQLite connection."""

    __slots__ = ("engine", "conn")

    def __init__(self, engine: _SQLiteEngine) -> None:
        self.engine = engine

    def __enter__(self) -> sqlite3.Connection:
        engine = self.engine
        shared = engine.shared_connection is not None
        if shared:
            engine._memory_lock.acquire()
        try:
            conn = self.conn = engine._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate(exc, query="BEGIN IMMEDIATE") from exc
        except BaseException:
            if shared:
                engine._memory_lock.release()
            raise
        return conn

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        conn = self.conn
        try:
            if exc_type is not None:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):  # a statement run directly on the connection
                    raise translate(exc) from exc
                return
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as commit_error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise translate(commit_error, query="COMMIT") from commit_error
        finally:
            if self.engine.shared_connection is not None:
                self.engine._memory_lock.release()


class _PostgresEngine(_Engine):
    """A psycopg-pool pool of autocommit, dict-row connections; transactions are explicit."""

    def __init__(self, url: DatabaseURL, settings: Settings) -> None:
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.url = url
        self.conninfo = pg_conninfo(url, settings)
        # One direct connection first: it fails fast with the real reason (bad password,
        # unreachable host), where a pool would only time out.
        try:
            psycopg.connect(self.conninfo).close()
        except psycopg.Error as exc:
            raise connect_error(exc, url) from exc
        self._returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._full_check = ConnectionPool.check_connection
        # Opened at the first unit of work, not here: `stocksbot db upgrade` and a process that only
        # migrates never start the pool's threads and connections.
        self.pool: ConnectionPool = ConnectionPool(
            self.conninfo,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            check=self._check_on_checkout,
            name="stocksbot",
        )
        self._opened = False
        self._open_lock = threading.Lock()

    def _open_pool(self) -> None:
        with self._open_lock:
            if not self._opened:
                self.pool.open()
                self._opened = True

    def _check_on_checkout(self, conn: Any) -> None:
        """The pool's check of each connection it hands out: a round trip only when it may be dead.

        A connection the server ended while it sat in the pool (a restart, a terminated
        backend) has something to read on its socket: the server's goodbye, or the end of the
        stream. Then, or when it sat unused for more than CHECK_AFTER_IDLE seconds (a network
        that dropped it silently), psycopg-pool's full check runs (an empty query) and a dead
        connection is replaced. Otherwise the connection goes out unchecked, so a read costs
        one round trip, not two; one found dead on use anyway is retried by Database.read.
        """
        returned = self._returned.get(conn)
        if returned is None or time.monotonic() - returned > CHECK_AFTER_IDLE or _socket_has_data(conn):
            self._full_check(conn)

    def _pooled(self) -> "_Pooled":
        if not self._opened:
            self._open_pool()
        return _Pooled(self)

    def autocommit_connection(self) -> "_Pooled":
        return self._pooled()

    @contextmanager
    def begin(self) -> Iterator[Any]:
        import psycopg

        with self._pooled() as conn:
            committing = False
            try:
                with conn.transaction():
                    yield conn
                    committing = True  # the work is done: leaving the block sends COMMIT
            except psycopg.Error as exc:  # raised by BEGIN or COMMIT (e.g. a serialization failure)
                if committing and conn.broken:
                    raise CommitOutcomeUnknownError(
                        f"the connection to {self.url.safe} was lost while committing: the transaction may or may "
                        "not have been committed (re-send a fill with its execution id; read back before "
                        "repeating other work)", query="transaction",
                    ) from exc
                raise translate(exc, query="transaction") from exc

    @contextmanager
    def savepoint(self, conn: Any, depth: int) -> Iterator[None]:
        with conn.transaction():
            yield

    def close(self) -> None:
        with self._open_lock:
            if self._opened:
                self.pool.close()
            self._opened = True  # a closed pool is never opened again


class _Pooled:
    """One connection borrowed from the pool for a unit of work, as ``pool.connection()`` lends it
    (commit on success, rollback on error, then back to the pool), as a class: it is on every call's path."""

    __slots__ = ("engine", "conn")

    def __init__(self, engine: _PostgresEngine) -> None:
        self.engine = engine

    def __enter__(self) -> Any:
        try:
            self.conn = self.engine.pool.getconn()
        except Exception as exc:
            raise translate(exc, query="pool.connection") from exc
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        conn, pool = self.conn, self.engine.pool
        try:
            if not conn.closed:
                if exc_type is None:
                    conn.commit()  # a no-op for an idle autocommit connection
                    self.engine._returned[conn] = time.monotonic()
                else:
                    try:
                        conn.rollback()
                    except Exception as rollback_error:  # noqa: BLE001 - the original error is the one to raise
                        log.warning("error ignored in rollback on %s: %s", conn, rollback_error)
        finally:
            pool.putconn(conn)


#: Seconds a pooled PostgreSQL connection may sit unused before its next checkout runs a full check.
CHECK_AFTER_IDLE = 5.0


def _socket_has_data(conn: Any) -> bool:
    """Whether an idle connection's socket has anything to read (what a server that ended it leaves)."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except Exception:  # noqa: BLE001 - a closed or odd connection: let the full check decide
        return True


def pg_conninfo(url: DatabaseURL, settings: Settings) -> str:
    """The libpq connection string of a PostgreSQL URL, with stocksbot's session defaults."""
    from psycopg.conninfo import make_conninfo

    info = dict(url.pg_params or {})
    info.setdefault("connect_timeout", settings.connect_timeout)
    info.setdefault("options", "-c TimeZone=UTC")
    info.setdefault("application_name", "stocksbot")
    return make_conninfo(**{key: str(value) for key, value in info.items()})


def connect_error(exc: Exception, url: DatabaseURL) -> Exception:
    """One clear line for a failed PostgreSQL connection; never the password."""
    info = url.pg_params or {}
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    sqlstate = getattr(exc, "sqlstate", None)
    text = str(exc)
    password = info.get("password")
    if password:
        text = text.replace(str(password), "***")
    reason = text.strip().splitlines()[-1] if text.strip() else type(exc).__name__
    if sqlstate in {"28P01", "28000"} or "password authentication failed" in text:
        return ConfigurationError(f"cannot connect to PostgreSQL at {where}: authentication failed for user {info.get('user', '')!r}")
    # libpq reports connection failures without a SQLSTATE, so the message is all there is here.
    if re.search(r'role "[^"]*" does not exist', text):
        return ConfigurationError(f"cannot connect to PostgreSQL at {where}: user {info.get('user', '')!r} does not exist")
    if sqlstate == "3D000" or "does not exist" in text:
        return ConfigurationError(f"cannot connect to PostgreSQL at {where}: database does not exist")
    return DatabaseUnavailableError(f"cannot connect to PostgreSQL at {where}: {reason.strip()}")
