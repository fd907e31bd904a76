"""A catalogue of every rule the migrations put in the database, proven on SQLite and PostgreSQL.

Each case inserts a valid baseline row (accepted), then the same kind of row
breaking exactly one rule (refused by the database itself, with raw SQL, no
Python validation in the way). A refusal must be an ``IntegrityError`` of the
driver that ``stocksbot.errors.translate`` turns into a :class:`ConflictError`
naming the constraint (SQLite names only CHECK constraints; for the others its
error code and the columns in its message are checked).

Where PostgreSQL's types refuse a value before any constraint sees it (text
``'1.5'`` for a BIGINT, an integer for a BOOLEAN) the case says so with the
SQLSTATE; on SQLite, which stores anything anywhere, the CHECK must catch it.

``test_every_rule_in_the_migrations_has_a_case`` keeps the catalogue complete:
a new CHECK, unique index, foreign key or NOT NULL column without a case fails it,
in any table the migrations create; and
``test_the_catalogue_knows_every_table_and_rule_of_a_migrated_database`` proves
that reading migrations/ found every table and rule a migrated database has.
"""

from __future__ import annotations

import itertools
import re
import shutil
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import psycopg
import pytest

import stocksbot
from stocksbot.errors import ConflictError, translate
from stocksbot.paths import migrations_dir
from stocksbot.schema import Schema, describe
from stocksbot.values import new_id

TS = "2024-03-01T14:30:00.123456Z"  # a valid timestamp column value (27 characters)
LATER = "2024-03-01T15:00:00.000000Z"
ENGINES = ("sqlite", "postgres")
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.errors.IntegrityError)
# account -> its seeded parents: {"strategy_id", "order_id", "position_id"} (ids) and
# "metrics_strategy_ids" (strategies without a strategy_metrics row, for rows of that table)
Ctx = dict[str, dict[str, Any]]
METRICS_STRATEGIES = 4  # per account; a test's baseline and broken rows take two consecutive ones

_symbols = itertools.count(1)
_metrics_picks = itertools.count()


# --- raw SQL on either driver ----------------------------------------------------------------


def execute(conn: Any, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """Run SQL written with ``:name`` placeholders on sqlite3 or psycopg (which wants ``%(name)s``)."""
    if isinstance(conn, psycopg.Connection):
        sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)
    return conn.execute(sql, dict(params or {}))


