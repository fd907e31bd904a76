"""Positions: create_position, the one-open-position rule, lookups and listings, and the typed
query module stocksbot.positions called directly on a connection.

Fill accounting (what fills do to positions) is tested in test_service_fills.py; here
positions are made by create_position or by the typed insert.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from stocksbot import (
    ConflictError,
    NotFoundError,
    Position,
    PositionSide,
    PositionStatus,
    StorageService,
)
from stocksbot import positions
from stocksbot.values import money_to_db, new_id, quantity_to_db, timestamp_to_db

ACCOUNT = "default"
TABLES = ("strategies", "orders", "positions", "trades", "config")
T0 = datetime(2024, 3, 1, 14, 30, 0, 123456, tzinfo=timezone.utc)
T1 = datetime(2024, 3, 1, 15, 0, 0, 1, tzinfo=timezone.utc)
T2 = datetime(2024, 3, 2, 9, 30, 0, 0, tzinfo=timezone.utc)


def snapshot(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of the five tables, read with plain SQL (the 'nothing changed' witness)."""
    with db.connection() as conn:
        return {table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()] for table in TABLES}


@pytest.fixture
def svc(db: Any) -> StorageService:
    """The default account's service on the engine under test."""
    return StorageService(db)


# --- create_position ---------------------------------------------------------------------------


def test_create_position_seed_call_style(svc: StorageService):
    """The seed call with floats opens a long of exactly 100 at 150 with cost basis exactly 15000."""
    position = svc.create_position(symbol="AAPL", side="long", quantity=100.0, avg_entry_price=150.0)
    assert Decimal("100") == position.quantity
    assert Decimal("15000") == position.cost_basis
    assert Decimal("150") == position.avg_entry_price
    assert (PositionSide.LONG, PositionStatus.OPEN, Decimal(0)) == (position.side, position.status, position.realized_pnl)
    assert (None, None, "AAPL", ACCOUNT) == (position.strategy_id, position.closed_at, position.symbol, position.account_id)
    assert position.opened_at == position.updated_at
    assert position == svc.get_position(position.position_id)


COST_BASIS = [
    # quantity, avg_entry_price, cost basis, avg_entry_price as derived back
    (100.0, 150.0, "15000", "150"),
    (0.1, 0.3, "0.03", "0.3"),  # float products would give 0.030000000000000002: floats enter by shortest repr
    (100, "150.25", "15025", "150.25"),
    (Decimal("2.5"), Decimal("99.99999999"), "249.999999975", None),  # half-even rounding to 8 places -> see below
    ("3", "0.33333333", "0.99999999", "0.33333333"),
    ("1.5", "0.00000001", "0.00000002", "0.00000001"),  # 0.000000015 rounds half to even
    ("0.5", "0.00000001", "0", "0"),  # 0.000000005 rounds half to even: to 0
    ("0.000000001", "12345.6789", "0.00001235", "12350"),
]


@pytest.mark.parametrize(("quantity", "price", "cost_basis", "average"), COST_BASIS)
def test_create_position_cost_basis_is_quantity_times_price(svc: StorageService, quantity: Any, price: Any, cost_basis: str, average: str | None):
    """cost_basis = quantity x avg_entry_price rounded half-even to 8 places; avg_entry_price is derived back from it."""
    position = svc.create_position(symbol="MSFT", side="short", quantity=quantity, avg_entry_price=price)
    expected_basis = Decimal(cost_basis).quantize(Decimal("1e-8"), rounding="ROUND_HALF_EVEN")
    assert expected_basis == position.cost_basis
    assert Decimal(str(quantity)) == position.quantity
    assert (expected_basis / position.quantity).quantize(Decimal("1e-8")) == position.avg_entry_price
    if average is not None:
        assert Decimal(average) == position.avg_entry_price
    assert PositionSide.SHORT is position.side
    assert position == svc.get_position(position.position_id)


