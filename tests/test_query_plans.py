"""Every query that filters, joins or sorts uses the index its header names, on both engines.

A module-scoped database per engine gets a few thousand rows in two accounts (written
with plain INSERTs/COPY, so the named queries' call counts stay honest), then each
query's plan is read with its parameters bound to real rows: ``EXPLAIN QUERY PLAN`` on
SQLite, ``EXPLAIN (FORMAT JSON)`` on PostgreSQL under ``SET LOCAL enable_seqscan = off``
(after ANALYZE). Nothing is executed. A filtered listing is one query per driving filter
(list_orders_by_symbol, list_trades_by_order, ...: the typed module picks it from the
filters given), whose named index serves that filter; the other filters it takes stay
optional predicates (``CAST(:x AS TEXT) IS NULL OR ...``). They are bound to NULL in the
main plan test, and to real values in a second one (on PostgreSQL the generic plan a
prepared statement runs), so the named index must drive the read with and without them.

A plan that does not use the named index fails with the plan printed. Known misses
are strict xfails whose reason says what to change: they fail the run the day the
plan starts using the index, so the entry gets removed.
"""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

import stocksbot
from stocksbot.catalog import Plan, Query, explain, load_catalog
from stocksbot.schema import describe

CATALOG = load_catalog()
INDEXED = [query for query in CATALOG.queries if query.index_requirements and not query.engine_only]
#: The queries only one engine runs (the set-based batch queries of record_fills), each checked on its engine.
ENGINE_ONLY = [query for query in CATALOG.engine_only if query.index_requirements]
ENGINE_OF_DIALECT = {"sqlite": "sqlite", "postgresql": "postgres"}
ACCOUNTS = ("acct-a", "acct-b")
ORDERS_PER_ACCOUNT = 2000
BASE = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)

#: (engine, query) -> why the plan misses the named index, and the proposed fix.
KNOWN_MISSES: dict[tuple[str, str], str] = {}  # (engine, query) -> why its plan may not use its index yet

