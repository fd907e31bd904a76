"""stocksbot: the SQL-first persistence layer of a stock-trading bot (SQLite and PostgreSQL)."""

from .db import Database, connect
from .errors import (
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
