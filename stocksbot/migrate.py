"""Applying, inspecting and rolling back the yoyo migrations in ``migrations/``.

What stocksbot adds to plain yoyo (docs/migrations.md):

* **one lock that dies with its holder**: a PostgreSQL session advisory lock, or
  an ``flock`` on ``<db>.migrate.lock`` for SQLite, serialises concurrent runs;
  yoyo's own lock row is taken inside it, and a row left by a killed process is
  recognised as stale and cleared;
* **apply and mark in one transaction**, so a crash cannot leave a migration
  applied but unrecorded (yoyo marks in a second transaction);
* ``BEGIN IMMEDIATE`` on SQLite, so a migration queues behind running writers.
"""

from __future__ import annotations

import fcntl
import getpass
import logging
import os
import socket
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.backends.core.sqlite3 import SQLiteBackend
from yoyo.connections import parse_uri
from yoyo.exceptions import LockTimeout

from .db import DatabaseURL, Settings, _env_number, connect_error, pg_conninfo
from . import migration_files
from .errors import ConfigurationError, DatabaseUnavailableError, MigrationError, StocksbotError, translate
from .paths import migrations_dir

if TYPE_CHECKING:  # pragma: no cover
    from .db import Database

log = logging.getLogger("stocksbot.migrate")

#: pg_advisory_lock key of stocksbot migrations ("stocks" in ASCII).
ADVISORY_LOCK_KEY = 0x73746F636B73


@dataclass(frozen=True)
class MigrationState:
    """One migration and whether (and when) it is applied; ``known`` is False for an applied id with no file."""

    id: str
    applied: bool
    applied_at: datetime | None
    known: bool = True


@dataclass(frozen=True)
class LogEntry:
    """One line of yoyo's ``_yoyo_log``: an apply, rollback, mark or unmark."""

    migration_id: str
    operation: str
    at: datetime
    username: str
    hostname: str


@lru_cache(maxsize=None)
def _who_and_where() -> tuple[str, str]:
    """The user and host name yoyo writes on each ``_yoyo_log`` row, looked up once per process."""
    return getpass.getuser(), socket.getfqdn()


class _AtomicMarksMixin:
    """Apply (or roll back) a migration and record it in the same transaction."""

    def get_log_data(self, migration: Any = None, operation: str = "apply") -> dict[str, Any]:
        """yoyo's ``_yoyo_log`` row, the same columns and values, with the user and host looked up
        once: yoyo calls ``socket.getfqdn()``, a DNS query, for every row (seconds each where DNS is slow)."""
        username, hostname = _who_and_where()
        return {
            "id": str(uuid.uuid1()),
            "migration_id": migration.id if migration else None,
            "migration_hash": migration.hash if migration else None,
            "username": username,
            "hostname": hostname,
            "created_at_utc": datetime.now(timezone.utc).replace(tzinfo=None),
            "operation": operation,
        }

    def apply_one(self, migration: Any, force: bool = False, mark: bool = True) -> None:
        migration.load()
        if not migration.use_transactions:
            super().apply_one(migration, force=force, mark=mark)  # type: ignore[misc]
            return
        log.info("applying %s", migration.id)
        self.ensure_internal_schema_updated()  # type: ignore[attr-defined]
        with self.transaction():  # type: ignore[attr-defined]
            migration.process_steps(self, "apply", force=force)
            self.log_migration(migration, "apply")  # type: ignore[attr-defined]
            if mark:
                self.mark_one(migration, log=False)  # type: ignore[attr-defined]

    def rollback_one(self, migration: Any, force: bool = False) -> None:
        migration.load()
        if not migration.use_transactions:
            super().rollback_one(migration, force=force)  # type: ignore[misc]
            return
        log.info("rolling back %s", migration.id)
        self.ensure_internal_schema_updated()  # type: ignore[attr-defined]
        with self.transaction():  # type: ignore[attr-defined]
            migration.process_steps(self, "rollback", force=force)
            self.log_migration(migration, "rollback")  # type: ignore[attr-defined]
            self.unmark_one(migration, log=False)  # type: ignore[attr-defined]


class _SQLiteBackend(_AtomicMarksMixin, SQLiteBackend):
    """yoyo's SQLite backend on a plain (not shared-cache) connection with a busy timeout."""

    target: str = ""
    uri: bool = False
    busy_timeout: float = 30.0

    def connect(self, dburi: Any) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.target, uri=self.uri, timeout=self.busy_timeout,
            isolation_level=None, check_same_thread=False,
        )
        return conn

    def begin(self) -> None:
        assert not self._in_transaction
        self._in_transaction = True
        self.execute("BEGIN IMMEDIATE")


class _PostgresBackend(_AtomicMarksMixin, PostgresqlPsycopgBackend):
    """yoyo's psycopg 3 backend, applying and marking atomically."""


