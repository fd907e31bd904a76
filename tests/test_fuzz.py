"""Reliability 4: hostile input to every public StorageService method and to the command line.

Hypothesis feeds each method (and ``stocksbot.cli.main``) random types, NaN and
Infinity, huge and tiny decimals, naive and far-future datetimes, unicode, very long
strings and SQL metacharacters (quotes, ``;``, ``--``, ``%``, ``:name``), mixed with
valid values so that calls also get deep into the service. Every call must either

* succeed, with what it stored read back identically, or
* raise a StocksbotError the caller can act on — ValidationError (naming its field),
  NotFoundError, InvalidTransitionError or ConflictError — and leave every table
  exactly as it was (all rows compared);

never another exception type, never a DatabaseError (bad input must not reach the
database), never a partial write. The command line must exit 0, 1 (one
``stocksbot: error:`` line), 2, 3 (``db status``) or 4 (``db check``) — never an
"unexpected" error or a traceback — and never print a password.

Inputs that hit an open bug are listed in :func:`known_bug` and skipped by the
fuzz; each has a strict xfail test at the end of this file, so fixing the bug makes
that test pass and fail as XPASS: then drop the mark and the known_bug entry. The
bugs already fixed keep a regression test there.
``STOCKSBOT_FUZZ_EXAMPLES`` sets the examples per method (default 40).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import os
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import stocksbot
from stocksbot import (
    ConfigType,
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    StocksbotError,
    StorageService,
    ValidationError,
)
from stocksbot.cli import main as cli_main
from factories import fill_order, make_order, make_strategy, snapshot
from reliability_workers import report

EXAMPLES = int(os.environ.get("STOCKSBOT_FUZZ_EXAMPLES", "40"))
ALL_TABLES = ("strategies", "orders", "positions", "trades", "config")
ACCEPTABLE = (ValidationError, NotFoundError, InvalidTransitionError, ConflictError)
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=False, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
TALLY: dict[str, Counter[str]] = defaultdict(Counter)  # engine -> outcome counts, reported at the end


# --- hostile values -------------------------------------------------------------------------

SQL_METACHARACTERS = [
    "'", "''", '"', ";", "--", "/*", "*/", "%", "%%", "%s", "%(account_id)s", ":name", ":account_id", "?", "$1",
    "\\", "' OR '1'='1", "'; DROP TABLE orders; --", "AAPL'--", "AAPL; DELETE FROM trades", "x' || 'y",
    "NULL", "\\x00", "1 UNION SELECT * FROM config", "AAPL%", "_", "[a]", "{}", "${x}", "`id`",
]
ODD_TEXT = [
    "", " ", " AAPL", "AAPL ", "aapl", "ＡＡＰＬ", "A\u0301", "\u202eLPAA", "\u200b", "AAPL\n", "AAPL\t", "\x7f",
    "A" * 32, "A" * 33, "x" * 128, "x" * 129, "k" * 200, "k" * 201, "A" * 10_000, "é" * 5_000, "🚀" * 1_000,
    "9" * 100, "1e999", "-0", "+5", "0x10", "1_000", "١٢٣", "12.5e-8", "Infinity", "-inf", "nan", "sNaN", "1/2",
    "2024-03-01T14:30:00", "2024-03-01T14:30:00Z", "9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00Z",
    "true", "FALSE", "yes", "{\"a\": 1}", "[1, 2]", "null", "{", "buy", "SELL", "market", "filled", "long",
    "a\x00b", "\x00", "\ud800", "a\udcffb", "1e999999", "1e-99999999999",
]
SPECIAL_DECIMALS = [
    Decimal("NaN"), Decimal("-sNaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("-0"), Decimal("0"),
    Decimal("1E-9"), Decimal("5E-10"), Decimal("1E-8"), Decimal("1E-30"), Decimal("1E+50"), Decimal("-1"),
    Decimal("92233720368.54775807"), Decimal("92233720368.54775808"), Decimal("9223372036.854775807"),
    Decimal("9223372036.854775808"), Decimal("123.4567890123456789"), Decimal("1.10"), Decimal("1E+2"),
    Decimal("1E+999999"), Decimal("-1E+1000000"), Decimal("1E-1999999999"), Decimal("5E-999999"),
]
UTC = timezone.utc


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(SQL_METACHARACTERS + ODD_TEXT),
        st.builds(lambda a, b: a + b, st.sampled_from(["AAPL", "k", "x", ""]), st.sampled_from(SQL_METACHARACTERS)),
    )


def hostile_decimals() -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.sampled_from(SPECIAL_DECIMALS),
        st.decimals(allow_nan=True, allow_infinity=True, places=None),
        st.builds(lambda digits, exponent: Decimal(digits).scaleb(exponent),
                  st.integers(-(10**20), 10**20), st.integers(-40, 40)),
    )


def hostile_datetimes() -> st.SearchStrategy[Any]:
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30)),
                               timezone(timedelta(seconds=1)), timezone(timedelta(hours=23, minutes=59))])
    return st.one_of(
        st.datetimes(),  # naive: must be refused
        st.datetimes(timezones=offsets),
        st.sampled_from([
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
            datetime(999, 12, 31, tzinfo=UTC), datetime(1000, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC),
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))), datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
        ]),
    )


def hostile() -> st.SearchStrategy[Any]:
    """Anything a careless or malicious caller might pass."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        hostile_decimals(),
        hostile_text(),
        hostile_datetimes(),
        st.binary(max_size=8),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
        st.sampled_from([object(), 1j, b"AAPL", bytearray(b"x"), ..., float, Decimal]),
        st.sampled_from([*OrderSide, *OrderStatus, *OrderType, *PositionSide, *ConfigType]),
    )


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.sampled_from(SQL_METACHARACTERS),
    )
    keys = st.one_of(st.text(max_size=8), st.text(max_size=8), st.integers(), st.none(), st.booleans())
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.tuples(inner) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    )


