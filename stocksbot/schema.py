"""The live schema of a database, and its drift from what the migrations create.

``describe(conn)`` reads the schema a database really has (tables, columns with their
types, nullability, defaults and generation expressions, named constraints, indexes)
from the engine's catalogue: ``PRAGMA table_xinfo``/``index_list``/``index_xinfo`` and
the stored ``CREATE`` text on SQLite, ``pg_catalog`` on PostgreSQL (the tables of
``current_schema()``). yoyo's bookkeeping tables are left out.

``check(db)`` compares that with a *reference*: the schema the migrations recorded as
applied in that database produce when run on a fresh, empty database **of the same
engine**, so that both sides are described by the same catalogue functions and no
cross-engine normalisation can hide or invent a difference:

* SQLite: the migration files are run on a private in-memory database;
* PostgreSQL: they are run inside one transaction on the checked database itself, in a
  temporary schema (``CREATE SCHEMA stocksbot_check_<random>`` + ``SET LOCAL
  search_path``), which is described and then **rolled back**: nothing is left behind,
  no lock is taken on the live tables, and it works where creating a database is not
  allowed. It needs the CREATE privilege on the database (the migration role has it).

Differences are named one per line (``column orders.note: in the database, not in the
migrations``). Pending migrations are not drift (``db status`` reports them); a
migration recorded as applied that migrations/ does not have is.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .errors import ConfigurationError, DatabaseError
from .sqlcheck import mask, split_top_level

if TYPE_CHECKING:  # pragma: no cover
    from .db import Database

__all__ = [
    "Column", "Constraint", "Difference", "DriftReport", "Index", "Schema", "Table",
    "check", "compare", "describe", "format_schema", "reference_schema",
]

#: Tables that belong to yoyo (the migration tool), not to the application schema.
BOOKKEEPING_TABLES = frozenset({"_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock", "yoyo_tmp"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # lower case: "text", "bigint", "boolean", "integer"
    nullable: bool
    default: str | None = None
    generated: str | None = None  # a generated column's "AS (expression) STORED|VIRTUAL"


@dataclass(frozen=True)
class Constraint:
    name: str  # the engine's name for an unnamed constraint on PostgreSQL; "" on SQLite
    kind: str  # "primary key", "unique", "check", "foreign key"
    columns: tuple[str, ...]
    definition: str  # as the engine prints it, whitespace collapsed


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]  # columns or expressions, "col DESC" when descending
    unique: bool
    where: str | None = None  # the predicate of a partial index
    method: str | None = None  # PostgreSQL access method ("btree"); None on SQLite


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    constraints: tuple[Constraint, ...]
    indexes: tuple[Index, ...]  # CREATE INDEX indexes; the ones behind constraints are not listed
    key_indexes: dict[str, str] = field(default_factory=dict, compare=False)  # constraint -> physical index


@dataclass(frozen=True)
class Schema:
    dialect: str
    tables: dict[str, Table]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (``stocksbot db schema --json``)."""
        return {
            "dialect": self.dialect,
            "tables": {
                name: {
                    "columns": [asdict(column) for column in table.columns],
                    "constraints": [{**asdict(c), "columns": list(c.columns)} for c in table.constraints],
                    "indexes": [{**asdict(i), "columns": list(i.columns)} for i in table.indexes],
                }
                for name, table in sorted(self.tables.items())
            },
        }

    def index_aliases(self) -> dict[str, str]:
        """Constraint name -> the index the engine made for it (SQLite: ``sqlite_autoindex_orders_1``)."""
        return {name: physical for table in self.tables.values() for name, physical in table.key_indexes.items()}


def describe(conn: Any, dialect: str | None = None, *, schema: str | None = None) -> Schema:
    """The schema of the database behind a DB-API connection (sqlite3 or psycopg)."""
    from .sqlfiles import dialect_of

    dialect = dialect or dialect_of(conn)
    if dialect == "sqlite":
        return _describe_sqlite(conn)
    return _describe_postgresql(conn, schema)


# --- SQLite ------------------------------------------------------------------------------------


def _rows(conn: Any, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    cursor = conn.execute(sql, tuple(params))
    return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in cursor.fetchall()]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _parenthesised(text: str, start: int) -> tuple[str, int]:
    """The text inside the parentheses opening at or after ``start``, and the offset after them."""
    code = mask(text)
    open_at = code.index("(", start)
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] == "(":
            depth += 1
        elif code[i] == ")":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i], i + 1
    raise ValueError("unbalanced parentheses")


