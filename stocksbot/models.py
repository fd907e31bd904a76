"""The models and enums the engine sees: one row model per table, plus metrics and the portfolio.

Every model is a frozen pydantic v2 model with ``extra="forbid"``. Money and
quantities are ``Decimal``; timestamps are aware UTC ``datetime``s. The typed
query modules (orders.py, positions.py, ...) build them from rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field, model_validator

from .values import ratio


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return self.value


class OrderSide(_StrEnum):
    """Which way an order or a fill trades."""

    BUY = "buy"
    SELL = "sell"


class OrderType(_StrEnum):
    """How an order is priced; limit and stop prices are required by the types that name them."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class OrderStatus(_StrEnum):
    """Where an order is in its lifecycle (SPEC §4)."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Filled, cancelled, rejected and expired orders never change again."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class PositionSide(_StrEnum):
    """Long (bought) or short (sold) exposure."""

    LONG = "long"
    SHORT = "short"


class PositionStatus(_StrEnum):
    """Open while quantity > 0; closed (and never reopened) at zero."""

    OPEN = "open"
    CLOSED = "closed"


class TradeEffect(_StrEnum):
    """What a trade row did to its position."""

    OPEN = "open"
    INCREASE = "increase"
    REDUCE = "reduce"
    CLOSE = "close"


class ConfigType(_StrEnum):
    """The Python type a config value comes back as."""

    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    JSON = "json"


_ROW = ConfigDict(frozen=True, extra="forbid")
_ZERO = Decimal(0)


class _RowWithDerived(BaseModel):
    """A row model with one computed field, ``DERIVED``: its dumps carry it, and validating such a
    dump drops it first (``extra="forbid"`` would refuse it), so a model's own dump validates back."""

    DERIVED: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _derived_is_not_input(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.DERIVED in data:
            return {name: value for name, value in data.items() if name != cls.DERIVED}
        return data


class Strategy(BaseModel):
    """One row of ``strategies``."""

    model_config = _ROW

    strategy_id: str
    account_id: str
    name: str
    config: dict[str, Any]
    is_active: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime


class Order(_RowWithDerived):
    """One row of ``orders``; ``avg_fill_price`` is derived from the filled notional."""

    model_config = _ROW
    DERIVED = "avg_fill_price"

    order_id: str
    account_id: str
    client_order_id: str
    external_id: str | None
    strategy_id: str | None
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: OrderStatus
    status_reason: str | None
    filled_quantity: Decimal
    filled_notional: Decimal
    created_at: AwareDatetime
    updated_at: AwareDatetime
    terminal_at: AwareDatetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def avg_fill_price(self) -> Decimal | None:
        """filled_notional / filled_quantity rounded half-even to 8 places; None before the first fill.

        Derived on access (in the dumps too), not stored: mapping a row does not pay for it.
        """
        return ratio(self.filled_notional, self.filled_quantity) if self.filled_quantity else None

    @property
    def remaining_quantity(self) -> Decimal:
        """What is still to be filled."""
        return self.quantity - self.filled_quantity


class Position(_RowWithDerived):
    """One row of ``positions``; ``avg_entry_price`` is derived as cost_basis / quantity."""

    model_config = _ROW
    DERIVED = "avg_entry_price"

    position_id: str
    account_id: str
    strategy_id: str | None
    symbol: str
    side: PositionSide
    status: PositionStatus
    quantity: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    closed_at: AwareDatetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def avg_entry_price(self) -> Decimal:
        """cost_basis / quantity rounded half-even to 8 places; 0 for a closed (flat) position.

        Derived on access (in the dumps too), not stored: mapping a row does not pay for it.
        """
        return ratio(self.cost_basis, self.quantity) if self.quantity else _ZERO


class Trade(BaseModel):
    """One row of ``trades``: one fill on one position (a flip writes two, leg 0 and leg 1)."""

    model_config = _ROW

    trade_id: str
    account_id: str
    order_id: str
    position_id: str
    strategy_id: str | None
    symbol: str
    side: OrderSide
    leg: int
    effect: TradeEffect
    quantity: Decimal
    price: Decimal
    commission: Decimal
    fees: Decimal
    realized_pnl: Decimal
    external_trade_id: str | None
    executed_at: AwareDatetime
    created_at: AwareDatetime


class StrategyMetrics(BaseModel):
    """Performance of one strategy, computed from its trades (SPEC §4 "Strategy metrics")."""

    model_config = _ROW

    strategy_id: str
    total_trades: int
    closing_trades: int
    winning_trades: int
    win_rate: Decimal  # winning_trades / closing_trades, rounded half-even to 8 places; 0 without closing trades
    realized_pnl: Decimal
    total_fees: Decimal


class ConfigEntry(BaseModel):
    """One setting; ``value`` is already the Python type named by ``value_type``."""

    model_config = _ROW

    key: str
    account_id: str
    value: Any
    value_type: ConfigType
    created_at: AwareDatetime
    updated_at: AwareDatetime


class PortfolioLine(BaseModel):
    """The open positions of one symbol and side, summed over strategies, valued at a mark."""

    model_config = _ROW

    symbol: str
    side: PositionSide
    quantity: Decimal
    cost_basis: Decimal
    avg_entry_price: Decimal
    mark: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None


class PortfolioSummary(BaseModel):
    """Open positions valued at the given marks, plus realized P&L of every position.

    Market value is positive for longs and shorts alike; a total is ``None``
    when any line has no mark.
    """

    model_config = _ROW

    account_id: str
    lines: list[PortfolioLine]
    total_cost_basis: Decimal
    total_market_value: Decimal | None
    total_unrealized_pnl: Decimal | None
    total_realized_pnl: Decimal
    as_of: datetime