def test_create_position_with_opened_at_keeps_the_microsecond(svc: StorageService):
    """An explicit opened_at in any offset comes back as the same instant in UTC, to the microsecond."""
    eastern = timezone(timedelta(hours=-5))
    position = svc.create_position("AAPL", "long", 1, 1, opened_at=datetime(2024, 3, 1, 9, 30, 0, 7, tzinfo=eastern))
    assert datetime(2024, 3, 1, 14, 30, 0, 7, tzinfo=timezone.utc) == position.opened_at
    assert timezone.utc == position.opened_at.tzinfo
    assert position == svc.get_position(position.position_id)


def test_second_open_position_for_symbol_and_strategy_is_a_conflict(db: Any, svc: StorageService):
    """A second open position for the same (symbol, strategy) raises ConflictError and writes nothing."""
    strategy = svc.create_strategy("trend").strategy_id
    svc.create_position("AAPL", "long", 10, 100)
    svc.create_position("AAPL", "long", 10, 100, strategy_id=strategy)
    before = snapshot(db)
    for strategy_id, side in ((None, "long"), (None, "short"), (strategy, "short")):
        with pytest.raises(ConflictError) as caught:
            svc.create_position("AAPL", side, 5, 90, strategy_id=strategy_id)
        assert "uq_positions_account_symbol_strategy_open" == caught.value.constraint
    assert before == snapshot(db)


def test_one_open_position_per_symbol_and_strategy(svc: StorageService):
    """Other symbols, other strategies and 'no strategy' each get their own open position of a symbol."""
    s1 = svc.create_strategy("s1").strategy_id
    s2 = svc.create_strategy("s2").strategy_id
    made = [
        svc.create_position("AAPL", "long", 1, 10),
        svc.create_position("AAPL", "short", 2, 20, strategy_id=s1),
        svc.create_position("AAPL", "long", 3, 30, strategy_id=s2),
        svc.create_position("MSFT", "long", 4, 40),
    ]
    assert len(made) == len({p.position_id for p in made}) == len(svc.get_open_positions())


def test_a_closed_position_frees_its_symbol(svc: StorageService):
    """After the open position is closed, a new one can be opened for the same symbol and strategy."""
    first = svc.create_position("AAPL", "long", 10, 100)
    closed = svc.close_position(first.position_id, exit_price=110)
    assert PositionStatus.CLOSED is closed.status
    second = svc.create_position("AAPL", "long", 5, 120)
    assert [second] == svc.get_open_positions(symbol="AAPL")
    assert {first.position_id, second.position_id} == {p.position_id for p in svc.list_positions()}


def test_create_position_for_an_unknown_strategy_is_not_found(db: Any, svc: StorageService):
    """create_position naming an absent strategy raises NotFoundError and writes nothing."""
    before = snapshot(db)
    with pytest.raises(NotFoundError):
        svc.create_position("AAPL", "long", 1, 1, strategy_id=new_id())
    assert before == snapshot(db)


# --- lookups and listings ----------------------------------------------------------------------


def test_get_position_of_an_absent_id_is_none(svc: StorageService):
    """get_position returns None for an id that does not exist."""
    svc.create_position("AAPL", "long", 1, 1)
    assert None is svc.get_position(new_id())


@pytest.fixture
def holdings(svc: StorageService) -> dict[str, Any]:
    """Open positions in three symbols over two strategies (opened at set times), and one closed position."""
    s1 = svc.create_strategy("s1").strategy_id
    s2 = svc.create_strategy("s2").strategy_id
    made = {
        "msft": svc.create_position("MSFT", "long", 1, 10, opened_at=T0),
        "aapl_s1": svc.create_position("AAPL", "long", 2, 20, strategy_id=s1, opened_at=T1),
        "aapl": svc.create_position("AAPL", "short", 3, 30, opened_at=T2),
        "tsla_s2": svc.create_position("TSLA", "long", 4, 40, strategy_id=s2, opened_at=T0),
        "brk_s1": svc.create_position("BRK.B", "long", 5, 50, strategy_id=s1, opened_at=T2),
    }
    gone = svc.create_position("AAPL", "long", 6, 60, strategy_id=s2, opened_at=T0 - timedelta(days=1))
    made["gone"] = svc.close_position(gone.position_id, exit_price=61)
    return {"s1": s1, "s2": s2, **{name: position.position_id for name, position in made.items()}}