def _names(text: str) -> tuple[str, ...]:
    return tuple(_squash(part).strip('"') for part in split_top_level(text))


_TABLE_CONSTRAINT = re.compile(r"^(?:CONSTRAINT\s+(?P<name>\w+)\s+)?(?P<kind>PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY)\b", re.I)
_INLINE_CONSTRAINT = re.compile(
    r"(?:\bCONSTRAINT\s+(?P<name>\w+)\s+)?\b(?P<kind>PRIMARY\s+KEY|UNIQUE|CHECK|REFERENCES)\b", re.I
)


def _sqlite_constraints(create_sql: str) -> list[Constraint]:
    """Table and column constraints, parsed from the stored CREATE TABLE text."""
    body, _ = _parenthesised(create_sql, 0)
    constraints: list[Constraint] = []
    for item in split_top_level(body):
        match = _TABLE_CONSTRAINT.match(item)
        if match:
            constraints.append(_sqlite_constraint(match.group("name") or "", match.group("kind"), item[match.end():], ()))
            continue
        column = re.match(r'^"?(\w+)"?', item)
        if not column:
            continue
        code = mask(item)
        for inline in _INLINE_CONSTRAINT.finditer(code, column.end()):
            if inline.group("kind").upper() == "CHECK" and re.search(r"\bGENERATED\s+ALWAYS\s*$", code[: inline.start()], re.I):
                continue
            rest = item[inline.end("kind"):]
            constraints.append(_sqlite_constraint(inline.group("name") or "", inline.group("kind"), rest, (column.group(1),)))
    return constraints


def _sqlite_constraint(name: str, kind_word: str, rest: str, columns: tuple[str, ...]) -> Constraint:
    kind = _squash(kind_word).upper()
    if kind in {"PRIMARY KEY", "UNIQUE"}:
        if rest.lstrip().startswith("("):
            inside, _ = _parenthesised(rest, 0)
            columns = _names(inside)
        label = "primary key" if kind == "PRIMARY KEY" else "unique"
        return Constraint(name, label, columns, f"{kind} ({', '.join(columns)})")
    if kind == "CHECK":
        inside, _ = _parenthesised(rest, 0)
        return Constraint(name, "check", columns, f"CHECK ({_squash(inside)})")
    # FOREIGN KEY (cols) REFERENCES t (cols) [actions], or an inline REFERENCES t (cols)
    definition = rest
    if kind == "FOREIGN KEY":
        inside, end = _parenthesised(rest, 0)
        columns = _names(inside)
        definition = rest[end:]
        definition = re.sub(r"^\s*REFERENCES\b", "", definition, flags=re.I)
    inline_end = re.search(r"\b(?:NOT\s+NULL|NULL|DEFAULT|CHECK|UNIQUE|PRIMARY|GENERATED|COLLATE|CONSTRAINT)\b", mask(definition), re.I)
    if kind == "REFERENCES" and inline_end:
        definition = definition[: inline_end.start()]
    return Constraint(name, "foreign key", columns, f"FOREIGN KEY ({', '.join(columns)}) REFERENCES {_squash(definition)}")


def _sqlite_generated(create_sql: str) -> dict[str, str]:
    body, _ = _parenthesised(create_sql, 0)
    found: dict[str, str] = {}
    for item in split_top_level(body):
        column = re.match(r'^"?(\w+)"?', item)
        generated = re.search(r"\b(?:GENERATED\s+ALWAYS\s+)?AS\s*\(", mask(item), re.I)
        if column and generated and not _TABLE_CONSTRAINT.match(item):
            inside, end = _parenthesised(item, generated.start())
            storage = re.match(r"\s*(STORED|VIRTUAL)\b", item[end:], re.I)
            found[column.group(1)] = f"AS ({_squash(inside)}) {storage.group(1).upper() if storage else 'VIRTUAL'}"
    return found


