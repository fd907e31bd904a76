"""stocksbot: the SQL-first persistence layer of a stock-trading bot (SQLite and PostgreSQL).

The errors are imported eagerly (they are light); everything else is loaded on
first use, so ``stocksbot --help`` and a pipeline's ``stocksbot db status`` do not
pay for pydantic, aiosql or psycopg they never touch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CommitOutcomeUnknownError,
    ConfigurationError,
    ConflictError,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidTransitionError,
    MigrationError,
    NotFoundError,
    RowValidationError,
    StocksbotError,
    TransientError,
    ValidationError,
)

__all__ = [
    "ConfigEntry",
    "ConfigType",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OverfillError",
    "PortfolioLine",
    "PortfolioSummary",
    "Position",
    "PositionSide",
    "PositionStatus",
    "StorageService",
    "Strategy",
    "StrategyMetrics",
    "Trade",
    "TradeEffect",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConflictError",
    "Database",
    "DatabaseError",
    "DatabaseUnavailableError",
    "InvalidTransitionError",
    "MigrationError",
    "NotFoundError",
    "RowValidationError",
    "StocksbotError",
    "TransientError",
    "ValidationError",
    "connect",
]

_LAZY = {
    "Database": "db", "connect": "db",
    "StorageService": "service", "OverfillError": "service",
    **{name: "models" for name in (
        "ConfigEntry", "ConfigType", "Order", "OrderSide", "OrderStatus", "OrderType", "PortfolioLine",
        "PortfolioSummary", "Position", "PositionSide", "PositionStatus", "Strategy", "StrategyMetrics",
        "Trade", "TradeEffect",
    )},
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stocksbot' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .db import Database, connect
    from .models import (
        ConfigEntry, ConfigType, Order, OrderSide, OrderStatus, OrderType, PortfolioLine, PortfolioSummary,
        Position, PositionSide, PositionStatus, Strategy, StrategyMetrics, Trade, TradeEffect,
    )
    from .service import OverfillError, StorageService