OPEN_FILTERS = [
    ({}, ["aapl_s1", "aapl", "brk_s1", "msft", "tsla_s2"]),
    ({"symbol": "AAPL"}, ["aapl_s1", "aapl"]),
    ({"strategy_id": "s1"}, ["aapl_s1", "brk_s1"]),
    ({"strategy_id": "s2"}, ["tsla_s2"]),
    ({"symbol": "AAPL", "strategy_id": "s2"}, []),
    ({"symbol": "NVDA"}, []),
]


@pytest.mark.parametrize(("filters", "expected"), OPEN_FILTERS, ids=repr)
def test_get_open_positions_filters(svc: StorageService, holdings: dict[str, Any], filters: dict[str, Any], expected: list[str]):
    """get_open_positions lists open positions by symbol then opening time, filtered by symbol and strategy."""
    if "strategy_id" in filters:
        filters = {**filters, "strategy_id": holdings[filters["strategy_id"]]}
    listed = svc.get_open_positions(**filters)
    assert [holdings[name] for name in expected] == [p.position_id for p in listed]
    assert all(PositionStatus.OPEN is p.status for p in listed)


def test_list_positions_newest_first_with_closed_ones(svc: StorageService, holdings: dict[str, Any]):
    """list_positions returns open and closed positions, newest opened first; limit cuts the list."""
    listed = svc.list_positions()
    assert 6 == len(listed)
    assert [holdings["gone"]] == [p.position_id for p in listed if p.status is PositionStatus.CLOSED]
    assert sorted(listed, key=lambda p: (p.opened_at, p.position_id), reverse=True) == listed
    assert holdings["gone"] == listed[-1].position_id
    assert listed[:2] == svc.list_positions(limit=2)
    closed = svc.get_position(holdings["gone"])
    assert (Decimal(0), Decimal(0), Decimal(0), Decimal(6)) == (
        closed.quantity, closed.cost_basis, closed.avg_entry_price, closed.realized_pnl,
    )
    assert closed.closed_at is not None


# --- the typed module --------------------------------------------------------------------------


def _open(conn: Any, *, symbol: str = "AAPL", strategy_id: str | None = None, side: str = "long",
          quantity: str = "10", cost_basis: str = "1000", realized_pnl: str = "0", opened_at: datetime = T0) -> Position | None:
    return positions.insert_position(
        conn, account_id=ACCOUNT, position_id=new_id(), strategy_id=strategy_id, symbol=symbol, side=side,
        quantity_e9=quantity_to_db(quantity), cost_basis_e8=money_to_db(cost_basis),
        realized_pnl_e8=money_to_db(realized_pnl), opened_at=opened_at,
    )


def test_typed_find_and_lock_open_position(db: Any, svc: StorageService):
    """positions.find_open_position and lock_open_position find the open position of (symbol, strategy), or None."""
    strategy = svc.create_strategy("s").strategy_id
    with db.transaction() as conn:
        plain = _open(conn, quantity="7.5", cost_basis="750.75")
        ruled = _open(conn, strategy_id=strategy, side="short", quantity="2", cost_basis="300")
        assert Decimal("100.1") == plain.avg_entry_price
        assert None is _open(conn)  # the one-open-position rule, at the query level: nothing inserted
        assert plain == positions.find_open_position(conn, account_id=ACCOUNT, symbol="AAPL", strategy_id=None)
        assert ruled == positions.find_open_position(conn, account_id=ACCOUNT, symbol="AAPL", strategy_id=strategy)
        assert plain == positions.lock_open_position(conn, account_id=ACCOUNT, symbol="AAPL", strategy_id=None)
        assert ruled == positions.lock_open_position(conn, account_id=ACCOUNT, symbol="AAPL", strategy_id=strategy)
        for symbol, strategy_id in (("MSFT", None), ("AAPL", new_id()), ("aapl", None)):
            assert None is positions.find_open_position(conn, account_id=ACCOUNT, symbol=symbol, strategy_id=strategy_id)
            assert None is positions.lock_open_position(conn, account_id=ACCOUNT, symbol=symbol, strategy_id=strategy_id)
        assert None is positions.find_open_position(conn, account_id="paper", symbol="AAPL", strategy_id=None)
    assert "" == positions.strategy_key(None) and strategy == positions.strategy_key(strategy)
    assert plain == svc.get_position(plain.position_id)