def _describe_sqlite(conn: Any) -> Schema:
    tables: dict[str, Table] = {}
    listed = _rows(conn, "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
    for name, create_sql in listed:
        if name.startswith("sqlite_") or name in BOOKKEEPING_TABLES:
            continue
        generated = _sqlite_generated(create_sql)
        columns = tuple(
            Column(
                name=column_name,
                type=(declared or "").lower(),
                nullable=not notnull and not (pk and (declared or "").upper() == "INTEGER"),
                default=None if hidden in (2, 3) else (None if default is None else str(default)),
                generated=generated.get(column_name) if hidden in (2, 3) else None,
            )
            for _, column_name, declared, notnull, default, pk, hidden in _rows(conn, f'PRAGMA table_xinfo("{name}")')
        )
        constraints = _sqlite_constraints(create_sql)
        foreign_keys = _rows(conn, f'PRAGMA foreign_key_list("{name}")')
        if foreign_keys and not any(c.kind == "foreign key" for c in constraints):  # pragma: no cover - defensive
            raise DatabaseError(f"cannot read the foreign keys of {name} from its CREATE TABLE text")
        indexes: list[Index] = []
        key_indexes: dict[str, str] = {}
        index_sql = dict(_rows(conn, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (name,)))
        for _, index_name, unique, origin, partial in _rows(conn, f'PRAGMA index_list("{name}")'):
            key_columns = tuple(
                (column_name if column_name is not None else "<expression>") + (" DESC" if desc else "")
                for _, cid, column_name, desc, _, key in _rows(conn, f'PRAGMA index_xinfo("{index_name}")')
                if key
            )
            if origin in ("pk", "u"):
                bare = tuple(c.removesuffix(" DESC") for c in key_columns)
                kind = "primary key" if origin == "pk" else "unique"
                for constraint in constraints:
                    if constraint.kind == kind and constraint.columns == bare:
                        key_indexes[constraint.name or f"{kind} {bare}"] = index_name
                continue
            where = None
            text = index_sql.get(index_name) or ""
            if partial and text:
                where_at = re.search(r"\bWHERE\b", mask(text), re.I)
                where = _squash(text[where_at.end():]).rstrip(";").strip() if where_at else None
            if text and "<expression>" in key_columns:
                inside, _ = _parenthesised(text, re.search(r"\bON\s+\S+", text, re.I).end())  # type: ignore[union-attr]
                key_columns = tuple(_squash(part) for part in split_top_level(inside))
            indexes.append(Index(index_name, key_columns, bool(unique), where))
        tables[name] = Table(
            name, columns, tuple(sorted(constraints, key=_constraint_key)), tuple(sorted(indexes, key=lambda i: i.name)),
            key_indexes,
        )
    return Schema("sqlite", tables)


# --- PostgreSQL ----------------------------------------------------------------------------


def _describe_postgresql(conn: Any, schema: str | None) -> Schema:
    namespace = schema or _rows(conn, "SELECT current_schema()")[0][0]
    if namespace is None:
        raise ConfigurationError("the PostgreSQL search_path names no existing schema")
    tables: dict[str, Table] = {}
    relations = _rows(
        conn,
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        (namespace,),
    )
    for oid, name in relations:
        if name in BOOKKEEPING_TABLES:
            continue
        columns = tuple(
            Column(column_name, column_type, not notnull, None if generated else default,
                   f"AS ({default}) STORED" if generated else None)
            for column_name, column_type, notnull, default, generated in _rows(
                conn,
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                "pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> '' "
                "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (oid,),
            )
        )
        kinds = {"p": "primary key", "u": "unique", "c": "check", "f": "foreign key", "x": "exclusion"}
        constraints = []
        key_indexes: dict[str, str] = {}
        for constraint_name, kind, column_names, definition, index_name in _rows(
            conn,
            "SELECT con.conname, con.contype, "
            "ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n) "
            "      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n), "
            "pg_get_constraintdef(con.oid), i.relname "
            "FROM pg_constraint con LEFT JOIN pg_class i ON i.oid = con.conindid AND con.contype IN ('p', 'u', 'x') "
            "WHERE con.conrelid = %s ORDER BY con.conname",
            (oid,),
        ):
            constraints.append(Constraint(constraint_name, kinds.get(kind, kind), tuple(column_names or ()), _squash(definition)))
            if index_name:
                key_indexes[constraint_name] = index_name
        indexes = []
        for index_name, unique, where, method, key_count, index_oid in _rows(
            conn,
            "SELECT i.relname, x.indisunique, pg_get_expr(x.indpred, x.indrelid, true), am.amname, "
            "x.indnkeyatts, x.indexrelid "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam "
            "WHERE x.indrelid = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid "
            "AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')) ORDER BY i.relname",
            (oid,),
        ):
            key_columns = tuple(
                _rows(conn, "SELECT pg_get_indexdef(%s, %s, true)", (index_oid, k))[0][0] for k in range(1, key_count + 1)
            )
            options = _rows(conn, "SELECT indoption::int2[] FROM pg_index WHERE indexrelid = %s", (index_oid,))[0][0] or []
            key_columns = tuple(
                f"{column} DESC" if k < len(options) and options[k] & 1 else column for k, column in enumerate(key_columns)
            )
            indexes.append(Index(index_name, key_columns, bool(unique), where, method))
        tables[name] = Table(name, columns, tuple(sorted(constraints, key=_constraint_key)), tuple(indexes), key_indexes)
    return Schema("postgresql", tables)


def _constraint_key(constraint: Constraint) -> tuple[str, str, tuple[str, ...], str]:
    return (constraint.name, constraint.kind, constraint.columns, constraint.definition)


# --- the reference: what the migrations create ----------------------------------------------------


def _migration_texts(directory: Path, applied: Iterable[str] | None) -> list[tuple[str, str]]:
    """(id, SQL) of the migrations to replay, in yoyo's order; only ``applied`` when given."""
    from yoyo import read_migrations

    wanted = None if applied is None else set(applied)
    texts = []
    for migration in read_migrations(str(directory)):
        if wanted is not None and migration.id not in wanted:
            continue
        path = Path(migration.path)
        if path.suffix != ".sql":
            raise ConfigurationError(f"db check replays SQL migrations only; {path.name} is not one")
        texts.append((migration.id, path.read_text(encoding="utf-8")))
    return texts


def reference_schema(
    dialect: str, *, conn: Any = None, applied: Iterable[str] | None = None, directory: Path | None = None,
) -> Schema:
    """The schema the migrations (all of them, or only ``applied``) create on a fresh database.

    SQLite: replayed on a private in-memory database. PostgreSQL: replayed in a temporary
    schema inside a transaction on ``conn`` (a psycopg connection), then rolled back.
    """
    from .paths import migrations_dir

    texts = _migration_texts(directory or migrations_dir(), applied)
    if dialect == "sqlite":
        memory = sqlite3.connect(":memory:")
        try:
            for migration_id, text in texts:
                try:
                    memory.executescript(text)
                except sqlite3.Error as exc:
                    raise DatabaseError(f"migration {migration_id} does not run on a fresh SQLite database: {exc}") from exc
            return _describe_sqlite(memory)
        finally:
            memory.close()
    if conn is None:
        raise ConfigurationError("a PostgreSQL reference schema is built on a connection to the checked database")
    import psycopg

    scratch = f"stocksbot_check_{secrets.token_hex(6)}"
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(f"CREATE SCHEMA {scratch}")
            conn.execute(f"SET LOCAL search_path TO {scratch}")
            for migration_id, text in texts:
                try:
                    with conn.transaction():
                        conn.execute(text)
                except psycopg.Error as exc:
                    raise DatabaseError(
                        f"migration {migration_id} does not run in a fresh schema: {str(exc).strip().splitlines()[0]}"
                    ) from exc
            return _describe_postgresql(conn, scratch)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigurationError(
            "db check builds the reference schema in a temporary schema that it rolls back, which needs the "
            "CREATE privilege on the database; run it as the role that runs the migrations"
        ) from exc


# --- comparing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way the live schema differs from the reference."""

    kind: str  # "table", "column", "constraint", "index", "migration"
    table: str
    name: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class DriftReport:
    """The outcome of ``check``: the differences, and the migrations not yet applied."""

    database: str
    dialect: str
    differences: list[Difference]
    applied: list[str]
    pending: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "dialect": self.dialect,
            "ok": self.ok,
            "differences": [asdict(d) for d in self.differences],
            "applied": self.applied,
            "pending": self.pending,
        }


