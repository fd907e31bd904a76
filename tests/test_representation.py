"""The value representation, proven through both databases: scaled BIGINTs, UTC text timestamps, UUIDv7 ids.

Each decision in stocksbot/values.py (and docs/decisions.md) is checked by a
round trip through SQLite and PostgreSQL with raw SQL, so what is proven is the
storage itself, not only the Python conversion.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

import psycopg
import pytest

from migration_worker import run_together
from stocksbot.errors import ValidationError
from stocksbot.values import (
    BIGINT_MAX,
    MONEY_STEP,
    QUANTITY_STEP,
    id_timestamp,
    money_from_db,
    money_to_db,
    new_id,
    quantity_from_db,
    quantity_to_db,
    timestamp_from_db,
    timestamp_to_db,
    to_decimal,
)

TS = "2024-03-01T14:30:00.123456Z"


# --- raw SQL on either driver ----------------------------------------------------------------


def sql_for(conn: Any, sql: str) -> str:
    """``:name`` placeholders as the driver wants them (psycopg: ``%(name)s``)."""
    if isinstance(conn, psycopg.Connection):
        return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)
    return sql


def fetch(conn: Any, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sql_for(conn, sql), dict(params or {})).fetchall()]


def insert_many(conn: Any, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    columns = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    conn.cursor().executemany(sql_for(conn, sql), rows)


def order_row(**changes: Any) -> dict[str, Any]:
    return {
        "order_id": new_id(), "client_order_id": new_id(), "symbol": "AAPL", "side": "buy", "order_type": "limit",
        "quantity_e9": 10**9, "limit_price_e8": 10**8, "status": "pending", "created_at": TS, "updated_at": TS,
        **changes,
    }


def position_row(**changes: Any) -> dict[str, Any]:
    return {
        "position_id": new_id(), "symbol": f"P{new_id()[-12:]}", "side": "long", "status": "open",
        "quantity_e9": 10**9, "cost_basis_e8": 10**8, "realized_pnl_e8": 0, "opened_at": TS, "updated_at": TS,
        **changes,
    }


def trade_row(order: Mapping[str, Any], position: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "trade_id": new_id(), "order_id": order["order_id"], "position_id": position["position_id"], "symbol": "AAPL",
        "side": "buy", "leg": 0, "effect": "increase", "quantity_e9": 10**9, "price_e8": 10**8, "commission_e8": 0,
        "fees_e8": 0, "realized_pnl_e8": 0, "executed_at": TS, "created_at": TS, **changes,
    }


def parents(db: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """An order and an open position for trades to belong to."""
    order, position = order_row(), position_row()
    with db.transaction() as conn:
        insert_many(conn, "orders", [order])
        insert_many(conn, "positions", [position])
    return order, position


# --- scaled BIGINT numbers ----------------------------------------------------------------------


def test_price_and_quantity_round_trip_exactly(db):
    """A price with 8 decimals and a quantity with 9 are stored as BIGINT and come back as equal Decimals."""
    quantity, price = Decimal("123456.123456789"), Decimal("98765.43210987")
    order = order_row(quantity_e9=quantity_to_db(quantity), limit_price_e8=money_to_db(price, "limit_price"))
    with db.transaction() as conn:
        insert_many(conn, "orders", [order])

    with db.connection() as conn:
        (row,) = fetch(
            conn,
            "SELECT quantity_e9, limit_price_e8 FROM orders WHERE limit_price_e8 = :limit_price_e8 AND quantity_e9 = :quantity_e9",
            order,
        )
    assert (int, int) == (type(row["quantity_e9"]), type(row["limit_price_e8"]))
    assert (123456123456789, 9876543210987) == (row["quantity_e9"], row["limit_price_e8"])
    assert quantity == quantity_from_db(row["quantity_e9"])
    assert price == money_from_db(row["limit_price_e8"])
    assert "123456.123456789" == str(quantity_from_db(row["quantity_e9"]))


def test_ten_thousand_tenths_sum_to_exactly_one_thousand_in_sql(db):
    """10,000 fills of 0.1 summed by the database give the int 1000 * 10**9, identically on both engines."""
    order, position = parents(db)
    tenth = quantity_to_db(0.1)
    with db.transaction() as conn:
        insert_many(conn, "trades", (
            trade_row(order, position, quantity_e9=tenth, realized_pnl_e8=money_to_db("-0.01")) for _ in range(10_000)
        ))

    with db.connection() as conn:
        (row,) = fetch(
            conn,
            "SELECT CAST(COALESCE(SUM(quantity_e9), 0) AS BIGINT) AS quantity, "
            "CAST(COALESCE(SUM(realized_pnl_e8), 0) AS BIGINT) AS pnl, COUNT(*) AS n "
            "FROM trades WHERE order_id = :order_id",
            order,
        )
        (nothing,) = fetch(conn, "SELECT CAST(COALESCE(SUM(quantity_e9), 0) AS BIGINT) AS quantity FROM trades WHERE order_id = 'none'")
    assert 10_000 == row["n"]
    assert int is type(row["quantity"]) and int is type(row["pnl"])
    assert 1000 * 10**9 == row["quantity"]
    assert Decimal(1000) == quantity_from_db(row["quantity"])
    assert Decimal(-100) == money_from_db(row["pnl"])
    assert 0 == nothing["quantity"] and int is type(nothing["quantity"])


def test_negative_money_round_trips(db):
    """A negative amount (a realized loss) is stored and read back exactly, and sums with gains exactly."""
    order, position = parents(db)
    loss, gain = Decimal("-1234.56789012"), Decimal("1234.56789013")
    trades = [trade_row(order, position, realized_pnl_e8=money_to_db(value, "realized_pnl")) for value in (loss, gain)]
    with db.transaction() as conn:
        insert_many(conn, "trades", trades)

    with db.connection() as conn:
        stored = fetch(conn, "SELECT realized_pnl_e8 FROM trades ORDER BY realized_pnl_e8")
        (total,) = fetch(conn, "SELECT CAST(SUM(realized_pnl_e8) AS BIGINT) AS pnl FROM trades")
    assert [loss, gain] == [money_from_db(row["realized_pnl_e8"]) for row in stored]
    assert Decimal("0.00000001") == money_from_db(total["pnl"])


def test_values_at_the_edge_of_the_bigint_range_round_trip(db):
    """The largest and smallest representable amounts and quantities survive storage unchanged."""
    largest_money, largest_quantity = money_from_db(BIGINT_MAX), quantity_from_db(BIGINT_MAX)
    order, position = parents(db)
    edges = [
        trade_row(order, position, quantity_e9=quantity_to_db(largest_quantity), realized_pnl_e8=money_to_db(largest_money)),
        trade_row(order, position, quantity_e9=quantity_to_db(QUANTITY_STEP), realized_pnl_e8=money_to_db(-largest_money)),
    ]
    with db.transaction() as conn:
        insert_many(conn, "trades", edges)

    with db.connection() as conn:
        stored = fetch(conn, "SELECT quantity_e9, realized_pnl_e8 FROM trades ORDER BY quantity_e9 DESC")
    assert [(BIGINT_MAX, BIGINT_MAX), (1, -BIGINT_MAX)] == [(row["quantity_e9"], row["realized_pnl_e8"]) for row in stored]
    assert Decimal("92233720368.54775807") == money_from_db(stored[0]["realized_pnl_e8"])
    assert Decimal("9223372036.854775807") == quantity_from_db(stored[0]["quantity_e9"])
    assert -largest_money == money_from_db(stored[1]["realized_pnl_e8"])


@pytest.mark.parametrize(
    ("convert", "value"),
    [
        pytest.param(money_to_db, money_from_db(BIGINT_MAX) + MONEY_STEP, id="money one unit above"),
        pytest.param(money_to_db, -money_from_db(BIGINT_MAX) - MONEY_STEP, id="money one unit below"),
        pytest.param(quantity_to_db, quantity_from_db(BIGINT_MAX) + QUANTITY_STEP, id="quantity one unit above"),
        pytest.param(money_to_db, Decimal("1E+30"), id="money 1E+30"),
    ],
)
def test_values_beyond_the_bigint_range_are_rejected(convert, value):
    """One unit past the BIGINT range is a ValidationError naming the field, never a wrapped-around number."""
    with pytest.raises(ValidationError, match="out of range") as refused:
        convert(value, "notional")

    assert "notional" == refused.value.field


@pytest.mark.parametrize(
    ("convert", "value"),
    [
        pytest.param(quantity_to_db, "1.0000000001", id="quantity with 10 decimals"),
        pytest.param(quantity_to_db, Decimal("1E-10"), id="quantity 1E-10"),
        pytest.param(money_to_db, "0.000000001", id="money with 9 decimals"),
        pytest.param(money_to_db, Decimal("150.123456789"), id="price with 9 decimals"),
        pytest.param(money_to_db, 1 / 3, id="float one third"),
        pytest.param(money_to_db, float("nan"), id="float NaN"),
        pytest.param(money_to_db, float("inf"), id="float Infinity"),
        pytest.param(quantity_to_db, float("-inf"), id="float -Infinity"),
        pytest.param(money_to_db, Decimal("NaN"), id="Decimal NaN"),
        pytest.param(money_to_db, Decimal("sNaN"), id="Decimal sNaN"),
        pytest.param(quantity_to_db, Decimal("Infinity"), id="Decimal Infinity"),
        pytest.param(money_to_db, "NaN", id="text NaN"),
        pytest.param(quantity_to_db, "-Infinity", id="text -Infinity"),
        pytest.param(money_to_db, "12,50", id="text with a comma"),
        pytest.param(money_to_db, "", id="empty text"),
        pytest.param(money_to_db, " 2.5 ", id="text with surrounding spaces (never trimmed)"),
        pytest.param(quantity_to_db, "1_000", id="text with an underscore"),
        pytest.param(quantity_to_db, "1e999999999", id="an exponent far out of range"),
        pytest.param(quantity_to_db, True, id="bool"),
        pytest.param(quantity_to_db, None, id="None"),
    ],
)
def test_inexact_or_non_finite_values_are_rejected_naming_the_field(convert, value):
    """Too many decimals, NaN, infinities and non-numbers raise ValidationError with the field named."""
    with pytest.raises(ValidationError) as refused:
        convert(value, "fill_price")

    assert "fill_price" == refused.value.field
    assert "fill_price" in str(refused.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1.10000000000", 110_000_000, id="trailing zeros beyond the scale"),
        pytest.param("1E-8", 1, id="exponent notation"),
        pytest.param(-7, -700_000_000, id="negative int"),
        pytest.param(Decimal("-0"), 0, id="negative zero"),
    ],
)
def test_exact_values_in_any_spelling_are_accepted(value, expected):
    """What matters is exactness, not spelling: extra zeros, exponents and ints convert to the same units."""
    assert expected == money_to_db(value)


def test_floats_convert_by_their_shortest_repr(db):
    """0.1 means Decimal('0.1') (not 0.1000000000000000055...), in Python and after a trip through the database."""
    assert Decimal("0.1") == to_decimal(0.1, "price")
    assert (10_000_000, 100_000_000) == (money_to_db(0.1), quantity_to_db(0.1))
    assert (110_000_000, 15_025_000_000) == (money_to_db(1.1), money_to_db(150.25))
    with pytest.raises(ValidationError):
        money_to_db(0.1 + 0.2)  # 0.30000000000000004: the float really has 17 decimals
    order = order_row(limit_price_e8=money_to_db(0.1), quantity_e9=quantity_to_db(0.1))
    with db.transaction() as conn:
        insert_many(conn, "orders", [order])

    with db.connection() as conn:
        (row,) = fetch(conn, "SELECT limit_price_e8, quantity_e9 FROM orders WHERE order_id = :order_id", order)
    assert (Decimal("0.1"), Decimal("0.1")) == (money_from_db(row["limit_price_e8"]), quantity_from_db(row["quantity_e9"]))


# --- timestamps -------------------------------------------------------------------------------


def config_rows(stamps: dict[str, datetime]) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": "x", "value_type": "string", "created_at": timestamp_to_db(when), "updated_at": TS}
        for key, when in stamps.items()
    ]


def test_an_aware_timestamp_round_trips_as_the_same_instant_in_utc(db):
    """A +05:30 datetime with microseconds is stored as fixed-width UTC text and read back as the same instant."""
    kolkata = timezone(timedelta(hours=5, minutes=30))
    denver = timezone(timedelta(hours=-7))
    stamps = {
        "kolkata": datetime(2024, 3, 1, 3, 15, 7, 654321, tzinfo=kolkata),
        "denver": datetime(2024, 12, 31, 20, 0, 0, 1, tzinfo=denver),
    }
    with db.transaction() as conn:
        insert_many(conn, "config", config_rows(stamps))

    with db.connection() as conn:
        stored = {row["key"]: row["created_at"] for row in fetch(conn, "SELECT key, created_at FROM config")}
    assert {"kolkata": "2024-02-29T21:45:07.654321Z", "denver": "2025-01-01T03:00:00.000001Z"} == stored
    for key, original in stamps.items():
        back = timestamp_from_db(stored[key])
        assert original == back
        assert timezone.utc is back.tzinfo
        assert original.microsecond == back.microsecond
        assert 27 == len(stored[key])


def test_timestamp_text_order_is_time_order(db):
    """ORDER BY a timestamp column sorts by instant, whatever offset or precision the input had."""
    east, west = timezone(timedelta(hours=9)), timezone(timedelta(hours=-11))
    stamps = {
        "a": datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        "b": datetime(2000, 1, 1, 0, 0, 0, 0, tzinfo=timezone.utc),
        "c": datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
        "d": datetime(2000, 1, 1, 9, 0, 0, 10, tzinfo=east),  # 00:00:00.000010Z: later wall clock, same day
        "e": datetime(2000, 1, 1, 0, 0, 0, 100000, tzinfo=timezone.utc),
        "f": datetime(1999, 12, 31, 14, 0, 1, tzinfo=west),  # 2000-01-01T01:00:01Z: earlier wall clock, later instant
        "g": datetime(2024, 3, 1, 14, 30, tzinfo=timezone.utc),
        "h": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    }
    shuffled = dict(random.Random(7).sample(sorted(stamps.items()), len(stamps)))
    with db.transaction() as conn:
        insert_many(conn, "config", config_rows(shuffled))

    with db.connection() as conn:
        ordered = [row["key"] for row in fetch(conn, "SELECT key FROM config ORDER BY created_at")]
        later = fetch(conn, "SELECT key FROM config WHERE created_at > :since ORDER BY created_at",
                      {"since": timestamp_to_db(datetime(2000, 1, 1, 1, 0, tzinfo=timezone.utc))})
    assert sorted(stamps, key=stamps.__getitem__) == ordered
    assert list("abcdefgh") == ordered
    assert ["f", "g", "h"] == [row["key"] for row in later]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(datetime(2024, 3, 1, 14, 30), id="naive datetime"),
        pytest.param(datetime.now(), id="datetime.now() without tz"),
        pytest.param("2024-03-01T14:30:00", id="text without offset"),
        pytest.param("yesterday", id="not a timestamp"),
        pytest.param(1709303400, id="epoch seconds"),
    ],
)
def test_naive_or_unparseable_timestamps_are_rejected(value):
    """A datetime without a timezone (or anything not a datetime) is a ValidationError naming the field."""
    with pytest.raises(ValidationError) as refused:
        timestamp_to_db(value, "executed_at")

    assert "executed_at" == refused.value.field


# --- ids ------------------------------------------------------------------------------------------


def test_ids_made_in_a_tight_loop_are_unique_and_ordered():
    """50,000 new_id() calls in a row: all distinct, lowercase UUIDv7 text, each greater than the one before."""
    ids = [new_id() for _ in range(50_000)]

    assert len(ids) == len(set(ids))
    assert sorted(ids) == ids
    assert all(len(id_) == 36 and id_[14] == "7" and id_[19] in "89ab" and id_ == id_.lower() for id_ in ids)
    assert id_timestamp(ids[0]) <= id_timestamp(ids[-1])


def test_ids_from_two_processes_are_unique(tmp_path):
    """Two processes making ids at the same moment never collide, and each one's ids stay ordered."""
    results = run_together(tmp_path, "new-ids", "20000", count=2)

    assert [0, 0] == [result.returncode for result in results], [result.stderr for result in results]
    first, second = (result.output or [] for result in results)
    assert 20_000 == len(first) == len(second)
    assert sorted(first) == first and sorted(second) == second
    assert 40_000 == len(set(first) | set(second))


