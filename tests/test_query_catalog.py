"""The query catalogue checks itself: every `-- name:` block of queries/ is named, documented,
wrapped and listed in docs/queries.md (sqlite-utils' test_docs.py, applied to SQL).

Parametrized over every named query, so a failure names the query. That every query is
also *executed* by the suite is checked at the end of a whole run by the
``--query-coverage`` plugin (tests/query_coverage.py), tested at the bottom of this file.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import stocksbot
from stocksbot import catalog as catalog_module
from stocksbot.catalog import ADDED_VERBS, VERBS, Query, load_catalog, render_markdown, result_columns
from stocksbot.paths import queries_dir
from stocksbot.sqlfiles import QUERY_CALLS, load_queries

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
DOCS = REPO / "docs" / "queries.md"
PACKAGE = Path(stocksbot.__file__).resolve().parent
CATALOG = load_catalog()
QUERIES = CATALOG.queries
IDS = [query.full_name for query in QUERIES]
NAME_RULE = re.compile(rf"^(?:{'|'.join(VERBS)})_[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def _wrappers(module: str, name: str) -> list[ast.FunctionDef]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    return [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]


# --- the files ------------------------------------------------------------------------------


def test_catalogue_reads_every_query_aiosql_loads() -> None:
    """The catalogue parser and aiosql agree on which queries each file holds, on both drivers."""
    for dialect in ("sqlite", "postgresql"):
        loaded = {f"{file}.{name}" for file, queries in load_queries(dialect).items() for name in queries.names}
        assert {query.full_name for query in CATALOG.for_dialect(dialect)} == loaded, dialect


def test_every_header_parses() -> None:
    """No `-- name:` line the catalogue cannot read (a typo would hide a query from the checks)."""
    problems = [problem for file in CATALOG.files for problem in file.problems]

    assert [] == problems


def test_query_names_are_unique_across_files() -> None:
    """One name means one query in logs, errors and `stocksbot sql show NAME`."""
    repeated = [name for name, count in Counter(query.name for query in QUERIES).items() if count > 1]

    assert [] == repeated


def test_every_override_replaces_a_shared_query() -> None:
    """A queries/<dialect>/ file only overrides same-name shared queries, with the same parameters
    (a COPY ... FROM STDIN override takes its values as streamed rows, so it declares none)."""
    shared = {query.full_name: query for query in QUERIES}
    for override in CATALOG.overrides:
        assert override.full_name in shared, f"{override.relative_path}: {override.name} overrides nothing"
        if "FROM STDIN" in " ".join(override.sql.upper().split()):
            assert not override.parameters, override.full_name
            continue
        assert shared[override.full_name].parameters == override.parameters, override.full_name
        assert shared[override.full_name].operator == override.operator, f"{override.full_name}: same result shape"


def test_an_engine_only_query_says_what_the_other_engine_runs() -> None:
    """A query only one engine's file has starts its doc with "<Engine> only: <other> runs <query> ...",
    naming a shared query of the same file, which its wrapper runs on the other engine."""
    assert CATALOG.engine_only, "queries/postgresql/ holds the set-based batch queries of record_fills"
    shared = {query.full_name for query in CATALOG.queries if query.dialect is None}
    engines = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
    for query in CATALOG.engine_only:
        other = engines["sqlite" if query.dialect == "postgresql" else "postgresql"]
        said = re.search(rf"\b{engines[query.dialect]} only: {other} runs (\w+)", query.doc)
        assert said, f"{query.full_name}: the doc says '{engines[query.dialect]} only: {other} runs <query> ...'"
        assert f"{query.file}.{said.group(1)}" in shared, f"{query.full_name}: {said.group(1)} is not a shared query"
        wrapper = ast.get_source_segment((PACKAGE / f"{query.file}.py").read_text(encoding="utf-8"),
                                         _wrappers(query.file, query.name)[0]) or ""
        assert f".{said.group(1)}" in wrapper, f"{query.full_name}: its wrapper does not run {said.group(1)}"


def test_a_lock_override_is_a_select_for_update() -> None:
    """The PostgreSQL lock_ overrides take the row lock without writing a new row version."""
    locks = [override for override in CATALOG.overrides if override.verb == "lock"]
    assert locks, "queries/postgresql/ overrides the lock_ queries"
    for override in locks:
        assert "postgresql" == override.dialect, override.relative_path
        code = " ".join(override.code.upper().split())
        assert override.statement == "SELECT" and code.rstrip("; ").endswith("FOR UPDATE"), override.full_name


# --- each query ---------------------------------------------------------------------------


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_name_follows_the_naming_rule(query: Query) -> None:
    """snake_case verb_noun[_by_x], the verb one of get_ find_ list_ count_ sum_ insert_ update_ upsert_
    delete_ mark_ lock_ apply_."""
    assert NAME_RULE.match(query.name), (
        f"{query.full_name}: a query name is snake_case verb_noun, the verb one of {', '.join(v + '_' for v in VERBS)}"
    )


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_verb_keeps_its_promise(query: Query) -> None:
    """The verb matches the statement and the operator (VERBS in stocksbot/catalog.py says what each promises)."""
    code, verb, operator, statement = query.code, query.verb, query.operator, query.statement
    where = f"{query.full_name} ({statement}, operator {operator or '(none)'})"
    if verb in {"get", "find"}:
        assert statement in {"SELECT", "WITH"} and operator == "^", f"{where}: {verb}_ is a SELECT returning one row (^)"
    elif verb == "list":
        assert statement in {"SELECT", "WITH"} and operator == "", f"{where}: list_ is a SELECT returning rows"
        assert re.search(r"\bORDER\s+BY\b", code, re.I), f"{where}: list_ always states its ORDER BY"
    elif verb in {"count", "sum"}:
        assert statement in {"SELECT", "WITH"} and operator == "$", f"{where}: {verb}_ is a SELECT of one value ($)"
    elif verb == "insert":
        assert statement == "INSERT" and not re.search(r"\bDO\s+UPDATE\b", code, re.I), f"{where}: insert_ inserts"
    elif verb == "upsert":
        assert statement == "INSERT" and re.search(r"\bON\s+CONFLICT\b.*\bDO\s+UPDATE\b", code, re.I | re.S), (
            f"{where}: upsert_ is INSERT ... ON CONFLICT ... DO UPDATE"
        )
    elif verb == "delete":
        assert statement == "DELETE", f"{where}: delete_ deletes"
    elif verb in {"update", "mark", "lock", "apply"}:
        assert statement == "UPDATE", f"{where}: {verb}_ is an UPDATE"
        assert re.search(r"\bWHERE\b", code, re.I), f"{where}: {verb}_ changes the rows its WHERE picks, never all"
    if verb == "mark":
        guard = code[re.search(r"\bWHERE\b", code, re.I).end():]  # type: ignore[union-attr]
        assert re.search(r"\bstatus\s*(?:IN\s*\(|=)", guard, re.I), f"{where}: mark_ is guarded by WHERE status IN (...)"
    if verb == "lock":
        assignments = re.search(r"\bSET\b(.*?)\bWHERE\b", code, re.I | re.S)
        assert assignments and all(
            re.fullmatch(r"\s*(\w+)\s*=\s*\1\s*", part) for part in assignments.group(1).split(",")
        ), f"{where}: lock_ is a no-op write (SET c = c) that only takes the row lock"
    if operator in {"^", "$"} and statement in {"INSERT", "UPDATE", "DELETE"}:
        assert re.search(r"\bRETURNING\b", code, re.I), f"{where}: a write returning a row uses RETURNING"
    assert operator != "<!", f"{where}: use RETURNING with ^ or $, not <!"


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_has_a_doc_line(query: Query) -> None:
    """The comment line(s) under the header say what the query does, in a sentence."""
    assert query.doc, f"{query.full_name}: add a one-sentence doc line under `-- name:`"
    assert query.doc[0].isupper() and query.doc.endswith("."), f"{query.full_name}: {query.doc!r} is not a sentence"


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_parameters_are_declared_and_used(query: Query) -> None:
    """The header's parameter list (aiosql 15 requires it) is exactly the :params the SQL binds."""
    assert query.parameters is not None, f"{query.full_name}: write the parameter list: -- name: {query.name}(a, b)"
    used = list(dict.fromkeys(re.findall(r"(?<![:\w]):([A-Za-z_]\w*)", query.code)))

    assert sorted(used) == sorted(query.parameters), query.full_name
    assert len(set(query.parameters)) == len(query.parameters), f"{query.full_name}: a parameter is listed twice"


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_has_exactly_one_wrapper_of_the_same_name(query: Query) -> None:
    """stocksbot/<file>.py defines one function named like the query, and it runs that query."""
    module = PACKAGE / f"{query.file}.py"
    assert module.is_file(), f"{query.full_name}: no module stocksbot/{query.file}.py for queries/{query.file}.sql"
    wrappers = _wrappers(query.file, query.name)

    assert 1 == len(wrappers), f"{query.full_name}: {len(wrappers)} functions named {query.name} in {module.name}"
    source = module.read_text(encoding="utf-8")
    assert re.search(rf"\.{query.name}\(|[\"']{query.name}[\"']", source), (
        f"{query.full_name}: {module.name} never calls the query by its name"
    )
    docstring = ast.get_docstring(wrappers[0]) or ""
    assert f"{query.file}.sql" in docstring, f"{query.full_name}: the wrapper's docstring names its SQL file"


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_result_columns_are_explicit(query: Query) -> None:
    """Explicit columns, never `*`: the model's extra="forbid" catches a drift only then."""
    assert "*" not in result_columns(query.sql), f"{query.full_name}: list the columns instead of *"


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_is_listed_in_the_docs(query: Query) -> None:
    """docs/queries.md has a section for the query, with its SQL."""
    text = DOCS.read_text(encoding="utf-8")

    assert f"\n### {query.full_name}\n" in text
    assert query.sql in text