def mixed(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values half the time, hostile ones the other half."""
    return st.one_of(valid, hostile())


# --- the state the fuzz works on ------------------------------------------------------------------


class Book:
    """Rows the fuzz can point at: a strategy, orders in every working state, positions, settings."""

    def __init__(self, storage: StorageService) -> None:
        strategy = make_strategy(storage, "fuzz-strategy", config={"a": 1})
        self.strategy_ids = [strategy.strategy_id]
        pending = make_order(storage, "AAPL", "buy", 10, submit=False)
        submitted = make_order(storage, "AAPL", "sell", 10, external_id="BRK-1", strategy_id=strategy.strategy_id)
        partial = make_order(storage, "MSFT", "buy", 10)
        storage.record_fill(partial.order_id, quantity=3, price="10.5", external_trade_id="exec-1")
        trade = fill_order(storage, "BRK.B", "buy", 5, "401.25", strategy_id=strategy.strategy_id)
        self.order_ids = [pending.order_id, submitted.order_id, partial.order_id, trade.order_id]
        self.client_order_ids = [pending.client_order_id, "missing-client-id"]
        self.external_ids = ["BRK-1", "missing-broker-id"]
        self.position_ids = [p.position_id for p in storage.list_positions()]
        storage.set_config_value("fuzz.key", "value")
        self.config_keys = ["fuzz.key", "absent.key"]
        self.symbols = ["AAPL", "MSFT", "BRK.B", "ZZZZ"]
        self.names = ["fuzz-strategy", "another"]


def ids(values: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(values), st.uuids().map(str))


def numbers(low: str = "0.000000001", high: str = "100000") -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(1, 1000),
        st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=8, allow_nan=False),
        st.sampled_from(["1", "0.5", "10.25", "2.000000001"]),
        st.floats(min_value=0.01, max_value=1000, allow_nan=False),
    )


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def timestamps() -> st.SearchStrategy[Any]:
    return st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def method_arguments(book: Book) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """For each public StorageService method, a strategy of plausible values per parameter (the fuzz adds hostile ones)."""
    symbol = st.sampled_from(book.symbols)
    strategy_id = optional(ids(book.strategy_ids))
    external = optional(st.sampled_from(book.external_ids + ["EXEC-" + str(n) for n in range(5)]))
    limit = st.integers(1, 10**6)
    return {
        "create_position": {"symbol": symbol, "side": st.sampled_from(["long", "short"]), "quantity": numbers(),
                            "avg_entry_price": numbers(), "strategy_id": strategy_id, "opened_at": optional(timestamps())},
        "get_position": {"position_id": ids(book.position_ids)},
        "get_open_positions": {"symbol": optional(symbol), "strategy_id": strategy_id},
        "list_positions": {"limit": optional(limit)},
        "close_position": {"position_id": ids(book.position_ids), "exit_price": numbers(), "commission": numbers("0", "10"),
                           "fees": numbers("0", "10"), "executed_at": optional(timestamps()), "external_trade_id": external},
        "create_order": {"symbol": symbol, "side": st.sampled_from(["buy", "sell", OrderSide.BUY]),
                         "order_type": st.sampled_from(["market", "limit", "stop", "stop_limit"]),
                         "quantity": numbers(), "limit_price": optional(numbers()), "stop_price": optional(numbers()),
                         "strategy_id": strategy_id, "client_order_id": optional(st.sampled_from(book.client_order_ids))},
        "get_order": {"order_id": ids(book.order_ids)},
        "get_order_by_external_id": {"external_id": st.sampled_from(book.external_ids)},
        "get_order_by_client_order_id": {"client_order_id": st.sampled_from(book.client_order_ids)},
        "list_orders": {"status": optional(st.sampled_from([s.value for s in OrderStatus])), "symbol": optional(symbol),
                        "strategy_id": strategy_id, "limit": optional(limit)},
        "update_order_status": {"order_id": ids(book.order_ids), "status": st.sampled_from([s.value for s in OrderStatus]),
                                "external_id": external, "reason": optional(st.text(max_size=30))},
        "record_fill": {"order_id": ids(book.order_ids), "quantity": numbers("0.000000001", "12"), "price": numbers(),
                        "commission": numbers("0", "10"), "fees": numbers("0", "10"), "executed_at": optional(timestamps()),
                        "external_trade_id": external},
        "record_fills": {"fills": st.lists(st.fixed_dictionaries(
            {"order_id": ids(book.order_ids), "quantity": numbers("0.000000001", "3"), "price": numbers()},
            optional={"commission": numbers("0", "1"), "external_trade_id": external, "bogus": hostile()},
        ), max_size=3)},
        "import_trades": {"rows": st.lists(st.fixed_dictionaries(
            {"order_id": ids(book.order_ids), "position_id": ids(book.position_ids), "symbol": symbol,
             "side": st.sampled_from(["buy", "sell"]), "effect": st.sampled_from(["open", "increase", "reduce", "close"]),
             "quantity": numbers("0.000000001", "3"), "price": numbers(),
             "realized_pnl": st.decimals(min_value=-1000, max_value=1000, places=8), "executed_at": timestamps()},
            optional={"leg": st.sampled_from([0, 1]), "commission": numbers("0", "1"), "fees": numbers("0", "1"),
                      "external_trade_id": external, "strategy_id": strategy_id, "bogus": hostile()},
        ), max_size=3)},
        "get_trades": {"order_id": optional(ids(book.order_ids)), "symbol": optional(symbol), "strategy_id": strategy_id,
                       "since": optional(timestamps()), "limit": optional(limit)},
        "create_strategy": {"name": st.sampled_from(book.names + ["new-" + s for s in "abc"]),
                            "config": optional(st.dictionaries(st.text(max_size=8), json_values(), max_size=3)),
                            "is_active": st.booleans()},
        "get_strategy": {"strategy_id": ids(book.strategy_ids)},
        "get_strategy_by_name": {"name": st.sampled_from(book.names)},
        "list_strategies": {"active_only": st.booleans()},
        "update_strategy_config": {"strategy_id": ids(book.strategy_ids),
                                   "config": st.dictionaries(st.text(max_size=8), json_values(), max_size=3)},
        "set_strategy_active": {"strategy_id": ids(book.strategy_ids), "is_active": st.booleans()},
        "get_strategy_metrics": {"strategy_id": ids(book.strategy_ids)},
        "set_config_value": {"key": st.sampled_from(book.config_keys + ["fuzz:a/b-c.d_e"]),
                             "value": st.one_of(hostile(), json_values()),
                             "value_type": st.sampled_from([t.value for t in ConfigType])},
        "get_config_value": {"key": st.sampled_from(book.config_keys), "default": hostile()},
        "get_config_entry": {"key": st.sampled_from(book.config_keys)},
        "list_config": {},
        "delete_config_value": {"key": st.sampled_from(book.config_keys)},
        "get_portfolio_summary": {"marks": optional(st.dictionaries(
            st.one_of(st.sampled_from(book.symbols), hostile_text(), st.integers(), st.none()), numbers(), max_size=3,
        ))},
    }


PUBLIC_METHODS = sorted(
    name for name, member in inspect.getmembers(StorageService, inspect.isfunction) if not name.startswith("_")
)
READS = {name for name in PUBLIC_METHODS if name.startswith(("get_", "list_"))}


# --- what a successful call must have stored --------------------------------------------------------


def as_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value.strip()) if isinstance(value, str) else Decimal(value)


def as_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value.strip().replace("Z", "+00:00")) if isinstance(value, str) else value


def expected_config_value(value: Any, kind: str) -> Any:
    if kind == "string":
        return value
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else value.lower() in {"true", "1", "yes", "on"}
    return json.loads(value) if isinstance(value, str) else value


def check_stored(storage: StorageService, method: str, kwargs: dict[str, Any], result: Any, existing: Any) -> None:
    """The result of a successful write is what a fresh read returns, and it holds what was sent."""
    k = kwargs
    if method == "create_position":
        assert storage.get_position(result.position_id) == result
        assert (result.symbol, result.side.value, result.quantity) == (k["symbol"], str(k["side"]), as_decimal(k["quantity"]))
        assert result.strategy_id == k["strategy_id"]
        if k["opened_at"] is not None:
            assert result.opened_at == as_datetime(k["opened_at"])
    elif method == "create_order":
        assert storage.get_order(result.order_id) == result
        assert (result.symbol, result.side.value, result.order_type.value) == (k["symbol"], str(k["side"]), str(k["order_type"]))
        assert result.quantity == as_decimal(k["quantity"])
        assert result.limit_price == (None if k["limit_price"] is None else as_decimal(k["limit_price"]))
        assert result.stop_price == (None if k["stop_price"] is None else as_decimal(k["stop_price"]))
        assert result.client_order_id == (k["client_order_id"] or result.order_id)
        assert result.strategy_id == k["strategy_id"]
    elif method == "update_order_status":
        assert storage.get_order(result.order_id) == result
        assert result.status.value == str(k["status"])
        if k["external_id"] is not None:
            assert result.external_id == k["external_id"]
        if k["reason"] is not None:
            assert result.status_reason == k["reason"]
    elif method == "record_fill":
        legs = [t for t in storage.get_trades(order_id=k["order_id"]) if t.external_trade_id == result.external_trade_id
                and (result.external_trade_id is not None or t.created_at == result.created_at)]
        assert result in legs
        if existing is not None:
            assert result == existing, "a repeated execution returns the trade already recorded"
            return
        assert sum(t.quantity for t in legs) == as_decimal(k["quantity"])
        assert all(t.price == as_decimal(k["price"]) for t in legs)
        assert sum(t.commission for t in legs) == as_decimal(k["commission"])
        assert sum(t.fees for t in legs) == as_decimal(k["fees"])
        if k["executed_at"] is not None:
            assert result.executed_at == as_datetime(k["executed_at"])
    elif method == "record_fills":
        stored = storage.get_trades()
        assert all(trade in stored for trade in result)
    elif method == "import_trades":
        assert result == len(k["rows"])
        for row in k["rows"]:
            wanted = {
                "position_id": row["position_id"], "symbol": row["symbol"], "side": row["side"], "effect": row["effect"],
                "leg": row.get("leg", 0), "quantity": as_decimal(row["quantity"]), "price": as_decimal(row["price"]),
                "realized_pnl": as_decimal(row["realized_pnl"]), "commission": as_decimal(row.get("commission", 0)),
                "fees": as_decimal(row.get("fees", 0)), "executed_at": as_datetime(row["executed_at"]),
                "external_trade_id": row.get("external_trade_id"), "strategy_id": row.get("strategy_id"),
            }
            stored = storage.get_trades(order_id=row["order_id"])
            assert any(all(getattr(t, f) == v for f, v in wanted.items()) for t in stored), (row, stored)
    elif method == "close_position":
        assert storage.get_position(result.position_id) == result
        assert result.status.value == "closed" and result.quantity == 0
    elif method == "create_strategy":
        assert storage.get_strategy(result.strategy_id) == result
        assert result.name == k["name"]
        assert result.config == ({} if k["config"] is None else dict(k["config"]))
        assert result.is_active is k["is_active"]
    elif method == "update_strategy_config":
        assert storage.get_strategy(result.strategy_id) == result
        assert result.config == dict(k["config"])
    elif method == "set_strategy_active":
        assert storage.get_strategy(result.strategy_id) == result
        assert result.is_active is k["is_active"]
    elif method == "set_config_value":
        assert storage.get_config_entry(k["key"]) == result
        assert result.value_type.value == str(k["value_type"])
        assert result.value == expected_config_value(k["value"], str(k["value_type"]))
    elif method == "delete_config_value":
        assert storage.get_config_entry(k["key"]) is None


# --- open bugs: an input that hits one is skipped here, with a strict xfail test at the end -------


def known_bug(method: str, kwargs: dict[str, Any]) -> str | None:
    """The reported, still open bug these arguments would hit, or None (none is open now)."""
    del method, kwargs
    return None


# --- the service fuzz --------------------------------------------------------------------------------


def test_every_public_service_method_is_fuzzed(db: stocksbot.Database) -> None:
    arguments = method_arguments(Book(StorageService(db)))
    assert sorted(arguments) == PUBLIC_METHODS
    for name, parameters in arguments.items():
        signature = inspect.signature(getattr(StorageService, name))
        assert sorted(parameters) == sorted(p for p in signature.parameters if p != "self"), name


@pytest.mark.slow
@pytest.mark.parametrize("method", PUBLIC_METHODS)
def test_a_service_method_accepts_and_stores_or_refuses_cleanly(db: stocksbot.Database, engine: str, method: str) -> None:
    """Hostile arguments: stored and read back identically, or a clean StocksbotError with nothing written."""
    storage = StorageService(db)
    book = Book(storage)
    parameters = method_arguments(book)[method]
    call = getattr(storage, method)

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        # All plausible, one hostile argument among plausible ones, or hostile ones anywhere.
        mode = data.draw(st.sampled_from(["plausible", "one hostile", "mixed"]), label="mode")
        target = data.draw(st.sampled_from(sorted(parameters)), label="hostile") if mode == "one hostile" and parameters else None
        kwargs = {}
        for name, strategy in parameters.items():
            if mode == "mixed":
                strategy = mixed(strategy)
            elif name == target:
                strategy = hostile()
            kwargs[name] = data.draw(strategy, label=name)
        assume(known_bug(method, kwargs) is None)
        existing = None
        if method == "record_fill" and isinstance(kwargs["external_trade_id"], str) and isinstance(kwargs["order_id"], str):
            with contextlib.suppress(StocksbotError):
                existing = next((t for t in storage.get_trades(order_id=kwargs["order_id"])
                                 if t.external_trade_id == kwargs["external_trade_id"] and t.leg == 0), None)
        before = snapshot(db, ALL_TABLES)
        outcome = "accepted"
        try:
            result = call(**kwargs)
        except ACCEPTABLE as exc:
            outcome = type(exc).__name__
            if isinstance(exc, ValidationError):
                assert exc.field, f"ValidationError without a field: {exc}"
                assert exc.field.split("[")[0] in str(exc), f"the message does not name {exc.field!r}: {exc}"
            assert snapshot(db, ALL_TABLES) == before, f"{type(exc).__name__} after a partial write: {exc}"
        except StocksbotError as exc:
            pytest.fail(f"{method}({kwargs!r}) raised {type(exc).__name__}: input reached the database: {exc}")
        except Exception as exc:  # noqa: BLE001 - this is what the fuzz looks for
            pytest.fail(f"BUG: {method}({kwargs!r}) raised {type(exc).__name__}: {exc}")
        else:
            if method in READS:
                assert snapshot(db, ALL_TABLES) == before, f"{method} wrote to the database"
            else:
                check_stored(storage, method, kwargs, result, existing)
        TALLY[engine][outcome] += 1
        TALLY[engine]["cases"] += 1

    fuzz()


def test_the_account_id_of_a_service_is_validated(db: stocksbot.Database, engine: str) -> None:
    @FUZZ
    @given(account=mixed(st.sampled_from(["default", "paper", "live:1", "a" * 64])))
    def fuzz(account: Any) -> None:
        try:
            storage = StorageService(db, account_id=account)
        except ValidationError as exc:
            assert exc.field == "account_id"
            TALLY[engine]["ValidationError"] += 1
        else:
            assert storage.account_id == account and storage.list_orders() == []
            TALLY[engine]["accepted"] += 1
        TALLY[engine]["cases"] += 1

    fuzz()


# --- the command line fuzz -------------------------------------------------------------------------

PASSWORD = "s3cr3t-pw"


def cli_arguments(database_url: str, workdir: Path) -> st.SearchStrategy[list[str]]:
    text = hostile_text().filter(lambda s: "\x00" not in s)
    urls = st.one_of(
        st.just(database_url), st.just(database_url), st.just(database_url),
        st.sampled_from(["", " ", "not a url", "mysql://u@h/db", "sqlite://", "sqlite:///", f"sqlite:///{workdir}/no/such/dir.db",
                         f"sqlite:///{workdir}/x'; DROP TABLE t;--.db", f"postgresql://u:{PASSWORD}@127.0.0.1:1/db",
                         f"postgres://u:{PASSWORD}@127.0.0.1:1/db?sslmode=bogus", "postgresql://%zz@/",
                         f"sqlite:///{workdir}/{'d' * 250}", f"sqlite:///{workdir}/{'d' * 300}"]),
    )
    word = st.one_of(text, st.sampled_from(["--json", "--open", "--active", "--help", "-h", "--", "-", "--limit", "--type"]))
    commands = st.one_of(
        st.tuples(st.sampled_from([["db", "status"], ["db", "history"], ["db", "upgrade", "--dry-run"], ["db", "upgrade"],
                                   ["db", "unlock"], ["db", "schema"], ["db", "check"], ["sql", "list"]]), st.just([])),
        st.tuples(st.just(["sql", "show"]), st.lists(text, min_size=1, max_size=1)),
        st.tuples(st.just(["sql", "explain"]), st.lists(text | st.sampled_from(["orders.find_order", "--param", "x=1"]),
                                                        min_size=1, max_size=4)),
        st.tuples(st.just(["db", "backup"]), st.lists(text.map(lambda name: str(workdir / f"b-{name}")), min_size=1, max_size=1)),
        st.tuples(st.just(["db", "downgrade", "--steps"]), st.lists(st.sampled_from(["0", "-1", "x", "1.5", "", "1e3"]), min_size=1, max_size=1)),
        st.tuples(st.just(["db", "restore"]), st.lists(st.sampled_from([str(workdir / "missing.bin"), "", "/dev/null", str(workdir / ("r" * 300))])
                                                    | text.map(lambda name: str(workdir / f"r-{name}")), min_size=1, max_size=1)),
        st.tuples(st.sampled_from([["positions"], ["positions", "--open"], ["strategies"], ["strategies", "--active"],
                                   ["config", "list"]]), st.just([])),
        st.tuples(st.just(["orders"]), st.lists(st.sampled_from(["--status", "--symbol", "--limit", "--open"]) | text, max_size=4)),
        st.tuples(st.just(["trades"]), st.lists(st.sampled_from(["--symbol", "--order", "--limit"]) | text, max_size=4)),
        st.tuples(st.sampled_from([["config", "get"], ["config", "delete"]]), st.lists(text, min_size=1, max_size=1)),
        st.tuples(st.just(["config", "set"]), st.tuples(
            st.sampled_from(["cli.key", "cli:a/b", ""]) | text, text | st.sampled_from(["1", "true", "{\"a\": [1]}", "1.5"]),
        ).map(list)),
        st.tuples(st.just(["config", "set"]), st.tuples(
            st.sampled_from(["cli.typed"]), text | st.sampled_from(["1", "true", "{\"a\": [1]}", "1.5", "9" * 30]),
            st.just("--type"), st.sampled_from([t.value for t in ConfigType]) | text,
        ).map(list)),
        st.tuples(st.lists(word, max_size=4), st.just([])),
    )

    def build(command: tuple[list[str], list[str]], url: str, account: Any, extra: list[str]) -> list[str]:
        argv = [*command[0], *command[1]]
        if argv and argv[0] in ("db", "positions", "orders", "trades", "strategies", "config") or argv[:2] == ["sql", "explain"]:
            argv += ["--database-url", url]
            if argv[0] != "db" and account is not None:
                argv += ["--account", account]
        return argv + extra

    accounts = st.one_of(st.none(), st.sampled_from(["default", "paper"]), text)
    extras = st.one_of(st.just([]), st.just([]), st.just([]), st.lists(word, min_size=1, max_size=1))
    return st.builds(build, commands, urls, accounts, extras)


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_the_command_line_exits_cleanly_on_hostile_arguments(
    db: stocksbot.Database, database_url: str, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 0/1/2/3/4, one error line, no traceback, no password; a refused command writes nothing."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STOCKSBOT_DEBUG", raising=False)
    storage = StorageService(db)
    Book(storage)

    @settings(FUZZ, max_examples=EXAMPLES * 5)
    @given(argv=cli_arguments(database_url, tmp_path))
    def fuzz(argv: list[str]) -> None:
        before = snapshot(db, ALL_TABLES)
        code, out, err = run_main(argv)
        TALLY[engine]["cli cases"] += 1
        TALLY[engine][f"cli exit {code}"] += 1
        assert code in (0, 1, 2, 3, 4), (argv, code, err)
        assert code != 3 or argv[:2] == ["db", "status"], (argv, code)
        assert code != 4 or argv[:2] == ["db", "check"], (argv, code)
        assert "Traceback" not in err and "Traceback" not in out, (argv, err)
        assert PASSWORD not in err and PASSWORD not in out, (argv, err)
        if code == 1:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("stocksbot: error: "), (argv, err)
            assert "unexpected" not in lines[0], f"BUG: {argv!r} -> {lines[0]}"
        asked_for_help = "--help" in argv or "-h" in argv  # argparse prints help and exits 0 before any write
        if code != 0 or asked_for_help or "--database-url" not in argv or argv[argv.index("--database-url") + 1] != database_url:
            assert snapshot(db, ALL_TABLES) == before, (argv, code, err)
        elif argv[:2] == ["config", "set"] and code == 0:
            account = argv[argv.index("--account") + 1] if "--account" in argv else "default"
            kind = argv[argv.index("--type") + 1] if "--type" in argv else None
            entry = StorageService(db, account_id=account).get_config_entry(argv[2])
            assert entry is not None, argv
            if kind is not None:
                assert entry.value == expected_config_value(argv[3], kind), (argv, entry)

    fuzz()


@pytest.fixture(scope="module", autouse=True)
def fuzz_report() -> Iterator[None]:
    yield
    for engine, counts in sorted(TALLY.items()):
        refused = {key: value for key, value in counts.items() if key.endswith("Error")}
        report(
            "fuzz", engine, service_cases=counts["cases"], accepted=counts["accepted"],
            refused=sum(refused.values()), refused_by=",".join(f"{k}:{v}" for k, v in sorted(refused.items())) or "-",
            cli_cases=counts["cli cases"],
            cli_exits=",".join(f"{k[9:]}:{v}" for k, v in sorted(counts.items()) if k.startswith("cli exit ")) or "-",
            bugs_found=0, partial_writes=0,
        )


# --- the bugs the fuzz found -------------------------------------------------------------------------
#
# Fixed ones stay as regression tests. Open ones are strict xfails: when one is fixed its test
# passes, pytest reports XPASS(strict) as a failure, and the xfail mark and its known_bug entry go.


def clean_refusal(db: stocksbot.Database, call: Callable[[], Any], field: str) -> None:
    """The contract: a ValidationError naming ``field``, and nothing written."""
    before = snapshot(db, ALL_TABLES)
    with pytest.raises(ValidationError) as refused:
        call()
    assert refused.value.field == field
    assert snapshot(db, ALL_TABLES) == before


OPEN_BUG = pytest.mark.xfail(strict=True, reason="open bug found by the reliability fuzz (docs/reliability.md)")


@pytest.mark.parametrize("text", ["1e999999", "-1E+1000000", Decimal("1E+999999999")])
def test_fixed_a_decimal_beyond_the_context_exponent_is_refused(db: stocksbot.Database, text: Any) -> None:
    """Was: values._scale's Decimal.scaleb raised decimal.Overflow (not a StocksbotError)."""
    clean_refusal(db, lambda: StorageService(db).create_order("AAPL", "buy", "market", text), "quantity")


def test_fixed_a_decimal_below_the_context_exponent_is_refused_not_stored_as_zero(db: stocksbot.Database) -> None:
    """Was: scaleb underflowed to 0, so commission '1e-99999999999' was stored as 0 instead of refused."""
    storage = StorageService(db)
    order = make_order(storage, "AAPL", "buy", 1)
    clean_refusal(db, lambda: storage.record_fill(order.order_id, quantity=1, price=10, commission="1e-99999999999"),
                  "commission")


@pytest.mark.parametrize("call", ["name", "reason", "config value"])
def test_fixed_a_lone_surrogate_is_refused_before_the_driver(db: stocksbot.Database, call: str) -> None:
    """Was: text with a lone surrogate (not valid UTF-8) failed in the driver (DatabaseError)."""
    storage = StorageService(db)
    order = make_order(storage, "AAPL", "buy", 1, submit=False)
    calls = {
        "name": (lambda: storage.create_strategy("bad\ud800name"), "name"),
        "reason": (lambda: storage.update_order_status(order.order_id, "cancelled", reason="\udcff"), "reason"),
        "config value": (lambda: storage.set_config_value("k", "a\ud800b"), "value"),
    }
    clean_refusal(db, *calls[call])


def test_fixed_a_nul_in_a_string_setting_is_refused_on_both_engines(db: stocksbot.Database) -> None:
    """Was: SQLite stored 'a\\x00b' while PostgreSQL TEXT failed on it (DatabaseError)."""
    clean_refusal(db, lambda: StorageService(db).set_config_value("k", "a\x00b"), "value")


@pytest.mark.parametrize("config", [{1: "x"}, {"a": (1, 2)}], ids=["int-key", "tuple"])
def test_fixed_a_config_that_json_cannot_round_trip_is_not_changed_silently(
    db: stocksbot.Database, config: dict[Any, Any]
) -> None:
    """Was: {1: 'x'} came back as {'1': 'x'} and tuples as lists: refused now, or stored as given."""
    storage = StorageService(db)
    try:
        stored = storage.create_strategy("round-trip", config=config)
    except ValidationError as exc:
        assert exc.field == "config"
        return
    assert stored.config == config


def test_fixed_a_huge_mark_is_refused(db: stocksbot.Database) -> None:
    """Was: get_portfolio_summary accepted the mark 1e999999 and its arithmetic trapped InvalidOperation."""
    storage = StorageService(db)
    fill_order(storage, "AAPL", "buy", 1, 10)
    with pytest.raises(ValidationError):
        storage.get_portfolio_summary({"AAPL": "1e999999"})


def test_fixed_a_deeply_nested_config_is_refused(db: stocksbot.Database) -> None:
    """Was: json.dumps in inputs.json_object raised RecursionError, not a ValidationError."""
    nested: dict[str, Any] = {}
    cursor = nested
    for _ in range(5000):
        cursor["a"] = {}
        cursor = cursor["a"]
    clean_refusal(db, lambda: StorageService(db).create_strategy("deep", config=nested), "config")


def test_fixed_an_int_setting_of_thousands_of_digits_is_refused(db: stocksbot.Database) -> None:
    """Was: config.encode_value's int(text) hit Python's int-string limit (ValueError)."""
    clean_refusal(db, lambda: StorageService(db).set_config_value("big", "9" * 5000, "int"), "value")


@pytest.mark.parametrize("method", ["list_orders", "get_trades", "list_positions"])
def test_fixed_a_limit_beyond_bigint_is_refused(db: stocksbot.Database, method: str) -> None:
    """Was: inputs.limit accepted any positive int, and above 2**63-1 the driver failed (DatabaseError)."""
    clean_refusal(db, lambda: getattr(StorageService(db), method)(limit=2**63), "limit")


@pytest.mark.parametrize("method, field", [("record_fills", "fills"), ("import_trades", "rows")])
@pytest.mark.parametrize("value", [None, 7, Decimal("1"), object()], ids=["None", "int", "Decimal", "object"])
def test_fixed_a_batch_that_is_not_a_list_is_refused(
    db: stocksbot.Database, method: str, field: str, value: Any
) -> None:
    """Was: record_fills and import_trades iterated their batch before validating it (TypeError)."""
    clean_refusal(db, lambda: getattr(StorageService(db), method)(value), field)
