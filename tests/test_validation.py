"""Bad input: every StorageService entry point refuses it with a ValidationError whose ``field``
names the culprit, before anything reaches the database (all five tables stay as they were).

Each target below is one argument of one call, with the values it must refuse. Text is never
trimmed or re-cased: ' AAPL' is refused, not stripped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

import pytest

from stocksbot import OrderType, StocksbotError, StorageService, ValidationError
from stocksbot.values import new_id

TABLES = ("strategies", "orders", "positions", "trades", "config")
NOW = datetime(2024, 3, 1, 14, 30, tzinfo=timezone.utc)


def snapshot(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of the five tables, read with plain SQL (the 'nothing written' witness)."""
    with db.connection() as conn:
        return {table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()] for table in TABLES}


@dataclass
class Ctx:
    """A database with one of everything, so that only the bad argument can fail a call."""

    db: Any
    svc: StorageService
    strategy: str
    pending: str  # a pending order
    order: str  # a submitted order
    position: str  # an open position (MSFT)


@pytest.fixture
def ctx(db: Any) -> Ctx:
    """The seeded database of the engine under test."""
    svc = StorageService(db)
    strategy = svc.create_strategy("seed").strategy_id
    pending = svc.create_order("AAPL", "buy", "market", 10).order_id
    order = svc.create_order("AAPL", "buy", "market", 10).order_id
    svc.update_order_status(order, "submitted")
    position = svc.create_position("MSFT", "long", 5, 100).position_id
    svc.set_config_value("seed", "1", "int")
    return Ctx(db, svc, strategy, pending, order, position)


# --- the values to refuse -----------------------------------------------------------------------

NON_FINITE = [
    ("nan", float("nan")), ("'NaN'", "NaN"), ("Decimal-nan", Decimal("NaN")), ("Decimal-snan", Decimal("sNaN")),
    ("inf", float("inf")), ("'Infinity'", "Infinity"), ("'-inf'", "-inf"), ("Decimal-inf", Decimal("-Infinity")),
]
NOT_NUMBERS = [
    ("True", True), ("False", False), ("'abc'", "abc"), ("''", ""), ("'1e'", "1e"), ("list", [1]),
    ("bytes", b"1"), ("complex", 1j), ("'1,5'", "1,5"),
]
NOT_POSITIVE = [("0", 0), ("'0'", "0"), ("0.0", 0.0), ("'-1'", "-1"), ("-0.5", -0.5), ("-1e-8", Decimal("-0.00000001"))]
NEGATIVE = [("'-1'", "-1"), ("-0.5", -0.5), ("-1e-8", Decimal("-0.00000001"))]
QUANTITY_BAD = NON_FINITE + NOT_NUMBERS + NOT_POSITIVE + [
    ("None", None), ("10 places", "0.0000000001"), ("1e-10 float", 1e-10), ("beyond BIGINT", "10000000000"),
]
PRICE_BAD = NON_FINITE + NOT_NUMBERS + NOT_POSITIVE + [("9 places", "0.000000001"), ("beyond BIGINT", "100000000000")]
FEE_BAD = NON_FINITE + NOT_NUMBERS + NEGATIVE + [("None", None), ("9 places", "0.000000001")]

NAIVE_TIMES = [
    ("naive datetime", datetime(2024, 3, 1, 14, 30)), ("naive text", "2024-03-01T14:30:00"),
    ("not a time", "yesterday"), ("epoch int", 1709303400), ("date", date(2024, 3, 1)),
]

SYMBOLS_BAD = [
    ("lowercase", "aapl"), ("leading space", " AAPL"), ("trailing space", "AAPL "), ("inner space", "AA PL"),
    ("empty", ""), ("33 chars", "A" * 33), ("non-ASCII", "ÄAPL"), ("newline", "AAPL\n"), ("leading dot", ".AAPL"),
    ("int", 123), ("bytes", b"AAPL"),
]
IDS_BAD = [
    ("short", "1"), ("words", "not-a-uuid"), ("uppercase", str(uuid.uuid4()).upper()), ("braces", "{%s}" % uuid.uuid4()),
    ("no dashes", uuid.uuid4().hex), ("padded", f" {new_id()}"), ("empty", ""), ("int", 123), ("uuid object", uuid.uuid4()),
]
EXTERNAL_BAD = [("space", "a b"), ("empty", ""), ("129 chars", "x" * 129), ("non-ASCII", "ü"), ("tab", "a\tb"), ("int", 5)]
ENUM_BAD = [("empty", ""), ("None", None), ("int", 1), ("space", " buy")]
NAMES_BAD = [("empty", ""), ("blank", "   "), ("newline", "a\nb"), ("tab", "a\tb"), ("201 chars", "x" * 201), ("int", 5), ("None", None)]
KEYS_BAD = [("empty", ""), ("space", "has space"), ("leading space", " k"), ("Cyrillic", "ключ"), ("201 chars", "x" * 201),
            ("None", None), ("leading dot", ".k"), ("int", 1)]
