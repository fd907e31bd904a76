"""StorageService.import_trades: historical trades validated once, loaded in one statement, metrics kept.

On SQLite the rows go through one executemany, on PostgreSQL through COPY; either way
the rows read back exactly as given, a bad row refuses the whole import before anything
is written (its error names ``rows[i].<field>``), and the database's own constraints
(the order, position and strategy must be in the account; an execution is recorded
once) refuse the rest. The last tests check that the rows stocksbot reads back without
pydantic validation (the typed modules' ``*_from_tuple``) are exactly the models pydantic
would build.
"""

from __future__ import annotations

import copy
import pickle
import random
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact, Rounded, getcontext, localcontext
from typing import Any

import pytest

import stocksbot
from stocksbot import ConflictError, Order, Position, StorageService, Trade, ValidationError, orders, positions, trades
from stocksbot.sqlfiles import QUERY_CALLS
from stocksbot.values import money_from_db, new_id, quantity_from_db, ratio, timestamp_to_db

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)


@pytest.fixture
def storage(db: stocksbot.Database) -> StorageService:
    return StorageService(db)


@pytest.fixture
def history(storage: StorageService) -> dict[str, str]:
    """A strategy, a filled order and its (long, open) position: what imported trades hang on."""
    strategy = storage.create_strategy("history")
    order = storage.create_order("AAPL", "buy", "market", 100, strategy_id=strategy.strategy_id)
    storage.update_order_status(order.order_id, "submitted")
    trade = storage.record_fill(order.order_id, quantity=100, price=50)
    return {"strategy_id": strategy.strategy_id, "order_id": order.order_id, "position_id": trade.position_id}


def snapshot(db: stocksbot.Database, tables: tuple[str, ...]) -> dict[str, list[Any]]:
    """Every row of each table, in key order (what "nothing was written" is checked against)."""
    with db.connection() as conn:
        return {table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()]
                for table in tables}


def _row(history: dict[str, str], n: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "order_id": history["order_id"], "position_id": history["position_id"], "symbol": "AAPL", "side": "buy",
        "effect": ("increase", "reduce", "close")[n % 3], "leg": 0, "quantity": D(n % 7 + 1) / 4,
        "price": D(5000 + n).scaleb(-2), "commission": D("0.35"), "fees": D(n % 5).scaleb(-4),
        "realized_pnl": D(n % 11 - 5).scaleb(-1), "external_trade_id": f"H-{n}", "executed_at": T0 + timedelta(seconds=n),
        "strategy_id": history["strategy_id"],
    }
    row.update(overrides)
    return row


def test_imported_rows_read_back_exactly_as_given(storage, history):
    """Every field round-trips; the trade ids are new UUIDv7s in row order; the count is returned."""
    rows = [_row(history, n) for n in range(50)]

    assert 50 == storage.import_trades(rows)

    imported = [t for t in storage.get_trades() if t.external_trade_id and t.external_trade_id.startswith("H-")]
    assert [r["external_trade_id"] for r in rows] == [t.external_trade_id for t in imported]
    for row, trade in zip(rows, imported):
        assert (row["quantity"], row["price"], row["commission"], row["fees"], row["realized_pnl"], row["executed_at"],
                row["effect"], row["side"], row["strategy_id"], row["order_id"], row["position_id"]) == (
            trade.quantity, trade.price, trade.commission, trade.fees, trade.realized_pnl, trade.executed_at,
            trade.effect.value, trade.side.value, trade.strategy_id, trade.order_id, trade.position_id)
    assert [t.trade_id for t in imported] == sorted(t.trade_id for t in imported)


def test_a_large_import_goes_through_one_bulk_statement(storage, history):
    """3000 rows: one insert_trades call (executemany or COPY), all rows there."""
    before = QUERY_CALLS["trades.insert_trades"]

    assert 3000 == storage.import_trades(_row(history, n) for n in range(3000))  # any iterable

    assert before + 1 == QUERY_CALLS["trades.insert_trades"]
    assert 3001 == len(storage.get_trades())


