"""The one error hierarchy of stocksbot, and the translation of driver errors into it.

Driver errors are classified by SQLSTATE (PostgreSQL) or by the SQLite extended
error code, never by message text. The driver's exception is always chained
(``raise ... from exc``) so the original stays one ``__cause__`` away.
"""

from __future__ import annotations

import sqlite3
from typing import Any


class StocksbotError(Exception):
    """Base class of every error stocksbot raises."""

    def __init__(self, message: str, *, query: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.query = query

    def __str__(self) -> str:
        return self.message if self.query is None else f"{self.message} (query {self.query})"


class NotFoundError(StocksbotError, LookupError):
    """The order, position, strategy or config key acted on does not exist in this account."""


class InvalidTransitionError(StocksbotError):
    """An order status change or fill that the order lifecycle does not allow."""


class ConflictError(StocksbotError):
    """A database constraint refused the write (unique key, check, foreign key)."""

    def __init__(self, message: str, *, query: str | None = None, constraint: str | None = None) -> None:
        super().__init__(message, query=query)
        self.constraint = constraint


class ValidationError(StocksbotError, ValueError):
    """Bad input, refused before it reached the database; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None, query: str | None = None) -> None:
        super().__init__(message, query=query)
        self.field = field


class RowValidationError(StocksbotError):
    """A row read from the database does not fit its model (schema drift or a hand edit)."""


class MigrationError(StocksbotError):
    """Applying, rolling back or inspecting migrations failed."""


class TransientError(StocksbotError):
    """A retryable failure: a lock or serialization conflict. Retried inside stocksbot first."""


class DatabaseUnavailableError(TransientError):
    """The database cannot be reached (server down, connection lost, pool exhausted)."""


class CommitOutcomeUnknownError(DatabaseUnavailableError):
    """The connection was lost while the transaction committed: it may or may not have committed.

    Never retried inside stocksbot, since running the work again could apply it twice. Re-send
    an idempotent call (a fill with its execution id), or read back before repeating anything else.
    """


class ConfigurationError(StocksbotError):
    """The database URL or a STOCKSBOT_* setting is not usable."""


class DatabaseError(StocksbotError):
    """Any other database failure; the driver's error is the ``__cause__``."""


# SQLite primary result codes (the low byte of the extended code).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CANTOPEN = 14
_SQLITE_CONSTRAINT = 19


def translate(exc: BaseException, *, query: str | None = None) -> StocksbotError:
    """Map a sqlite3 or psycopg exception onto the stocksbot hierarchy (without raising it)."""
    if isinstance(exc, StocksbotError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return _translate_sqlite(exc, query)
    module = type(exc).__module__
    if module.startswith(("psycopg", "psycopg_pool")):
        return _translate_psycopg(exc, query)
    return DatabaseError(f"{type(exc).__name__}: {exc}", query=query)


def _translate_sqlite(exc: sqlite3.Error, query: str | None) -> StocksbotError:
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or "SQLITE_ERROR"
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _SQLITE_CONSTRAINT:
        return ConflictError(
            f"{_SQLITE_CONSTRAINT_WORDS.get(name, 'constraint violated')}: {exc}",
            query=query,
            constraint=_sqlite_constraint_name(str(exc)),
        )
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return TransientError(f"database is busy ({name}); retry", query=query)
    if primary == _SQLITE_CANTOPEN:
        return DatabaseUnavailableError(f"cannot open the SQLite database ({name})", query=query)
    return DatabaseError(f"{name}: {exc}", query=query)


_SQLITE_CONSTRAINT_WORDS = {
    "SQLITE_CONSTRAINT_UNIQUE": "duplicate key",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "duplicate key",
    "SQLITE_CONSTRAINT_CHECK": "check constraint violated",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign key violated",
    "SQLITE_CONSTRAINT_NOTNULL": "missing required value",
}


def _sqlite_constraint_name(message: str) -> str | None:
    # SQLite names only CHECK constraints in its message ("CHECK constraint failed: ck_x").
    marker = "CHECK constraint failed: "
    return message.split(marker, 1)[1].strip() or None if marker in message else None


# SQLSTATE classes and codes (PostgreSQL appendix A).
_PG_TRANSIENT = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock timeout, cancel
_PG_UNAVAILABLE_CLASSES = ("08", "57P")  # connection exceptions, admin shutdown / cannot connect now
_PG_CONFLICT_WORDS = {
    "23505": "duplicate key",
    "23514": "check constraint violated",
    "23503": "foreign key violated",
    "23502": "missing required value",
}


def _translate_psycopg(exc: BaseException, query: str | None) -> StocksbotError:
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    diag: Any = getattr(exc, "diag", None)
    detail = _first_line(exc)
    if sqlstate and sqlstate.startswith("23"):
        constraint = getattr(diag, "constraint_name", None) if diag is not None else None
        words = _PG_CONFLICT_WORDS.get(sqlstate, "integrity constraint violated")
        return ConflictError(f"{words}: {detail}", query=query, constraint=constraint)
    if sqlstate in _PG_TRANSIENT:
        return TransientError(f"transient conflict (SQLSTATE {sqlstate}); retry: {detail}", query=query)
    if sqlstate and sqlstate.startswith(_PG_UNAVAILABLE_CLASSES):
        return DatabaseUnavailableError(f"database unavailable (SQLSTATE {sqlstate}): {detail}", query=query)
    if sqlstate == "28P01" or sqlstate == "28000":
        return ConfigurationError(f"authentication failed (SQLSTATE {sqlstate})", query=query)
    name = type(exc).__name__
    if sqlstate is None and name in {"OperationalError", "PoolTimeout", "InterfaceError", "TooManyRequests"}:
        # No SQLSTATE: libpq could not reach the server, or the pool has no live connection.
        return DatabaseUnavailableError(f"database unavailable: {detail}", query=query)
    return DatabaseError(f"{name}{f' (SQLSTATE {sqlstate})' if sqlstate else ''}: {detail}", query=query)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