# --- the docs ------------------------------------------------------------------------------


def test_docs_are_generated_from_the_current_headers() -> None:
    """docs/queries.md is exactly what the headers produce today."""
    expected = render_markdown(load_catalog())
    current = DOCS.read_text(encoding="utf-8") if DOCS.is_file() else ""

    assert current == expected, "docs/queries.md is stale: run `python -m stocksbot.catalog --write`"


def test_docs_explain_every_verb_and_the_project_additions() -> None:
    """The naming table lists every verb; lock_, apply_ and sum_ are marked as this project's additions."""
    text = DOCS.read_text(encoding="utf-8")
    for verb in VERBS:
        assert f"| `{verb}_` |" in text, verb
    for verb in ADDED_VERBS:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{verb}_` |"))
        assert "this project's addition" in row, verb


def test_catalog_check_command_reports_stale_docs(tmp_path: Path) -> None:
    """`python -m stocksbot.catalog --check` exits 1 on a stale file and 0 on a fresh one."""
    stale = tmp_path / "queries.md"
    stale.write_text("# an old catalogue\n", encoding="utf-8")

    assert 1 == catalog_module.main(["--check", "--output", str(stale)])
    assert 0 == catalog_module.main(["--write", "--output", str(stale)])
    assert 0 == catalog_module.main(["--check", "--output", str(stale)])
    assert render_markdown(load_catalog()) == stale.read_text(encoding="utf-8")


def test_catalog_reads_a_header_it_is_given(tmp_path: Path) -> None:
    """Name, parameters, operator, doc, `Index:` alternatives, `Returns:` and the statement come from the header."""
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "widgets.sql").write_text(textwrap.dedent("""\
        -- Widgets of an account.

        -- name: find_widget(account_id, widget_id)^
        -- One widget by id,
        -- or nothing.
        -- Index: pk_widgets or ix_widgets_account
        -- Returns: the widget row.
        SELECT account_id, widget_id, CAST(size AS BIGINT) AS size_e9
        FROM widgets
        WHERE account_id = :account_id
            AND widget_id = :widget_id;
        """), encoding="utf-8")
    parsed = load_catalog(folder, migrations=tmp_path)
    query = parsed.find("find_widget")

    assert "Widgets of an account." == parsed.files[0].description
    assert ("widgets.find_widget", ("account_id", "widget_id"), "^") == (query.full_name, query.parameters, query.operator)
    assert "One widget by id, or nothing." == query.doc
    assert (("pk_widgets", "ix_widgets_account"),) == query.index_requirements
    assert "the widget row." == query.returns
    assert ("account_id", "widget_id", "size_e9") == query.columns
    assert query.sql.startswith("SELECT") and query.sql.endswith(";")
    assert query.needs_index


# --- execution counts ------------------------------------------------------------------------


def test_query_calls_counts_each_call_by_file_and_query(db: stocksbot.Database) -> None:
    """Every call through a wrapper adds one to QUERY_CALLS["file.query"] (what --query-coverage reads)."""
    from stocksbot import config

    before = QUERY_CALLS["config.find_config_value"]
    with db.connection() as conn:
        config.find_config_value(conn, account_id="default", key="absent")
        config.find_config_value(conn, account_id="default", key="absent")

    assert before + 2 == QUERY_CALLS["config.find_config_value"]


def _run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "query_coverage", "-p", "no:cacheprovider", *args, str(directory)],
        cwd=directory, env=environment, capture_output=True, text=True, timeout=300,
    )


def test_query_coverage_fails_a_run_that_leaves_a_query_unexecuted(tmp_path: Path) -> None:
    """With --query-coverage, a run that executed only some queries fails and lists the others."""
    (tmp_path / "test_some.py").write_text(textwrap.dedent("""\
        import stocksbot
        from stocksbot import config

        def test_lists_the_settings(tmp_path):
            with stocksbot.connect(f"sqlite:///{tmp_path / 'x.db'}") as db:
                db.migrate()
                with db.connection() as conn:
                    assert [] == config.list_config(conn, account_id="default")
        """), encoding="utf-8")

    without = _run_pytest(tmp_path)
    result = _run_pytest(tmp_path, "--query-coverage")

    assert 0 == without.returncode, without.stdout + without.stderr
    assert 1 == result.returncode, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert f"1 of {len(QUERIES)} named queries ran" in result.stdout
    assert "    orders.insert_order\n" in result.stdout
    assert "    config.list_config\n" not in result.stdout


def test_query_coverage_passes_a_run_that_executed_every_query(tmp_path: Path) -> None:
    """When every named query ran at least once the run passes and says so."""
    (tmp_path / "test_all.py").write_text(textwrap.dedent(f"""\
        from stocksbot.sqlfiles import QUERY_CALLS

        def test_every_query_ran():
            for name in {IDS!r}:
                QUERY_CALLS[name] += 1  # stands in for a suite that ran them all
        """), encoding="utf-8")

    result = _run_pytest(tmp_path, "--query-coverage")

    assert 0 == result.returncode, result.stdout + result.stderr
    assert f"query coverage: all {len(QUERIES)} named queries ran" in result.stdout


def test_shared_queries_directory_is_the_one_catalogued() -> None:
    """The catalogue reads the same queries/ directory the package loads."""
    assert {path.resolve() for path in queries_dir().glob("*.sql")} == {
        file.path.resolve() for file in CATALOG.files if file.dialect is None
    }