LIMITS_BAD = [("0", 0), ("-1", -1), ("True", True), ("'10'", "10"), ("1.5", 1.5)]
ACCOUNTS_BAD = [("empty", ""), ("space", "has space"), ("65 chars", "a" * 65), ("None", None), ("int", 5),
                ("leading dash", "-x"), ("non-ASCII", "ümlaut"), ("newline", "paper\n")]
CONFIGS_BAD = [("list", []), ("JSON text", "{}"), ("int", 5), ("tuple", (("a", 1),)), ("NaN inside", {"x": float("nan")}),
               ("object inside", {"x": object()}), ("set inside", {"x": {1}})]
BOOLS_BAD = [("1", 1), ("'true'", "true"), ("None", None), ("0", 0)]


@dataclass
class Target:
    """One argument of one call: ``call(ctx, value)`` must refuse every ``bad`` value naming ``field``."""

    name: str
    call: Callable[[Ctx, Any], Any]
    field: str
    bad: list[tuple[str, Any]]


TARGETS = [
    # orders
    Target("create_order.quantity", lambda c, v: c.svc.create_order("AAPL", "buy", "market", v), "quantity", QUANTITY_BAD),
    Target("create_order.limit_price", lambda c, v: c.svc.create_order("AAPL", "buy", "limit", 1, limit_price=v), "limit_price", PRICE_BAD),
    Target("create_order.stop_price", lambda c, v: c.svc.create_order("AAPL", "buy", "stop", 1, stop_price=v), "stop_price", PRICE_BAD),
    Target("create_order.symbol", lambda c, v: c.svc.create_order(v, "buy", "market", 1), "symbol", SYMBOLS_BAD + [("None", None)]),
    Target("create_order.side", lambda c, v: c.svc.create_order("AAPL", v, "market", 1), "side",
           ENUM_BAD + [("upper", "BUY"), ("hold", "hold"), ("other enum", OrderType.MARKET), ("long", "long")]),
    Target("create_order.order_type", lambda c, v: c.svc.create_order("AAPL", "buy", v, 1), "order_type",
           ENUM_BAD + [("upper", "MARKET"), ("moc", "market_on_close"), ("dash", "stop-limit")]),
    Target("create_order.strategy_id", lambda c, v: c.svc.create_order("AAPL", "buy", "market", 1, strategy_id=v), "strategy_id", IDS_BAD),
    Target("create_order.client_order_id", lambda c, v: c.svc.create_order("AAPL", "buy", "market", 1, client_order_id=v),
           "client_order_id", EXTERNAL_BAD),
    Target("get_order.order_id", lambda c, v: c.svc.get_order(v), "order_id", IDS_BAD + [("None", None)]),
    Target("get_order_by_external_id", lambda c, v: c.svc.get_order_by_external_id(v), "external_id", EXTERNAL_BAD),
    Target("get_order_by_client_order_id", lambda c, v: c.svc.get_order_by_client_order_id(v), "client_order_id", EXTERNAL_BAD),
    Target("list_orders.status", lambda c, v: c.svc.list_orders(status=v), "status", [("open", "open"), ("upper", "PENDING"), ("empty", "")]),
    Target("list_orders.symbol", lambda c, v: c.svc.list_orders(symbol=v), "symbol", SYMBOLS_BAD),
    Target("list_orders.strategy_id", lambda c, v: c.svc.list_orders(strategy_id=v), "strategy_id", IDS_BAD),
    Target("list_orders.limit", lambda c, v: c.svc.list_orders(limit=v), "limit", LIMITS_BAD),
    Target("update_order_status.order_id", lambda c, v: c.svc.update_order_status(v, "cancelled"), "order_id", IDS_BAD),
    Target("update_order_status.status", lambda c, v: c.svc.update_order_status(c.pending, v), "status",
           ENUM_BAD + [("done", "done"), ("upper", "SUBMITTED"), ("canceled", "canceled")]),
    Target("update_order_status.external_id", lambda c, v: c.svc.update_order_status(c.pending, "submitted", external_id=v),
           "external_id", EXTERNAL_BAD),
    Target("update_order_status.reason", lambda c, v: c.svc.update_order_status(c.pending, "submitted", reason=v), "reason",
           [("1001 chars", "x" * 1001), ("int", 5), ("NUL", "a\x00b")]),
    # fills
    Target("record_fill.order_id", lambda c, v: c.svc.record_fill(v, quantity=1, price=1), "order_id", IDS_BAD),
    Target("record_fill.quantity", lambda c, v: c.svc.record_fill(c.order, quantity=v, price=1), "quantity", QUANTITY_BAD),
    Target("record_fill.price", lambda c, v: c.svc.record_fill(c.order, quantity=1, price=v), "price", PRICE_BAD + [("None", None)]),
    Target("record_fill.commission", lambda c, v: c.svc.record_fill(c.order, quantity=1, price=1, commission=v), "commission", FEE_BAD),
    Target("record_fill.fees", lambda c, v: c.svc.record_fill(c.order, quantity=1, price=1, fees=v), "fees", FEE_BAD),
    Target("record_fill.executed_at", lambda c, v: c.svc.record_fill(c.order, quantity=1, price=1, executed_at=v), "executed_at", NAIVE_TIMES),
    Target("record_fill.external_trade_id", lambda c, v: c.svc.record_fill(c.order, quantity=1, price=1, external_trade_id=v),
           "external_trade_id", EXTERNAL_BAD),
    Target("get_trades.order_id", lambda c, v: c.svc.get_trades(order_id=v), "order_id", IDS_BAD),
    Target("get_trades.symbol", lambda c, v: c.svc.get_trades(symbol=v), "symbol", SYMBOLS_BAD),
    Target("get_trades.since", lambda c, v: c.svc.get_trades(since=v), "since", NAIVE_TIMES),
    Target("get_trades.limit", lambda c, v: c.svc.get_trades(limit=v), "limit", LIMITS_BAD),
    # positions
    Target("create_position.symbol", lambda c, v: c.svc.create_position(v, "long", 1, 1), "symbol", SYMBOLS_BAD + [("None", None)]),
    Target("create_position.side", lambda c, v: c.svc.create_position("AAPL", v, 1, 1), "side",
           ENUM_BAD + [("upper", "LONG"), ("flat", "flat"), ("order side", "buy")]),
    Target("create_position.quantity", lambda c, v: c.svc.create_position("AAPL", "long", v, 1), "quantity", QUANTITY_BAD),
    Target("create_position.avg_entry_price", lambda c, v: c.svc.create_position("AAPL", "long", 1, v), "avg_entry_price",
           PRICE_BAD + [("None", None)]),
    Target("create_position.strategy_id", lambda c, v: c.svc.create_position("AAPL", "long", 1, 1, strategy_id=v), "strategy_id", IDS_BAD),
    Target("create_position.opened_at", lambda c, v: c.svc.create_position("AAPL", "long", 1, 1, opened_at=v), "opened_at", NAIVE_TIMES),
    Target("get_position.position_id", lambda c, v: c.svc.get_position(v), "position_id", IDS_BAD),
    Target("get_open_positions.symbol", lambda c, v: c.svc.get_open_positions(symbol=v), "symbol", SYMBOLS_BAD),
    Target("get_open_positions.strategy_id", lambda c, v: c.svc.get_open_positions(strategy_id=v), "strategy_id", IDS_BAD),
    Target("list_positions.limit", lambda c, v: c.svc.list_positions(limit=v), "limit", LIMITS_BAD),
    Target("close_position.position_id", lambda c, v: c.svc.close_position(v, exit_price=1), "position_id", IDS_BAD),
    Target("close_position.exit_price", lambda c, v: c.svc.close_position(c.position, exit_price=v), "exit_price", PRICE_BAD),
    Target("close_position.commission", lambda c, v: c.svc.close_position(c.position, exit_price=1, commission=v), "commission", FEE_BAD),
    Target("close_position.fees", lambda c, v: c.svc.close_position(c.position, exit_price=1, fees=v), "fees", FEE_BAD),
    Target("close_position.executed_at", lambda c, v: c.svc.close_position(c.position, exit_price=1, executed_at=v), "executed_at", NAIVE_TIMES),
    Target("get_portfolio_summary.marks", lambda c, v: c.svc.get_portfolio_summary(marks=v), "marks",
           [("list", ["AAPL"]), ("text", "AAPL=1"), ("lowercase symbol", {"aapl": 1}), ("padded symbol", {" AAPL": 1})]),
    Target("get_portfolio_summary.marks[AAPL]", lambda c, v: c.svc.get_portfolio_summary(marks={"AAPL": v}), "marks[AAPL]",
           NON_FINITE + [("text", "x"), ("True", True), ("None", None)]),
    # strategies
    Target("create_strategy.name", lambda c, v: c.svc.create_strategy(v), "name", NAMES_BAD),
    Target("create_strategy.config", lambda c, v: c.svc.create_strategy("new", config=v), "config", CONFIGS_BAD),
    Target("create_strategy.is_active", lambda c, v: c.svc.create_strategy("new", is_active=v), "is_active", BOOLS_BAD),
    Target("get_strategy.strategy_id", lambda c, v: c.svc.get_strategy(v), "strategy_id", IDS_BAD),
    Target("get_strategy_by_name.name", lambda c, v: c.svc.get_strategy_by_name(v), "name", NAMES_BAD),
    Target("list_strategies.active_only", lambda c, v: c.svc.list_strategies(active_only=v), "active_only", BOOLS_BAD),
    Target("update_strategy_config.strategy_id", lambda c, v: c.svc.update_strategy_config(v, {}), "strategy_id", IDS_BAD),
    Target("update_strategy_config.config", lambda c, v: c.svc.update_strategy_config(c.strategy, v), "config",
           CONFIGS_BAD + [("None", None)]),
    Target("set_strategy_active.strategy_id", lambda c, v: c.svc.set_strategy_active(v, True), "strategy_id", IDS_BAD),
    Target("set_strategy_active.is_active", lambda c, v: c.svc.set_strategy_active(c.strategy, v), "is_active", BOOLS_BAD),
    Target("get_strategy_metrics.strategy_id", lambda c, v: c.svc.get_strategy_metrics(v), "strategy_id", IDS_BAD),
    # config
    Target("set_config_value.key", lambda c, v: c.svc.set_config_value(v, "1"), "key", KEYS_BAD),
    Target("set_config_value.value_type", lambda c, v: c.svc.set_config_value("k", "1", v), "value_type",
           ENUM_BAD + [("integer", "integer"), ("upper", "INT"), ("python type", int)]),
    Target("get_config_value.key", lambda c, v: c.svc.get_config_value(v), "key", KEYS_BAD),
    Target("get_config_entry.key", lambda c, v: c.svc.get_config_entry(v), "key", KEYS_BAD),
    Target("delete_config_value.key", lambda c, v: c.svc.delete_config_value(v), "key", KEYS_BAD),
    # accounts
    Target("StorageService.account_id", lambda c, v: StorageService(c.db, account_id=v).create_strategy("other"), "account_id", ACCOUNTS_BAD),
]


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_bad_input_is_refused_naming_the_field(ctx: Ctx, target: Target):
    """Every bad value of the argument raises a ValidationError (a StocksbotError and ValueError) naming it; nothing is written."""
    before = snapshot(ctx.db)
    wrong = []  # every value that was not refused as it should be, so one run shows them all
    for label, value in target.bad:
        try:
            target.call(ctx, value)
        except ValidationError as exc:
            if target.field != exc.field or not isinstance(exc, StocksbotError):
                wrong.append(f"{label}: field {exc.field!r} ({exc})")
        except Exception as exc:  # noqa: BLE001 - any other outcome is the failure being reported
            wrong.append(f"{label}: {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{label}: accepted")
    assert [] == wrong
    assert before == snapshot(ctx.db)