def _describe_column(column: Column) -> str:
    text = f"{column.type} {'NULL' if column.nullable else 'NOT NULL'}"
    if column.default is not None:
        text += f" DEFAULT {column.default}"
    if column.generated is not None:
        text += f" GENERATED ALWAYS {column.generated}"
    return text


def _describe_index(index: Index) -> str:
    text = f"{'UNIQUE ' if index.unique else ''}({', '.join(index.columns)})"
    if index.where:
        text += f" WHERE {index.where}"
    if index.method and index.method != "btree":
        text += f" USING {index.method}"
    return text


def _constraint_identity(constraint: Constraint) -> str:
    return constraint.name or f"unnamed {constraint.kind} {constraint.definition}"


def _member_differences(
    kind: str, table: str, keys: Iterable[str], want: dict[str, Any], have: dict[str, Any],
    where_of: Any, describe: Any, *, made: str, describe_dropped: bool = True,
) -> list[Difference]:
    """The differences of one kind of table member (columns, constraints or indexes), in ``keys`` order:
    one only in the database, one only in the migrations, one defined differently."""
    out: list[Difference] = []
    for key in keys:
        expected, actual = want.get(key), have.get(key)
        where = where_of(key)
        if expected is None:
            out.append(Difference(kind, table, key, f"{where}: in the database, not in the migrations "
                                  f"({describe(actual)}; {made} by hand?)"))
        elif actual is None:
            dropped = f"{describe(expected)}; dropped?" if describe_dropped else "dropped?"
            out.append(Difference(kind, table, key, f"{where}: missing from the database ({dropped})"))
        elif expected != actual:
            out.append(Difference(kind, table, key, f"{where}: is {describe(actual)} in the database, "
                                  f"{describe(expected)} in the migrations"))
    return out