def test_defaults_enums_and_iso_text_are_accepted(storage, history):
    """leg, commission, fees, external_trade_id and strategy_id may be left out; sides and effects may be
    enums; executed_at may be ISO text with an offset."""
    row = {k: v for k, v in _row(history, 1).items() if k not in ("leg", "commission", "fees", "external_trade_id", "strategy_id")}
    row.update(side=stocksbot.OrderSide.SELL, effect=stocksbot.TradeEffect.REDUCE, executed_at="2024-01-02T16:30:00+02:00")

    storage.import_trades([row])

    trade = storage.get_trades()[-1] if storage.get_trades()[-1].effect.value == "reduce" else storage.get_trades()[0]
    assert (0, D(0), D(0), None, None, T0) == (trade.leg, trade.commission, trade.fees, trade.external_trade_id,
                                               trade.strategy_id, trade.executed_at)


BAD_ROWS = [
    ("quantity", {"quantity": 0}, "rows[2].quantity"),
    ("price", {"price": D("-1")}, "rows[2].price"),
    ("places", {"price": D("1.000000001")}, "rows[2].price"),
    ("fees", {"fees": -1}, "rows[2].fees"),
    ("side", {"side": "hold"}, "rows[2].side"),
    ("effect", {"effect": "flip"}, "rows[2].effect"),
    ("leg", {"leg": 2}, "rows[2].leg"),
    ("leg 1 must open", {"leg": 1, "effect": "reduce"}, "rows[2].leg"),
    ("symbol", {"symbol": "aapl"}, "rows[2].symbol"),
    ("order id", {"order_id": "not-an-id"}, "rows[2].order_id"),
    ("naive time", {"executed_at": datetime(2024, 1, 2)}, "rows[2].executed_at"),
    ("pnl", {"realized_pnl": "1e30"}, "rows[2].realized_pnl"),
    ("execution id", {"external_trade_id": "has space"}, "rows[2].external_trade_id"),
    ("unknown field", {"note": "x"}, "rows[2]"),
]


