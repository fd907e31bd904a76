"""SQLAlchemy 2 ORM models of the five tables, as a typical user maps this schema.

Declarative classes with ``Mapped[...]`` annotations; scaled integer columns stay ints,
timestamp columns go through a ``TypeDecorator`` (aware datetime <-> the fixed-width UTC
text the schema stores). The same classes map the stocksbot-migrated databases of W1-W5
and create their own schema with ``metadata.create_all`` in W6.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class UTCText(TypeDecorator[datetime]):
    """An aware datetime stored as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[str]:
        if value is None:
            return None
        return value.astimezone(timezone.utc).strftime(FORMAT)

    def process_result_value(self, value: Optional[str], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        return datetime.strptime(value, FORMAT).replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


class Strategy(Base):
    __tablename__ = "strategies"
    __table_args__ = (Index("uq_strategies_account_name", "account_id", "name", unique=True),)

    account_id: Mapped[str] = mapped_column(Text, primary_key=True)
    strategy_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    config: Mapped[str] = mapped_column(Text, default="{}")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCText)
    updated_at: Mapped[datetime] = mapped_column(UTCText)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        ForeignKeyConstraint(["account_id", "strategy_id"], ["strategies.account_id", "strategies.strategy_id"]),
        CheckConstraint("side IN ('buy', 'sell')", name="ck_orders_side"),
        CheckConstraint("filled_quantity_e9 >= 0 AND filled_quantity_e9 <= quantity_e9", name="ck_orders_filled"),
        Index("uq_orders_account_client_order_id", "account_id", "client_order_id", unique=True),
        Index(
            "uq_orders_account_external_id", "account_id", "external_id", unique=True,
            sqlite_where=text("external_id IS NOT NULL"), postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_orders_account_created", "account_id", "created_at"),
        Index("ix_orders_account_status_created", "account_id", "status", "created_at"),
        Index("ix_orders_account_symbol_created", "account_id", "symbol", "created_at"),
        Index("ix_orders_account_strategy_created", "account_id", "strategy_id", "created_at"),
    )

    account_id: Mapped[str] = mapped_column(Text, primary_key=True)
    order_id: Mapped[str] = mapped_column(Text, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(Text)
    external_id: Mapped[Optional[str]] = mapped_column(Text)
    strategy_id: Mapped[Optional[str]] = mapped_column(Text)
    symbol: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(Text)
    order_type: Mapped[str] = mapped_column(Text)
    quantity_e9: Mapped[int] = mapped_column(BigInteger)
    limit_price_e8: Mapped[Optional[int]] = mapped_column(BigInteger)
    stop_price_e8: Mapped[Optional[int]] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text, default="pending")
    status_reason: Mapped[Optional[str]] = mapped_column(Text)
    filled_quantity_e9: Mapped[int] = mapped_column(BigInteger, default=0)
    filled_notional_e8: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCText)
    updated_at: Mapped[datetime] = mapped_column(UTCText)
    terminal_at: Mapped[Optional[datetime]] = mapped_column(UTCText)


class Position(Base):
    __tablename__ = "positions"
    __table_args__ = (
        ForeignKeyConstraint(["account_id", "strategy_id"], ["strategies.account_id", "strategies.strategy_id"]),
        CheckConstraint("status IN ('open', 'closed')", name="ck_positions_status"),
        Index(
            "uq_positions_account_symbol_strategy_open", "account_id", "symbol", func.coalesce(text("strategy_id"), ""),
            unique=True, sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'"),
        ),
        Index("ix_positions_account_status_symbol", "account_id", "status", "symbol"),
        Index("ix_positions_account_strategy_status", "account_id", "strategy_id", "status"),
        Index("ix_positions_account_opened", "account_id", "opened_at"),
    )

    account_id: Mapped[str] = mapped_column(Text, primary_key=True)
    position_id: Mapped[str] = mapped_column(Text, primary_key=True)
    strategy_id: Mapped[Optional[str]] = mapped_column(Text)
    symbol: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="open")
    quantity_e9: Mapped[int] = mapped_column(BigInteger)
    cost_basis_e8: Mapped[int] = mapped_column(BigInteger)
    realized_pnl_e8: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCText)
    updated_at: Mapped[datetime] = mapped_column(UTCText)
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCText)


class Trade(Base):
    __tablename__ = "trades"
    __table_args__ = (
        ForeignKeyConstraint(["account_id", "order_id"], ["orders.account_id", "orders.order_id"]),
        ForeignKeyConstraint(["account_id", "position_id"], ["positions.account_id", "positions.position_id"]),
        ForeignKeyConstraint(["account_id", "strategy_id"], ["strategies.account_id", "strategies.strategy_id"]),
        CheckConstraint("effect IN ('open', 'increase', 'reduce', 'close')", name="ck_trades_effect"),
        Index(
            "uq_trades_account_order_execution_leg", "account_id", "order_id", "external_trade_id", "leg", unique=True,
            sqlite_where=text("external_trade_id IS NOT NULL"), postgresql_where=text("external_trade_id IS NOT NULL"),
        ),
        Index("ix_trades_account_order", "account_id", "order_id", "executed_at"),
        Index("ix_trades_account_position", "account_id", "position_id", "executed_at"),
        Index("ix_trades_account_strategy_executed", "account_id", "strategy_id", "executed_at"),
        Index("ix_trades_account_symbol_executed", "account_id", "symbol", "executed_at"),
        Index("ix_trades_account_executed", "account_id", "executed_at"),
    )

    account_id: Mapped[str] = mapped_column(Text, primary_key=True)
    trade_id: Mapped[str] = mapped_column(Text, primary_key=True)
    order_id: Mapped[str] = mapped_column(Text)
    position_id: Mapped[str] = mapped_column(Text)
    strategy_id: Mapped[Optional[str]] = mapped_column(Text)
    symbol: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(Text)
    leg: Mapped[int] = mapped_column(Integer, default=0)
    effect: Mapped[str] = mapped_column(Text)
    quantity_e9: Mapped[int] = mapped_column(BigInteger)
    price_e8: Mapped[int] = mapped_column(BigInteger)
    commission_e8: Mapped[int] = mapped_column(BigInteger, default=0)
    fees_e8: Mapped[int] = mapped_column(BigInteger, default=0)
    realized_pnl_e8: Mapped[int] = mapped_column(BigInteger)
    external_trade_id: Mapped[Optional[str]] = mapped_column(Text)
    executed_at: Mapped[datetime] = mapped_column(UTCText)
    created_at: Mapped[datetime] = mapped_column(UTCText)


class ConfigEntry(Base):
    __tablename__ = "config"

    account_id: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    value_type: Mapped[str] = mapped_column(Text, default="string")
    created_at: Mapped[datetime] = mapped_column(UTCText)
    updated_at: Mapped[datetime] = mapped_column(UTCText)
