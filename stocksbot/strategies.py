"""Typed functions over queries/strategies.sql: each takes a connection and returns models."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from .errors import RowValidationError
from .inputs import json_text
from .models import Strategy, StrategyMetrics
from .sqlfiles import statements
from .values import money_from_db, ratio, timestamp_from_db, timestamp_to_db

#: win_rate is winning / closing trades rounded half-even to 8 places (1/3 → 0.33333333).
WIN_RATE_STEP = Decimal("1e-8")


def _sql(conn: Any) -> Any:
    return statements(conn, "strategies")


def config_to_db(config: dict[str, Any]) -> str:
    """A strategy config as canonical JSON text (sorted keys, no NaN)."""
    return json_text(config, "config")


def strategy_from_row(row: dict[str, Any]) -> Strategy:
    """Build a :class:`Strategy` from a full ``strategies`` row."""
    try:
        return Strategy(
            strategy_id=row["strategy_id"],
            account_id=row["account_id"],
            name=row["name"],
            config=json.loads(row["config"]),
            is_active=bool(row["is_active"]),
            created_at=timestamp_from_db(row["created_at"]),
            updated_at=timestamp_from_db(row["updated_at"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RowValidationError(f"a strategies row does not fit the Strategy model: {exc}", query="strategies") from exc


def _one(conn: Any, query: str, params: dict[str, Any]) -> Strategy | None:
    """Run a one-row query of strategies.sql and map its row (or None)."""
    statement = getattr(_sql(conn), query)
    row = statement(conn, params)
    return None if row is None else strategy_from_row(dict(zip(statement.columns, row)))


def _many(conn: Any, query: str, params: dict[str, Any]) -> list[Strategy]:
    """Run a many-row query of strategies.sql and map its rows."""
    statement = getattr(_sql(conn), query)
    rows = statement(conn, params)
    return [strategy_from_row(dict(zip(statement.columns, row))) for row in rows]


def insert_strategy(
    conn: Any, *, account_id: str, strategy_id: str, name: str, config: dict[str, Any], is_active: bool,
    created_at: datetime,
) -> Strategy:
    """Insert one strategy (strategies.sql: insert_strategy)."""
    stamp = timestamp_to_db(created_at)
    return _one(conn, "insert_strategy", {  # type: ignore[return-value]  # an INSERT ... RETURNING returns its row
        "account_id": account_id, "strategy_id": strategy_id, "name": name, "config": config_to_db(config),
        "is_active": bool(is_active), "created_at": stamp, "updated_at": stamp,
    })


def find_strategy(conn: Any, *, account_id: str, strategy_id: str) -> Strategy | None:
    """One strategy by id, or None (strategies.sql: find_strategy)."""
    return _one(conn, "find_strategy", {"account_id": account_id, "strategy_id": strategy_id})


def find_strategy_by_name(conn: Any, *, account_id: str, name: str) -> Strategy | None:
    """One strategy by name, or None (strategies.sql: find_strategy_by_name)."""
    return _one(conn, "find_strategy_by_name", {"account_id": account_id, "name": name})


def list_strategies(conn: Any, *, account_id: str) -> list[Strategy]:
    """Every strategy by name (strategies.sql: list_strategies)."""
    return _many(conn, "list_strategies", {"account_id": account_id})


def list_active_strategies(conn: Any, *, account_id: str) -> list[Strategy]:
    """Active strategies by name (strategies.sql: list_active_strategies)."""
    return _many(conn, "list_active_strategies", {"account_id": account_id})


def update_strategy_config(
    conn: Any, *, account_id: str, strategy_id: str, config: dict[str, Any], updated_at: datetime,
) -> Strategy | None:
    """Replace a strategy's config; None if absent (strategies.sql: update_strategy_config)."""
    return _one(conn, "update_strategy_config", {
        "account_id": account_id, "strategy_id": strategy_id, "config": config_to_db(config),
        "updated_at": timestamp_to_db(updated_at),
    })


def update_strategy_active(
    conn: Any, *, account_id: str, strategy_id: str, is_active: bool, updated_at: datetime,
) -> Strategy | None:
    """Switch a strategy on or off; None if absent (strategies.sql: update_strategy_active)."""
    return _one(conn, "update_strategy_active", {
        "account_id": account_id, "strategy_id": strategy_id, "is_active": bool(is_active),
        "updated_at": timestamp_to_db(updated_at),
    })


def find_strategy_metrics(conn: Any, *, account_id: str, strategy_id: str) -> StrategyMetrics:
    """Metrics of one strategy summed from its trades (strategies.sql: find_strategy_metrics)."""
    queries = _sql(conn)
    values = queries.find_strategy_metrics(conn, {"account_id": account_id, "strategy_id": strategy_id})
    row = dict(zip(queries.find_strategy_metrics.columns, values))
    closing, winning = int(row["closing_trades"]), int(row["winning_trades"])
    return StrategyMetrics(
        strategy_id=strategy_id,
        total_trades=int(row["total_trades"]),
        closing_trades=closing,
        winning_trades=winning,
        win_rate=ratio(Decimal(winning), Decimal(closing), WIN_RATE_STEP) if closing else Decimal(0),
        realized_pnl=money_from_db(int(row["realized_pnl_e8"])),
        total_fees=money_from_db(int(row["total_fees_e8"])),
    )