def compare(reference: Schema, live: Schema) -> list[Difference]:
    """Every difference between the reference schema and the live one, table by table."""
    out: list[Difference] = []
    for name in sorted(set(reference.tables) | set(live.tables)):
        want, have = reference.tables.get(name), live.tables.get(name)
        if want is None:
            out.append(Difference("table", name, name, f"table {name}: in the database, not in the migrations (created by hand?)"))
            continue
        if have is None:
            out.append(Difference("table", name, name, f"table {name}: missing from the database (dropped?)"))
            continue
        want_columns = {c.name: c for c in want.columns}
        have_columns = {c.name: c for c in have.columns}
        column_order = [c.name for c in want.columns] + [c.name for c in have.columns if c.name not in want_columns]
        out += _member_differences(
            "column", name, column_order, want_columns, have_columns, lambda column: f"column {name}.{column}",
            _describe_column, made="added", describe_dropped=False,
        )
        want_constraints = {_constraint_identity(c): c for c in want.constraints}
        have_constraints = {_constraint_identity(c): c for c in have.constraints}
        out += _member_differences(
            "constraint", name, sorted(set(want_constraints) | set(have_constraints)), want_constraints,
            have_constraints, lambda identity: f"constraint {identity} on {name}", lambda c: c.definition, made="added",
        )
        want_indexes = {i.name: i for i in want.indexes}
        have_indexes = {i.name: i for i in have.indexes}
        out += _member_differences(
            "index", name, sorted(set(want_indexes) | set(have_indexes)), want_indexes, have_indexes,
            lambda index_name: f"index {index_name} on {name}", _describe_index, made="created",
        )
    return out


def _applied_migrations(conn: Any, dialect: str) -> list[str] | None:
    """Ids yoyo recorded as applied, or None when the database has no yoyo table."""
    if dialect == "sqlite":
        present = _rows(conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_yoyo_migration'")
    else:
        present = _rows(conn, "SELECT 1 FROM pg_class WHERE oid = to_regclass('_yoyo_migration')")
    if not present:
        return None
    return [row[0] for row in _rows(conn, "SELECT migration_id FROM _yoyo_migration")]


def check(db: "Database", *, directory: Path | None = None) -> DriftReport:
    """Compare the live schema of ``db`` with what its applied migrations create."""
    from yoyo import read_migrations

    from .paths import migrations_dir

    folder = directory or migrations_dir()
    known = [migration.id for migration in read_migrations(str(folder))]
    with db.connection() as conn:
        recorded = _applied_migrations(conn, db.dialect) or []
        live = describe(conn, db.dialect)
        unknown = [migration_id for migration_id in recorded if migration_id not in known]
        applied = [migration_id for migration_id in known if migration_id in recorded]
        pending = [migration_id for migration_id in known if migration_id not in recorded]
        reference = reference_schema(db.dialect, conn=conn if db.dialect == "postgresql" else None,
                                     applied=applied, directory=folder)
    differences = [
        Difference("migration", "", migration_id, f"migration {migration_id}: recorded as applied, not in {folder.name}/")
        for migration_id in unknown
    ]
    differences += compare(reference, live)
    return DriftReport(db.url.safe, db.dialect, differences, applied, pending)


# --- printing -------------------------------------------------------------------------------------


def format_schema(schema: Schema) -> str:
    """A plain-text listing of a schema, one table after the other, for people."""
    lines: list[str] = []
    for name, table in sorted(schema.tables.items()):
        lines.append(f"table {name}")
        width = max((len(c.name) for c in table.columns), default=0)
        for column in table.columns:
            lines.append(f"    {column.name:<{width}}  {_describe_column(column)}")
        for constraint in table.constraints:
            lines.append(f"    constraint {constraint.name or '(unnamed)'}: {constraint.definition}")
        for index in table.indexes:
            lines.append(f"    index {index.name}: {_describe_index(index)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n")
