"""`stocksbot sql list|show|explain` and `stocksbot db schema|check`, as a DBA runs them.

In-process through ``stocksbot.cli.main`` (capsys), on both engines where a database is
involved. ``sql explain`` is also shown never to execute the statement it explains.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import stocksbot
from stocksbot.paths import migration_ids
from stocksbot.catalog import load_catalog
from stocksbot.cli import main

QUERIES = load_catalog().queries


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient DATABASE_URL or debug switch leaks into the command under test."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STOCKSBOT_DEBUG", raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``stocksbot *argv`` in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _pending_order(database_url: str) -> Any:
    with stocksbot.connect(database_url) as db:
        return stocksbot.StorageService(db).create_order(
            symbol="AAPL", side="buy", order_type="limit", quantity=Decimal("10"), limit_price=Decimal("150.25"),
        )


# --- sql list / show ---------------------------------------------------------------------------


def test_sql_list_names_every_query_with_its_index(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "sql", "list")

    assert (0, "") == (code, err)
    for query in QUERIES:
        assert query.full_name in out
    assert "orders.find_order" in out and "index: pk_orders" in out
    assert out.rstrip().endswith(f"{len(QUERIES)} named queries in {len({q.file for q in QUERIES})} files (docs/queries.md)")


def test_sql_list_json_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "sql", "list", "--json")
    listed = {entry["name"]: entry for entry in json.loads(out)}

    assert 0 == code
    assert [q.full_name for q in QUERIES] == list(listed)
    assert ["account_id", "order_id"] == listed["orders.find_order"]["parameters"]
    assert [["pk_orders"]] == listed["orders.find_order"]["index"]
    assert "one row, or nothing" == listed["orders.find_order"]["returns"]
    assert listed["orders.find_order"]["source"].startswith("queries/orders.sql:")


@pytest.mark.parametrize("name", ["orders.find_order", "find_order"])
def test_sql_show_prints_the_query_as_its_file_has_it(capsys: pytest.CaptureFixture[str], name: str) -> None:
    query = load_catalog().find("orders.find_order")
    code, out, _ = cli(capsys, "sql", "show", name)

    assert 0 == code
    assert out.startswith(f"-- queries/orders.sql line {query.line}; Python: stocksbot.orders.find_order\n")
    assert "-- name: find_order(account_id, order_id)^\n-- One order by id, or nothing.\n-- Index: pk_orders\n" in out
    assert query.sql in out
    assert "find_order_by_client_order_id" not in out


def test_sql_show_of_an_unknown_name_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "sql", "show", "find_nothing")

    assert (1, "") == (code, out)
    assert err.startswith("stocksbot: error: no query named 'find_nothing' (known: config.delete_config_value, ")
    assert 1 == len(err.splitlines())


# --- sql explain ---------------------------------------------------------------------------------


def test_sql_explain_prints_the_plan_and_whether_the_named_index_is_used(
    capsys: pytest.CaptureFixture[str], database_url: str, engine: str,
) -> None:
    code, out, err = cli(
        capsys, "sql", "explain", "orders.find_order", "--param", "account_id=default", "--param", "order_id=x",
        "--no-seqscan", "--database-url", database_url,
    )

    assert (0, "") == (code, err)
    lines = out.splitlines()
    assert lines[0].startswith("-- orders.find_order on ")
    assert "-- parameters: account_id='default', order_id='x'" == lines[1]
    if engine == "sqlite":
        assert "-- index named in the header: pk_orders (sqlite_autoindex_orders_1 on this engine): used" == lines[2]
        assert "SEARCH orders USING INDEX sqlite_autoindex_orders_1 (account_id=? AND order_id=?)" == lines[3]
    else:
        # On an empty table PostgreSQL may pick any index on account_id (tests/test_query_plans.py
        # proves the choice over real volumes); the verdict must agree with the plan it prints.
        plan = "\n".join(lines[3:])
        verdict = "used" if "using pk_orders on orders" in plan else "NOT USED"
        assert f"-- index named in the header: pk_orders: {verdict}" == lines[2]
        assert "Index Scan using " in lines[3]


def test_sql_explain_of_a_query_only_postgresql_runs(
    capsys: pytest.CaptureFixture[str], database_url: str, engine: str,
) -> None:
    """PostgreSQL explains its own batch query (arrays as PostgreSQL array literals); SQLite, which never
    runs it, says so in one line."""
    code, out, err = cli(
        capsys, "sql", "explain", "orders.list_orders_for_fills", "--param", "account_id=default",
        "--param", "order_ids={x,y}", "--database-url", database_url,
    )

    if engine == "sqlite":
        assert (1, "") == (code, out)
        assert "stocksbot: error: orders.list_orders_for_fills runs on postgresql only; this database is sqlite\n" == err
    else:
        assert (0, "") == (code, err)
        assert out.splitlines()[0].startswith("-- orders.list_orders_for_fills on ")
        assert "LockRows" in out


def test_sql_explain_json(capsys: pytest.CaptureFixture[str], database_url: str, engine: str) -> None:
    code, out, _ = cli(
        capsys, "sql", "explain", "list_orders", "--param", "account_id=default",
        "--param", "limit=50", "--no-seqscan", "--json",
        "--database-url", database_url,
    )
    document = json.loads(out)

    assert 0 == code
    assert "orders.list_orders" == document["query"]
    assert {"account_id": "default", "limit": 50} == document["parameters"]
    assert [{"index": ["ix_orders_account_created"], "used": True, "as": {}}] == document["index"]
    assert ("sqlite" if engine == "sqlite" else "postgresql") == document["dialect"]
    if engine == "sqlite":
        assert any("ix_orders_account_created" in line for line in document["plan"])
    else:
        assert "Plan" in document["plan"][0]


def test_sql_explain_shows_the_generic_plan_on_postgres(
    capsys: pytest.CaptureFixture[str], database_url: str, engine: str,
) -> None:
    """--generic: parameters stay $n placeholders (PostgreSQL); SQLite always plans without the values."""
    code, out, _ = cli(
        capsys, "sql", "explain", "orders.find_order", "--param", "account_id=default", "--param", "order_id=x",
        "--generic", "--no-seqscan", "--database-url", database_url,
    )

    assert 0 == code
    if engine == "sqlite":
        assert "(account_id=? AND order_id=?)" in out
    else:
        assert "(account_id = $1)" in out and "(order_id = $2)" in out
        assert "'default'" not in out.split("\n", 2)[2]


def test_sql_explain_never_executes_the_statement(
    capsys: pytest.CaptureFixture[str], database_url: str,
) -> None:
    """Explaining mark_order_cancelled leaves the pending order pending."""
    order = _pending_order(database_url)
    code, _, _ = cli(
        capsys, "sql", "explain", "orders.mark_order_cancelled", "--param", f"account_id={order.account_id}",
        "--param", f"order_id={order.order_id}", "--param", "external_id=", "--param", "status_reason=",
        "--param", "updated_at=2024-01-02T03:04:05.000000Z", "--database-url", database_url,
    )

    assert 0 == code
    with stocksbot.connect(database_url) as db:
        assert "pending" == stocksbot.StorageService(db).get_order(order.order_id).status


def test_sql_explain_names_a_missing_parameter(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, err = cli(
        capsys, "sql", "explain", "orders.find_order", "--param", "account_id=default", "--database-url", database_url,
    )

    assert (1, "") == (code, out)
    assert "stocksbot: error: orders.find_order needs a value for: order_id (--param name=value; name= binds NULL)\n" == err


def test_sql_explain_rejects_a_parameter_the_query_does_not_have(
    capsys: pytest.CaptureFixture[str], database_url: str,
) -> None:
    code, _, err = cli(
        capsys, "sql", "explain", "orders.find_order", "--param", "account_id=default", "--param", "order_id=x",
        "--param", "symbol=AAPL", "--database-url", database_url,
    )

    assert 1 == code
    assert "orders.find_order has no parameter symbol (its parameters: account_id, order_id)" in err


def test_sql_explain_param_needs_name_equals_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "sql", "explain", "orders.find_order", "--param", "account_id")

    assert 2 == code
    assert "expected NAME=VALUE, got 'account_id'" in err


def test_sql_explain_on_an_unmigrated_database_is_one_error_line(
    capsys: pytest.CaptureFixture[str], empty_database_url: str,
) -> None:
    code, out, err = cli(
        capsys, "sql", "explain", "orders.find_order", "--param", "account_id=default", "--param", "order_id=x",
        "--database-url", empty_database_url,
    )

    assert (1, "") == (code, out)
    assert err.startswith("stocksbot: error: ") and "orders" in err
    assert 1 == len(err.splitlines())


# --- db schema / db check ----------------------------------------------------------------------------


def test_db_schema_prints_tables_columns_constraints_and_indexes(
    capsys: pytest.CaptureFixture[str], database_url: str,
) -> None:
    code, out, err = cli(capsys, "db", "schema", "--database-url", database_url)

    assert (0, "") == (code, err)
    for table in ("config", "orders", "positions", "strategies", "trades"):
        assert f"\ntable {table}\n" in out
    assert "    constraint pk_orders: PRIMARY KEY (account_id, order_id)" in out
    assert "    index ix_orders_account_created: (account_id, created_at)" in out
    assert "_yoyo" not in out and "yoyo_lock" not in out


def test_db_schema_json(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, _ = cli(capsys, "db", "schema", "--json", "--database-url", database_url)
    document = json.loads(out)
    columns = {c["name"]: c for c in document["tables"]["orders"]["columns"]}

    assert 0 == code
    assert {"config", "orders", "positions", "strategies", "trades"} <= set(document["tables"])
    assert ("bigint", False) == (columns["quantity_e9"]["type"], columns["quantity_e9"]["nullable"])
    assert document["database"].startswith(("sqlite:///", "postgresql://"))


def test_db_schema_of_an_empty_database(capsys: pytest.CaptureFixture[str], empty_database_url: str) -> None:
    code, out, _ = cli(capsys, "db", "schema", "--database-url", empty_database_url)

    assert 0 == code
    assert out.splitlines()[-1] == "no tables (run `stocksbot db upgrade`)"


def test_db_check_passes_on_a_migrated_database(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    code, out, err = cli(capsys, "db", "check", "--database-url", database_url)

    assert (0, "") == (code, err)
    assert f"reference: the {len(migration_ids())} applied migration(s), replayed " in out
    assert out.rstrip().endswith("ok: the schema is what the migrations create")


def test_db_check_exits_4_naming_each_difference(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    with stocksbot.connect(database_url) as db, db.connection() as conn:
        conn.execute("ALTER TABLE orders ADD COLUMN note TEXT")
        conn.execute("DROP INDEX ix_trades_account_executed")

    code, out, err = cli(capsys, "db", "check", "--database-url", database_url)

    assert 4 == code
    assert "drift: 2 difference(s) from the migrations" in out
    assert "  column orders.note: in the database, not in the migrations (text NULL; added by hand?)" in out
    assert "  index ix_trades_account_executed on trades: missing from the database ((account_id, executed_at); dropped?)" in out
    assert err.startswith("stocksbot: schema drift: 2 difference(s) on ")


def test_db_check_json(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    with stocksbot.connect(database_url) as db, db.connection() as conn:
        conn.execute("CREATE INDEX ix_orders_hotfix ON orders (symbol)")

    code, out, _ = cli(capsys, "db", "check", "--json", "--database-url", database_url)
    document = json.loads(out)

    assert 4 == code
    assert document["ok"] is False
    assert [("index", "orders", "ix_orders_hotfix")] == [(d["kind"], d["table"], d["name"]) for d in document["differences"]]
    assert [] == document["pending"]


def test_db_check_lists_pending_migrations_without_failing(
    capsys: pytest.CaptureFixture[str], database_url: str,
) -> None:
    from stocksbot.migrate import Migrator

    Migrator(database_url).downgrade(1)
    code, out, _ = cli(capsys, "db", "check", "--database-url", database_url)

    assert 0 == code
    assert f"pending (not drift; see `stocksbot db status`): {migration_ids()[-1]}" in out


def test_help_lists_the_new_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(["sql", "--help"])
    sql_help = capsys.readouterr().out
    assert 0 == main(["db", "--help"])
    db_help = capsys.readouterr().out

    for command in ("list", "show", "explain"):
        assert command in sql_help
    for command in ("schema", "check"):
        assert command in db_help
