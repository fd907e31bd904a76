"""queries/ and migrations/ are linted SQL in the portable subset.

* sqlfluff, configured in .sqlfluff (postgres grammar, ``:name`` placeholders, UPPERCASE
  keywords, 4-space indent), is clean over both directories;
* stocksbot.sqlcheck finds no construct that breaks one of the two engines, and catches
  each one it knows when fed bad SQL, naming file, line and the portable alternative.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stocksbot import sqlcheck
from stocksbot.paths import migrations_dir, queries_dir
from stocksbot.sqlcheck import RULES, Rule, check_paths, check_sql

REPO = Path(__file__).resolve().parent.parent
BOOLEANS = frozenset({"is_active"})


def _sqlfluff(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqlfluff", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
    )


def _sqlcheck(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stocksbot.sqlcheck", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
    )


# --- sqlfluff --------------------------------------------------------------------------------


def test_sqlfluff_is_clean_over_queries_and_migrations() -> None:
    """`sqlfluff lint queries migrations` (what .ci/run runs) reports nothing."""
    result = _sqlfluff("lint", "queries", "migrations")

    assert 0 == result.returncode, result.stdout + result.stderr


def test_sqlfluff_config_enforces_the_house_conventions(tmp_path: Path) -> None:
    """With the repository's .sqlfluff, a query in house style passes; lowercase keywords and a
    2-space indent fail; `:name` parameters (even `:limit`) parse."""
    (tmp_path / ".sqlfluff").write_text((REPO / ".sqlfluff").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "good.sql").write_text(textwrap.dedent("""\
        -- name: list_widgets(account_id, status, limit)
        -- Widgets of the account, newest first.
        SELECT widget_id, name, status, created_at
        FROM widgets
        WHERE account_id = :account_id
            AND (CAST(:status AS TEXT) IS NULL OR status = :status)
        ORDER BY created_at DESC, widget_id DESC
        LIMIT :limit;
        """), encoding="utf-8")
    (tmp_path / "bad.sql").write_text(textwrap.dedent("""\
        -- name: list_widgets(account_id)
        -- Widgets.
        select widget_id, name
        from widgets
        where account_id = :account_id
          and name is not null;
        """), encoding="utf-8")

    result = _sqlfluff("lint", "--format", "json", "good.sql", "bad.sql", cwd=tmp_path)
    reports = {Path(entry["filepath"]).name: entry["violations"] for entry in json.loads(result.stdout)}

    assert [] == reports["good.sql"]
    codes = {violation["code"] for violation in reports["bad.sql"]}
    assert {"CP01", "LT02"} <= codes


# --- stocksbot.sqlcheck: the repository ------------------------------------------------------------


def test_queries_and_migrations_use_only_portable_sql() -> None:
    """Nothing in queries/ or migrations/ breaks SQLite or PostgreSQL."""
    findings = check_paths([queries_dir(), migrations_dir()])

    assert [] == [str(finding) for finding in findings]


def test_sqlcheck_command_exits_0_on_the_repository() -> None:
    """`python -m stocksbot.sqlcheck queries migrations` is the CI form of the check above."""
    result = _sqlcheck("queries", "migrations")

    assert 0 == result.returncode, result.stdout + result.stderr
    assert "" == result.stdout
    assert "all portable" in result.stderr


# --- stocksbot.sqlcheck: bad SQL ------------------------------------------------------------------

#: The constructs the issue names, each with what the finding must say.
NAMED_CONSTRUCTS = [
    ("SELECT CAST(a AS TEXT), b::TEXT FROM t;", "'::' cast", "CAST(x AS type)"),
    ("SELECT a FROM t WHERE name ILIKE :pattern;", "ILIKE", "LOWER(x) LIKE LOWER(:pattern)"),
    ("UPDATE t SET updated_at = NOW() WHERE a = :a;", "NOW()", "bound UTC timestamp parameter"),
    ("INSERT INTO t (created_at) VALUES (CURRENT_TIMESTAMP);", "CURRENT_TIMESTAMP", "bound UTC timestamp parameter"),
    ("SELECT a FROM t WHERE name LIKE 'AB%';", "literal '%'", "bound parameter for LIKE patterns"),
    ("SELECT quantity_e9 % 100 FROM t;", "literal '%'", "Python for remainders"),
    ("SELECT a FROM orders WHERE order_id = :order_id FOR UPDATE;", "FOR UPDATE", "lock_ query"),
    ("SELECT a FROM strategies WHERE is_active = 1;", "is_active = 1 on a boolean", "= TRUE / = FALSE"),
    ("SELECT a FROM strategies WHERE is_active = 0;", "is_active = 0 on a boolean", "= TRUE / = FALSE"),
    ("CREATE TABLE t (is_active BOOLEAN CHECK (is_active IN (0, 1)));", "is_active IN (0, 1) on a boolean", "IN (TRUE, FALSE)"),
    ("SELECT CONCAT(symbol, side) FROM t;", "CONCAT()", "a || b"),
    ("SELECT GREATEST(a, b) FROM t;", "GREATEST()", "CASE WHEN a >= b THEN a ELSE b END"),
    ("SELECT a FROM t ORDER BY a LIMIT -1;", "LIMIT -1", "bound :limit"),
    ("SELECT config ->> 'lookback' FROM strategies;", "JSON operator ->>", "TEXT column holding JSON"),
    ("CREATE TABLE t (t_id SERIAL PRIMARY KEY);", "SERIAL", "values.new_id()"),
    ("CREATE TABLE t (t_id INTEGER PRIMARY KEY AUTOINCREMENT);", "AUTOINCREMENT", "values.new_id()"),
]


@pytest.mark.parametrize(("sql", "construct", "alternative"), NAMED_CONSTRUCTS, ids=[c[1] for c in NAMED_CONSTRUCTS])
def test_sqlcheck_catches_each_named_construct(sql: str, construct: str, alternative: str) -> None:
    """Each construct the issue lists is found on its line, with the portable alternative."""
    text = f"-- name: bad_query()\n-- A query that breaks one engine.\n{sql}\n"
    findings = check_sql(text, "queries/bad.sql", booleans=BOOLEANS)

    matching = [f for f in findings if f.construct == construct]
    assert matching, [str(f) for f in findings]
    assert 3 == matching[0].line
    assert alternative in matching[0].alternative
    assert str(matching[0]).startswith(f"queries/bad.sql:3: {construct}: use ")


@pytest.mark.parametrize("rule", RULES, ids=[f"{i:02d}-{rule.construct}" for i, rule in enumerate(RULES)])
def test_sqlcheck_catches_every_rule_example(rule: Rule) -> None:
    """Every rule has an example of the construct, and the checker finds it there."""
    assert rule.example, f"rule {rule.construct!r} needs an example"
    findings = check_sql(rule.example, "x.sql", booleans=BOOLEANS)

    assert any(f.alternative == rule.alternative for f in findings), [str(f) for f in findings]


@pytest.mark.parametrize(
    "sql",
    [
        "-- NOW(), CURRENT_TIMESTAMP, FOR UPDATE, a::b and 50% in a comment are fine\nSELECT a FROM t;",
        "/* ILIKE, GREATEST(a, b) in a block comment */ SELECT a FROM t;",
        "SELECT a FROM t WHERE note = 'x::y -> z ILIKE';",
        "SELECT a FROM t WHERE leg = 0 AND is_active = TRUE AND (CAST(:status AS TEXT) IS NULL OR status = :status);",
        "SELECT CAST(COALESCE(SUM(realized_pnl_e8), 0) AS BIGINT) AS realized_pnl_e8 FROM positions;",
        "SELECT a FROM t WHERE LOWER(name) LIKE LOWER(:pattern) ORDER BY a LIMIT :limit OFFSET :offset;",
        "INSERT INTO t (a) SELECT a FROM s WHERE TRUE ON CONFLICT (a) DO NOTHING;",
        "CREATE TABLE t (t_id TEXT NOT NULL, created_at TEXT NOT NULL, CONSTRAINT ck_t CHECK (LENGTH(created_at) = 27));",
    ],
)
def test_sqlcheck_leaves_portable_sql_alone(sql: str) -> None:
    """Comments, string contents and the portable spellings are not findings."""
    assert [] == [str(f) for f in check_sql(sql, booleans=BOOLEANS)]


def test_sqlcheck_checks_an_engine_override_against_its_engine_only(tmp_path: Path) -> None:
    """queries/postgresql/ may use PostgreSQL-only SQL, but not what breaks PostgreSQL; same for sqlite/."""
    (tmp_path / "postgresql").mkdir()
    (tmp_path / "sqlite").mkdir()
    (tmp_path / "postgresql" / "orders.sql").write_text("SELECT a::TEXT FROM t WHERE name ILIKE :p AND is_active = 1;\n")
    (tmp_path / "sqlite" / "orders.sql").write_text("SELECT a::TEXT FROM t WHERE is_active = 1;\n")

    findings = {(Path(f.path).parent.name, f.construct) for f in check_paths([tmp_path])}

    assert {("postgresql", "is_active = 1 on a boolean"), ("sqlite", "'::' cast")} == findings


def test_sqlcheck_reads_boolean_columns_from_the_migrations() -> None:
    """A column declared BOOLEAN is a boolean wherever it is compared; an INTEGER one is not."""
    migration = "CREATE TABLE t (\n    enabled BOOLEAN NOT NULL,\n    leg INTEGER NOT NULL\n);\n"
    booleans = sqlcheck.boolean_columns([migration])

    assert frozenset({"enabled"}) == booleans
    assert ["enabled = 1 on a boolean"] == [f.construct for f in check_sql("SELECT a FROM t WHERE enabled = 1 AND leg = 1;", booleans=booleans)]


def test_sqlcheck_command_names_file_line_construct_and_alternative(tmp_path: Path) -> None:
    """The command prints `file:line: <construct>: use <alternative>` per finding and exits 1."""
    bad = tmp_path / "queries" / "bad.sql"
    bad.parent.mkdir()
    bad.write_text(textwrap.dedent("""\
        -- name: list_bad(account_id)
        -- Breaks both engines.
        SELECT a::TEXT, CONCAT(b, c)
        FROM t
        WHERE updated_at > NOW()
        FOR UPDATE;
        """), encoding="utf-8")

    result = _sqlcheck("queries", cwd=tmp_path)

    assert 1 == result.returncode
    assert [
        "queries/bad.sql:3: '::' cast: use CAST(x AS type)",
        "queries/bad.sql:3: CONCAT(): use a || b",
        "queries/bad.sql:5: NOW(): use a bound UTC timestamp parameter computed in Python (values.now_text() / timestamp_to_db)",
        "queries/bad.sql:6: FOR UPDATE: use a guarded UPDATE ... WHERE ... RETURNING inside the transaction "
        "(a lock_ query, e.g. lock_order)",
    ] == result.stdout.splitlines()
    assert "4 non-portable construct(s) in 1 file" in result.stderr


def test_sqlcheck_command_exits_2_for_a_missing_path(tmp_path: Path) -> None:
    """A typo in a path is a usage error, not a clean result."""
    result = _sqlcheck("no-such-dir", cwd=tmp_path)

    assert 2 == result.returncode
    assert "no such file or directory: no-such-dir" in result.stderr
