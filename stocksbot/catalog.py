"""The query catalogue: every named query of ``queries/``, read from its header.

A query header is the contract a DBA reads (docs/queries.md is rendered from it)::

    -- name: find_order(account_id, order_id)^
    -- One order by id, or nothing.
    -- Index: pk_orders
    SELECT ...

* ``-- name: <name>(<parameters>)<operator>``: the aiosql header. The operator says
  what the query returns (see :data:`OPERATORS`).
* the comment lines under it, up to the first tagged line, are the doc line;
* ``-- Index: <name>``: the index the statement relies on. Required for every
  statement that filters, joins or sorts; tests/test_query_plans.py proves on both
  engines that the plan uses it. ``a or b``: the planner may pick either (both serve
  the statement equally; the engines differ); ``a, b``: the plan uses both (a join);
* ``-- Returns: ...`` (optional): the result, in words, when the operator is not enough;
* ``-- Called by: ...`` (optional): who runs it.

``python -m stocksbot.catalog`` prints docs/queries.md; ``--write`` regenerates it and
``--check`` exits 1 when it is stale (tests/test_query_catalog.py runs the same check).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from .paths import migrations_dir, queries_dir
from .sqlcheck import mask, split_top_level

__all__ = [
    "ADDED_VERBS", "Catalog", "IndexDefinition", "OPERATORS", "Plan", "Query", "SqlFile", "VERBS",
    "explain", "index_definitions", "load_catalog", "parse_file", "render_markdown", "result_columns",
]

#: The verb a query name starts with, and what it promises. lock_, apply_ and sum_ are this
#: project's additions to the sqlc/aiosql vocabulary (STYLE.md "Naming").
VERBS: dict[str, str] = {
    "get": "exactly one row; the wrapper raises NotFoundError when there is none",
    "find": "zero or one row; the wrapper returns the model or None",
    "list": "many rows, always in a stated ORDER BY",
    "count": "one number: how many rows match",
    "sum": "one number: a sum over the rows that match (`CAST(COALESCE(SUM(x), 0) AS BIGINT)`, an int on both engines)",
    "insert": "insert one row and return it (`INSERT ... RETURNING`)",
    "update": "`update_<what>`: change some columns of one row and return it",
    "upsert": "insert, or update by key, and return the row (`INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING`)",
    "delete": "delete rows; returns how many",
    "mark": "`mark_<state>`: a status change guarded by `WHERE status IN (...)` (or `status = '...'`); returns "
    "nothing when the row's status does not allow it",
    "lock": "take the row lock of one row for the rest of the transaction and return the row: "
    "`SELECT ... FOR UPDATE` in the PostgreSQL override, a portable no-op `UPDATE ... SET c = c ... RETURNING` "
    "in the shared file (SQLite has no `FOR UPDATE`; its fill path reads instead, under `BEGIN IMMEDIATE`)",
    "apply": "apply a delta to one row in a single guarded statement (`SET c = c + :delta WHERE <guard>`); "
    "1 row changed, or 0 when the guard refuses it (a batch form: the number of its rows changed)",
}
ADDED_VERBS = ("lock", "apply", "sum")

#: aiosql operators (the suffix of the name) and what the query function returns.
OPERATORS: dict[str, str] = {
    "": "rows (a list)",
    "^": "one row, or nothing",
    "$": "one value",
    "!": "the number of rows changed",
    "*!": "the number of rows changed (executemany)",
    "#": "nothing (a script)",
    "<!": "banned: use RETURNING with ^ or $",
}

_NAME_LINE = re.compile(
    r"^--\s*name:\s*(?P<name>[\w\-]+)\s*(?P<params>\([^)]*\))?\s*(?P<op><!|\*!|!|\$|\^|#)?\s*$"
)
_TAGS = {"index": "Index", "returns": "Returns", "called by": "Called by"}
_TAG_LINE = re.compile(r"^(?P<tag>Index|Returns|Called by)\s*:\s*(?P<value>.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Query:
    """One named query, as its header and body read."""

    file: str  # the file stem: "orders"
    name: str  # "find_order"
    parameters: tuple[str, ...] | None  # None when the header has no parameter list
    operator: str  # "", "^", "$", "!", "*!", "#", "<!"
    doc: str  # the doc line(s), joined with spaces
    index_requirements: tuple[tuple[str, ...], ...]  # "a or b, c" -> (("a", "b"), ("c",))
    returns: str | None
    called_by: str | None
    sql: str  # the statement, without the header comment lines
    path: Path
    line: int  # line of the "-- name:" header, 1-based
    dialect: str | None = None  # None for a shared query, else the engine of an override file
    engine_only: bool = False  # a query of an engine's file with no shared query of its name (that engine runs it alone)

    @property
    def indexes(self) -> tuple[str, ...]:
        """Every index name the ``Index:`` line mentions, in order."""
        return tuple(name for alternatives in self.index_requirements for name in alternatives)

    @property
    def full_name(self) -> str:
        """``file.name``, the name used in logs, QUERY_CALLS and the CLI."""
        return f"{self.file}.{self.name}"

    @property
    def verb(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def statement(self) -> str:
        """The first keyword of the statement: SELECT, INSERT, UPDATE, DELETE or WITH."""
        match = re.search(r"[A-Za-z]+", mask(self.sql))
        return match.group(0).upper() if match else ""

    @property
    def code(self) -> str:
        """The statement with comments and string contents blanked out (for keyword searches)."""
        return mask(self.sql)

    @property
    def needs_index(self) -> bool:
        """True when the statement filters, joins, sorts or groups (so it must name its index)."""
        code = self.code
        if self.statement == "INSERT":
            # "ON CONFLICT (cols) WHERE <index predicate> DO ...": the arbiter, not a filter.
            code = re.sub(r"\bON\s+CONFLICT\s*\([^)]*\)\s*WHERE\b.*?\bDO\b", "ON CONFLICT DO", code, flags=re.I | re.S)
        return bool(re.search(r"\bWHERE\b|\bJOIN\b|\bORDER\s+BY\b|\bGROUP\s+BY\b", code, re.IGNORECASE))

    @property
    def result(self) -> str:
        """What the query function returns, in words."""
        code = self.code
        if self.operator == "^" and self.statement == "INSERT" and not re.search(r"\bDO\s+NOTHING\b", code, re.I):
            return "one row"  # an INSERT ... RETURNING that cannot skip the row
        return OPERATORS.get(self.operator, self.operator)

    @property
    def conflict_target(self) -> tuple[str, str | None] | None:
        """``(columns, predicate)`` of an ``INSERT ... ON CONFLICT (columns) [WHERE predicate]``."""
        match = re.search(r"\bON\s+CONFLICT\s*(\([^)]*\))\s*(?:WHERE\s+(.*?)\s*)?\bDO\b", self.code, re.I | re.S)
        if not match:
            return None
        columns = _squash(self.sql[match.start(1) : match.end(1)])
        where = _squash(self.sql[match.start(2) : match.end(2)]) if match.group(2) else None
        return columns, where

    @property
    def table(self) -> str | None:
        """The table an INSERT, UPDATE or DELETE writes, or the first table a SELECT reads."""
        match = re.search(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|FROM)\s+(\w+)", self.code, re.I)
        return match.group(1) if match else None

    @property
    def columns(self) -> tuple[str, ...]:
        """The result columns (of the SELECT list or the RETURNING list), in order."""
        return result_columns(self.sql)

    @property
    def wrapper(self) -> str:
        """The typed Python function that runs this query."""
        return f"stocksbot.{self.file}.{self.name}"

    @property
    def relative_path(self) -> str:
        parts = self.path.parts
        return "/".join(parts[parts.index("queries") :]) if "queries" in parts else self.path.name


@dataclass(frozen=True)
class SqlFile:
    """One ``queries/*.sql`` file: its leading comment and its queries, in file order."""

    path: Path
    stem: str
    dialect: str | None
    description: str
    queries: tuple[Query, ...]
    problems: tuple[str, ...] = ()  # header lines that do not parse, with their line numbers


@dataclass(frozen=True)
class IndexDefinition:
    """An index, or a primary key/unique constraint, as the migrations define it."""

    name: str
    table: str
    columns: str  # "(account_id, order_id)"
    unique: bool
    where: str | None = None
    kind: str = "index"  # "index", "primary key" or "unique constraint"

    def __str__(self) -> str:
        where = f" WHERE {self.where}" if self.where else ""
        what = "unique index" if self.kind == "index" and self.unique else self.kind
        return f"{what} on {self.table} {self.columns}{where}"


@dataclass
class Catalog:
    """Every query file of a directory (shared files first, then per-dialect overrides)."""

    files: list[SqlFile] = field(default_factory=list)
    indexes: dict[str, IndexDefinition] = field(default_factory=dict)

    @property
    def queries(self) -> list[Query]:
        """Every query stocksbot runs: the shared ones, in file and line order, then the engine-only ones."""
        shared = [query for file in self.files if file.dialect is None for query in file.queries]
        return shared + self.engine_only

    @property
    def overrides(self) -> list[Query]:
        """Same-name queries of ``queries/<dialect>/`` files: one engine's text of a shared query."""
        return [query for file in self.files if file.dialect is not None for query in file.queries if not query.engine_only]

    @property
    def engine_only(self) -> list[Query]:
        """Queries of ``queries/<dialect>/`` files with no shared query of their name: that engine alone runs
        them (a batch in one set-based statement, say), and their doc line says what the other engine runs."""
        return [query for file in self.files if file.dialect is not None for query in file.queries if query.engine_only]

    def for_dialect(self, dialect: str) -> list[Query]:
        """The queries one engine runs: the shared ones and its own engine-only ones."""
        return [query for query in self.queries if query.dialect in (None, dialect)]

    def __iter__(self) -> Iterator[Query]:
        return iter(self.queries)

    def find(self, name: str) -> Query:
        """A shared query by ``file.name`` or, when unambiguous, by ``name`` alone."""
        matches = [q for q in self.queries if name in (q.full_name, q.name)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(sorted(q.full_name for q in self.queries))
            raise KeyError(f"no query named {name!r} (known: {known})")
        raise KeyError(f"{name!r} is ambiguous: {', '.join(q.full_name for q in matches)}")


# --- parsing -----------------------------------------------------------------------------------


def parse_file(path: Path, *, dialect: str | None = None) -> SqlFile:
    """Parse one query file into its description and queries."""
    lines = path.read_text(encoding="utf-8").splitlines()
    headers = [i for i, line in enumerate(lines) if re.match(r"^--\s*name\s*:", line)]
    description = " ".join(
        line[2:].strip() for line in lines[: headers[0] if headers else len(lines)] if line.startswith("--")
    )
    queries: list[Query] = []
    problems: list[str] = []
    for position, start in enumerate(headers):
        end = headers[position + 1] if position + 1 < len(headers) else len(lines)
        match = _NAME_LINE.match(lines[start].strip())
        if match is None:
            problems.append(f"{path.name}:{start + 1}: unreadable header {lines[start].strip()!r}")
            continue
        doc: list[str] = []
        tags: dict[str, list[str]] = {}
        body_start = start + 1
        for i in range(start + 1, end):
            line = lines[i]
            if not line.startswith("--"):
                break
            text = line[2:].strip()
            tagged = _TAG_LINE.match(text)
            if tagged:
                tags.setdefault(tagged.group("tag").lower(), []).append(tagged.group("value").strip())
            elif not tags:
                doc.append(text)
            else:  # a continuation of the previous tagged line
                last = list(tags)[-1]
                tags[last][-1] = f"{tags[last][-1]} {text}".strip()
            body_start = i + 1
        sql = "\n".join(lines[body_start:end]).strip()
        params = match.group("params")
        parameters = None if params is None else tuple(p.strip() for p in params[1:-1].split(",") if p.strip())
        requirements = tuple(
            tuple(name.strip() for name in re.split(r"\s+or\s+", part.strip()) if name.strip())
            for value in tags.get("index", []) for part in value.split(",") if part.strip()
        )
        queries.append(Query(
            file=path.stem,
            name=match.group("name").replace("-", "_"),
            parameters=parameters,
            operator=match.group("op") or "",
            doc=" ".join(doc).strip(),
            index_requirements=requirements,
            returns=" ".join(tags["returns"]) if "returns" in tags else None,
            called_by=" ".join(tags["called by"]) if "called by" in tags else None,
            sql=sql,
            path=path,
            line=start + 1,
            dialect=dialect,
        ))
    return SqlFile(path, path.stem, dialect, description, tuple(queries), tuple(problems))


def load_catalog(directory: Path | None = None, *, migrations: Path | None = None) -> Catalog:
    """Every query file of ``directory`` (default: stocksbot's ``queries/``) and the indexes
    the migrations define (default: stocksbot's ``migrations/``)."""
    root = Path(directory) if directory else queries_dir()
    catalog = Catalog()
    for path in sorted(root.glob("*.sql")):
        catalog.files.append(parse_file(path))
    shared = {query.full_name for file in catalog.files for query in file.queries}
    for dialect in ("postgresql", "sqlite"):
        for path in sorted((root / dialect).glob("*.sql")):
            parsed = parse_file(path, dialect=dialect)
            queries = tuple(replace(query, engine_only=query.full_name not in shared) for query in parsed.queries)
            catalog.files.append(replace(parsed, queries=queries))
    try:
        catalog.indexes = index_definitions(Path(migrations) if migrations else migrations_dir())
    except FileNotFoundError:  # pragma: no cover - a query directory outside a checkout
        catalog.indexes = {}
    return catalog


def _top_level_keyword(code: str, keyword: str, start: int = 0) -> int:
    """Offset of the first ``keyword`` outside parentheses at or after ``start``, or -1."""
    depth = 0
    pattern = re.compile(rf"\b{keyword}\b", re.IGNORECASE)
    i = start
    while i < len(code):
        ch = code[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and (match := pattern.match(code, i)) and (i == 0 or not (code[i - 1].isalnum() or code[i - 1] == "_")):
            return match.start()
        i += 1
    return -1


def result_columns(sql: str) -> tuple[str, ...]:
    """The names of the columns a statement returns (its RETURNING list, else its SELECT list)."""
    code = mask(sql)
    returning = _top_level_keyword(code, "RETURNING")
    if returning >= 0:
        start = returning + len("RETURNING")
        end = code.find(";", start)
    else:
        select = _top_level_keyword(code, "SELECT")
        if select < 0:
            return ()
        start = select + len("SELECT")
        distinct = re.match(r"\s*DISTINCT\b", code[start:], re.IGNORECASE)
        if distinct:
            start += distinct.end()
        end = _top_level_keyword(code, "FROM", start)
    end = len(code) if end < 0 else end
    names = []
    for item in split_top_level(sql[start:end], code[start:end]):
        alias = re.search(r"\bAS\s+([A-Za-z_]\w*)\s*$", item, re.IGNORECASE)
        name = alias or re.search(r"([A-Za-z_]\w*)\s*$", item)
        names.append(name.group(1) if name else " ".join(item.split()))
    return tuple(names)


_CREATE_INDEX = re.compile(
    r"\bCREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)\s+ON\s+(?P<table>\w+)\s*"
    r"(?P<columns>\([^;]*?\))\s*(?:WHERE\s+(?P<where>[^;]+))?;",
    re.IGNORECASE,
)
_CREATE_TABLE = re.compile(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<table>\w+)\s*\(", re.IGNORECASE)
_TABLE_KEY = re.compile(r"\bCONSTRAINT\s+(?P<name>\w+)\s+(?P<kind>PRIMARY\s+KEY|UNIQUE)\s*(?P<columns>\([^)]*\))", re.IGNORECASE)


def index_definitions(directory: Path) -> dict[str, IndexDefinition]:
    """The indexes and key constraints the forward migrations of ``directory`` create, by name
    (a DROP INDEX in a later migration removes one)."""
    found: dict[str, IndexDefinition] = {}
    for path in sorted(directory.glob("*.sql")):
        if path.name.endswith(".rollback.sql"):
            continue
        text = path.read_text(encoding="utf-8")
        code = mask(text)
        for table in _CREATE_TABLE.finditer(code):
            depth, i = 1, table.end()
            while i < len(code) and depth:
                depth += {"(": 1, ")": -1}.get(code[i], 0)
                i += 1
            for key in _TABLE_KEY.finditer(code, table.end(), i):
                kind = "primary key" if key.group("kind").upper().startswith("PRIMARY") else "unique constraint"
                found[key.group("name")] = IndexDefinition(
                    key.group("name"), table.group("table"), _squash(text[key.start("columns") : key.end("columns")]),
                    True, None, kind,
                )
        for index in _CREATE_INDEX.finditer(code):
            where = index.group("where")
            found[index.group("name")] = IndexDefinition(
                index.group("name"), index.group("table"),
                _squash(text[index.start("columns") : index.end("columns")]),
                bool(index.group("unique")),
                _squash(text[index.start("where") : index.end("where")]) if where else None,
            )
        for dropped in re.finditer(r"\bDROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?(\w+)", code, re.IGNORECASE):
            found.pop(dropped.group(1), None)
    return found


def _squash(text: str) -> str:
    return " ".join(text.split())


# --- rendering ---------------------------------------------------------------------------------


_HEADER_EXAMPLE = """\
-- name: find_order(account_id, order_id)^
-- One order by id, or nothing.
-- Index: pk_orders
SELECT ..."""


def _anchor(text: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def _code(items: Sequence[str]) -> str:
    return ", ".join(f"`{item}`" for item in items) if items else "none"


def _index_line(query: Query) -> str:
    return ", ".join(" or ".join(alternatives) for alternatives in query.index_requirements)


def render_markdown(catalog: Catalog) -> str:
    """docs/queries.md: the whole catalogue, deterministic for a given ``queries/`` directory."""
    out: list[str] = []
    emit = out.append
    emit("# Query catalogue")
    emit("")
    emit("<!-- Generated from the `-- name:` headers in queries/ by `python -m stocksbot.catalog --write`.")
    emit("     Do not edit: change the SQL file and regenerate. tests/test_query_catalog.py fails when it is stale. -->")
    emit("")
    emit(
        "Every statement stocksbot runs is one of the named queries below, in `queries/<table>.sql`, "
        "the same text on SQLite and PostgreSQL (a same-name file in `queries/postgresql/` or "
        "`queries/sqlite/` overrides a query for one engine, and may add queries that engine alone runs, "
        "each saying what the other engine runs instead). Each query has exactly one typed Python "
        "function of the same name in `stocksbot/<table>.py`, and the name is the one the logs "
        "(`SQL_ECHO=1`), the errors (`query=\"orders.find_order\"`) and the command line use."
    )
    emit("")
    emit("For a DBA:")
    emit("")
    emit("- `stocksbot sql list` lists the queries; `stocksbot sql show NAME` prints one;")
    emit("- `stocksbot sql explain NAME --param account_id=default --param ... [--database-url URL]` prints its plan")
    emit("  on your database;")
    emit("- `stocksbot db schema` prints the live schema and `stocksbot db check` compares it with what the")
    emit("  migrations create (docs/migrations.md).")
    emit("")
    emit("## Reading a header")
    emit("")
    emit("```sql")
    emit(_HEADER_EXAMPLE)
    emit("```")
    emit("")
    emit("- `name(parameters)operator`: the parameters are bound by name (`:account_id`); the operator says what")
    emit("  the query returns:")
    emit("")
    emit("  | operator | returns |")
    emit("  |---|---|")
    for operator, meaning in OPERATORS.items():
        if operator != "<!":
            emit(f"  | {('`' + operator + '`') if operator else '(none)'} | {meaning} |")
    emit("")
    emit("- the comment lines under it are the doc line;")
    emit("- `Index:` names the index the statement relies on. Every query that filters, joins or sorts names one,")
    emit("  and tests/test_query_plans.py proves the plan uses it, on SQLite (`EXPLAIN QUERY PLAN`) and on")
    emit("  PostgreSQL (`EXPLAIN (FORMAT JSON)` under `SET LOCAL enable_seqscan = off`), over a few thousand rows.")
    emit("  `a or b` means the planner may pick either (both serve the statement; the engines differ); a primary key")
    emit("  `pk_<table>` appears in SQLite plans as its automatic index `sqlite_autoindex_<table>_1`;")
    emit("- `Returns:` and `Called by:` (optional) say more about the result and the callers.")
    emit("")
    emit("## Naming")
    emit("")
    emit("A query name is `verb_noun[_by_x]`, snake_case. The verb says what the query promises:")
    emit("")
    emit("| verb | promise |")
    emit("|---|---|")
    for verb, promise in VERBS.items():
        added = " *(this project's addition)*" if verb in ADDED_VERBS else ""
        emit(f"| `{verb}_` | {promise}{added} |")
    emit("")
    emit(
        "`lock_`, `apply_` and `sum_` are this project's additions to the sqlc/aiosql vocabulary: `lock_` "
        "takes a row lock — `SELECT ... FOR UPDATE` in `queries/postgresql/`, a portable no-op guarded "
        "`UPDATE` in the shared file (SQLite has no `FOR UPDATE`; there `BEGIN IMMEDIATE` already holds the "
        "write lock and the fill path reads the row); `apply_` is a read-modify-write done by the "
        "database in one statement; `sum_` is `count_` for sums."
    )
    emit("")
    emit("## Contents")
    emit("")
    emit("| query | parameters | returns | index |")
    emit("|---|---|---|---|")
    for query in catalog.queries:
        params = ", ".join(query.parameters or ())
        index = _index_line(query) or "-"
        emit(f"| [{query.full_name}](#{_anchor(query.full_name)}) | {params} | {query.result} | {index} |")
    emit("")
    emit("## Indexes")
    emit("")
    emit("Every index and key the migrations create, and the queries whose `Index:` line names it.")
    emit("")
    emit("| index | definition | named by |")
    emit("|---|---|---|")
    for name, definition in sorted(catalog.indexes.items(), key=lambda item: (item[1].table, item[0])):
        users = [q.full_name for q in catalog.queries if name in q.indexes]
        named_by = ", ".join(users) if users else "*no query names it*"
        emit(f"| `{name}` | {definition} | {named_by} |")
    emit("")
    for file in catalog.files:
        title = f"queries/{file.dialect + '/' if file.dialect else ''}{file.path.name}"
        emit(f"## {title}")
        emit("")
        if file.dialect:
            emit(f"Used on {file.dialect} only: same-name overrides of shared queries, and queries only {file.dialect} runs.")
            emit("")
        if file.description:
            emit(file.description)
            emit("")
        for query in file.queries:
            heading = query.full_name if not file.dialect or query.engine_only else f"{query.full_name} ({file.dialect})"
            emit(f"### {heading}")
            emit("")
            emit(query.doc or "*(no doc line)*")
            emit("")
            if query.engine_only:
                emit(f"- **Engine:** {file.dialect} only")
            emit(f"- **Parameters:** {_code(query.parameters or ())}")
            result = f"{query.result} (`{query.operator}`)" if query.operator else query.result
            emit(f"- **Returns:** {result}" + (f"; {query.returns}" if query.returns else ""))
            if query.columns and query.operator not in {"!", "*!", "#"}:
                emit(f"- **Columns:** {_code(query.columns)}")
            if query.indexes:
                described = []
                for alternatives in query.index_requirements:
                    described.append(" or ".join(
                        f"`{name}` ({catalog.indexes[name]})" if name in catalog.indexes else f"`{name}`"
                        for name in alternatives
                    ))
                either = " (the planner picks either; both serve this statement)" if any(
                    len(alternatives) > 1 for alternatives in query.index_requirements
                ) else ""
                emit(f"- **Index:** {'; '.join(described)}{either}")
            elif query.needs_index:
                emit("- **Index:** *none named*")
            elif query.conflict_target:
                columns, where = query.conflict_target
                arbiters = [
                    f"`{d.name}` ({d})" for d in catalog.indexes.values()
                    if d.table == query.table and d.unique and d.columns == columns and d.where == where
                ]
                emit(f"- **Index:** none to read; `ON CONFLICT {columns}{' WHERE ' + where if where else ''}` is "
                     f"decided by {' or '.join(arbiters) if arbiters else '*no matching unique index*'}")
            else:
                emit("- **Index:** none needed (no filter, join or sort)")
            if query.called_by:
                emit(f"- **Called by:** {query.called_by}")
            emit(f"- **Python:** `{query.wrapper}`")
            emit(f"- **Source:** `{query.relative_path}` line {query.line}")
            emit("")
            emit("```sql")
            emit(query.sql)
            emit("```")
            emit("")
    return "\n".join(out).rstrip("\n") + "\n"


# --- plans ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A query plan: the engine's own lines, the indexes it uses, the tables it reads without one."""

    dialect: str
    lines: tuple[str, ...]  # for people: EXPLAIN QUERY PLAN rows as a tree, or PostgreSQL's text plan
    indexes: frozenset[str]  # physical index names (SQLite names a primary key sqlite_autoindex_<table>_1)
    full_scans: frozenset[str]  # tables read row by row, without an index
    document: Any = None  # PostgreSQL's EXPLAIN (FORMAT JSON) document

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _positional(sql: str) -> tuple[str, list[str]]:
    """psycopg ``%(name)s`` placeholders as ``$1, $2, ...`` (for PREPARE), and the names in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql).replace("%%", "%"), names


def explain(
    db: Any, query: "Query | str", parameters: dict[str, Any], *, seqscan: bool = True, generic: bool = False,
) -> Plan:
    """The plan of one named query on ``db`` with ``parameters`` bound. Nothing is executed or changed.

    SQLite: ``EXPLAIN QUERY PLAN``. PostgreSQL: ``EXPLAIN (FORMAT JSON)`` (and the text form,
    for people) inside a transaction that is rolled back; ``seqscan=False`` adds ``SET LOCAL
    enable_seqscan = off`` (tiny tables are always read row by row otherwise); ``generic=True``
    shows the generic plan PostgreSQL may switch to once a statement is prepared (psycopg
    prepares a query after 5 executions on a connection).
    """
    if isinstance(query, str):
        query = load_catalog().find(query)
    if query.engine_only and query.dialect != db.dialect:
        from .errors import NotFoundError

        raise NotFoundError(f"{query.full_name} runs on {query.dialect} only; this database is {db.dialect}")
    function = db.query_file(query.file).function(query.name)
    sql = function.sql.strip().rstrip(";")
    missing = [name for name in (query.parameters or ()) if name not in parameters]
    if missing:
        from .errors import ValidationError

        raise ValidationError(
            f"{query.full_name} needs a value for: {', '.join(missing)} (--param name=value; name= binds NULL)",
            field=missing[0],
        )
    values = {name: parameters[name] for name in (query.parameters or ())}
    if db.dialect == "sqlite":
        with db.connection() as conn:
            rows = [tuple(row.values()) if isinstance(row, dict) else tuple(row)
                    for row in conn.execute("EXPLAIN QUERY PLAN " + sql, values).fetchall()]
        depth: dict[int, int] = {0: -1}
        lines, used, scans = [], set(), set()
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + str(detail))
            used.update(re.findall(r"\bUSING (?:COVERING )?INDEX (\w+)", detail))
            scan = re.match(r"SCAN (\w+)(?: AS \w+)?\s*$", detail)
            if scan:
                scans.add(scan.group(1))
        return Plan("sqlite", tuple(lines), frozenset(used), frozenset(scans))
    with db.connection() as conn, conn.transaction(force_rollback=True):
        if not seqscan:
            conn.execute("SET LOCAL enable_seqscan = off")
        if generic:
            from psycopg import sql as pgsql

            positional, names = _positional(sql)
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            conn.execute(f"PREPARE stocksbot_explain AS {positional}")
            try:
                arguments = pgsql.SQL(", ").join(pgsql.Literal(values[name]) for name in names)
                document = _first_value(conn.execute(
                    pgsql.SQL("EXPLAIN (FORMAT JSON) EXECUTE stocksbot_explain ({})").format(arguments)
                ).fetchone())
                text = [_first_value(row) for row in conn.execute(
                    pgsql.SQL("EXPLAIN EXECUTE stocksbot_explain ({})").format(arguments)
                ).fetchall()]
            finally:
                conn.execute("DEALLOCATE stocksbot_explain")
        else:
            document = _first_value(conn.execute("EXPLAIN (FORMAT JSON) " + sql, values).fetchone())
            text = [_first_value(row) for row in conn.execute("EXPLAIN " + sql, values).fetchall()]
    if isinstance(document, str):
        import json

        document = json.loads(document)
    used, scans = set(), set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            used.add(node["Index Name"])
        if node.get("Node Type") == "Seq Scan":
            scans.add(node.get("Relation Name", "?"))
        for child in node.get("Plans", ()):
            walk(child)

    walk(document[0]["Plan"])
    return Plan("postgresql", tuple(text), frozenset(used), frozenset(scans), document)


def _first_value(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def default_output() -> Path:
    """docs/queries.md of the checkout stocksbot runs from."""
    return queries_dir().parent / "docs" / "queries.md"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stocksbot.catalog [--write | --check] [--output PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m stocksbot.catalog", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="regenerate docs/queries.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/queries.md is stale")
    parser.add_argument("--output", type=Path, default=None, help="the file to write or check (default: docs/queries.md)")
    args = parser.parse_args(argv)
    text = render_markdown(load_catalog())
    output = args.output or default_output()
    if args.write:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
        return 0
    if args.check:
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != text:
            print(f"{output} is stale: run `python -m stocksbot.catalog --write`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