def test_order_by_id_is_creation_order(db):
    """Rows inserted in random order come back in creation order when sorted by their id column."""
    created = [new_id() for _ in range(2_000)]
    rows = [
        {"strategy_id": id_, "name": f"strategy {number}", "config": "{}", "created_at": TS, "updated_at": TS}
        for number, id_ in enumerate(created)
    ]
    with db.transaction() as conn:
        insert_many(conn, "strategies", random.Random(11).sample(rows, len(rows)))

    with db.connection() as conn:
        ordered = [row["strategy_id"] for row in fetch(conn, "SELECT strategy_id FROM strategies ORDER BY strategy_id")]
        newest = fetch(conn, "SELECT MAX(strategy_id) AS id FROM strategies")[0]["id"]
    assert created == ordered
    assert created[-1] == newest


def test_a_datetime_converted_again_gives_the_same_text_and_none_is_still_refused():
    """timestamp_to_db keeps its last conversion: the same object (a fill writes one instant to several
    rows) gives the same text, an equal instant in another zone too, and a value that is no datetime is
    refused whatever was converted before."""
    moment = datetime(2024, 3, 1, 14, 30, 0, 123456, tzinfo=timezone.utc)
    assert TS == timestamp_to_db(moment) == timestamp_to_db(moment)
    assert TS == timestamp_to_db(moment.astimezone(timezone(timedelta(hours=-5))))
    assert "2024-03-01T14:30:00.123457Z" == timestamp_to_db(moment + timedelta(microseconds=1))
    for value in (None, "", object()):
        with pytest.raises(ValidationError):
            timestamp_to_db(value)
