"""``python -m bench.parts``: what each optimisation of the read and fill paths buys, one at a time.

Each line times one step the way stocksbot did it before (docs/performance.md, "Before")
and the way it does it now, on the same input, in this process (SQLite in memory for the
statements), best of 5: the per-operation saving each change brought, independent of the
end-to-end runs of ``python -m bench``.
"""

from __future__ import annotations

import itertools
import operator
import sys
import tempfile
import timeit
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

ORDER_ROW = (
    "bench", "01936c5f-3880-7005-a321-fc8823fbb05a", "C0000001", "B0000001", "01936c5f-3880-7005-a321-fc8823fbb05b",
    "AAPL", "buy", "limit", 37_500_000_000, 12_345_000_000, None, "partially_filled", None, 12_500_000_000,
    1_543_125_000_000, "2024-01-02T14:30:00.123456Z", "2024-01-02T14:31:00.000000Z", None,
)


def best(function: Callable[[], Any], number: int = 2000) -> float:
    """Seconds per call, best of 5 repeats."""
    return min(timeit.repeat(function, number=number, repeat=5)) / number


def main() -> None:
    import stocksbot
    from stocksbot import orders
    from stocksbot.models import Order
    from stocksbot.values import (
        DECIMAL_CONTEXT, MONEY_STEP, build_exact, money_to_db, price_from_units, ratio, timestamp_from_db,
    )

    lines: list[tuple[str, float, float]] = []

    def compare(what: str, before: Callable[[], Any], after: Callable[[], Any], number: int = 2000) -> None:
        assert before() == after(), what
        lines.append((what, best(before, number), best(after, number)))

    # Row mapping: pydantic validation of every field vs model_builder on a tuple.
    names = orders.ORDER_COLUMNS
    row = dict(zip(names, ORDER_ROW))

    def validated() -> Order:
        filled = Decimal(row["filled_quantity_e9"]).scaleb(-9, DECIMAL_CONTEXT)
        notional = Decimal(row["filled_notional_e8"]).scaleb(-8, DECIMAL_CONTEXT)
        return Order(
            order_id=row["order_id"], account_id=row["account_id"], client_order_id=row["client_order_id"],
            external_id=row["external_id"], strategy_id=row["strategy_id"], symbol=row["symbol"], side=row["side"],
            order_type=row["order_type"], quantity=Decimal(row["quantity_e9"]).scaleb(-9, DECIMAL_CONTEXT),
            limit_price=Decimal(row["limit_price_e8"]).scaleb(-8, DECIMAL_CONTEXT), stop_price=None,
            status=row["status"], status_reason=None, filled_quantity=filled, filled_notional=notional,
            avg_fill_price=ratio(notional, filled), created_at=_slice_parse(row["created_at"]),
            updated_at=_slice_parse(row["updated_at"]), terminal_at=None,
        )

    compare("map an orders row to an Order (pydantic validation -> model_builder)", validated,
            lambda: orders.order_from_tuple(ORDER_ROW))
    compare("average fill price (Decimal divide + quantize -> integer half-even)",
            lambda: ratio(Decimal(1_543_125_000_000).scaleb(-8, DECIMAL_CONTEXT), Decimal(12_500_000_000).scaleb(-9, DECIMAL_CONTEXT)),
            lambda: price_from_units(1_543_125_000_000, 12_500_000_000), 20000)
    compare("timestamp text -> datetime (slicing + int() -> fromisoformat)",
            lambda: _slice_parse("2024-01-02T14:30:00.123456Z"), lambda: timestamp_from_db("2024-01-02T14:30:00.123456Z"), 20000)
    moment = datetime(2024, 1, 2, 14, 30, 0, 123456, tzinfo=timezone.utc)
    # Two equal instants as two objects, taken in turn: each call converts (timestamp_to_db keeps only its last one).
    turns = itertools.cycle([moment, moment.replace()])
    compare("datetime -> timestamp text (to_utc + strftime -> isoformat)",
            lambda: (moment - moment.utcoffset()).replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            lambda: stocksbot.values.timestamp_to_db(next(turns)), 20000)
    compare("a fill's one instant converted again for its next row (isoformat -> the kept last conversion)",
            lambda: stocksbot.values.timestamp_to_db(next(turns)), lambda: stocksbot.values.timestamp_to_db(moment), 20000)
    price = Decimal("123.45")
    compare("Decimal -> scaled integer (digits string -> as_integer_ratio)", lambda: _digits_scale(price, 8),
            lambda: money_to_db(price), 20000)
    # A listing's amounts as the mappers turn them into Decimals, timed per amount.
    amounts = [ORDER_ROW[14] + 7919 * n for n in range(200)]
    scaled = [Decimal(units).scaleb(-8, DECIMAL_CONTEXT) for units in amounts]
    multiplied = build_exact(lambda values: [Decimal(units) * MONEY_STEP for units in values], amounts)
    assert [str(value) for value in scaled] == [str(value) for value in multiplied]
    lines.append(("scaled integer -> Decimal in a listing (scaleb with context -> multiply, one context switch)",
                  best(lambda: [Decimal(units).scaleb(-8, DECIMAL_CONTEXT) for units in amounts], 100) / len(amounts),
                  best(lambda: build_exact(lambda values: [Decimal(units) * MONEY_STEP for units in values], amounts), 100)
                  / len(amounts)))
    by_int = build_exact(lambda values: [MONEY_STEP * units for units in values], amounts)
    assert [str(value) for value in by_int] == [str(value) for value in multiplied]
    lines.append(("scaled integer -> Decimal in a listing (Decimal(units) * step -> step * units)",
                  best(lambda: build_exact(lambda values: [Decimal(units) * MONEY_STEP for units in values], amounts), 100)
                  / len(amounts),
                  best(lambda: build_exact(lambda values: [MONEY_STEP * units for units in values], amounts), 100)
                  / len(amounts)))
    described = tuple("".join(list(name)) for name in orders.ORDER_COLUMNS)  # equal names, other str objects
    interned = tuple(sys.intern(name) for name in described)
    compare("a statement's columns checked against ORDER_COLUMNS (names as read -> interned)",
            lambda: described == orders.ORDER_COLUMNS, lambda: interned == orders.ORDER_COLUMNS, 20000)

    # Statements: through aiosql's generated function (dict rows) vs Statement (tuple rows).
    with tempfile.TemporaryDirectory() as directory:
        db = stocksbot.connect(f"sqlite:///{Path(directory) / 'parts.db'}")
        db.migrate()
        with db.transaction() as conn:
            conn.execute(
                f"INSERT INTO orders ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                ORDER_ROW[:4] + (None,) + ORDER_ROW[5:],
            )
        with db.connection() as conn:
            aiosql_function = db.query_file("orders").function("find_order_by_external_id")
            statement = orders.statements_of(conn).find_order_by_external_id
            params = {"account_id": "bench", "external_id": "B0000001"}
            compare("run find_order_by_external_id (aiosql + dict row -> Statement + tuple)",
                    lambda: tuple(aiosql_function(conn, **params).values()), lambda: statement(conn, params))
            compare("enter a connection scope (nested generator context managers -> a class)",
                    lambda: _generator_scope(conn), lambda: _class_scope(db))
        time_writes(db, lines)
        db.close()

    # Cold start: yoyo's sqlparse.split of every migration file vs stocksbot.migration_files.split_sql.
    import sqlparse

    from stocksbot.migration_files import split_sql
    from stocksbot.paths import migrations_dir

    texts = [path.read_text(encoding="utf-8") for path in sorted(migrations_dir().glob("*.sql"))]
    compare("split every migration file (sqlparse.split -> migration_files.split_sql)",
            lambda: [sqlparse.split(text) for text in texts], lambda: [split_sql(text) for text in texts], 20)

    width = max(len(what) for what, _, _ in lines)
    print(f"{'step':<{width}}  {'before':>10}  {'after':>10}  saved")
    for what, before, after in lines:
        print(f"{what:<{width}}  {before * 1e6:8.2f}us  {after * 1e6:8.2f}us  {(before - after) * 1e6:6.2f}us ({before / after:.1f}x)")


