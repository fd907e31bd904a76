"""`describe` reads the live schema and `check` names every drift from the migrations, on both engines.

Drift is made on purpose, the way it happens in production: a column added by hand, an
index dropped or redefined, a constraint dropped, a NOT NULL loosened, a table or an
index created by hand, a migration recorded that migrations/ does not have.
"""

from __future__ import annotations

from typing import Any

import stocksbot
from stocksbot.catalog import load_catalog
from stocksbot.migrate import Migrator
from stocksbot.paths import migration_ids
from stocksbot.schema import BOOKKEEPING_TABLES, check, compare, describe, reference_schema

TABLES = {"strategies", "orders", "positions", "trades", "config", "strategy_metrics"}
MIGRATION_IDS = migration_ids()


def _execute(db: stocksbot.Database, *statements: str) -> None:
    with db.connection() as conn:
        for statement in statements:
            conn.execute(statement)


def _rebuild_config(db: stocksbot.Database, edit: Any) -> None:
    """SQLite cannot alter a constraint: rebuild config from its edited CREATE TABLE text (the usual 12 steps)."""
    with db.connection() as conn:
        create = next(iter(conn.execute("SELECT sql FROM sqlite_master WHERE name = 'config'").fetchone().values()))
        edited = edit(create)
        assert edited != create, "the edit changed nothing"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(edited.replace("CREATE TABLE config", "CREATE TABLE config_new", 1))
        conn.execute("INSERT INTO config_new SELECT * FROM config")
        conn.execute("DROP TABLE config")
        conn.execute("ALTER TABLE config_new RENAME TO config")
        conn.execute("COMMIT")


def _messages(db: stocksbot.Database) -> list[str]:
    return [str(difference) for difference in check(db).differences]


# --- describe ------------------------------------------------------------------------------


def test_describe_lists_the_application_tables_without_yoyos_own(db: stocksbot.Database) -> None:
    """The application tables, and none of _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock."""
    with db.connection() as conn:
        schema = describe(conn)

    assert TABLES == set(schema.tables)
    assert not BOOKKEEPING_TABLES & set(schema.tables)


def test_describe_reads_columns_types_nullability_and_defaults(db: stocksbot.Database) -> None:
    """orders.quantity_e9 is a NOT NULL bigint, external_id nullable text, status defaults to 'pending'."""
    with db.connection() as conn:
        orders = {column.name: column for column in describe(conn).tables["orders"].columns}

    assert ("bigint", False) == (orders["quantity_e9"].type, orders["quantity_e9"].nullable)
    assert ("text", True) == (orders["external_id"].type, orders["external_id"].nullable)
    assert orders["status"].default.startswith("'pending'")
    assert orders["order_id"].default is None


def test_describe_reads_the_generated_column(db: stocksbot.Database) -> None:
    """positions.strategy_key is generated from strategy_id, with no default."""
    with db.connection() as conn:
        column = next(c for c in describe(conn).tables["positions"].columns if c.name == "strategy_key")

    assert column.default is None
    assert column.generated is not None and "strategy_id" in column.generated and "COALESCE" in column.generated.upper()


def test_describe_finds_every_index_and_key_the_migrations_name(db: stocksbot.Database) -> None:
    """Each index and key the catalogue reads from migrations/ exists under its name, on its table."""
    with db.connection() as conn:
        schema = describe(conn)

    for name, definition in load_catalog().indexes.items():
        table = schema.tables[definition.table]
        names = {index.name for index in table.indexes} | {constraint.name for constraint in table.constraints}
        assert name in names, f"{name} is missing from {definition.table}"


def test_describe_reads_constraint_kinds_and_partial_indexes(db: stocksbot.Database) -> None:
    """Named CHECK, PRIMARY KEY and FOREIGN KEY constraints; a partial unique index with its predicate."""
    with db.connection() as conn:
        trades = describe(conn).tables["trades"]
    kinds = {constraint.name: constraint.kind for constraint in trades.constraints}
    partial = next(index for index in trades.indexes if index.name == "uq_trades_account_order_execution_leg")

    assert "primary key" == kinds["pk_trades"]
    assert "foreign key" == kinds["fk_trades_order"]
    assert "check" == kinds["ck_trades_leg"]
    assert ("account_id", "order_id") == next(c for c in trades.constraints if c.name == "fk_trades_order").columns
    assert partial.unique
    assert ("account_id", "order_id", "external_trade_id", "leg") == partial.columns
    assert "external_trade_id IS NOT NULL" in partial.where.replace("(", "").replace(")", "")


