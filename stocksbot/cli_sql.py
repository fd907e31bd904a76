"""``stocksbot sql ...`` and ``stocksbot db schema|check``: the SQL catalogue and the schema, for DBAs.

Commands::

    stocksbot sql list    [--json]                              every named query: params, result, index
    stocksbot sql show    NAME                                  one query as its file has it
    stocksbot sql explain NAME [--param k=v ...] [--database-url URL] [--no-seqscan] [--generic] [--json]
    stocksbot db schema   [--database-url URL] [--json]         the live schema
    stocksbot db check    [--database-url URL] [--json]         drift from the migrations (exit 4)

NAME is ``file.query`` (``orders.find_order``) or just ``find_order``. ``--param k=v``
binds text, or an integer when v is one; ``--param k=`` binds NULL. ``sql explain``
never executes the statement (EXPLAIN without ANALYZE) and changes nothing; on
PostgreSQL ``--no-seqscan`` plans under ``SET LOCAL enable_seqscan = off`` (as the
tests do on small tables) and ``--generic`` shows the generic plan PostgreSQL may use
once psycopg has prepared the statement.

``db check`` exits 0 when the live schema is what the applied migrations create, and
4 (``EXIT_DRIFT``) when it differs, one difference per line on stdout; how the
reference is built is described in stocksbot/schema.py.

Wiring (stocksbot/cli.py): ``add_sql_commands(groups)`` in ``build_parser`` and
``add_schema_commands(commands)`` at the end of ``_add_db_commands``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .catalog import Query
    from .db import Database

EXIT_OK = 0
EXIT_DRIFT = 4

__all__ = ["EXIT_DRIFT", "add_schema_commands", "add_sql_commands"]


# --- parsers ------------------------------------------------------------------------------------


def add_sql_commands(groups: Any) -> None:
    """Add the ``sql`` command group (``list``, ``show``, ``explain``) to the top-level subparsers."""
    from .cli import database_url_options

    sql = groups.add_parser(
        "sql",
        help="list, show and explain the named queries of queries/",
        description="The named queries of queries/ (docs/queries.md): list them, print one, or print its "
        "plan on a database.",
    )
    commands = sql.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list", help="every named query: parameters, result and index",
        description="Every named query, file by file: its parameters, what it returns and the index it relies on.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON only")
    listing.set_defaults(handler=sql_list)

    show = commands.add_parser(
        "show", help="print one query as its SQL file has it",
        description="Print one named query (header and statement) as queries/<file>.sql has it.",
    )
    show.add_argument("name", metavar="NAME", help="file.query (orders.find_order) or query (find_order)")
    show.set_defaults(handler=sql_show)

    explain = commands.add_parser(
        "explain", parents=[database_url_options()], help="print a query's plan on a database (never runs it)",
        description="Print the plan of one named query on a database: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on "
        "PostgreSQL. The statement is never executed and nothing is changed.",
    )
    explain.add_argument("name", metavar="NAME", help="file.query (orders.find_order) or query (find_order)")
    explain.add_argument(
        "--param", metavar="NAME=VALUE", action="append", default=[], type=_parameter,
        help="bind a parameter: text, or an integer; NAME= binds NULL (repeat for each parameter)",
    )
    explain.add_argument("--no-seqscan", action="store_true",
                         help="PostgreSQL: plan under SET LOCAL enable_seqscan = off (small tables)")
    explain.add_argument("--generic", action="store_true",
                         help="PostgreSQL: the generic plan, used once a statement is prepared")
    explain.add_argument("--json", action="store_true", help="print JSON only")
    explain.set_defaults(handler=sql_explain)


def add_schema_commands(commands: Any) -> None:
    """Add ``schema`` and ``check`` to the subparsers of the ``db`` group."""
    from .cli import database_url_options

    url = database_url_options()
    schema = commands.add_parser(
        "schema", parents=[url], help="print the live schema: tables, columns, constraints, indexes",
        description="Print the schema the database really has: tables, columns (type, nullability, default), "
        "constraints and indexes. yoyo's own tables are left out.",
    )
    schema.add_argument("--json", action="store_true", help="print JSON only")
    schema.set_defaults(handler=db_schema)

    check = commands.add_parser(
        "check", parents=[url], help="compare the live schema with the migrations (exit 4 on drift)",
        description="Compare the live schema with what its applied migrations create on a fresh database of "
        "the same engine (SQLite: in memory; PostgreSQL: a temporary schema, rolled back). Exit 4 and name "
        "each difference when they differ. Pending migrations are not drift (see db status).",
    )
    check.add_argument("--json", action="store_true", help="print JSON only")
    check.set_defaults(handler=db_check)


def _parameter(text: str) -> tuple[str, Any]:
    name, equals, value = text.partition("=")
    if not equals or not re.fullmatch(r"[A-Za-z_]\w*", name.strip()):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    if value == "":
        return name.strip(), None
    if re.fullmatch(r"-?\d+", value):
        return name.strip(), int(value)
    return name.strip(), value


# --- sql ------------------------------------------------------------------------------------------


def _find(name: str) -> "Query":
    from .catalog import load_catalog
    from .errors import NotFoundError

    try:
        return load_catalog().find(name)
    except KeyError as exc:
        raise NotFoundError(str(exc.args[0])) from None


def _signature(query: "Query") -> str:
    return f"{query.full_name}({', '.join(query.parameters or ())}){query.operator}"


def _index_text(query: "Query") -> str:
    return ", ".join(" or ".join(alternatives) for alternatives in query.index_requirements)


def sql_list(args: argparse.Namespace) -> int:
    """``sql list``: every named query with its parameters, result and index."""
    from .catalog import load_catalog

    queries = load_catalog().queries
    if args.json:
        print(json.dumps([
            {
                "name": query.full_name,
                "parameters": list(query.parameters or ()),
                "operator": query.operator,
                "returns": query.result,
                "columns": list(query.columns),
                "index": [list(alternatives) for alternatives in query.index_requirements],
                "doc": query.doc,
                "source": f"{query.relative_path}:{query.line}",
            }
            for query in queries
        ], indent=2))
        return EXIT_OK
    width = max(len(query.full_name) for query in queries)
    for query in queries:
        index = _index_text(query) or "-"
        print(f"{query.full_name:<{width}}  {query.result:<28}  index: {index}")
        print(f"{'':<{width}}  ({', '.join(query.parameters or ())}) {query.doc}")
    print(f"{len(queries)} named queries in {len({q.file for q in queries})} files (docs/queries.md)")
    return EXIT_OK


def sql_show(args: argparse.Namespace) -> int:
    """``sql show NAME``: the query's header and statement, as the file has them."""
    query = _find(args.name)
    lines = query.path.read_text(encoding="utf-8").splitlines()
    block = lines[query.line - 1 :]
    end = next((i for i, line in enumerate(block[1:], start=1) if re.match(r"^--\s*name\s*:", line)), len(block))
    text = "\n".join(block[:end]).rstrip()
    print(f"-- {query.relative_path} line {query.line}; Python: {query.wrapper}")
    print(text)
    return EXIT_OK