def test_padded_symbol_is_refused_not_stripped(ctx: Ctx):
    """' AAPL' and 'aapl' are refused; nothing is created under 'AAPL' and lookups do not fold them."""
    for symbol in (" AAPL", "AAPL ", "aapl", "Aapl"):
        with pytest.raises(ValidationError):
            ctx.svc.create_position(symbol, "long", 1, 1)
    assert [] == ctx.svc.get_open_positions(symbol="AAPL")
    assert [] == ctx.svc.list_orders(symbol="MSFT")
    assert "AAPL" == ctx.svc.create_position("AAPL", "long", 1, 1).symbol


ACCEPTED_EDGES = [
    ("quantity 9 places", lambda c: c.svc.create_order("AAPL", "buy", "market", "0.000000001").quantity, Decimal("0.000000001")),
    ("price 8 places", lambda c: c.svc.create_order("AAPL", "buy", "limit", 1, limit_price="0.00000001").limit_price, Decimal("0.00000001")),
    ("trailing zeros beyond the scale", lambda c: c.svc.create_order("AAPL", "buy", "market", "1.50000000000000").quantity, Decimal("1.5")),
    ("float by shortest repr", lambda c: c.svc.create_order("AAPL", "buy", "limit", 0.1, limit_price=1.1).limit_price, Decimal("1.1")),
    ("zero commission", lambda c: c.svc.record_fill(c.order, quantity=1, price=1, commission=0, fees="0.00").commission, Decimal(0)),
    ("aware executed_at in +09:00", lambda c: c.svc.record_fill(
        c.order, quantity=1, price=1, executed_at=datetime(2024, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=9)))).executed_at, NOW),
    ("ISO text with Z", lambda c: c.svc.record_fill(c.order, quantity=1, price=1, executed_at="2024-03-01T14:30:00Z").executed_at, NOW),
    ("symbol with dot, slash, dash, digits", lambda c: c.svc.create_order("BRK.B", "buy", "market", 1).symbol, "BRK.B"),
    ("32-char symbol", lambda c: c.svc.create_order("A" * 32, "buy", "market", 1).symbol, "A" * 32),
    ("crypto pair", lambda c: c.svc.create_order("BTC/USD", "buy", "market", 1).symbol, "BTC/USD"),
    ("128-char client id", lambda c: c.svc.create_order("AAPL", "buy", "market", 1, client_order_id="x" * 128).client_order_id, "x" * 128),
    ("64-char account", lambda c: StorageService(c.db, account_id="a" * 64).account_id, "a" * 64),
    ("account with _.:-", lambda c: StorageService(c.db, account_id="paper_1.alpaca:us-east").account_id, "paper_1.alpaca:us-east"),
    ("200-char key", lambda c: c.svc.set_config_value("k" * 200, "v").key, "k" * 200),
    ("1000-char reason", lambda c: c.svc.update_order_status(c.pending, "submitted", reason="r" * 1000).status_reason, "r" * 1000),
]