def test_both_engines_describe_the_same_tables_columns_and_names(db: stocksbot.Database) -> None:
    """Column names, types and nullability, and constraint and index names agree across the engines
    (the values of defaults and CHECK texts are each engine's own spelling)."""
    with db.connection() as conn:
        live = describe(conn)
    sqlite = reference_schema("sqlite")

    for name, table in live.tables.items():
        other = sqlite.tables[name]
        assert [(c.name, c.type, c.nullable) for c in table.columns] == [(c.name, c.type, c.nullable) for c in other.columns]
        assert sorted(c.name for c in table.constraints) == sorted(c.name for c in other.constraints)
        assert [(i.name, i.unique) for i in table.indexes] == [(i.name, i.unique) for i in other.indexes]


def test_to_dict_is_plain_json_data(db: stocksbot.Database) -> None:
    """The --json form: tables -> columns, constraints, indexes, as lists and dicts."""
    import json

    with db.connection() as conn:
        document = json.loads(json.dumps(describe(conn).to_dict()))

    assert {"dialect", "tables"} == set(document)
    assert {"columns", "constraints", "indexes"} == set(document["tables"]["orders"])
    assert {"name": "pk_orders", "kind": "primary key", "columns": ["account_id", "order_id"]}.items() <= next(
        c for c in document["tables"]["orders"]["constraints"] if c["name"] == "pk_orders"
    ).items()


# --- check: no drift -----------------------------------------------------------------------------


def test_a_freshly_migrated_database_has_no_drift(db: stocksbot.Database) -> None:
    """Every migration applied, nothing touched: ok, nothing pending."""
    report = check(db)

    assert [] == [str(d) for d in report.differences]
    assert report.ok
    assert MIGRATION_IDS == report.applied
    assert [] == report.pending


def test_pending_migrations_are_not_drift(database_url: str) -> None:
    """After a rollback of the newest migration, its table is expected to be absent: no drift, one pending."""
    Migrator(database_url).downgrade(1)
    with stocksbot.connect(database_url) as db:
        report = check(db)

    assert report.ok, [str(d) for d in report.differences]
    assert [MIGRATION_IDS[-1]] == report.pending
    assert MIGRATION_IDS[:-1] == report.applied


def test_an_empty_database_has_no_drift_and_everything_pending(empty_database_url: str) -> None:
    """Nothing applied, nothing there: nothing to compare."""
    with stocksbot.connect(empty_database_url) as db:
        report = check(db)

    assert report.ok
    assert MIGRATION_IDS == report.pending


def test_check_on_postgres_leaves_no_schema_behind(db: stocksbot.Database) -> None:
    """The reference schema is built in a transaction that is rolled back (SQLite: in memory)."""
    check(db)

    if db.dialect == "postgresql":
        with db.connection() as conn:
            left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'stocksbot_check_%'").fetchall()
        assert [] == left
    else:
        with db.connection() as conn:
            assert TABLES | {"_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock"} >= {
                row["name"] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            }


# --- check: drift made on purpose ---------------------------------------------------------------------