def test_typed_update_and_close(db: Any):
    """update_position_holding sets quantity and basis and adds P&L; mark_position_closed zeroes and closes; closed rows are not updated."""
    with db.transaction() as conn:
        opened = _open(conn, realized_pnl="-1.5")
        key = {"account_id": ACCOUNT, "position_id": opened.position_id}
        assert True is positions.update_position_holding(
            conn, **key, quantity_e9=quantity_to_db("4"), cost_basis_e8=money_to_db("400"),
            realized_pnl_delta_e8=money_to_db("60.25"), updated_at=T1,
        )
        held = positions.find_position(conn, **key)
        assert (Decimal(4), Decimal(400), Decimal(100), Decimal("58.75"), T1, T0) == (
            held.quantity, held.cost_basis, held.avg_entry_price, held.realized_pnl, held.updated_at, held.opened_at,
        )
        assert True is positions.mark_position_closed(conn, **key, realized_pnl_delta_e8=money_to_db("-8.75"), closed_at=T2)
        closed = positions.find_position(conn, **key)
        assert (PositionStatus.CLOSED, Decimal(0), Decimal(0), Decimal(50), T2, T2) == (
            closed.status, closed.quantity, closed.cost_basis, closed.realized_pnl, closed.closed_at, closed.updated_at,
        )
        assert False is positions.mark_position_closed(conn, **key, realized_pnl_delta_e8=1, closed_at=T2)
        assert False is positions.update_position_holding(
            conn, **key, quantity_e9=1, cost_basis_e8=1, realized_pnl_delta_e8=1, updated_at=T2,
        )
        assert None is positions.find_open_position(conn, account_id=ACCOUNT, symbol="AAPL", strategy_id=None)
        assert closed == positions.find_position(conn, **key)
        assert _open(conn) is not None  # the symbol is free again


def test_update_position_holdings_changes_only_the_open_positions(db: Any):
    """positions.update_position_holdings sets each position's holding and adds its P&L as update_position_holding
    would, and counts only the positions it changed: a closed one stays as it was (one statement on PostgreSQL)."""
    with db.transaction() as conn:
        held, closed = _open(conn, symbol="AAPL"), _open(conn, symbol="MSFT", realized_pnl="2")
        positions.mark_position_closed(conn, account_id=ACCOUNT, position_id=closed.position_id, realized_pnl_delta_e8=0, closed_at=T1)
        before = positions.find_position(conn, account_id=ACCOUNT, position_id=closed.position_id)
        holding = {"quantity_e9": quantity_to_db("4"), "cost_basis_e8": money_to_db("400"),
                   "realized_pnl_delta_e8": money_to_db("60.25"), "updated_at": timestamp_to_db(T2)}
        changed = positions.update_position_holdings(conn, account_id=ACCOUNT, holdings=[
            {"position_id": position.position_id, **holding} for position in (held, closed)
        ])
        assert 1 == changed
        assert 0 == positions.update_position_holdings(conn, account_id=ACCOUNT, holdings=[])
        updated = positions.find_position(conn, account_id=ACCOUNT, position_id=held.position_id)
        assert (Decimal(4), Decimal(400), Decimal("60.25"), T2) == (
            updated.quantity, updated.cost_basis, updated.realized_pnl, updated.updated_at,
        )
        assert before == positions.find_position(conn, account_id=ACCOUNT, position_id=closed.position_id)