def insert(conn: Any, table: str, row: Mapping[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{column}" for column in row)
    execute(conn, f"INSERT INTO {table} ({columns}) VALUES ({values})", row)


def driver_error(exc: BaseException) -> BaseException:
    """The sqlite3/psycopg exception itself, also when stocksbot already wrapped it (``__cause__``)."""
    while not isinstance(exc, (sqlite3.Error, psycopg.Error)) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def attempt(db: stocksbot.Database, table: str, row: Mapping[str, Any]) -> BaseException | None:
    """Insert one row in its own (nested) transaction; the driver's error, or None if it was accepted."""
    try:
        with db.transaction() as conn:
            insert(conn, table, row)
    except Exception as exc:  # noqa: BLE001 - every refusal is inspected by the caller
        return driver_error(exc)
    return None


def count_rows(db: stocksbot.Database, table: str) -> int:
    with db.connection() as conn:
        return execute(conn, f"SELECT COUNT(*) AS n FROM {table}").fetchone()["n"]


# --- valid rows ---------------------------------------------------------------------------------


def fresh_row(table: str, ctx: Ctx, account: str = "default") -> dict[str, Any]:
    """A valid row of ``table`` in ``account`` with new ids and names, referring to the seeded parents."""
    parents = ctx.get(account, {})
    if table == "strategies":
        return {
            "account_id": account, "strategy_id": new_id(), "name": f"strategy {new_id()}", "config": "{}",
            "is_active": True, "created_at": TS, "updated_at": TS,
        }
    if table == "orders":
        return {
            "account_id": account, "order_id": new_id(), "client_order_id": new_id(), "external_id": f"BRK-{new_id()}",
            "strategy_id": parents.get("strategy_id"), "symbol": "AAPL", "side": "buy", "order_type": "limit",
            "quantity_e9": 10 * 10**9, "limit_price_e8": 150 * 10**8, "stop_price_e8": None, "status": "pending",
            "status_reason": None, "filled_quantity_e9": 0, "filled_notional_e8": 0,
            "created_at": TS, "updated_at": TS, "terminal_at": None,
        }
    if table == "positions":
        return {
            "account_id": account, "position_id": new_id(), "strategy_id": parents.get("strategy_id"),
            "symbol": f"SYM{next(_symbols)}", "side": "long", "status": "open", "quantity_e9": 10 * 10**9,
            "cost_basis_e8": 1500 * 10**8, "realized_pnl_e8": 0, "opened_at": TS, "updated_at": TS, "closed_at": None,
        }
    if table == "trades":
        return {
            "account_id": account, "trade_id": new_id(), "order_id": parents.get("order_id"),
            "position_id": parents.get("position_id"), "strategy_id": parents.get("strategy_id"), "symbol": "AAPL",
            "side": "buy", "leg": 0, "effect": "open", "quantity_e9": 10 * 10**9, "price_e8": 150 * 10**8,
            "commission_e8": 100_000_000, "fees_e8": 0, "realized_pnl_e8": -100_000_000,
            "external_trade_id": f"EXEC-{new_id()}", "executed_at": TS, "created_at": TS,
        }
    if table == "config":
        return {
            "account_id": account, "key": f"setting.{new_id()}", "value": "10", "value_type": "int",
            "created_at": TS, "updated_at": TS,
        }
    if table == "strategy_metrics":
        return {
            "account_id": account, "strategy_id": next_metrics_strategy(parents), "total_trades": 5,
            "closing_trades": 3, "winning_trades": 2, "realized_pnl_e8": -12 * 10**8, "total_fees_e8": 10**8,
        }
    raise AssertionError(f"no fresh row for {table}")


def next_metrics_strategy(parents: Mapping[str, Any]) -> str | None:
    """One of the account's seeded strategies without metrics, in turn (a strategy has one metrics row)."""
    pool = parents.get("metrics_strategy_ids", ())
    return pool[next(_metrics_picks) % len(pool)] if pool else None


def seed(db: stocksbot.Database) -> Ctx:
    """In each of two accounts: a strategy, order and open position for rows to refer to, and the
    strategies that strategy_metrics rows take in turn (each row needs a strategy of its own)."""
    ctx: Ctx = {}
    with db.transaction() as conn:
        for account in ("default", "other"):
            ctx[account] = {}
            for table, key in (("strategies", "strategy_id"), ("orders", "order_id"), ("positions", "position_id")):
                row = fresh_row(table, ctx, account)
                insert(conn, table, row)
                ctx[account][key] = row[key]
            metrics_strategies = [fresh_row("strategies", ctx, account) for _ in range(METRICS_STRATEGIES)]
            for row in metrics_strategies:
                insert(conn, "strategies", row)
            ctx[account]["metrics_strategy_ids"] = tuple(row["strategy_id"] for row in metrics_strategies)
    return ctx


# --- the catalogue ------------------------------------------------------------------------------

Change = Mapping[str, Any] | Callable[[dict[str, Any], Ctx], Mapping[str, Any]]


@dataclass(frozen=True)
class Case:
    """One way to break one rule: ``rule`` is a constraint name, or ``not null:<column>``."""

    rule: str
    table: str
    label: str
    change: Change
    base: Mapping[str, Any] = field(default_factory=dict)  # applied to the baseline row and the broken row
    engines: tuple[str, ...] = ENGINES
    postgres_sqlstate: str | None = None  # PostgreSQL refuses the value by type before any constraint
    also: tuple[str, ...] = ()  # rules that this change necessarily breaks too (engines report either)

    def broken_row(self, baseline: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
        row = {**fresh_row(self.table, ctx, baseline["account_id"]), **self.base}
        row.update(self.change(baseline, ctx) if callable(self.change) else self.change)
        return row


def same(*columns: str) -> Callable[[dict[str, Any], Ctx], dict[str, Any]]:
    """A change that copies ``columns`` from the baseline row (to hit a unique or primary key)."""
    return lambda baseline, ctx: {column: baseline[column] for column in columns}


PARENT_COLUMNS = {
    "orders": ("strategy_id",), "positions": ("strategy_id",), "trades": ("order_id", "position_id", "strategy_id"),
    "strategy_metrics": ("strategy_id",),
}


def in_other_account(table: str, column: str) -> Callable[[dict[str, Any], Ctx], dict[str, Any]]:
    """A row of account 'other' whose parents are its own, except ``column``, which points into 'default'."""
    def change(baseline: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
        own = {parent: ctx["other"][parent] for parent in PARENT_COLUMNS[table]}
        return {"account_id": "other", **own, column: ctx["default"][column]}
    return change


UNKNOWN = "00000000-0000-7000-8000-000000000000"  # a well-formed id that nothing has
FILLED = {"status": "filled", "filled_quantity_e9": 10 * 10**9, "filled_notional_e8": 1500 * 10**8, "terminal_at": LATER}
CLOSED = {"status": "closed", "quantity_e9": 0, "cost_basis_e8": 0, "closed_at": LATER}
NOT_AN_INTEGER = [  # what SQLite would store as REAL or TEXT in a BIGINT column
    ("text 1.5", "1.5", "22P02"),
    ("text abc", "abc", "22P02"),
    ("beyond BIGINT", "9223372036854775808", "22003"),
]


def scaled_integer_cases(table: str, column: str, rule: str, valid_sign: int = 1) -> list[Case]:
    """A scaled BIGINT column refuses non-integers and out-of-range values (SQLite: CAST check; PG: its type)."""
    cases = [Case(rule, table, label, {column: value}, postgres_sqlstate=sqlstate) for label, value, sqlstate in NOT_AN_INTEGER]
    cases.append(Case(rule, table, "real 2.5", {column: 2.5 * valid_sign}, engines=("sqlite",)))  # PG rounds floats itself
    return cases


CASES: list[Case] = [
    # strategies
    Case("pk_strategies", "strategies", "same id twice", same("strategy_id")),
    Case("ck_strategies_account_id", "strategies", "empty account", {"account_id": ""}),
    Case("ck_strategies_account_id", "strategies", "account of 65 chars", {"account_id": "a" * 65}),
    Case("ck_strategies_strategy_id", "strategies", "id of 35 chars", {"strategy_id": new_id()[:35]}),
    Case("ck_strategies_strategy_id", "strategies", "id of 37 chars", {"strategy_id": new_id() + "x"}),
    Case("ck_strategies_name", "strategies", "empty name", {"name": ""}),
    Case("ck_strategies_name", "strategies", "name of 201 chars", {"name": "n" * 201}),
    Case("ck_strategies_config", "strategies", "json array", {"config": "[1, 2]"}),
    Case("ck_strategies_config", "strategies", "json null", {"config": "null"}),
    Case("ck_strategies_is_active", "strategies", "boolean 2", {"is_active": 2}, postgres_sqlstate="42804"),
    Case("ck_strategies_created_at", "strategies", "no microseconds", {"created_at": "2024-03-01T14:30:00Z"}),
    Case("ck_strategies_created_at", "strategies", "with offset", {"created_at": "2024-03-01T14:30:00.123456+00:00"}),
    Case("ck_strategies_updated_at", "strategies", "date only", {"updated_at": "2024-03-01"}),
    Case("uq_strategies_account_name", "strategies", "same name twice", same("name")),
    # orders
    Case("pk_orders", "orders", "same id twice", same("order_id")),
    Case("ck_orders_order_id", "orders", "id of 35 chars", {"order_id": new_id()[:35]}),
    Case("ck_orders_client_order_id", "orders", "empty", {"client_order_id": ""}),
    Case("ck_orders_client_order_id", "orders", "129 chars", {"client_order_id": "c" * 129}),
    Case("ck_orders_external_id", "orders", "empty", {"external_id": ""}),
    Case("ck_orders_external_id", "orders", "129 chars", {"external_id": "e" * 129}),
    Case("ck_orders_symbol", "orders", "empty", {"symbol": ""}),
    Case("ck_orders_symbol", "orders", "33 chars", {"symbol": "S" * 33}),
    Case("ck_orders_side", "orders", "upper case BUY", {"side": "BUY"}),
    Case("ck_orders_side", "orders", "position side long", {"side": "long"}),
    Case("ck_orders_order_type", "orders", "trailing_stop", {"order_type": "trailing_stop"},
         also=("ck_orders_limit_price_e8", "ck_orders_stop_price_e8")),
    Case("ck_orders_status", "orders", "unknown status", {"status": "open"},
         also=("ck_orders_status_fill", "ck_orders_terminal_at")),
    Case("ck_orders_quantity_e9", "orders", "zero", {"quantity_e9": 0}),
    Case("ck_orders_quantity_e9", "orders", "negative", {"quantity_e9": -1}, also=("ck_orders_filled_quantity_e9",)),
    *scaled_integer_cases("orders", "quantity_e9", "ck_orders_quantity_e9"),
    Case("ck_orders_limit_price_e8", "orders", "limit order without price", {"limit_price_e8": None}),
    Case("ck_orders_limit_price_e8", "orders", "limit price zero", {"limit_price_e8": 0}),
    Case("ck_orders_limit_price_e8", "orders", "limit price negative", {"limit_price_e8": -150}),
    Case("ck_orders_limit_price_e8", "orders", "market order with limit price", {"order_type": "market"}),
    Case("ck_orders_limit_price_e8", "orders", "stop order with limit price",
         {"order_type": "stop", "stop_price_e8": 140 * 10**8}),
    *scaled_integer_cases("orders", "limit_price_e8", "ck_orders_limit_price_e8"),
    Case("ck_orders_stop_price_e8", "orders", "stop order without stop price", {"order_type": "stop", "limit_price_e8": None}),
    Case("ck_orders_stop_price_e8", "orders", "stop_limit without stop price", {"order_type": "stop_limit"}),
    Case("ck_orders_stop_price_e8", "orders", "stop price zero", {"order_type": "stop_limit", "stop_price_e8": 0}),
    Case("ck_orders_stop_price_e8", "orders", "limit order with stop price", {"stop_price_e8": 140 * 10**8}),
    Case("ck_orders_stop_price_e8", "orders", "market order with stop price",
         {"order_type": "market", "limit_price_e8": None, "stop_price_e8": 140 * 10**8}),
    Case("ck_orders_stop_price_e8", "orders", "stop price text 1.5",
         {"order_type": "stop_limit", "stop_price_e8": "1.5"}, postgres_sqlstate="22P02"),
    Case("ck_orders_filled_quantity_e9", "orders", "negative fill",
         {"status": "cancelled", "filled_quantity_e9": -1, "terminal_at": LATER}),
    Case("ck_orders_filled_quantity_e9", "orders", "overfilled", {**FILLED, "filled_quantity_e9": 11 * 10**9},
         also=("ck_orders_status_fill",)),
    Case("ck_orders_filled_quantity_e9", "orders", "fill text 1.5",
         {"status": "cancelled", "filled_quantity_e9": "1.5", "terminal_at": LATER}, postgres_sqlstate="22P02"),
    Case("ck_orders_filled_notional_e8", "orders", "negative notional", {"filled_notional_e8": -1}),
    Case("ck_orders_filled_notional_e8", "orders", "notional text 1.5", {"filled_notional_e8": "1.5"},
         postgres_sqlstate="22P02"),
    Case("ck_orders_status_fill", "orders", "filled but only half", {**FILLED, "filled_quantity_e9": 5 * 10**9}),
    Case("ck_orders_status_fill", "orders", "partially_filled with nothing", {"status": "partially_filled"}),
    Case("ck_orders_status_fill", "orders", "partially_filled with everything",
         {"status": "partially_filled", "filled_quantity_e9": 10 * 10**9}),
    Case("ck_orders_status_fill", "orders", "pending with a fill", {"filled_quantity_e9": 5 * 10**9}),
    Case("ck_orders_status_fill", "orders", "submitted with a fill", {"status": "submitted", "filled_quantity_e9": 1}),
    Case("ck_orders_status_fill", "orders", "rejected with a fill",
         {"status": "rejected", "filled_quantity_e9": 1, "terminal_at": LATER}),
    Case("ck_orders_status_fill", "orders", "cancelled when all filled", {**FILLED, "status": "cancelled"}),
    Case("ck_orders_status_fill", "orders", "expired when all filled", {**FILLED, "status": "expired"}),
    Case("ck_orders_terminal_at", "orders", "filled without terminal_at", {**FILLED, "terminal_at": None}),
    Case("ck_orders_terminal_at", "orders", "pending with terminal_at", {"terminal_at": LATER}),
    Case("ck_orders_terminal_at", "orders", "cancelled with a short terminal_at",
         {"status": "cancelled", "terminal_at": "2024-03-01"}),
    Case("ck_orders_created_at", "orders", "no microseconds", {"created_at": "2024-03-01T14:30:00Z"}),
    Case("ck_orders_updated_at", "orders", "no microseconds", {"updated_at": "2024-03-01T14:30:00Z"}),
    Case("uq_orders_account_client_order_id", "orders", "same client_order_id twice", same("client_order_id")),
    Case("uq_orders_account_external_id", "orders", "same broker id twice", same("external_id")),
    Case("fk_orders_strategy", "orders", "unknown strategy", {"strategy_id": UNKNOWN}),
    Case("fk_orders_strategy", "orders", "strategy of another account", in_other_account("orders", "strategy_id")),
    # positions
    Case("pk_positions", "positions", "same id twice", same("position_id")),
    Case("ck_positions_position_id", "positions", "id of 35 chars", {"position_id": new_id()[:35]}),
    Case("ck_positions_symbol", "positions", "empty", {"symbol": ""}),
    Case("ck_positions_symbol", "positions", "33 chars", {"symbol": "S" * 33}),
    Case("ck_positions_side", "positions", "order side buy", {"side": "buy"}),
    Case("ck_positions_side", "positions", "upper case LONG", {"side": "LONG"}),
    Case("ck_positions_status", "positions", "unknown status", {"status": "opened"}, also=("ck_positions_status_quantity",)),
    Case("ck_positions_quantity_e9", "positions", "negative", {"quantity_e9": -1}, also=("ck_positions_status_quantity",)),
    *scaled_integer_cases("positions", "quantity_e9", "ck_positions_quantity_e9"),
    Case("ck_positions_cost_basis_e8", "positions", "negative cost", {"cost_basis_e8": -1}),
    *scaled_integer_cases("positions", "cost_basis_e8", "ck_positions_cost_basis_e8"),
    *scaled_integer_cases("positions", "realized_pnl_e8", "ck_positions_realized_pnl_e8", valid_sign=-1),
    Case("ck_positions_status_quantity", "positions", "open with zero quantity", {"quantity_e9": 0}),
    Case("ck_positions_status_quantity", "positions", "open with closed_at", {"closed_at": LATER}),
    Case("ck_positions_status_quantity", "positions", "closed with quantity", {**CLOSED, "quantity_e9": 1}),
    Case("ck_positions_status_quantity", "positions", "closed with cost basis", {**CLOSED, "cost_basis_e8": 1}),
    Case("ck_positions_status_quantity", "positions", "closed without closed_at", {**CLOSED, "closed_at": None}),
    Case("ck_positions_status_quantity", "positions", "closed with a short closed_at", {**CLOSED, "closed_at": "2024-03-01"}),
    Case("ck_positions_opened_at", "positions", "no microseconds", {"opened_at": "2024-03-01T14:30:00Z"}),
    Case("ck_positions_updated_at", "positions", "no microseconds", {"updated_at": "2024-03-01T14:30:00Z"}),
    Case("uq_positions_account_symbol_strategy_open", "positions", "two open for one strategy", same("symbol", "strategy_id")),
    Case("uq_positions_account_symbol_strategy_open", "positions", "two open without strategy", same("symbol"),
         base={"strategy_id": None}),
    Case("fk_positions_strategy", "positions", "unknown strategy", {"strategy_id": UNKNOWN}),
    Case("fk_positions_strategy", "positions", "strategy of another account", in_other_account("positions", "strategy_id")),
    # trades
    Case("pk_trades", "trades", "same id twice", same("trade_id")),
    Case("ck_trades_trade_id", "trades", "id of 35 chars", {"trade_id": new_id()[:35]}),
    Case("ck_trades_symbol", "trades", "empty", {"symbol": ""}),
    Case("ck_trades_symbol", "trades", "33 chars", {"symbol": "S" * 33}),
    Case("ck_trades_side", "trades", "position side short", {"side": "short"}),
    Case("ck_trades_leg", "trades", "leg 2", {"leg": 2}),
    Case("ck_trades_leg", "trades", "leg -1", {"leg": -1}),
    Case("ck_trades_effect", "trades", "unknown effect", {"effect": "flip"}),
    Case("ck_trades_leg_effect", "trades", "second leg that closes", {"leg": 1, "effect": "close"}),
    Case("ck_trades_quantity_e9", "trades", "zero", {"quantity_e9": 0}),
    Case("ck_trades_quantity_e9", "trades", "negative", {"quantity_e9": -5}),
    *scaled_integer_cases("trades", "quantity_e9", "ck_trades_quantity_e9"),
    Case("ck_trades_price_e8", "trades", "zero", {"price_e8": 0}),
    Case("ck_trades_price_e8", "trades", "negative", {"price_e8": -1}),
    *scaled_integer_cases("trades", "price_e8", "ck_trades_price_e8"),
    Case("ck_trades_commission_e8", "trades", "negative", {"commission_e8": -1}),
    *scaled_integer_cases("trades", "commission_e8", "ck_trades_commission_e8"),
    Case("ck_trades_fees_e8", "trades", "negative", {"fees_e8": -1}),
    *scaled_integer_cases("trades", "fees_e8", "ck_trades_fees_e8"),
    *scaled_integer_cases("trades", "realized_pnl_e8", "ck_trades_realized_pnl_e8", valid_sign=-1),
    Case("ck_trades_external_trade_id", "trades", "empty", {"external_trade_id": ""}),
    Case("ck_trades_external_trade_id", "trades", "129 chars", {"external_trade_id": "x" * 129}),
    Case("ck_trades_executed_at", "trades", "no microseconds", {"executed_at": "2024-03-01T14:30:00Z"}),
    Case("ck_trades_created_at", "trades", "no microseconds", {"created_at": "2024-03-01T14:30:00Z"}),
    Case("uq_trades_account_order_execution_leg", "trades", "same execution and leg twice",
         same("order_id", "external_trade_id", "leg")),
    Case("fk_trades_order", "trades", "unknown order", {"order_id": UNKNOWN}),
    Case("fk_trades_order", "trades", "order of another account", in_other_account("trades", "order_id")),
    Case("fk_trades_position", "trades", "unknown position", {"position_id": UNKNOWN}),
    Case("fk_trades_position", "trades", "position of another account", in_other_account("trades", "position_id")),
    Case("fk_trades_strategy", "trades", "unknown strategy", {"strategy_id": UNKNOWN}),
    Case("fk_trades_strategy", "trades", "strategy of another account", in_other_account("trades", "strategy_id")),
    # config
    Case("pk_config", "config", "same key twice", same("key")),
    Case("ck_config_key", "config", "empty key", {"key": ""}),
    Case("ck_config_key", "config", "key of 201 chars", {"key": "k" * 201}),
    Case("ck_config_value_type", "config", "unknown type", {"value_type": "integer"}),
    Case("ck_config_value_type", "config", "upper case STRING", {"value_type": "STRING"}),
    Case("ck_config_created_at", "config", "no microseconds", {"created_at": "2024-03-01T14:30:00Z"}),
    Case("ck_config_updated_at", "config", "no microseconds", {"updated_at": "2024-03-01T14:30:00Z"}),
    # strategy_metrics (baseline: 5 trades, 3 closing, 2 winning, fees 1.00)
    Case("pk_strategy_metrics", "strategy_metrics", "same strategy twice", same("strategy_id")),
    Case("ck_strategy_metrics_total_trades", "strategy_metrics", "negative", {"total_trades": -1},
         also=("ck_strategy_metrics_closing_trades",)),
    Case("ck_strategy_metrics_closing_trades", "strategy_metrics", "more than total", {"closing_trades": 6}),
    Case("ck_strategy_metrics_closing_trades", "strategy_metrics", "negative", {"closing_trades": -1},
         also=("ck_strategy_metrics_winning_trades",)),
    Case("ck_strategy_metrics_winning_trades", "strategy_metrics", "more than closing", {"winning_trades": 4}),
    Case("ck_strategy_metrics_winning_trades", "strategy_metrics", "negative", {"winning_trades": -1}),
    Case("ck_strategy_metrics_total_fees_e8", "strategy_metrics", "negative", {"total_fees_e8": -1}),
    Case("fk_strategy_metrics_strategy", "strategy_metrics", "unknown strategy", {"strategy_id": UNKNOWN}),
    Case("fk_strategy_metrics_strategy", "strategy_metrics", "strategy of another account",
         in_other_account("strategy_metrics", "strategy_id")),
]


# --- what the migrations declare ------------------------------------------------------------------

CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\);", re.DOTALL)
COLUMN = re.compile(r"^\s+(\w+) (TEXT|BIGINT|INTEGER|BOOLEAN)\b(.*)$")
NAMED = re.compile(r"CONSTRAINT (\w+) (?:PRIMARY KEY|FOREIGN KEY|CHECK|UNIQUE)")
UNIQUE_INDEX = re.compile(r"CREATE UNIQUE INDEX (\w+) ON (\w+) \(([^)]*)\)")


@dataclass
class Declared:
    """The rules of the schema, read from migrations/*.sql."""

    rules: dict[str, str] = field(default_factory=dict)  # rule -> table
    not_null: dict[str, list[str]] = field(default_factory=dict)  # table -> NOT NULL columns
    unique_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # pk_/uq_ name -> columns


def declared_rules() -> Declared:
    declared = Declared()
    for path in sorted(migrations_dir().glob("*.sql")):
        if path.name.endswith(".rollback.sql"):
            continue
        text = path.read_text()
        for table, body in CREATE_TABLE.findall(text):
            declared.not_null[table] = []
            for line in body.splitlines():
                column = COLUMN.match(line)
                if column and "NOT NULL" in column[3]:
                    declared.not_null[table].append(column[1])
                    declared.rules[f"not null:{table}.{column[1]}"] = table
            for name in NAMED.findall(body):
                declared.rules[name] = table
            primary = re.search(r"CONSTRAINT (pk_\w+) PRIMARY KEY \(([^)]*)\)", body)
            if primary:
                declared.unique_columns[primary[1]] = tuple(c.strip() for c in primary[2].split(","))
        for name, table, columns in UNIQUE_INDEX.findall(text):
            declared.rules[name] = table
            declared.unique_columns[name] = tuple(c.strip() for c in columns.split(","))
    return declared


DECLARED = declared_rules()
NOT_NULL_CASES = [
    Case(f"not null:{table}.{column}", table, f"{column} NULL", {column: None})
    for table, columns in DECLARED.not_null.items()
    for column in columns
]
ALL_CASES = CASES + NOT_NULL_CASES


def catalogue_params() -> Iterator[Any]:
    for case in ALL_CASES:
        for engine in case.engines:
            yield pytest.param(engine, case, id=f"{engine}-{case.rule}-{case.label}", marks=getattr(pytest.mark, engine))


# --- the databases for the catalogue ---------------------------------------------------------------


class _Undo(Exception):
    """Raised to roll back a case's outer transaction."""


@contextmanager
def rolled_back(db: stocksbot.Database) -> Iterator[None]:
    """Run the block in one transaction that is always rolled back, so cases cannot see each other."""
    try:
        with db.transaction():
            yield
            raise _Undo
    except _Undo:
        pass


@pytest.fixture(scope="module")
def catalogue_databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One migrated, seeded database per engine for the whole module (each test rolls back its rows).

    A fresh database per test (the ``db`` fixture) costs up to a second each on
    PostgreSQL; the catalogue has hundreds of cases, so they share one and undo.
    """
    opened: dict[str, tuple[stocksbot.Database, Ctx]] = {}
    dropped: list[str] = []

    def get(engine: str) -> tuple[stocksbot.Database, Ctx]:
        if engine not in opened:
            if engine == "sqlite":
                path = tmp_path_factory.mktemp("catalogue") / "catalogue.db"
                shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
                url = f"sqlite:///{path}"
            else:
                server = request.getfixturevalue("pg_server")
                name = server.create(template=server.template)
                dropped.append(name)
                url = server.url_for(name)
            database = stocksbot.connect(url)
            opened[engine] = (database, seed(database))
        return opened[engine]

    yield get
    for database, _ctx in opened.values():
        database.close()
    for name in dropped:
        request.getfixturevalue("pg_server").drop(name)


@pytest.fixture
def shared(catalogue_databases, engine: str) -> Iterator[tuple[stocksbot.Database, Ctx]]:
    """The engine's shared database and its seeded parents, inside a transaction undone after the test."""
    db, ctx = catalogue_databases(engine)
    with rolled_back(db):
        yield db, ctx


def assert_refused(db: stocksbot.Database, case: Case, exc: BaseException | None) -> None:
    """The driver refused the row for ``case.rule`` (or one of ``case.also``), and translate() agrees."""
    assert exc is not None, f"{case.rule}: the database accepted a row breaking it"
    expected = {case.rule, *case.also}
    if db.dialect == "postgresql" and case.postgres_sqlstate:
        assert isinstance(exc, psycopg.Error) and case.postgres_sqlstate == exc.sqlstate, exc
        return
    assert isinstance(exc, INTEGRITY_ERRORS), f"{type(exc).__name__}: {exc}"
    conflict = translate(exc)
    assert isinstance(conflict, ConflictError), conflict
    if db.dialect == "postgresql":
        if case.rule.startswith("not null:"):
            assert "23502" == exc.sqlstate
            assert case.rule == f"not null:{exc.diag.table_name}.{exc.diag.column_name}"
        else:
            assert conflict.constraint in expected, str(exc)
        return
    kind = case.rule.split("_", 1)[0] if not case.rule.startswith("not null:") else "not null"
    if kind == "ck":
        assert conflict.constraint in expected, str(exc)
    elif kind == "not null":
        assert "SQLITE_CONSTRAINT_NOTNULL" == exc.sqlite_errorname
        assert f"NOT NULL constraint failed: {case.rule.removeprefix('not null:')}" == str(exc)
    elif kind in ("uq", "pk"):
        columns = ", ".join(f"{case.table}.{column}" for column in DECLARED.unique_columns[case.rule])
        assert {"uq": "SQLITE_CONSTRAINT_UNIQUE", "pk": "SQLITE_CONSTRAINT_PRIMARYKEY"}[kind] == exc.sqlite_errorname
        assert f"UNIQUE constraint failed: {columns}" == str(exc)
    elif kind == "fk":
        assert "SQLITE_CONSTRAINT_FOREIGNKEY" == exc.sqlite_errorname
    else:  # pragma: no cover - a case with an unknown rule prefix
        raise AssertionError(f"unknown rule {case.rule}")


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("engine", "case"), list(catalogue_params()))
def test_rule(shared, engine, case):
    """The baseline row is accepted; the row breaking exactly this rule is refused and writes nothing."""
    db, ctx = shared
    baseline = {**fresh_row(case.table, ctx), **case.base}
    broken = case.broken_row(baseline, ctx)
    assert attempt(db, case.table, baseline) is None, "the baseline row must be valid"
    rows_before = count_rows(db, case.table)

    refusal = attempt(db, case.table, broken)

    assert_refused(db, case, refusal)
    assert rows_before == count_rows(db, case.table)


def test_every_rule_in_the_migrations_has_a_case():
    """Each CHECK, unique index, primary and foreign key and NOT NULL column in migrations/ is in the catalogue."""
    covered = {case.rule for case in ALL_CASES}

    assert set() == set(DECLARED.rules) - covered, "rules without a case"
    assert set() == covered - set(DECLARED.rules), "cases for rules the migrations do not declare"
    assert set(DECLARED.not_null) == {case.table for case in CASES}, "tables without hand-written cases"


def live_rules(schema: Schema) -> dict[str, str]:
    """rule -> table of a live schema: its NOT NULL columns, named constraints and unique indexes."""
    rules: dict[str, str] = {}
    for table in schema.tables.values():
        rules.update({f"not null:{table.name}.{column.name}": table.name for column in table.columns if not column.nullable})
        rules.update({constraint.name: table.name for constraint in table.constraints})
        rules.update({index.name: table.name for index in table.indexes if index.unique})
    return rules


def test_the_catalogue_knows_every_table_and_rule_of_a_migrated_database(catalogue_databases, engine):
    """Reading migrations/ misses nothing: a migrated database has exactly the tables and rules DECLARED lists."""
    db, _ctx = catalogue_databases(engine)
    with db.connection() as conn:
        schema = describe(conn)

    assert set(DECLARED.not_null) == set(schema.tables)
    assert DECLARED.rules == live_rules(schema)


# --- what the keys allow ---------------------------------------------------------------------------


def insert_all(db: stocksbot.Database, table: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        refusal = attempt(db, table, row)
        assert refusal is None, f"{table} refused a valid row: {refusal}"


def test_one_open_position_per_symbol_and_strategy_allows_what_it_should(shared):
    """Closed + open, other accounts, other strategies and NULL vs a strategy may share a symbol."""
    db, ctx = shared
    def position(account: str = "default", strategy: str | None = None, **changes: Any) -> dict[str, Any]:
        return {**fresh_row("positions", ctx, account), "symbol": "MSFT", "strategy_id": strategy, **changes}

    insert_all(db, "positions", [
        position(**CLOSED),
        position(**CLOSED),
        position(),
        position("other"),
        position(strategy=ctx["default"]["strategy_id"], **CLOSED),
        position(strategy=ctx["default"]["strategy_id"]),
        position("other", strategy=ctx["other"]["strategy_id"]),
    ])

    refusal = attempt(db, "positions", position())
    assert isinstance(translate(refusal), ConflictError)
    with db.connection() as conn:
        opened = execute(conn, "SELECT COUNT(*) AS n FROM positions WHERE symbol = 'MSFT' AND status = 'open'").fetchone()
    assert 4 == opened["n"]


def test_broker_ids_are_unique_only_where_they_should_be(shared):
    """Broker execution ids repeat across legs, orders and accounts, and NULL ids never clash."""
    db, ctx = shared
    order_a, order_b = ctx["default"]["order_id"], fresh_row("orders", ctx)
    insert_all(db, "orders", [order_b, {**fresh_row("orders", ctx, "other"), "client_order_id": order_b["client_order_id"],
                                        "external_id": order_b["external_id"]}])

    def trade(account: str = "default", **changes: Any) -> dict[str, Any]:
        return {**fresh_row("trades", ctx, account), "external_trade_id": "EXEC-1", **changes}

    insert_all(db, "trades", [
        trade(),
        trade(leg=1),
        trade(order_id=order_b["order_id"]),
        trade("other"),
        trade(external_trade_id=None),
        trade(external_trade_id=None),
    ])
    insert_all(db, "orders", [{**fresh_row("orders", ctx), "external_id": None} for _ in range(2)])

    refusal = attempt(db, "trades", trade(order_id=order_a, leg=1))
    assert isinstance(translate(refusal), ConflictError)


def test_rows_of_another_account_with_their_own_parents_are_accepted(shared):
    """The cross-account cases fail only because of the crossing: the same rows with their own parents are fine."""
    db, ctx = shared
    for table in ("orders", "positions", "trades", "strategy_metrics"):
        insert_all(db, table, [fresh_row(table, ctx, "other")])

    with db.connection() as conn:
        accounts = execute(conn, "SELECT account_id, COUNT(*) AS n FROM trades GROUP BY account_id").fetchall()
    assert [{"account_id": "other", "n": 1}] == accounts


def test_names_and_keys_are_per_account(shared):
    """A strategy name, a client order id and a config key may repeat in another account, not in the same one."""
    db, ctx = shared
    strategy = fresh_row("strategies", ctx)
    setting = fresh_row("config", ctx)
    insert_all(db, "strategies", [strategy, {**fresh_row("strategies", ctx, "other"), "name": strategy["name"]}])
    insert_all(db, "config", [setting, {**setting, "account_id": "other"}])

    assert isinstance(translate(attempt(db, "strategies", {**fresh_row("strategies", ctx), "name": strategy["name"]})), ConflictError)
    assert isinstance(translate(attempt(db, "config", {**setting, "value": "11"})), ConflictError)


def test_text_is_stored_verbatim(shared):
    """Symbols, names and values keep their case, spaces and unicode exactly (no trimming, no re-casing)."""
    db, ctx = shared
    strategy = {**fresh_row("strategies", ctx), "name": "  Mean Reversion – ÄÖ 📈  "}
    setting = {**fresh_row("config", ctx), "key": "Risk.Max Position", "value": " 10 ", "value_type": "string"}
    insert_all(db, "strategies", [strategy])
    insert_all(db, "config", [setting])

    with db.connection() as conn:
        name = execute(conn, "SELECT name FROM strategies WHERE strategy_id = :strategy_id", strategy).fetchone()["name"]
        value = execute(conn, "SELECT value FROM config WHERE key = :key", setting).fetchone()["value"]
    assert strategy["name"] == name
    assert " 10 " == value


def test_position_strategy_key_is_generated_and_cannot_be_written(shared):
    """strategy_key is derived by the database ('' for no strategy) and refuses an explicit value."""
    db, ctx = shared
    with_strategy = fresh_row("positions", ctx)
    without = {**fresh_row("positions", ctx), "strategy_id": None}
    insert_all(db, "positions", [with_strategy, without])

    with db.connection() as conn:
        keys = {
            row["position_id"]: row["strategy_key"]
            for row in execute(conn, "SELECT position_id, strategy_key FROM positions").fetchall()
        }
    assert with_strategy["strategy_id"] == keys[with_strategy["position_id"]]
    assert "" == keys[without["position_id"]]
    refusal = attempt(db, "positions", {**fresh_row("positions", ctx), "strategy_key": "forged"})
    assert isinstance(refusal, (sqlite3.Error, psycopg.Error))