def test_drift_names_an_added_column_a_dropped_index_and_a_dropped_constraint(db: stocksbot.Database) -> None:
    """The three classic hotfixes, each named in its own line."""
    _execute(db, "ALTER TABLE orders ADD COLUMN note TEXT", "DROP INDEX ix_orders_account_created")
    if db.dialect == "postgresql":
        _execute(db, "ALTER TABLE config DROP CONSTRAINT ck_config_value_type")
    else:
        _rebuild_config(db, lambda sql: sql.replace(
            ",\n    CONSTRAINT ck_config_value_type CHECK (value_type IN ('string', 'int', 'float', 'bool', 'json'))", ""
        ))
    report = check(db)
    messages = [str(d) for d in report.differences]

    assert not report.ok
    assert 3 == len(messages), messages
    assert [("constraint", "config", "ck_config_value_type"), ("column", "orders", "note"),
            ("index", "orders", "ix_orders_account_created")] == [(d.kind, d.table, d.name) for d in report.differences]
    assert messages[0].startswith("constraint ck_config_value_type on config: missing from the database (CHECK")
    assert messages[1].startswith("column orders.note: in the database, not in the migrations (text NULL")
    assert messages[2] == ("index ix_orders_account_created on orders: missing from the database "
                           "((account_id, created_at); dropped?)")


def test_drift_names_a_loosened_not_null(db: stocksbot.Database) -> None:
    """A column that became nullable by hand."""
    if db.dialect == "postgresql":
        _execute(db, "ALTER TABLE config ALTER COLUMN value DROP NOT NULL")
    else:
        _rebuild_config(db, lambda sql: sql.replace("value TEXT NOT NULL,", "value TEXT,"))

    assert ["column config.value: is text NULL in the database, text NOT NULL in the migrations"] == _messages(db)


def test_drift_names_an_index_redefined_under_the_same_name(db: stocksbot.Database) -> None:
    """Same name, other columns: the definition on both sides is shown."""
    _execute(db, "DROP INDEX ix_trades_account_executed",
             "CREATE INDEX ix_trades_account_executed ON trades (executed_at)")

    assert [
        "index ix_trades_account_executed on trades: is (executed_at) in the database, "
        "(account_id, executed_at) in the migrations"
    ] == _messages(db)


def test_drift_names_objects_created_by_hand(db: stocksbot.Database) -> None:
    """An extra index and an extra table are drift too (the next migration may collide with them)."""
    _execute(db, "CREATE INDEX ix_orders_hotfix ON orders (symbol)",
             "CREATE TABLE scratch (scratch_id TEXT NOT NULL)")

    assert [
        "index ix_orders_hotfix on orders: in the database, not in the migrations ((symbol); created by hand?)",
        "table scratch: in the database, not in the migrations (created by hand?)",
    ] == _messages(db)


def test_drift_names_a_dropped_table(database_url: str) -> None:
    """A table the migrations create but the database lacks."""
    with stocksbot.connect(database_url) as db:
        _execute(db, "DROP TABLE config")

        assert ["table config: missing from the database (dropped?)"] == _messages(db)


def test_drift_names_a_migration_recorded_but_unknown(db: stocksbot.Database) -> None:
    """A database migrated by a newer release (or a removed file) is flagged."""
    placeholder = "%s" if db.dialect == "postgresql" else "?"
    with db.connection() as conn:
        conn.execute(
            f"INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
            f"VALUES ({placeholder}, {placeholder}, {placeholder})",
            ("0" * 64, "0099.create-future", "2024-01-02 03:04:05"),
        )

    assert ["migration 0099.create-future: recorded as applied, not in migrations/"] == _messages(db)


def test_compare_is_symmetric_in_what_it_names(db: stocksbot.Database) -> None:
    """Swapping live and reference turns "missing" into "not in the migrations" for the same objects."""
    _execute(db, "CREATE INDEX ix_orders_hotfix ON orders (symbol)")
    with db.connection() as conn:
        live = describe(conn)
    if db.dialect == "sqlite":
        reference = reference_schema("sqlite")
    else:
        with _raw(db) as conn:
            reference = reference_schema("postgresql", conn=conn)

    forward = compare(reference, live)
    backward = compare(live, reference)

    assert [(d.kind, d.name) for d in forward] == [(d.kind, d.name) for d in backward]
    assert "not in the migrations" in str(forward[0]) and "missing from the database" in str(backward[0])


def _raw(db: stocksbot.Database) -> Any:
    import psycopg

    from stocksbot.db import pg_conninfo

    return psycopg.connect(pg_conninfo(db.url, db.settings), autocommit=True)