ENGINES = [
    pytest.param("sqlite", marks=pytest.mark.sqlite, id="sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
]


# --- the data ----------------------------------------------------------------------------


def _ts(seconds: int) -> str:
    return (BASE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _id(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Two accounts with history: 20 strategies, 2000 orders (mostly terminal), 3 fills per
    filled order, 700 positions (40 open), 100 settings each."""
    symbols = [f"SYM{i:02d}" for i in range(40)]
    data: dict[str, list[dict[str, Any]]] = {"strategies": [], "orders": [], "positions": [], "trades": [], "config": []}
    for a, account in enumerate(ACCOUNTS):
        strategies = [_id(account, "strategy", i) for i in range(20)]
        for i, strategy_id in enumerate(strategies):
            data["strategies"].append(dict(
                account_id=account, strategy_id=strategy_id, name=f"strategy-{i:02d}", config="{}",
                is_active=i % 2 == 0, created_at=_ts(i), updated_at=_ts(i),
            ))
        positions = []
        for i in range(ORDERS_PER_ACCOUNT // 3 + 34):
            is_open = i < 40
            positions.append(dict(
                account_id=account, position_id=_id(account, "position", i),
                strategy_id=None if i % 5 == 0 else strategies[i % 20], symbol=symbols[i % 40], side="long",
                status="open" if is_open else "closed", quantity_e9=10**9 if is_open else 0,
                cost_basis_e8=150 * 10**8 if is_open else 0, realized_pnl_e8=i * 10**6,
                opened_at=_ts(10_000 + i), updated_at=_ts(10_000 + i), closed_at=None if is_open else _ts(20_000 + i),
            ))
        data["positions"] += positions
        for i in range(ORDERS_PER_ACCOUNT):
            status = ("filled", "filled", "filled", "filled", "filled", "filled", "filled", "cancelled", "cancelled",
                      ("pending", "submitted", "partially_filled")[i % 3])[i % 10]
            quantity = 3 * 10**9
            filled = {"filled": quantity, "partially_filled": 10**9}.get(status, 0)
            order = dict(
                account_id=account, order_id=_id(account, "order", i), client_order_id=f"c-{a}-{i}",
                external_id=None if status == "pending" else f"x-{a}-{i}",
                strategy_id=None if i % 5 == 0 else strategies[i % 20], symbol=symbols[i % 40],
                side="buy" if i % 2 else "sell", order_type="market", quantity_e9=quantity, limit_price_e8=None,
                stop_price_e8=None, status=status, status_reason=None, filled_quantity_e9=filled,
                filled_notional_e8=filled // 10**9 * 150 * 10**8, created_at=_ts(30_000 + i),
                updated_at=_ts(30_000 + i), terminal_at=_ts(30_000 + i) if status in ("filled", "cancelled") else None,
            )
            data["orders"].append(order)
            position = positions[i % len(positions)]
            for fill in range(filled // 10**9):
                data["trades"].append(dict(
                    account_id=account, trade_id=_id(account, "trade", i, fill), order_id=order["order_id"],
                    position_id=position["position_id"], strategy_id=order["strategy_id"], symbol=order["symbol"],
                    side=order["side"], leg=0, effect="increase", quantity_e9=10**9, price_e8=150 * 10**8,
                    commission_e8=0, fees_e8=0, realized_pnl_e8=0, external_trade_id=f"e-{a}-{i}-{fill}",
                    executed_at=_ts(40_000 + 3 * i + fill), created_at=_ts(40_000 + 3 * i + fill),
                ))
        for i in range(100):
            data["config"].append(dict(
                account_id=account, key=f"key.{i:03d}", value=str(i), value_type="int", created_at=_ts(i), updated_at=_ts(i),
            ))
    return data


def _load(db: stocksbot.Database, data: dict[str, list[dict[str, Any]]]) -> None:
    with db.transaction() as conn:
        for table in ("strategies", "orders", "positions", "trades", "config"):
            columns = list(data[table][0])
            if db.dialect == "sqlite":
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
                    data[table],
                )
            else:
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in data[table]:
                        copy.write_row([row[c] for c in columns])
    if db.dialect == "postgresql":
        with db.connection() as conn:
            conn.execute("ANALYZE")


@dataclass
class Seeded:
    db: stocksbot.Database
    engine: str
    data: dict[str, list[dict[str, Any]]]
    aliases: dict[str, str]  # constraint name -> the physical index the engine uses for it

    def parameters(self, query: Query) -> dict[str, Any]:
        """Values for every parameter of ``query``, taken from real rows of account acct-a (optional filters NULL)."""
        account = ACCOUNTS[0]
        order = next(o for o in self.data["orders"] if o["account_id"] == account and o["status"] == "submitted")
        trade = next(t for t in self.data["trades"] if t["account_id"] == account)
        position = next(p for p in self.data["positions"] if p["account_id"] == account and p["status"] == "open"
                        and p["strategy_id"])
        strategy = next(s for s in self.data["strategies"] if s["account_id"] == account)
        now = _ts(90_000)
        values: dict[str, Any] = dict(
            account_id=account, order_id=order["order_id"], client_order_id=order["client_order_id"],
            external_id=order["external_id"], status=order["status"], status_reason=None, updated_at=now, created_at=now, limit=100,
            fill_quantity_e9=10**9, fill_notional_e8=150 * 10**8, key="key.001", value="1", value_type="int",
            strategy_id=strategy["strategy_id"], name=strategy["name"], config="{}", is_active=True,
            position_id=position["position_id"], symbol=position["symbol"], strategy_key=position["strategy_id"],
            quantity_e9=10**9, cost_basis_e8=150 * 10**8, realized_pnl_delta_e8=0, closed_at=now,
            trade_id=trade["trade_id"], external_trade_id=trade["external_trade_id"], leg=0, since=None,
        )
        if query.file == "trades":
            values.update(order_id=trade["order_id"], position_id=trade["position_id"])
        # The batch queries take one array per column; a batch of one row here.
        values.update(
            order_ids=[values["order_id"]], external_trade_ids=[values["external_trade_id"]],
            symbols=[values["symbol"]], strategy_keys=[values["strategy_key"]], position_ids=[values["position_id"]],
            fill_quantities_e9=[values["fill_quantity_e9"]], fill_notionals_e8=[values["fill_notional_e8"]],
            updated_ats=[now], quantities_e9=[values["quantity_e9"]], cost_bases_e8=[values["cost_basis_e8"]],
            realized_pnl_deltas_e8=[values["realized_pnl_delta_e8"]],
        )
        optional = _optional_filters(query)
        return {name: None if name in optional else values[name] for name in query.parameters or ()}

    def filtered_parameters(self, query: Query) -> dict[str, Any]:
        """Every parameter of a listing bound, its optional filters too, to the values of one real row
        of its table in acct-a (a row with a strategy, halfway through the history)."""
        account = ACCOUNTS[0]
        rows = [row for row in self.data[query.file] if row["account_id"] == account and row["strategy_id"]
                and row.get("status") in (None, "open", "filled")]
        row = rows[len(rows) // 2]
        values = dict(row, since=row.get("executed_at"), limit=100)
        return {name: values[name] for name in query.parameters or ()}


def _optional_filters(query: Query) -> set[str]:
    """The parameters ``query`` filters by only when they are not null (``CAST(:x AS TEXT) IS NULL OR ...``,
    or a bound that is open when null: ``COALESCE(CAST(:x AS TEXT), ...)``)."""
    return set(re.findall(r"CAST\(\s*:(\w+)\s+AS\s+TEXT\s*\)\s+IS\s+NULL", query.sql, re.I)) | _range_starts(query)


def _range_starts(query: Query) -> set[str]:
    """The parameters that start an index range when given: ``col >= COALESCE(CAST(:x AS TEXT), '')``."""
    return set(re.findall(r">=\s*COALESCE\(\s*CAST\(\s*:(\w+)\s+AS\s+TEXT\s*\)", query.sql, re.I))


FILTERED = [query for query in INDEXED if _optional_filters(query)]


@pytest.fixture(scope="module", params=ENGINES)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A migrated database per engine holding a few thousand rows in two accounts."""
    engine: str = request.param
    cleanup = None
    if engine == "sqlite":
        path = tmp_path_factory.mktemp("plans") / "plans.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        server = request.getfixturevalue("pg_server")
        name = server.create(template=server.template)
        url = server.url_for(name)
        cleanup = lambda: server.drop(name)  # noqa: E731
    db = stocksbot.connect(url)
    try:
        data = _rows()
        _load(db, data)
        with db.connection() as conn:
            aliases = describe(conn, db.dialect).index_aliases()
        yield Seeded(db, engine, data, aliases)
    finally:
        db.close()
        if cleanup:
            cleanup()


# --- the tests ----------------------------------------------------------------------------


def _plan(seeded: Seeded, query: Query) -> Plan:
    return explain(seeded.db, query, seeded.parameters(query), seqscan=False)


def _assert_reads_through_its_index(seeded: Seeded, query: Query, plan: Plan) -> None:
    """Every `Index:` requirement of ``query`` (one of its `or` alternatives) is an index ``plan`` uses."""
    for alternatives in query.index_requirements:
        physical = {seeded.aliases.get(name, name) for name in alternatives}
        assert physical & plan.indexes, (
            f"{query.full_name} on {seeded.engine}: the plan does not use {' or '.join(alternatives)} "
            f"({' or '.join(sorted(physical))} there); it uses {sorted(plan.indexes) or 'no index'}:\n{plan.text}"
        )


@pytest.mark.parametrize("query", INDEXED, ids=[query.full_name for query in INDEXED])
def test_plan_uses_the_index_named_in_the_header(seeded: Seeded, query: Query, request: pytest.FixtureRequest) -> None:
    """The plan reads through the index the `-- Index:` line names (or one of its `or` alternatives)."""
    reason = KNOWN_MISSES.get((seeded.engine, query.full_name))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    plan = _plan(seeded, query)

    _assert_reads_through_its_index(seeded, query, plan)


@pytest.mark.parametrize("query", FILTERED, ids=[query.full_name for query in FILTERED])
def test_plan_uses_the_named_index_with_every_optional_filter_given(seeded: Seeded, query: Query) -> None:
    """A listing's named index still drives the read when its optional filters (status, symbol, strategy_id,
    since) are bound to the values of a real row, and no plan scans a table."""
    parameters = seeded.filtered_parameters(query)
    # PostgreSQL: the generic plan of the prepared statement (psycopg prepares a query after 5 runs) cannot
    # fold `CAST($n AS TEXT) IS NULL OR ...` away, so the driving filter's index must serve it there; a custom
    # plan folds it and may pick a more selective index for the given values (it must still not scan).
    plan = explain(seeded.db, query, parameters, seqscan=False, generic=seeded.engine == "postgres")
    custom = explain(seeded.db, query, parameters, seqscan=False)

    for alternatives in query.index_requirements:
        physical = {seeded.aliases.get(name, name) for name in alternatives}
        assert physical & plan.indexes, (
            f"{query.full_name} on {seeded.engine} with its optional filters given: the plan does not use "
            f"{' or '.join(alternatives)}; it uses {sorted(plan.indexes) or 'no index'}:\n{plan.text}"
        )
    for read in (plan, custom):
        assert not read.full_scans, f"{query.full_name} on {seeded.engine} scans {sorted(read.full_scans)}:\n{read.text}"


RANGED = [query for query in INDEXED if "since" in (query.parameters or ())]


@pytest.mark.parametrize("query", RANGED, ids=[query.full_name for query in RANGED])
def test_a_since_bound_starts_the_index_range(seeded: Seeded, query: Query) -> None:
    """``since`` given, the index search itself starts at it (SQLite ``executed_at>?``, PostgreSQL an
    ``Index Cond`` on executed_at), in the generic plan too: a recent since never walks the older rows."""
    parameters = seeded.filtered_parameters(query)
    for generic in ((False, True) if seeded.engine == "postgres" else (False,)):
        plan = explain(seeded.db, query, parameters, seqscan=False, generic=generic)
        if seeded.engine == "sqlite":
            bounded = re.search(r"USING (?:COVERING )?INDEX \w+ \([^)]*executed_at>\?", plan.text)
        else:
            bounded = re.search(r"Index Cond: .*executed_at >=", plan.text)
        assert bounded, f"{query.full_name} on {seeded.engine} (generic={generic}): since is not in the index search:\n{plan.text}"


@pytest.mark.parametrize("query", INDEXED, ids=[query.full_name for query in INDEXED])
def test_plan_reads_no_table_row_by_row(seeded: Seeded, query: Query) -> None:
    """No table is scanned without an index (SQLite `SCAN t`, PostgreSQL `Seq Scan` with seqscan off)."""
    plan = _plan(seeded, query)

    assert not plan.full_scans, f"{query.full_name} on {seeded.engine} scans {sorted(plan.full_scans)}:\n{plan.text}"


@pytest.mark.parametrize("seeded, query", [
    pytest.param(ENGINE_OF_DIALECT[query.dialect], query, marks=getattr(pytest.mark, ENGINE_OF_DIALECT[query.dialect]),
                 id=f"{query.full_name}-{ENGINE_OF_DIALECT[query.dialect]}")
    for query in ENGINE_ONLY if query.dialect
], indirect=["seeded"])
def test_an_engine_only_plan_uses_its_index_and_reads_no_table_row_by_row(seeded: Seeded, query: Query) -> None:
    """A query only one engine runs reads through the index its header names, on that engine, and scans no table."""
    plan = _plan(seeded, query)

    _assert_reads_through_its_index(seeded, query, plan)
    assert not plan.full_scans, f"{query.full_name} on {seeded.engine} scans {sorted(plan.full_scans)}:\n{plan.text}"


def test_every_statement_that_filters_joins_or_sorts_names_its_index() -> None:
    """A query with WHERE, JOIN, ORDER BY or GROUP BY must say which index serves it."""
    unnamed = [query.full_name for query in CATALOG.queries if query.needs_index and not query.index_requirements]

    assert [] == unnamed, f"add an `-- Index: <name>` line to: {', '.join(unnamed)}"


@pytest.mark.parametrize("query", INDEXED, ids=[query.full_name for query in INDEXED])
def test_named_index_exists_on_a_table_the_query_reads(query: Query) -> None:
    """Every name on an `Index:` line is an index or key that the migrations create, on a table of the query."""
    tables = set(re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)", query.code, re.I))
    for name in query.indexes:
        definition = CATALOG.indexes.get(name)
        assert definition is not None, f"{query.full_name}: no migration creates an index or key named {name}"
        assert definition.table in tables, f"{query.full_name}: {name} is on {definition.table}, the query reads {tables}"


def test_the_seeded_tables_hold_thousands_of_rows(seeded: Seeded) -> None:
    """The plans are read over enough rows for the planner to prefer an index on its own merits."""
    with seeded.db.connection() as conn:
        counts = {
            table: next(iter(conn.execute(f"SELECT COUNT(*) AS n FROM {table}").fetchone().values()))
            for table in ("orders", "trades", "positions")
        }

    assert counts["orders"] == len(ACCOUNTS) * ORDERS_PER_ACCOUNT
    assert counts["trades"] > 8_000
    assert counts["positions"] > 1_000


def test_primary_key_lookup_reads_as_each_engine_prints_it(seeded: Seeded) -> None:
    """SQLite serves pk_orders through its own autoindex; PostgreSQL names pk_orders in EXPLAIN (FORMAT JSON)."""
    plan = _plan(seeded, CATALOG.find("orders.find_order"))

    if seeded.engine == "sqlite":
        assert "sqlite_autoindex_orders_1" == seeded.aliases["pk_orders"]
        assert ["SEARCH orders USING INDEX sqlite_autoindex_orders_1 (account_id=? AND order_id=?)"] == list(plan.lines)
    else:
        assert "pk_orders" == plan.document[0]["Plan"]["Index Name"]
        assert "Index Scan" == plan.document[0]["Plan"]["Node Type"]
