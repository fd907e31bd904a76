"""Loading the named queries of ``queries/`` for one driver.

Each ``queries/<file>.sql`` becomes a :class:`QueryFile` whose attributes are the
aiosql functions of that file; ``queries/<dialect>/<file>.sql`` holds the rare
same-name overrides for one engine. The adapter subclasses below are the single
place for ``SQL_ECHO`` timings (logger ``stocksbot.sql`` at DEBUG), per-query call counts and error translation, and
(for psycopg) the doubling of literal ``%`` before aiosql's ``:name`` rewrite.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import aiosql
from aiosql.adapters.generic import GenericAdapter
from aiosql.adapters.pyformat import PyFormatAdapter

from .errors import translate
from .paths import queries_dir

log = logging.getLogger("stocksbot.sql")

#: How often each query ran in this process, by "file.query" name (read by the catalogue test).
QUERY_CALLS: Counter[str] = Counter()

DIALECTS = ("sqlite", "postgresql")


def _instrumented(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an adapter method: count the call, log its timing under SQL_ECHO, translate errors."""

    @functools.wraps(method)
    def call(self: "_Instrumented", conn: Any, query_name: str, sql: str, *rest: Any) -> Any:
        name = f"{self.file}.{query_name}"
        QUERY_CALLS[name] += 1
        echo = log.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if echo else 0.0
        try:
            return method(self, conn, query_name, sql, *rest)
        except Exception as exc:
            raise translate(exc, query=name) from exc
        finally:
            if echo:
                elapsed_ms = (time.perf_counter() - started) * 1000
                log.debug("%s %.3f ms: %s %r", name, elapsed_ms, " ".join(sql.split()), rest[0] if rest else None)

    return call


def _instrumented_select(method: Callable[..., Any]) -> Callable[..., Any]:
    """The same for a lazy SELECT generator: errors surface while iterating."""

    @functools.wraps(method)
    def call(self: "_Instrumented", conn: Any, query_name: str, sql: str, parameters: Any, record_class: Any = None) -> Any:
        name = f"{self.file}.{query_name}"
        QUERY_CALLS[name] += 1
        echo = log.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if echo else 0.0
        try:
            # Materialise inside the try: rows must be read before the connection moves on.
            rows = list(method(self, conn, query_name, sql, parameters, record_class))
        except Exception as exc:
            raise translate(exc, query=name) from exc
        if echo:
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.debug("%s %.3f ms (%d rows): %s %r", name, elapsed_ms, len(rows), " ".join(sql.split()), parameters)
        return rows

    return call


class _Instrumented(GenericAdapter):
    file: str

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    select = _instrumented_select(GenericAdapter.select)
    select_one = _instrumented(GenericAdapter.select_one)
    select_value = _instrumented(GenericAdapter.select_value)
    insert_update_delete = _instrumented(GenericAdapter.insert_update_delete)
    insert_update_delete_many = _instrumented(GenericAdapter.insert_update_delete_many)

    def insert_returning(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - banned operator
        raise TypeError("stocksbot queries use RETURNING with ^ or $, not <!")


class SQLiteAdapter(_Instrumented):
    """sqlite3: named ``:params`` are bound natively."""


class PsycopgAdapter(_Instrumented):
    """psycopg 3: ``:params`` become ``%(params)s``; literal ``%`` is doubled first."""

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        return PyFormatAdapter.process_sql(self, query_name, op_type, sql.replace("%", "%%"))  # type: ignore[arg-type]


class QueryFile:
    """The named queries of one ``queries/<file>.sql``, as attributes (``orders.get_order``)."""

    def __init__(self, file: str, functions: dict[str, Any]) -> None:
        self.file = file
        self._functions = functions
        self.__dict__.update(functions)

    @property
    def names(self) -> list[str]:
        """The query names of this file, in file order."""
        return list(self._functions)

    def function(self, name: str) -> Any:
        """The aiosql function of one query (``.sql``, ``.__doc__``, ``.parameters``)."""
        return self._functions[name]


def _load_file(path: Path, dialect: str) -> dict[str, Any]:
    adapter_cls = SQLiteAdapter if dialect == "sqlite" else PsycopgAdapter
    adapter = functools.partial(adapter_cls, path.stem)
    queries = aiosql.from_path(path, adapter, kwargs_only=True)
    return {name: getattr(queries, name) for name in queries.available_queries if "." not in name and not name.endswith("_cursor")}


def dialect_of(conn: Any) -> str:
    """"sqlite" for a sqlite3 connection, "postgresql" for a psycopg one."""
    return "sqlite" if type(conn).__module__.startswith("sqlite3") else "postgresql"


def query_file(conn: Any, name: str) -> QueryFile:
    """The queries of ``queries/<name>.sql`` for the driver of ``conn``."""
    return load_queries(dialect_of(conn))[name]


@functools.cache
def load_queries(dialect: str, directory: str | None = None) -> dict[str, QueryFile]:
    """Every query file for one dialect, keyed by file stem (``"orders"``); cached per process."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    root = Path(directory) if directory else queries_dir()
    files: dict[str, QueryFile] = {}
    for path in sorted(root.glob("*.sql")):
        functions = _load_file(path, dialect)
        override = root / dialect / path.name
        if override.is_file():
            functions.update(_load_file(override, dialect))
        files[path.stem] = QueryFile(path.stem, functions)
    return files