def sql_explain(args: argparse.Namespace) -> int:
    """``sql explain NAME``: the plan of one query on the database, with the parameters given."""
    from .catalog import explain
    from .db import connect
    from .errors import ValidationError, translate
    from .schema import describe

    query = _find(args.name)
    parameters = dict(args.param)
    unknown = sorted(set(parameters) - set(query.parameters or ()))
    if unknown:
        raise ValidationError(
            f"{query.full_name} has no parameter {', '.join(unknown)} (its parameters: "
            f"{', '.join(query.parameters or ()) or 'none'})",
            field=unknown[0],
        )
    db: Database = connect(args.database_url)
    try:
        try:
            plan = explain(db, query, parameters, seqscan=not args.no_seqscan, generic=args.generic)
            with db.connection() as conn:
                aliases = describe(conn, db.dialect).index_aliases()
        except Exception as exc:  # a driver error: missing table, bad parameter type, ...
            raise translate(exc, query=query.full_name) from exc
        database = db.url.safe
    finally:
        db.close()
    verdicts = []
    for alternatives in query.index_requirements:
        physical = {name: aliases.get(name, name) for name in alternatives}
        used = [name for name, real in physical.items() if real in plan.indexes]
        verdicts.append({"index": list(alternatives), "used": bool(used),
                         "as": {name: real for name, real in physical.items() if real != name}})
    if args.json:
        print(json.dumps({
            "query": query.full_name,
            "database": database,
            "dialect": plan.dialect,
            "parameters": {name: parameters[name] for name in query.parameters or ()},
            "index": verdicts,
            "indexes_used": sorted(plan.indexes),
            "full_scans": sorted(plan.full_scans),
            "plan": plan.document if plan.document is not None else list(plan.lines),
        }, indent=2))
        return EXIT_OK
    bound = ", ".join(f"{name}={'NULL' if parameters[name] is None else repr(parameters[name])}"
                      for name in query.parameters or ())
    print(f"-- {query.full_name} on {database} ({plan.dialect})")
    print(f"-- parameters: {bound or 'none'}")
    for verdict in verdicts:
        named = " or ".join(
            f"{name} ({verdict['as'][name]} on this engine)" if name in verdict["as"] else name
            for name in verdict["index"]
        )
        print(f"-- index named in the header: {named}: {'used' if verdict['used'] else 'NOT USED'}")
    if not verdicts:
        print("-- the header names no index")
    if plan.full_scans:
        print(f"-- reads row by row (no index): {', '.join(sorted(plan.full_scans))}")
    print(plan.text)
    return EXIT_OK


