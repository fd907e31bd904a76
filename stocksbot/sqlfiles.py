"""Loading the named queries of ``queries/`` for one driver.

Each ``queries/<file>.sql`` becomes a :class:`QueryFile` whose attributes are the
aiosql functions of that file; ``queries/<dialect>/<file>.sql`` holds the rare
same-name overrides for one engine, and the few queries only that engine runs (decision 23).
The adapter subclasses below are the single
place for ``SQL_ECHO`` timings (logger ``stocksbot.sql`` at DEBUG), per-query call counts and error translation, and
(for psycopg) the doubling of literal ``%`` before aiosql's ``:name`` rewrite.

The typed modules run their queries through :class:`Statement` instead (``statements(conn,
"orders").find_order(conn, {...})``): the same SQL text aiosql prepared for the driver, run
straight on a cursor with tuple rows, with the same call counting, ``SQL_ECHO`` lines and
error translation, and none of the per-call layers in between (docs/performance.md). The
column names of each statement's rows are kept in ``Statement.columns`` after its first run.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

import aiosql
from aiosql.adapters.generic import GenericAdapter
from aiosql.adapters.pyformat import PyFormatAdapter
from aiosql.utils import VAR_REF

from .errors import StocksbotError, translate
from .paths import queries_dir
from .values import build_all_exact, build_exact

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


# --- direct execution ------------------------------------------------------------------------

_ONE, _ALL, _VALUE, _WRITE, _MANY = "one", "all", "value", "write", "many"
_COPY = re.compile(r"\s*COPY\s+\w+\s*\((?P<columns>[^)]*)\)\s+FROM\s+STDIN", re.IGNORECASE)


def _kind(operation: Any) -> str:
    name = getattr(operation, "name", str(operation))
    return {
        "SELECT": _ALL, "SELECT_ONE": _ONE, "SELECT_VALUE": _VALUE, "INSERT_UPDATE_DELETE": _WRITE,
        "INSERT_UPDATE_DELETE_MANY": _MANY,
    }.get(name, _WRITE)


def _column_names(cursor: Any) -> tuple[str, ...]:
    """The column names of a cursor's result, interned: a mapper's ``statement.columns == ORDER_COLUMNS``
    then compares identical strings (0.14 instead of 0.46 us for an orders row, on every call)."""
    return tuple(sys.intern(column[0]) for column in cursor.description)


class Statement:
    """One named query, run straight on the driver: ``statement(conn, params)``.

    ``params`` is a dict of the query's parameters (a sequence of dicts for a ``*!``
    query). What a call returns follows the operator of its ``-- name:`` line: a tuple or
    None (``^``), a list of tuples (no operator), one value (``$``), the row count (``!``,
    ``*!``). Every call counts in :data:`QUERY_CALLS`, is logged under ``SQL_ECHO`` and
    has its driver error translated, exactly like a call through the aiosql functions.
    """

    __slots__ = ("full_name", "sql", "kind", "columns", "_sqlite", "_tuple_row", "_positional", "_getter")

    def __init__(self, file: str, name: str, sql: str, kind: str, dialect: str) -> None:
        self.full_name = f"{file}.{name}"
        self.sql = sql
        self.kind = kind
        self.columns: tuple[str, ...] | None = None
        self._positional: tuple[str, tuple[str, ...]] | None = None
        self._getter: tuple[str, Callable[[dict[str, Any]], Any]] | None = None
        self._sqlite = dialect == "sqlite"
        if not self._sqlite:
            from psycopg.rows import tuple_row

            self._tuple_row = tuple_row

    def __repr__(self) -> str:
        return f"<Statement {self.full_name} ({self.kind})>"

    def __call__(self, conn: Any, params: Any = None) -> Any:
        QUERY_CALLS[self.full_name] += 1
        if log.isEnabledFor(logging.DEBUG):
            return self._echoed(conn, params)
        try:
            return self._run(conn, params)
        except Exception as exc:
            raise translate(exc, query=self.full_name) from exc

    def _run(self, conn: Any, params: Any) -> Any:
        if self._sqlite:
            cursor = conn.cursor()
            cursor.row_factory = None
        else:
            cursor = conn.cursor(row_factory=self._tuple_row)
        try:
            kind = self.kind
            if kind == _MANY:
                cursor.executemany(self.sql, params)
                return cursor.rowcount
            if params is None:
                cursor.execute(self.sql)
            elif self._sqlite and type(params) is dict:
                sql, values = self._bind(params)
                cursor.execute(sql, values)
            else:
                cursor.execute(self.sql, params)
            if kind == _WRITE:
                return cursor.rowcount
            if self.columns is None:
                self.columns = _column_names(cursor)
            if kind == _ONE:
                return cursor.fetchone()
            if kind == _ALL:
                return cursor.fetchall()
            row = cursor.fetchone()
            return None if row is None else row[0]
        finally:
            cursor.close()

    def each(self, conn: Any, params_list: list[Any]) -> list[Any]:
        """Run this one-row (``^``) statement once per parameter dict; the row (or None) of each, in order.

        SQLite runs them one after the other; psycopg sends them all at once
        (``executemany(..., returning=True)``: one round trip) and reads each result.
        """
        if not params_list:
            return []
        QUERY_CALLS[self.full_name] += len(params_list)
        started = time.perf_counter()
        try:
            if self._sqlite:
                results = [self._run(conn, params) for params in params_list]
            else:
                results = []
                with conn.cursor(row_factory=self._tuple_row) as cursor:
                    cursor.executemany(self.sql, params_list, returning=True)
                    while True:
                        if self.columns is None and cursor.description is not None:
                            self.columns = _column_names(cursor)
                        results.append(cursor.fetchone())
                        if not cursor.nextset():
                            break
        except Exception as exc:
            raise translate(exc, query=self.full_name) from exc
        if log.isEnabledFor(logging.DEBUG):
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.debug("%s %.3f ms (x%d): %s", self.full_name, elapsed_ms, len(params_list), " ".join(self.sql.split()))
        return results

    def load(self, conn: Any, rows: Iterable[tuple[Any, ...]], columns: tuple[str, ...]) -> int:
        """Load many rows, each a tuple of the values of ``columns``, in one statement; returns how many.

        For a ``*!`` INSERT: one ``executemany`` with positional parameters (no dict per row).
        For a ``COPY <table> (<columns>) FROM STDIN`` (a PostgreSQL override): psycopg's
        ``cursor.copy()``, one ``write_row`` per row. Counted, echoed and translated like a call.
        ``rows`` may be a generator: it is consumed as the statement runs, and a stocksbot error it
        raises (a row that does not validate) ends the statement and is raised as it is.
        """
        QUERY_CALLS[self.full_name] += 1
        started = time.perf_counter()
        try:
            if _COPY.match(self.sql):
                count = self._copy(conn, rows, columns)
            else:
                sql, names = self._positional_sql()
                if names != columns:
                    order = [columns.index(name) for name in names]
                    rows = (tuple(row[i] for i in order) for row in rows)
                cursor = conn.cursor()
                try:
                    cursor.executemany(sql, rows)
                    count = cursor.rowcount
                finally:
                    cursor.close()
        except StocksbotError:  # raised by the rows as they stream (a row that does not validate): as it is
            raise
        except Exception as exc:
            raise translate(exc, query=self.full_name) from exc
        if log.isEnabledFor(logging.DEBUG):
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.debug("%s %.3f ms (%d rows): %s", self.full_name, elapsed_ms, count, " ".join(self.sql.split()))
        return count

    def _copy(self, conn: Any, rows: Iterable[tuple[Any, ...]], columns: tuple[str, ...]) -> int:
        match = _COPY.match(self.sql)
        assert match is not None
        names = tuple(name.strip() for name in match.group("columns").split(","))
        if names != columns:
            order = [columns.index(name) for name in names]
            rows = (tuple(row[i] for i in order) for row in rows)
        count = 0
        with conn.cursor() as cursor, cursor.copy(self.sql.strip().rstrip(";")) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
                count += 1
        return count

    def _bind(self, params: dict[str, Any]) -> tuple[str, Any]:
        """SQLite: the statement with ``?`` placeholders and its values in order, taken from ``params``.

        sqlite3 binds a named parameter by making a string of its name and looking it up in
        the dict, for every parameter of every execution; positional values skip that
        (about 0.2 µs a parameter, 3 µs for a trade row). A missing name gives the
        named statement back, so the driver reports it exactly as before.
        """
        getter = self._getter
        if getter is None:
            sql, names = self._positional_sql()
            if not names:
                return self.sql, params
            pick = operator.itemgetter(*names)
            getter = self._getter = (sql, pick if len(names) > 1 else (lambda values: (pick(values),)))
        try:
            return getter[0], getter[1](params)
        except KeyError:
            return self.sql, params

    def _positional_sql(self) -> tuple[str, tuple[str, ...]]:
        """The statement with positional placeholders, and the parameter names in their order."""
        if self._positional is None:
            names: list[str] = []
            if self._sqlite:
                def place(match: re.Match[str]) -> str:
                    if match.group("var_name") is None:
                        return match.group(0)  # a quoted string or identifier
                    names.append(match.group("var_name"))
                    return match.group("lead") + "?"

                sql = VAR_REF.sub(place, self.sql)
            else:
                def place(match: re.Match[str]) -> str:
                    names.append(match.group(1))
                    return "%s"

                sql = re.sub(r"%\((\w+)\)s", place, self.sql)
            self._positional = (sql, tuple(names))
        return self._positional

    def _echoed(self, conn: Any, params: Any) -> Any:
        started = time.perf_counter()
        try:
            result = self._run(conn, params)
        except Exception as exc:
            raise translate(exc, query=self.full_name) from exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        text = " ".join(self.sql.split())
        if self.kind == _ALL:
            log.debug("%s %.3f ms (%d rows): %s %r", self.full_name, elapsed_ms, len(result), text, params)
        else:
            log.debug("%s %.3f ms: %s %r", self.full_name, elapsed_ms, text, params)
        return result


def run_in_order(conn: Any, calls: list[tuple[Statement, Any]]) -> list[Any]:
    """Run several statements, in this order, as one unit: what each returns (as a call would), in order.

    SQLite runs them one after the other. psycopg sends them in one pipeline (one round
    trip); a failure surfaces when the pipeline syncs, as the error of the whole unit (the
    enclosing transaction is then rolled back). Each counts in QUERY_CALLS.
    """
    if not calls:
        return []
    if is_sqlite(conn):
        return [statement(conn, params) for statement, params in calls]
    from psycopg.rows import tuple_row

    started = time.perf_counter()
    cursors = []
    try:
        with conn.pipeline():
            for statement, params in calls:
                QUERY_CALLS[statement.full_name] += 1
                cursor = conn.cursor(row_factory=tuple_row)
                cursor.execute(statement.sql, params)
                cursors.append(cursor)
        results = []
        for (statement, _), cursor in zip(calls, cursors):
            if statement.kind == _WRITE:
                results.append(cursor.rowcount)
            else:
                if statement.columns is None and cursor.description is not None:
                    statement.columns = tuple(column[0] for column in cursor.description)
                results.append(cursor.fetchone() if statement.kind == _ONE else cursor.fetchall())
    except Exception as exc:
        names = sorted({statement.full_name for statement, _ in calls})
        raise translate(exc, query=", ".join(names)) from exc
    finally:
        for cursor in cursors:
            cursor.close()
    if log.isEnabledFor(logging.DEBUG):
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("pipeline %.3f ms: %d statements (%s)", elapsed_ms, len(calls),
                  ", ".join(statement.full_name for statement, _ in calls[:5]) + (", ..." if len(calls) > 5 else ""))
    return results


class StatementFile:
    """The :class:`Statement` of every query of one ``queries/<file>.sql``, as attributes."""

    def __init__(self, file: str, statements: dict[str, Statement]) -> None:
        self.file = file
        self.__dict__.update(statements)


_DIALECT_OF_TYPE: dict[type, str] = {}


def _dialect(conn: Any) -> str:
    kind = type(conn)
    dialect = _DIALECT_OF_TYPE.get(kind)
    if dialect is None:
        dialect = _DIALECT_OF_TYPE[kind] = dialect_of(conn)
    return dialect


_STATEMENTS: dict[tuple[str, str], StatementFile] = {}


def statements(conn: Any, name: str) -> StatementFile:
    """The statements of ``queries/<name>.sql`` for the driver of ``conn`` (built once per process)."""
    dialect = _DIALECT_OF_TYPE.get(type(conn)) or _dialect(conn)
    found = _STATEMENTS.get((dialect, name))
    if found is None:
        found = _STATEMENTS[(dialect, name)] = _build_statements(dialect, name)
    return found


def _build_statements(dialect: str, name: str) -> StatementFile:
    file = load_queries(dialect)[name]
    built = {}
    for query in file.names:
        function = file.function(query)
        built[query] = Statement(name, query, function.sql, _kind(function.operation), dialect)
    return StatementFile(name, built)


def is_sqlite(conn: Any) -> bool:
    """Whether ``conn`` is a sqlite3 connection (else a psycopg one)."""
    return (_DIALECT_OF_TYPE.get(type(conn)) or _dialect(conn)) == "sqlite"


def canonical_row(statement: Statement, row: Any, columns: tuple[str, ...]) -> Any:
    """``row`` (a tuple, or None) with its values in ``columns`` order: as it comes when the statement
    lists exactly those columns, rearranged by name otherwise."""
    if row is None or statement.columns == columns:
        return row
    named = dict(zip(statement.columns or (), row))
    return tuple(named[column] for column in columns)


class AllFieldsSet(set):  # type: ignore[type-arg]
    """Every field name of one model class: the ``model_fields_set`` that :func:`model_builder` gives
    every model it builds, one set shared by all of them instead of a new set per row.

    A set per row was an object the garbage collector traverses (18 names for an Order) for as
    long as the model lives, plus its allocation: 4,400 instructions of a point read, 1,300 per
    row of a listing (``python -m bench.instructions``). Shared, it must not change: the
    mutating methods raise, and a copy (what ``model_copy`` and ``deepcopy`` take before
    ``model_copy(update=...)`` adds to it) or a pickle is a plain set of its own.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("the model_fields_set of a model read from the database is shared: copy it to change it")

    add = discard = remove = pop = clear = update = _refuse
    difference_update = intersection_update = symmetric_difference_update = _refuse
    __ior__ = __iand__ = __isub__ = __ixor__ = _refuse

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: Any) -> set[str]:
        return set(self)

    def __reduce__(self) -> Any:
        return (set, (list(self),))


