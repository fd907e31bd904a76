"""Strategies: create, look up, list, replace config, switch on and off, and the metrics of a
strategy with no trades. Names are stored verbatim; configs round-trip as dicts.

Metrics over real trades are tested with the fill accounting (test_service_fills.py).
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

import pytest

from stocksbot import ConflictError, NotFoundError, StorageService, Strategy, StrategyMetrics
from stocksbot import strategies
from stocksbot.values import new_id

TABLES = ("strategies", "orders", "positions", "trades", "config")


def snapshot(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of the five tables, read with plain SQL (the 'nothing changed' witness)."""
    with db.connection() as conn:
        return {table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()] for table in TABLES}


@pytest.fixture
def svc(db: Any) -> StorageService:
    """The default account's service on the engine under test."""
    return StorageService(db)


CONFIGS = [
    pytest.param({}, id="empty"),
    pytest.param({"fast": 12, "slow": 26, "signal": 9}, id="ints"),
    pytest.param({"threshold": 0.1, "ratio": 1e-12, "big": 12345678901234567890}, id="numbers"),
    pytest.param({"enabled": True, "paused": False, "note": None}, id="bools-and-null"),
    pytest.param({"symbols": ["AAPL", "BRK.B"], "nested": {"deep": {"deeper": [1, [2, {"x": "y"}]]}}}, id="nested"),
    pytest.param({"名前": "動量 🚀", "quote": "it's \"fine\"", "ws": "  padded\t"}, id="unicode"),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_config_round_trips(svc: StorageService, config: dict[str, Any]):
    """A strategy's config comes back equal to the dict given, through create, get and list."""
    created = svc.create_strategy("s", config=config)
    assert config == created.config
    assert config == svc.get_strategy(created.strategy_id).config
    assert config == svc.get_strategy_by_name("s").config
    assert [config] == [s.config for s in svc.list_strategies()]


def test_create_defaults(svc: StorageService):
    """A new strategy is active with an empty config; created_at equals updated_at; it lives in the service's account."""
    created = svc.create_strategy("mean-reversion")
    assert ("mean-reversion", {}, True, "default") == (created.name, created.config, created.is_active, created.account_id)
    assert created.created_at == created.updated_at
    assert isinstance(created, Strategy)
    assert created == svc.get_strategy(created.strategy_id)
    inactive = svc.create_strategy("idle", config=None, is_active=False)
    assert ({}, False) == (inactive.config, inactive.is_active)


NAMES = [
    "Momentum — 動量 🚀",
    " leading and trailing ",
    "MiXeD cAsE",
    unicodedata.normalize("NFC", "café"),
    "x" * 200,
]


@pytest.mark.parametrize("name", NAMES, ids=["unicode", "spaces", "case", "nfc", "200-chars"])
def test_names_are_stored_verbatim(svc: StorageService, name: str):
    """Names are neither trimmed, re-cased nor normalised: the exact text comes back and finds the strategy."""
    created = svc.create_strategy(name)
    assert name == created.name
    assert created == svc.get_strategy_by_name(name)
    assert None is svc.get_strategy_by_name(name.upper() if name != name.upper() else name.lower())
    if name.strip() != name:
        assert None is svc.get_strategy_by_name(name.strip())


def test_unicode_forms_are_different_names(svc: StorageService):
    """'café' composed (NFC) and decomposed (NFD) are two distinct names, each found only by itself."""
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    a, b = svc.create_strategy(nfc), svc.create_strategy(nfd)
    assert (a, b) == (svc.get_strategy_by_name(nfc), svc.get_strategy_by_name(nfd))


def test_duplicate_name_is_a_conflict(db: Any, svc: StorageService):
    """A second strategy with a name already taken raises ConflictError and writes nothing; other case is another name."""
    svc.create_strategy("trend", config={"a": 1})
    before = snapshot(db)
    with pytest.raises(ConflictError) as caught:
        svc.create_strategy("trend", config={"b": 2}, is_active=False)
    if db.dialect == "postgresql":
        assert "uq_strategies_account_name" == caught.value.constraint
    assert before == snapshot(db)
    assert {"a": 1} == svc.get_strategy_by_name("trend").config
    assert "Trend" == svc.create_strategy("Trend").name


def test_list_strategies_by_name_and_active_only(svc: StorageService):
    """list_strategies orders by name; active_only leaves out the switched-off ones."""
    for name, active in (("zeta", True), ("alpha", False), ("mid", True), ("Beta", True)):
        svc.create_strategy(name, is_active=active)
    assert ["Beta", "alpha", "mid", "zeta"] == [s.name for s in svc.list_strategies()]
    assert ["Beta", "mid", "zeta"] == [s.name for s in svc.list_strategies(active_only=True)]
    svc.set_strategy_active(svc.get_strategy_by_name("alpha").strategy_id, True)
    assert ["Beta", "alpha", "mid", "zeta"] == [s.name for s in svc.list_strategies(active_only=True)]


def test_lookups_of_an_absent_strategy(svc: StorageService):
    """get_strategy, get_strategy_by_name and get_strategy_metrics return None for what does not exist."""
    svc.create_strategy("present")
    assert None is svc.get_strategy(new_id())
    assert None is svc.get_strategy_by_name("absent")
    assert None is svc.get_strategy_metrics(new_id())


def test_update_strategy_config_replaces_and_bumps_updated_at(svc: StorageService):
    """update_strategy_config replaces the whole config (no merge), bumps updated_at and keeps created_at."""
    created = svc.create_strategy("s", config={"fast": 12, "slow": 26})
    updated = svc.update_strategy_config(created.strategy_id, {"window": 50})
    assert {"window": 50} == updated.config
    assert created.created_at == updated.created_at
    assert updated.updated_at > created.updated_at
    assert updated == svc.get_strategy(created.strategy_id)
    assert {} == svc.update_strategy_config(created.strategy_id, {}).config
    assert (created.name, created.is_active) == (updated.name, updated.is_active)


def test_set_strategy_active_switches_and_bumps_updated_at(svc: StorageService):
    """set_strategy_active turns a strategy off and on again, bumping updated_at and keeping its config."""
    created = svc.create_strategy("s", config={"k": "v"})
    off = svc.set_strategy_active(created.strategy_id, False)
    assert (False, {"k": "v"}) == (off.is_active, off.config)
    assert off.updated_at > created.updated_at
    assert off == svc.get_strategy(created.strategy_id)
    again = svc.set_strategy_active(created.strategy_id, False)
    assert False is again.is_active
    on = svc.set_strategy_active(created.strategy_id, True)
    assert True is on.is_active and on.updated_at > off.updated_at


@pytest.mark.parametrize(
    "act",
    [
        pytest.param(lambda svc, sid: svc.update_strategy_config(sid, {"a": 1}), id="update_strategy_config"),
        pytest.param(lambda svc, sid: svc.set_strategy_active(sid, False), id="set_strategy_active"),
    ],
)
def test_acting_on_an_absent_strategy_is_not_found(db: Any, svc: StorageService, act: Any):
    """update_strategy_config and set_strategy_active on an absent id raise NotFoundError and write nothing."""
    svc.create_strategy("present")
    before = snapshot(db)
    with pytest.raises(NotFoundError):
        act(svc, new_id())
    assert before == snapshot(db)


def test_metrics_of_a_strategy_without_trades_are_zero(svc: StorageService):
    """A strategy with no trades has zero counts, a win rate of 0 and zero P&L and fees."""
    created = svc.create_strategy("quiet")
    svc.create_order("AAPL", "buy", "market", 1, strategy_id=created.strategy_id)  # an order is not a trade
    metrics = svc.get_strategy_metrics(created.strategy_id)
    assert StrategyMetrics(
        strategy_id=created.strategy_id, total_trades=0, closing_trades=0, winning_trades=0,
        win_rate=Decimal(0), realized_pnl=Decimal(0), total_fees=Decimal(0),
    ) == metrics


def test_metrics_count_only_the_strategys_trades(svc: StorageService):
    """Metrics sum the trades of their own strategy only: one opening fill elsewhere does not count."""
    mine, other = svc.create_strategy("mine"), svc.create_strategy("other")
    order = svc.create_order("AAPL", "buy", "market", 2, strategy_id=other.strategy_id)
    svc.update_order_status(order.order_id, "submitted")
    svc.record_fill(order.order_id, quantity=2, price=10, commission="0.5", fees="0.25")
    assert 0 == svc.get_strategy_metrics(mine.strategy_id).total_trades
    theirs = svc.get_strategy_metrics(other.strategy_id)
    assert (1, 0, 0, Decimal(0), Decimal("-0.75"), Decimal("0.75")) == (
        theirs.total_trades, theirs.closing_trades, theirs.winning_trades, theirs.win_rate,
        theirs.realized_pnl, theirs.total_fees,
    )


def test_typed_module_on_a_connection(db: Any, svc: StorageService):
    """stocksbot.strategies functions called on a connection agree with the service."""
    a = svc.create_strategy("a", config={"x": 1})
    b = svc.create_strategy("b", is_active=False)
    with db.connection() as conn:
        assert a == strategies.find_strategy(conn, account_id="default", strategy_id=a.strategy_id)
        assert b == strategies.find_strategy_by_name(conn, account_id="default", name="b")
        assert [a, b] == strategies.list_strategies(conn, account_id="default")
        assert [a] == strategies.list_active_strategies(conn, account_id="default")
        assert None is strategies.find_strategy(conn, account_id="paper", strategy_id=a.strategy_id)
        assert 0 == strategies.find_strategy_metrics(conn, account_id="default", strategy_id=a.strategy_id).total_trades
    assert '{"a":[1,2],"b":"é"}' == strategies.config_to_db({"b": "é", "a": [1, 2]})
