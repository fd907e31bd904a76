"""Typed functions over queries/strategy_metrics.sql: the maintained totals of each strategy's trades.

StorageService adds every trade it writes to its strategy's totals in the same
transaction (:class:`Totals` collects them, :func:`upsert_strategy_metrics` adds them),
so :func:`find_maintained_metrics` answers ``get_strategy_metrics`` from one row
whatever the number of trades. The totals must always equal the full recomputation
from trades (:func:`list_recomputed_metrics`, and strategies.find_strategy_metrics for
one strategy); ``stocksbot db verify`` compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .models import StrategyMetrics
from .sqlfiles import model_builder, statements
from .strategies import WIN_RATE_STEP
from .values import money_from_db, ratio

_ZERO = Decimal(0)
_CLOSING = frozenset({"reduce", "close"})
_build_metrics = model_builder(StrategyMetrics)


def _sql(conn: Any) -> Any:
    return statements(conn, "strategy_metrics")


def statements_of(conn: Any) -> Any:
    """The :class:`~stocksbot.sqlfiles.Statement` of every query of strategy_metrics.sql, for the driver of ``conn``
    (StorageService batches them; everything else calls the functions below)."""
    return statements(conn, "strategy_metrics")


class Totals:
    """Counts, realized P&L and fees (money x 10^8) of some trades of one strategy, to add to its row."""

    __slots__ = ("total_trades", "closing_trades", "winning_trades", "realized_pnl_e8", "total_fees_e8")

    def __init__(self) -> None:
        self.total_trades = self.closing_trades = self.winning_trades = 0
        self.realized_pnl_e8 = self.total_fees_e8 = 0

    def add(self, effect: str, realized_pnl_e8: int, commission_e8: int, fees_e8: int) -> None:
        """Count one trade row: a reduce or close is a closing trade, and a winning one if it realized a profit."""
        self.total_trades += 1
        if effect in _CLOSING:
            self.closing_trades += 1
            if realized_pnl_e8 > 0:
                self.winning_trades += 1
        self.realized_pnl_e8 += realized_pnl_e8
        self.total_fees_e8 += commission_e8 + fees_e8


@dataclass(frozen=True)
class StrategyTotals:
    """One strategy's totals as stored (or recomputed): counts, and money x 10^8."""

    account_id: str
    strategy_id: str
    total_trades: int
    closing_trades: int
    winning_trades: int
    realized_pnl_e8: int
    total_fees_e8: int


def metrics_from_totals(
    strategy_id: str, total_trades: int, closing_trades: int, winning_trades: int, realized_pnl_e8: int,
    total_fees_e8: int,
) -> StrategyMetrics:
    """The :class:`StrategyMetrics` of a strategy's totals (win rate = winning / closing, 8 places, half-even)."""
    closing, winning = int(closing_trades), int(winning_trades)
    return _build_metrics({
        "strategy_id": strategy_id,
        "total_trades": int(total_trades),
        "closing_trades": closing,
        "winning_trades": winning,
        "win_rate": ratio(Decimal(winning), Decimal(closing), WIN_RATE_STEP) if closing else _ZERO,
        "realized_pnl": money_from_db(int(realized_pnl_e8)),
        "total_fees": money_from_db(int(total_fees_e8)),
    })


def upsert_strategy_metrics(
    conn: Any, *, account_id: str, strategy_id: str, total_trades: int, closing_trades: int, winning_trades: int,
    realized_pnl_e8: int, total_fees_e8: int,
) -> None:
    """Add some trades' totals to a strategy's row, creating it at its first trade (strategy_metrics.sql: upsert_strategy_metrics)."""
    _sql(conn).upsert_strategy_metrics(conn, {
        "account_id": account_id, "strategy_id": strategy_id, "total_trades": total_trades,
        "closing_trades": closing_trades, "winning_trades": winning_trades, "realized_pnl_e8": realized_pnl_e8,
        "total_fees_e8": total_fees_e8,
    })


def add_totals(conn: Any, *, account_id: str, strategy_id: str, totals: Totals) -> None:
    """Add collected :class:`Totals` to a strategy's row (nothing to do for no trades)."""
    if totals.total_trades:
        upsert_strategy_metrics(
            conn, account_id=account_id, strategy_id=strategy_id, total_trades=totals.total_trades,
            closing_trades=totals.closing_trades, winning_trades=totals.winning_trades,
            realized_pnl_e8=totals.realized_pnl_e8, total_fees_e8=totals.total_fees_e8,
        )


def find_maintained_metrics(conn: Any, *, account_id: str, strategy_id: str) -> StrategyMetrics | None:
    """The maintained metrics of one strategy (zeros before its first trade), or None if the strategy
    does not exist (strategy_metrics.sql: find_maintained_metrics)."""
    row = _sql(conn).find_maintained_metrics(conn, {"account_id": account_id, "strategy_id": strategy_id})
    return None if row is None else metrics_from_totals(*row)


def list_maintained_metrics(conn: Any) -> list[StrategyTotals]:
    """Every strategy's maintained totals, by account and strategy (strategy_metrics.sql: list_maintained_metrics)."""
    return [StrategyTotals(*row) for row in _sql(conn).list_maintained_metrics(conn)]


def list_recomputed_metrics(conn: Any) -> list[StrategyTotals]:
    """Every strategy's totals summed from its trades, by account and strategy
    (strategy_metrics.sql: list_recomputed_metrics)."""
    return [StrategyTotals(*(int(v) if i > 1 else v for i, v in enumerate(row)))
            for row in _sql(conn).list_recomputed_metrics(conn)]