def model_builder(cls: Any) -> Callable[[dict[str, Any]], Any]:
    """A constructor of ``cls`` (a frozen pydantic model) from a dict holding every field, already of its type.

    For rows the database's own constraints vouch for: it does what ``model_construct``
    does for a complete set of fields (no validation, no defaults, no aliases) at a
    fraction of its cost. The dict must list the fields in their declared order. Every
    model built shares one read-only :class:`AllFieldsSet` as its ``model_fields_set``.
    """
    if cls.__pydantic_post_init__ or cls.__pydantic_root_model__ or cls.model_config.get("extra") == "allow":
        raise TypeError(f"{cls.__name__}: model_builder only builds plain models")
    if not cls.model_config.get("frozen"):
        raise TypeError(f"{cls.__name__}: model_builder builds frozen models only (they share one fields set)")
    from pydantic import BaseModel

    fields = AllFieldsSet(cls.model_fields)
    new = object.__new__
    # The setters of BaseModel's four slots, called directly (object.__setattr__ looks each one up).
    slots = BaseModel.__dict__
    set_dict, set_fields = slots["__dict__"].__set__, slots["__pydantic_fields_set__"].__set__
    set_extra, set_private = slots["__pydantic_extra__"].__set__, slots["__pydantic_private__"].__set__

    def build(values: dict[str, Any]) -> Any:
        model = new(cls)
        set_dict(model, values)
        set_fields(model, fields)
        set_extra(model, None)
        set_private(model, None)
        return model

    return build


def rows_as(statement: Statement, rows: Iterable[Any], columns: tuple[str, ...], fast: Callable[[Any], Any],
            slow: Callable[[dict[str, Any]], Any]) -> list[Any]:
    """Map tuple rows: with ``fast`` (under the exact decimal context, see values.build_exact) when the
    statement returns exactly ``columns`` in that order, else through ``slow`` on a dict per row (a query
    whose column list differs still maps right)."""
    if statement.columns == columns:
        return build_all_exact(fast, rows)
    names = statement.columns or ()
    return [slow(dict(zip(names, row))) for row in rows]


def row_as(statement: Statement, row: Any, columns: tuple[str, ...], fast: Callable[[Any], Any],
           slow: Callable[[dict[str, Any]], Any]) -> Any:
    """Map one tuple row (or None) as :func:`rows_as` does."""
    if row is None:
        return None
    if statement.columns == columns:
        return build_exact(fast, row)
    return slow(dict(zip(statement.columns or (), row)))