def test_typed_sum_realized_pnl_is_exact(db: Any):
    """positions.sum_realized_pnl adds every position's realized P&L (open and closed) exactly, per account."""
    amounts = ["0.1", "0.2", "-0.3", "12345678901.23456789", "-0.00000001"]
    with db.transaction() as conn:
        assert Decimal(0) == positions.sum_realized_pnl(conn, account_id=ACCOUNT)
        for n, amount in enumerate(amounts):
            _open(conn, symbol=f"S{n}", realized_pnl=amount)
        positions.insert_position(
            conn, account_id="paper", position_id=new_id(), strategy_id=None, symbol="S0", side="long",
            quantity_e9=1, cost_basis_e8=1, realized_pnl_e8=money_to_db("1000"), opened_at=T0,
        )
        first = positions.find_open_position(conn, account_id=ACCOUNT, symbol="S0", strategy_id=None)
        positions.mark_position_closed(conn, account_id=ACCOUNT, position_id=first.position_id, realized_pnl_delta_e8=money_to_db("0.7"), closed_at=T1)
    with db.connection() as conn:
        total = positions.sum_realized_pnl(conn, account_id=ACCOUNT)
        assert Decimal("12345678901.23456789") + Decimal("0.7") - Decimal("0.00000001") == total
        assert Decimal("12345678901.93456788") == total
        assert Decimal("1000") == positions.sum_realized_pnl(conn, account_id="paper")
        assert Decimal(0) == positions.sum_realized_pnl(conn, account_id="nobody")


def test_typed_listings(db: Any):
    """positions.list_open_positions (by symbol) and list_positions (newest first, limit) return typed rows."""
    with db.transaction() as conn:
        b = _open(conn, symbol="B", opened_at=T0)
        a = _open(conn, symbol="A", opened_at=T1)
        c = _open(conn, symbol="C", opened_at=T2)
        positions.mark_position_closed(conn, account_id=ACCOUNT, position_id=c.position_id, realized_pnl_delta_e8=0, closed_at=T2)
    with db.connection() as conn:
        assert [a, b] == positions.list_open_positions(conn, account_id=ACCOUNT)
        assert [b] == positions.list_open_positions(conn, account_id=ACCOUNT, symbol="B")
        assert [c.position_id, a.position_id, b.position_id] == [p.position_id for p in positions.list_positions(conn, account_id=ACCOUNT)]
        assert [c.position_id] == [p.position_id for p in positions.list_positions(conn, account_id=ACCOUNT, limit=1)]


def test_what_a_fill_reads_of_an_open_position(db: Any, svc: StorageService):
    """positions.find_open_position_for_fill(s): id, side, quantity and cost basis of the open position of
    (symbol, strategy), in POSITION_FILL_COLUMNS order, or None."""
    strategy = svc.create_strategy("s").strategy_id
    with db.transaction() as conn:
        plain = _open(conn, quantity="7.5", cost_basis="750.75")
        ruled = _open(conn, strategy_id=strategy, side="short", quantity="2", cost_basis="300")
        expected = {
            None: (plain.position_id, "long", 7_500_000_000, 75_075_000_000),
            strategy: (ruled.position_id, "short", 2_000_000_000, 30_000_000_000),
        }
        assert ("position_id", "side", "quantity_e9", "cost_basis_e8") == positions.POSITION_FILL_COLUMNS
        for strategy_id, row in expected.items():
            assert row == positions.find_open_position_for_fill(conn, account_id=ACCOUNT, symbol="AAPL", strategy_id=strategy_id)
        assert None is positions.find_open_position_for_fill(conn, account_id=ACCOUNT, symbol="MSFT", strategy_id=None)
        assert {("AAPL", ""): expected[None], ("AAPL", strategy): expected[strategy], ("MSFT", ""): None} == (
            positions.list_open_positions_for_fills(
                conn, account_id=ACCOUNT, keys=[("MSFT", None), ("AAPL", strategy), ("AAPL", None), ("AAPL", None)],
            )
        )