def time_writes(db: Any, lines: list[tuple[str, float, float]]) -> None:
    """The fill path's trade insert with RETURNING (as before) and without (now), on the SQLite file,
    in a transaction rolled back at the end; the two insert the same values but for the trade id."""
    from stocksbot import trades
    from stocksbot.values import new_id

    statement_sql = trades.statements_of(db._engine._connection()).insert_trade.sql
    returning_sql = statement_sql.rstrip().rstrip(";") + " RETURNING " + ", ".join(trades.TRADE_COLUMNS)
    values = {
        "account_id": "bench", "order_id": ORDER_ROW[1], "position_id": None, "strategy_id": None, "symbol": "AAPL",
        "side": "buy", "leg": 0, "effect": "open", "quantity_e9": 1_000_000_000, "price_e8": 10_000_000_000,
        "commission_e8": 0, "fees_e8": 0, "realized_pnl_e8": 0, "external_trade_id": None,
        "executed_at": "2024-01-02T14:32:00.000000Z", "created_at": "2024-01-02T14:32:00.000000Z",
    }

    class RolledBack(Exception):
        pass

    try:
        with db.transaction() as conn:
            position_id = new_id()
            conn.execute(
                "INSERT INTO positions (account_id, position_id, symbol, side, status, quantity_e9, cost_basis_e8, "
                "realized_pnl_e8, opened_at, updated_at) VALUES ('bench', ?, 'AAPL', 'long', 'open', 1, 1, 0, "
                "'2024-01-02T14:32:00.000000Z', '2024-01-02T14:32:00.000000Z')", (position_id,),
            )
            values["position_id"] = position_id

            def insert(sql: str, fetch: bool) -> Any:
                cursor = conn.execute(sql, {**values, "trade_id": new_id()})
                return cursor.fetchone() if fetch else cursor.rowcount

            lines.append(("insert a fill's trade row (INSERT ... RETURNING -> INSERT)",
                          best(lambda: insert(returning_sql, True), 2000), best(lambda: insert(statement_sql, False), 2000)))
            positional_sql, names = trades.statements_of(conn).insert_trade._positional_sql()
            pick = operator.itemgetter(*names)

            def insert_positional() -> int:
                return conn.execute(positional_sql, pick({**values, "trade_id": new_id()})).rowcount

            lines.append(("bind a trade row's 17 parameters (by name -> positional, itemgetter)",
                          best(lambda: insert(statement_sql, False), 2000), best(insert_positional, 2000)))
            raise RolledBack
    except RolledBack:
        pass


def _slice_parse(text: str) -> datetime:
    return datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                    int(text[17:19]), int(text[20:26]), tzinfo=timezone.utc)


def _digits_scale(number: Decimal, places: int) -> int:
    sign, digits, exponent = number.as_tuple()
    coefficient = int("".join(map(str, digits)) or "0")
    shift = int(exponent) + places
    units = coefficient * 10**shift if shift >= 0 else divmod(coefficient, 10**-shift)[0]
    return -units if sign else units


def _generator_scope(conn: Any) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def inner() -> Any:
        yield conn

    @contextmanager
    def outer() -> Any:
        with inner() as connection:
            yield connection

    with outer() as connection:
        return connection


def _class_scope(db: Any) -> Any:
    with db.connection() as connection:
        return connection


if __name__ == "__main__":
    main()