@pytest.mark.parametrize(("what", "call", "expected"), ACCEPTED_EDGES, ids=[case[0] for case in ACCEPTED_EDGES])
def test_values_at_the_edge_are_accepted(ctx: Ctx, what: str, call: Callable[[Ctx], Any], expected: Any):
    """The largest and finest values the rules allow are accepted and come back exactly."""
    assert expected == call(ctx)


def test_every_validation_error_is_a_stocksbot_error():
    """ValidationError belongs to the one hierarchy (and is a ValueError), carrying the field it names."""
    assert issubclass(ValidationError, StocksbotError)
    assert issubclass(ValidationError, ValueError)
    error = ValidationError("quantity: must be greater than 0", field="quantity")
    assert ("quantity", "quantity: must be greater than 0") == (error.field, str(error))


# --- text and JSON that would not round-trip -------------------------------------------------------


def test_config_with_non_text_keys_is_refused(ctx: Ctx):
    """A strategy config whose keys are not text would not round-trip, so it is refused (field config)."""
    before = snapshot(ctx.db)
    with pytest.raises(ValidationError) as caught:
        ctx.svc.create_strategy("int-keys", config={1: "a"})
    assert "config" == caught.value.field
    assert before == snapshot(ctx.db)


def test_name_that_is_not_utf8_is_refused(ctx: Ctx):
    """A strategy name with a lone surrogate cannot be stored as UTF-8, so it is refused naming 'name'."""
    with pytest.raises(ValidationError) as caught:
        ctx.svc.create_strategy("bad\ud800name")
    assert "name" == caught.value.field