class Migrator:
    """Runs the migrations against one database URL (or an open :class:`Database`)."""

    def __init__(self, target: "Database | str | None" = None, *, directory: Path | None = None) -> None:
        from .db import DEFAULT_URL, Database

        self._memory_target: str | None = None
        if isinstance(target, Database):
            self.url = target.url
            engine = target._engine
            self._memory_target = getattr(engine, "memory_name", None)
            self.settings = target.settings
        else:
            self.url = DatabaseURL.parse(target or os.environ.get("DATABASE_URL") or DEFAULT_URL)
            self.settings = Settings.from_env()
            if self.url.is_memory:
                raise MigrationError("an in-memory SQLite database only exists inside one process: use db.migrate()")
            if self.url.dialect == "sqlite":
                parent = Path(self.url.sqlite_path or ".").expanduser().resolve().parent
                if not parent.is_dir():
                    raise ConfigurationError(
                        f"cannot open SQLite database {self.url.safe}: directory {parent} does not exist"
                    )
        self.directory = directory or migrations_dir()
        self.lock_timeout = _env_number("STOCKSBOT_MIGRATION_LOCK_TIMEOUT", 300.0)

    # -- public operations --

    def migrations(self) -> Any:
        """The yoyo migration list of ``migrations/`` in dependency order (read without sqlparse where
        :mod:`stocksbot.migration_files` can split the files)."""
        return migration_files.read(str(self.directory))

    def status(self) -> list[MigrationState]:
        """Every migration file, applied or pending, in order."""
        with self._backend() as backend:
            applied = self._applied_at(backend)
            states = [MigrationState(m.id, m.id in applied, applied.get(m.id)) for m in self.migrations()]
            known = {state.id for state in states}
            # Applied by a newer stocksbot: this code has no file for them (freqtrade #12045).
            states += [MigrationState(mid, True, at, known=False) for mid, at in sorted(applied.items()) if mid not in known]
            return states

    def pending(self) -> list[str]:
        """Ids of the migrations not yet applied."""
        return [state.id for state in self.status() if not state.applied]

    def unknown(self) -> list[str]:
        """Ids applied to the database that this code has no file for (the schema is newer than the code)."""
        return [state.id for state in self.status() if not state.known]

    def history(self) -> list[LogEntry]:
        """Every apply and rollback recorded in yoyo's log, oldest first."""
        with self._backend() as backend:
            if "_yoyo_log" not in backend.list_tables():  # a database never migrated
                return []
            cursor = backend.execute(
                "SELECT migration_id, operation, created_at_utc, username, hostname "
                "FROM _yoyo_log ORDER BY created_at_utc, id"
            )
            return [
                LogEntry(row[0], row[1], _as_utc(row[2]), row[3] or "", row[4] or "")
                for row in cursor.fetchall()
            ]

    def pending_sql(self) -> list[tuple[str, str]]:
        """(id, SQL text) of every pending migration, for ``db upgrade --dry-run``."""
        pending = set(self.pending())
        return [(m.id, Path(m.path).read_text()) for m in self.migrations() if m.id in pending]

    def upgrade(self) -> list[str]:
        """Apply every pending migration under the lock; returns the ids applied."""
        with self._locked() as backend:
            known = self.migrations()
            todo = backend.to_apply(known)
            for migration in todo:
                try:
                    backend.apply_one(migration)
                except StocksbotError:
                    raise
                except Exception as exc:
                    raise MigrationError(
                        f"migration {migration.id} failed on {self.url.safe} and was rolled back: "
                        f"{translate(exc).message}"
                    ) from exc
            if todo:
                backend.run_post_apply(todo)
            left = backend.to_apply(known)
            if len(left):
                raise MigrationError(f"migrations still pending after upgrade: {', '.join(m.id for m in left)}")
            return [m.id for m in todo]

    def downgrade(self, steps: int = 1) -> list[str]:
        """Roll back the newest ``steps`` applied migrations; returns the ids rolled back."""
        if steps < 1:
            raise MigrationError("--steps must be at least 1")
        with self._locked() as backend:
            applied = backend.to_rollback(self.migrations())  # newest first
            chosen = list(applied)[:steps]
            for migration in chosen:
                backend.rollback_one(migration)
            return [m.id for m in chosen]

    def _applied_at(self, backend: Any) -> dict[str, datetime]:
        if "_yoyo_migration" not in backend.list_tables():  # a database never migrated
            return {}
        cursor = backend.execute("SELECT migration_id, applied_at_utc FROM _yoyo_migration")
        return {row[0]: _as_utc(row[1]) for row in cursor.fetchall()}

    def break_lock(self) -> bool:
        """Remove yoyo's lock row (after a killed run); True if there was one."""
        with self._backend() as backend:
            had = bool(backend.execute("SELECT pid FROM yoyo_lock").fetchall())
            backend.break_lock()
            return had

    # -- internals --

    @contextmanager
    def _backend(self) -> Iterator[Any]:
        try:
            if self.url.dialect == "sqlite":
                backend_cls = type("_Backend", (_SQLiteBackend,), {
                    "target": self._memory_target or (self.url.sqlite_path or ""),
                    "uri": self._memory_target is not None,
                    "busy_timeout": self.settings.sqlite_busy_timeout,
                })
                backend = backend_cls(parse_uri(self.url.yoyo_url()), "_yoyo_migration")
            else:
                backend = _PostgresBackend(parse_uri(self.url.yoyo_url()), "_yoyo_migration")
            backend.init_database()
        except StocksbotError:
            raise
        except Exception as exc:
            if self.url.dialect == "postgresql" and type(exc).__module__.startswith("psycopg"):
                raise connect_error(exc, self.url) from exc
            raise _migration_error(exc, self.url) from exc
        if "yoyo_lock" not in backend.list_tables():  # yoyo swallows the CREATE TABLE failure
            backend.connection.close()
            raise MigrationError(
                f"cannot create the migration tables on {self.url.safe}: "
                "the user needs CREATE privilege on the schema (PostgreSQL 15 no longer grants it on public)"
            )
        try:
            yield backend
        except (StocksbotError, LockTimeout):
            raise
        except Exception as exc:
            raise _migration_error(exc, self.url) from exc
        finally:
            try:
                backend.connection.close()
            except Exception:  # pragma: no cover - closing is best effort
                log.debug("closing the migration connection failed", exc_info=True)

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with self._process_lock(), self._backend() as backend:
            with self._yoyo_lock(backend):
                yield backend

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        """A lock released by the OS or the server if its holder dies."""
        if self.url.dialect == "postgresql":
            yield from self._advisory_lock()
        elif self._memory_target is None:
            yield from self._file_lock(Path(f"{self.url.sqlite_path}.migrate.lock"))
        else:
            yield

    def _advisory_lock(self) -> Iterator[None]:
        import psycopg

        try:
            conn = psycopg.connect(pg_conninfo(self.url, self.settings), autocommit=True)
        except psycopg.Error as exc:
            raise connect_error(exc, self.url) from exc
        try:
            conn.execute(f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            except psycopg.errors.LockNotAvailable as exc:
                raise MigrationError(
                    f"another migration run holds the lock; gave up after {self.lock_timeout:g}s "
                    "(STOCKSBOT_MIGRATION_LOCK_TIMEOUT)"
                ) from exc
            yield
        finally:
            conn.close()  # ends the session, which releases the advisory lock

    def _file_lock(self, path: Path) -> Iterator[None]:
        try:
            handle = open(path, "a")
        except OSError as exc:  # a name too long, a read-only directory
            raise MigrationError(f"cannot open the migration lock file {path}: {exc.strerror or exc}") from exc
        with handle:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise MigrationError(
                            f"another migration run holds {path}; gave up after {self.lock_timeout:g}s "
                            "(STOCKSBOT_MIGRATION_LOCK_TIMEOUT)"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _yoyo_lock(self, backend: Any) -> Iterator[None]:
        """yoyo's own lock row (so plain ``yoyo apply`` is excluded too), clearing a stale one first.

        A row whose pid no longer runs on this host was left by a killed run: we hold
        the process lock, so no other stocksbot run can own it, and it is removed.
        A live holder (a plain ``yoyo apply`` running now) is waited for up to
        STOCKSBOT_MIGRATION_LOCK_TIMEOUT seconds.
        """
        row = backend.execute("SELECT pid, ctime FROM yoyo_lock").fetchone()
        if row is not None and not _process_alive(int(row[0])):
            log.warning("clearing a stale migration lock left by process %s at %s", row[0], row[1])
            backend.break_lock()
        try:
            with backend.lock(timeout=max(self.lock_timeout, 0.5)):
                yield
        except LockTimeout as exc:
            row = backend.execute("SELECT pid, ctime FROM yoyo_lock").fetchone()
            if row is None:  # no lock row: the write that takes it waited on the database itself
                raise MigrationError(
                    f"the database stayed busy for {self.lock_timeout:g}s (STOCKSBOT_MIGRATION_LOCK_TIMEOUT): "
                    "another connection, such as the running bot, held its write lock; no migration holds "
                    "yoyo_lock, so there is nothing to unlock: rerun, or stop the writers for the migration"
                ) from exc
            raise MigrationError(
                f"migrations are locked by process {row[0]} since {row[1]} (yoyo_lock); if no migration is "
                "running, clear it with `stocksbot db unlock`"
            ) from exc


def _process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a lock row from a killed run is stale)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _as_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc)


def _migration_error(exc: Exception, url: DatabaseURL) -> StocksbotError:
    translated = translate(exc)
    if isinstance(translated, DatabaseUnavailableError):
        return translated
    return MigrationError(f"migration failed on {url.safe}: {translated.message}")