# --- db schema / db check ----------------------------------------------------------------------------


def _open(args: argparse.Namespace) -> "Database":
    from .db import connect

    return connect(args.database_url)


def db_schema(args: argparse.Namespace) -> int:
    """``db schema``: the live schema, for people or as JSON."""
    from .errors import translate
    from .schema import describe, format_schema

    db = _open(args)
    try:
        try:
            with db.connection() as conn:
                schema = describe(conn, db.dialect)
        except Exception as exc:
            raise translate(exc, query="db schema") from exc
        database = db.url.safe
    finally:
        db.close()
    if args.json:
        print(json.dumps({"database": database, **schema.to_dict()}, indent=2))
        return EXIT_OK
    print(f"database: {database} ({schema.dialect})")
    if not schema.tables:
        print("no tables (run `stocksbot db upgrade`)")
        return EXIT_OK
    print()
    print(format_schema(schema))
    return EXIT_OK


def db_check(args: argparse.Namespace) -> int:
    """``db check``: compare the live schema with the migrations; exit 4 on drift."""
    from .errors import translate
    from .schema import check

    db = _open(args)
    try:
        try:
            report = check(db)
        except Exception as exc:
            raise translate(exc, query="db check") from exc
    finally:
        db.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return EXIT_OK if report.ok else EXIT_DRIFT
    where = ("on a fresh in-memory SQLite database" if report.dialect == "sqlite"
             else "in a temporary schema of this database, rolled back afterwards")
    print(f"database: {report.database} ({report.dialect})")
    print(f"reference: the {len(report.applied)} applied migration(s), replayed {where}")
    if report.pending:
        print(f"pending (not drift; see `stocksbot db status`): {', '.join(report.pending)}")
    if report.ok:
        print("ok: the schema is what the migrations create")
        return EXIT_OK
    print(f"drift: {len(report.differences)} difference(s) from the migrations")
    for difference in report.differences:
        print(f"  {difference}")
    print(f"stocksbot: schema drift: {len(report.differences)} difference(s) on {report.database}", file=sys.stderr)
    return EXIT_DRIFT