@pytest.mark.parametrize("what, change, field", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_one_bad_row_refuses_the_whole_import(db, storage, history, what, change, field):
    """The ValidationError names the row and the field; the database is unchanged."""
    rows = [_row(history, n) for n in range(5)]
    rows[2] = {**rows[2], **change}
    before = snapshot(db, ("trades", "strategy_metrics", "orders", "positions"))

    with pytest.raises(ValidationError) as caught:
        storage.import_trades(rows)

    assert field == caught.value.field
    assert before == snapshot(db, ("trades", "strategy_metrics", "orders", "positions"))


def test_a_bad_row_deep_in_a_large_import_ends_the_bulk_statement_and_nothing_is_written(db, storage, history):
    """The rows are validated as they stream into the one bulk statement (executemany, or COPY whose
    first rows the server has already taken): a bad row at 2,500 of 3,000 is the ValidationError that
    names it, the transaction rolls back, and the same service imports the corrected rows next."""
    rows = [_row(history, n) for n in range(3000)]
    rows[2500] = {**rows[2500], "price": D("1.000000001")}
    before = snapshot(db, ("trades", "strategy_metrics", "orders", "positions"))

    with pytest.raises(ValidationError) as caught:
        storage.import_trades(rows)

    assert "rows[2500].price" == caught.value.field
    assert type(caught.value) is ValidationError and caught.value.__cause__ is None  # as raised, not translated
    assert before == snapshot(db, ("trades", "strategy_metrics", "orders", "positions"))
    had = len(storage.get_trades())
    rows[2500] = _row(history, 2500)
    assert 3000 == storage.import_trades(rows)
    assert had + 3000 == len(storage.get_trades())


def test_a_missing_required_field_is_named(storage, history):
    row = _row(history, 0)
    del row["executed_at"]
    with pytest.raises(ValidationError, match=r"rows\[0\]: missing executed_at"):
        storage.import_trades([row])


@pytest.mark.parametrize("change", [
    {"order_id": "unknown"}, {"position_id": "unknown"}, {"strategy_id": "unknown"}, {"external_trade_id": "H-0"},
], ids=["order", "position", "strategy", "repeated-execution"])
def test_the_database_refuses_rows_that_do_not_belong(db, storage, history, change):
    """An order, position or strategy not in the account, or an execution already imported: ConflictError,
    and nothing of the import is written (metrics included)."""
    storage.import_trades([_row(history, 0)])
    change = {k: new_id() if v == "unknown" else v for k, v in change.items()}
    before = snapshot(db, ("trades", "strategy_metrics"))

    with pytest.raises(ConflictError):
        storage.import_trades([_row(history, 1), _row(history, 2, **change), _row(history, 3)])

    assert before == snapshot(db, ("trades", "strategy_metrics"))


def test_another_accounts_rows_are_refused(db, history):
    """The order and position exist, but in account "default": account "paper" cannot import onto them."""
    with pytest.raises(ConflictError):
        StorageService(db, "paper").import_trades([_row(history, 0, strategy_id=None)])


def test_nothing_to_import_is_zero(storage):
    assert 0 == storage.import_trades([])


# --- rows are read back without validation: exactly what pydantic would build ----------------------


def _validated(model: type, value: Any) -> Any:
    return model.model_validate(value.model_dump())


def test_rows_read_back_fast_are_the_models_pydantic_builds(db, storage, history):
    """Orders, positions and trades of a random book, read through the fast mappers, equal (and have the
    same types as) the models pydantic validates from their own fields."""
    rows = _random_book(storage, history, seed=3)
    assert len(rows) > 60
    for row in rows:
        model = type(row)
        assert model in (Order, Position, Trade)
        again = _validated(model, row)
        assert again == row
        assert [type(v) for v in again.__dict__.values()] == [type(v) for v in row.__dict__.values()]
        assert row.model_fields_set == set(model.model_fields)


def _random_book(storage: StorageService, history: dict[str, Any], seed: int) -> list[Any]:
    """Orders with odd quantities and prices, partly filled, plus imported trades: every model the mappers build."""
    rng = random.Random(seed)
    for step in range(30):
        order = storage.create_order(rng.choice(("KO", "MSFT")), rng.choice(("buy", "sell")), "limit",
                                     D(rng.randint(1, 10**6)).scaleb(-rng.randint(0, 8)) + 1,
                                     limit_price=D(rng.randint(1, 10**9)).scaleb(-8))
        storage.update_order_status(order.order_id, "submitted")
        storage.record_fill(order.order_id, quantity=order.quantity / 2, price=D(rng.randint(1, 10**12)).scaleb(-8),
                            commission=D(rng.randint(0, 100)).scaleb(-2), executed_at=T0 + timedelta(seconds=step))
    storage.import_trades([_row(history, n) for n in range(20)])
    return storage.list_orders(limit=None) + storage.list_positions() + storage.get_trades()


def _decimal_texts(model: Any) -> list[str]:
    """Every Decimal of a model, derived ones included, as text: digits and exponent, not just the value."""
    return [str(value) for value in model.model_dump().values() if isinstance(value, Decimal)]


def test_rows_map_exactly_whatever_decimal_context_the_caller_set(storage, history):
    """The mappers multiply each scaled integer by its column's step under stocksbot's own context: a
    caller's 6-digit context that traps Inexact and Rounded neither rounds a value nor raises, and it
    is the caller's context again afterwards, also after a row that does not map."""
    expected = [_decimal_texts(row) for row in _random_book(storage, history, seed=5)]
    assert any(len(text.replace(".", "").replace("-", "").lstrip("0")) > 6 for texts in expected for text in texts)
    with localcontext(Context(prec=6, traps=[Inexact, Rounded])) as caller:
        rows = storage.list_orders(limit=None) + storage.list_positions() + storage.get_trades()
        one = storage.get_order(rows[0].order_id)
        assert getcontext() is caller
        with pytest.raises(stocksbot.RowValidationError):
            trades.trade_from_tuple(("default",) * 17)
        assert getcontext() is caller and 6 == caller.prec
    assert expected == [_decimal_texts(row) for row in rows]
    assert _decimal_texts(rows[0]) == _decimal_texts(one)


def test_a_scaled_integer_maps_to_the_same_decimal_as_scaleb(storage, history):
    """Digits and exponent: the mapped Decimals equal values.quantity_from_db / money_from_db (scaleb)."""
    for row in _random_book(storage, history, seed=6):
        if isinstance(row, Position):
            units = [(row.quantity, 9), (row.cost_basis, 8), (row.realized_pnl, 8)]
        elif isinstance(row, Trade):
            units = [(row.quantity, 9), (row.price, 8), (row.commission, 8), (row.fees, 8), (row.realized_pnl, 8)]
        else:
            units = [(row.quantity, 9), (row.filled_quantity, 9), (row.filled_notional, 8), (row.limit_price, 8)]
        for value, places in units:
            if value is None:  # a market order's limit price
                continue
            scaled = int(value.scaleb(places))
            assert str((quantity_from_db if places == 9 else money_from_db)(scaled)) == str(value)


def test_the_average_prices_are_derived_on_access_and_a_dump_validates_back(storage, history):
    """Order.avg_fill_price and Position.avg_entry_price are computed from the stored truth: in the
    dump, recomputed on a copy with other figures, and not taken as input."""
    book = _random_book(storage, history, seed=7)
    order = next(row for row in book if isinstance(row, Order) and row.filled_quantity)
    position = next(row for row in book if isinstance(row, Position) and row.quantity)
    assert ratio(order.filled_notional, order.filled_quantity) == order.avg_fill_price
    assert ratio(position.cost_basis, position.quantity) == position.avg_entry_price
    assert order.avg_fill_price == order.model_dump()["avg_fill_price"]
    assert position.avg_entry_price == position.model_dump()["avg_entry_price"]
    assert "avg_fill_price" not in Order.model_fields and "avg_entry_price" not in Position.model_fields
    doubled = position.model_copy(update={"quantity": position.quantity * 2})
    assert ratio(position.cost_basis, position.quantity * 2) == doubled.avg_entry_price
    assert position == Position.model_validate_json(position.model_dump_json())
    assert order == Order.model_validate(order.model_dump())
    assert D(0) == position.model_copy(update={"quantity": D(0)}).avg_entry_price
    assert None is order.model_copy(update={"filled_quantity": D(0)}).avg_fill_price


def test_models_read_back_share_one_read_only_fields_set_that_copies_and_pickles_as_a_plain_set(storage, history):
    """The mappers give every model of a class one shared model_fields_set: changing it in place is
    refused (it would change every model's), while model_copy, deepcopy and pickle get a set of their own."""
    book = _random_book(storage, history, seed=11)
    for model in (Order, Position, Trade):
        read = [row for row in book if type(row) is model]
        assert len(read) >= 2 and all(row.model_fields_set is read[0].model_fields_set for row in read)
        shared = read[0].model_fields_set
        for change in (lambda: shared.add("x"), lambda: shared.discard("symbol"), lambda: shared.clear(),
                       lambda: shared.update({"x"})):
            with pytest.raises(TypeError, match="shared"):
                change()
        assert shared == set(model.model_fields)
        for copied in (read[0].model_copy(update={"symbol": "ZZZ"}), copy.deepcopy(read[0]),
                       pickle.loads(pickle.dumps(read[0]))):
            assert type(copied.model_fields_set) is set and copied.model_fields_set == shared
            copied.model_fields_set.add("symbol")  # its own set: the shared one stays as it is
        assert read[0].model_dump(exclude_unset=True) == read[0].model_dump()  # every field counts as set


def test_a_row_the_model_cannot_hold_is_a_row_validation_error(storage, history):
    """An unknown enum value or a malformed timestamp in a row: RowValidationError, not a wrong model."""
    order = storage.get_order(history["order_id"])
    assert order is not None
    good = (order.account_id, order.order_id, order.client_order_id, order.external_id, order.strategy_id,
            order.symbol, "buy", "market", 10**11, None, None, "filled", None, 10**11, 5 * 10**11,
            timestamp_to_db(T0), timestamp_to_db(T0), timestamp_to_db(T0))
    assert D(50) == orders.order_from_tuple(good).avg_fill_price  # 5000 for 100
    for index, bad in ((6, "hold"), (11, "done"), (15, "the second of January 2024"), (13, "ten")):
        broken = list(good)
        broken[index] = bad
        with pytest.raises(stocksbot.RowValidationError):
            orders.order_from_tuple(tuple(broken))
    with pytest.raises(stocksbot.RowValidationError):
        positions.position_from_row({"account_id": "default"})
    with pytest.raises(stocksbot.RowValidationError):
        trades.trade_from_tuple(("default",) * 17)
