"""The demo: a small, realistic trading session recorded through the StorageService, then printed.

``stocksbot demo`` migrates the database and calls :func:`run_demo`; the engine's
authors can read this module as a second example (after examples/engine_loop.py)
of how orders, fills and positions are recorded.

The session (three strategies, twelve orders plus one ``close_position``):

* momentum — a limit buy of 300 AAPL filled in three parts at different prices
  (one execution is delivered twice and recorded once), a partial sale, then
  ``close_position`` for the rest; a limit buy of 200 NVDA cancelled after 50
  were filled; a market buy of TSLA rejected by the broker;
* mean-reversion — a long MSFT stopped out by a stop order; a short sale of
  TSLA, partly covered;
* pairs — long KO, short PEP, then a sale of 300 KO against 200 held, which
  flips KO from long to short; a limit buy of PEP left working.

Every order has a fixed client order id ``demo-<n>`` and a broker id
``BRK-<1000+n>``; every execution a broker execution id ``EX-<1000+n>-<k>``.
The whole session is one transaction: it is recorded completely or not at all,
and once: when ``demo-1`` exists in the account, the session already recorded is
shown instead (a racing second run loses on the unique keys and does the same).

Costs: commission $0.005 per share on every execution; a regulatory fee of
$0.001 per share on sales.

Hand computation of every position's realized P&L (average cost; SPEC §4:
over a position's life, sell proceeds − buy costs − its commissions and fees)::

    AAPL  momentum  long, closed
        buys   100 × 189.50 + 100 × 189.80 + 100 × 190.00          = 56930.00
        sells  100 × 195.00 (demo-2) + 200 × 196.00 (close_position) = 19500.00 + 39200.00 = 58700.00
        gross  58700.00 − 56930.00                                  =  1770.00
               (per trade: the partial sale removes 56930 × 100/300 = 18976.66666667 of basis,
                gross 523.33333333; the close removes the rest, 37953.33333333, gross
                1246.66666667; together exactly 1770.00)
        commission 0.50 × 3 + 0.50 + 1.00 = 3.00; fees 0.10 + 0.20 = 0.30
        realized  1770.00 − 3.00 − 0.30                             =  1766.70
    NVDA  momentum  long 50, open: bought 50 × 879.50 = 43975.00; commission 0.25
        realized                                                    =    −0.25
    MSFT  mean-reversion  long, closed by the stop order
        gross  100 × 404.50 − 100 × 410.00                          =  −550.00
        commission 0.50 + 0.50, fees 0.10
        realized  −550.00 − 1.00 − 0.10                             =  −551.10
    TSLA  mean-reversion  short 60, open
        sold short 100 × 180.00 = 18000.00; covered 40 × 170.00 = 6800.00
        basis removed 18000.00 × 40/100 = 7200.00; gross 7200.00 − 6800.00 = 400.00
        commission 0.50 + 0.20, fees 0.10
        realized  400.00 − 0.70 − 0.10                              =   399.20
    KO    pairs  long 200, closed by the flip
        bought 200 × 60.00 = 12000.00 (commission 1.00)
        the flip sells 300 × 61.50: 200 close the long, 100 open a short; its commission
        1.50 and fees 0.30 split 200:100 → 1.00 + 0.50 and 0.20 + 0.10
        gross  200 × 61.50 − 12000.00                               =   300.00
        realized  300.00 − 1.00 − 1.00 − 0.20                       =   297.80
    KO    pairs  short 100, open (the flip's second leg): 100 × 61.50 = 6150.00
        realized  −0.50 − 0.10                                      =    −0.60
    PEP   pairs  short 150, open: sold 150 × 170.00 = 25500.00
        realized  −0.75 − 0.15                                      =    −0.90

    total realized  1766.70 − 0.25 − 551.10 + 399.20 + 297.80 − 0.60 − 0.90 = 1910.85

Strategy metrics (closing trades are the reduce and close legs)::

    momentum        6 trades, 2 closing, 2 winning (100%), realized 1766.45, fees 3.55
    mean-reversion  4 trades, 2 closing, 1 winning (50%),  realized −151.90, fees 1.90
    pairs           4 trades, 1 closing, 1 winning (100%), realized  296.30, fees 3.70

Portfolio at the demo marks (NVDA 900, TSLA 175, KO 61, PEP 172)::

    NVDA long  50:  45000.00 − 43975.00 = 1025.00
    TSLA short 60:  10800.00 − 10500.00 =  300.00
    KO   short 100:  6150.00 −  6100.00 =   50.00
    PEP  short 150: 25500.00 − 25800.00 = −300.00
    unrealized 1075.00; realized 1910.85; total 2985.85
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .db import Database
from .errors import ConflictError
from .models import (
    ConfigEntry,
    Order,
    OrderSide,
    OrderStatus,
    PortfolioSummary,
    Position,
    PositionStatus,
    Strategy,
    StrategyMetrics,
    Trade,
)
from .service import StorageService

#: The marks the demo values the open positions at.
DEMO_MARKS: dict[str, Decimal] = {
    "NVDA": Decimal("900.00"),
    "TSLA": Decimal("175.00"),
    "KO": Decimal("61.00"),
    "PEP": Decimal("172.00"),
}
COMMISSION_PER_SHARE = Decimal("0.005")
SELL_FEE_PER_SHARE = Decimal("0.001")
FIRST_ORDER = "demo-1"

STRATEGIES: dict[str, dict[str, Any]] = {
    "momentum": {"lookback_days": 20, "entry": "breakout", "max_position_shares": 300},
    "mean-reversion": {"window": 10, "entry_zscore": 2.0, "exit_zscore": 0.5, "stop_loss_pct": 1.25},
    "pairs": {"legs": ["KO", "PEP"], "hedge_ratio": 1.0, "entry_spread": 2.5},
}
SETTINGS: list[tuple[str, Any, str]] = [
    ("trading_enabled", True, "bool"),
    ("risk.max_open_positions", 10, "int"),
]

#: What the session does, order by order (printed with the report).
SESSION: list[tuple[str, str, str]] = [
    ("demo-1", "momentum", "limit buy 300 AAPL @ 190.00: filled in 3 parts, 100 @ 189.50, 100 @ 189.80, "
     "100 @ 190.00 (EX-1001-2 delivered twice, recorded once)"),
    ("demo-2", "momentum", "limit sell 100 AAPL @ 195.00: filled @ 195.00 (reduces the long)"),
    ("(close)", "momentum", "close_position AAPL: the remaining 200 sold @ 196.00"),
    ("demo-3", "momentum", "limit buy 200 NVDA @ 880.00: 50 filled @ 879.50, the rest cancelled"),
    ("demo-4", "momentum", "market buy 100 TSLA: rejected by the broker"),
    ("demo-5", "mean-reversion", "market buy 100 MSFT: filled @ 410.00"),
    ("demo-6", "mean-reversion", "stop sell 100 MSFT, stop 405.00: triggered, filled @ 404.50"),
    ("demo-7", "mean-reversion", "market sell 100 TSLA: opens a short @ 180.00"),
    ("demo-8", "mean-reversion", "limit buy 40 TSLA @ 170.00: covers part of the short"),
    ("demo-9", "pairs", "market buy 200 KO: filled @ 60.00"),
    ("demo-10", "pairs", "market sell 150 PEP: opens a short @ 170.00"),
    ("demo-11", "pairs", "market sell 300 KO @ 61.50: closes the long 200, flips to a short 100"),
    ("demo-12", "pairs", "limit buy 150 PEP @ 165.00: submitted, still working"),
]


@dataclass(frozen=True)
class DemoReport:
    """What the demo recorded (or found already recorded) in one account, ready to print."""

    account_id: str
    database: str
    recorded: bool  # False when the session was already in the account
    strategies: list[tuple[Strategy, StrategyMetrics | None]]
    positions: list[Position]  # oldest first
    orders: list[Order]  # oldest first
    trades: list[Trade]  # in execution order
    settings: list[ConfigEntry]
    portfolio: PortfolioSummary
    marks: dict[str, Decimal] = field(default_factory=lambda: dict(DEMO_MARKS))

    def strategy_name(self, strategy_id: str | None) -> str | None:
        """The name of one of the account's strategies."""
        for strategy, _ in self.strategies:
            if strategy.strategy_id == strategy_id:
                return strategy.name
        return strategy_id

    def render(self) -> str:
        """The report as text: the session, positions, orders, trades, strategies and the portfolio."""
        from .cli_records import orders_table, positions_table, strategies_table, trades_table
        from .tables import MONEY, QUANTITY, Column, format_money, render_pairs, render_table

        names = {s.strategy_id: s.name for s, _ in self.strategies}
        client_ids = {o.order_id: o.client_order_id for o in self.orders}
        open_positions = [p for p in self.positions if p.status is PositionStatus.OPEN]
        closed_positions = [p for p in self.positions if p.status is PositionStatus.CLOSED]
        if self.recorded:
            headline = (
                f"Recorded a sample trading session in account {self.account_id!r} of {self.database}: "
                f"{len(self.strategies)} strategies, {len(self.orders)} orders, {len(self.trades)} trades."
            )
        else:
            headline = (
                f"The demo session is already recorded in account {self.account_id!r} of {self.database} "
                f"(order {FIRST_ORDER} exists): nothing was recorded again. Here it is."
            )
        width = max(len(client_id) for client_id, _, _ in SESSION)
        session = "\n".join(
            f"  {client_id:<{width}}  {strategy:<14}  {what}" for client_id, strategy, what in SESSION
        )
        portfolio = self.portfolio
        portfolio_table = render_table(
            [Column("symbol"), Column("side"), Column("quantity", QUANTITY), Column("avg entry", MONEY),
             Column("cost basis", MONEY), Column("mark", MONEY), Column("market value", MONEY),
             Column("unrealized P&L", MONEY)],
            [[line.symbol, line.side, line.quantity, line.avg_entry_price, line.cost_basis, line.mark,
              line.market_value, line.unrealized_pnl] for line in portfolio.lines],
        )
        total = None
        if portfolio.total_unrealized_pnl is not None:
            total = portfolio.total_realized_pnl + portfolio.total_unrealized_pnl
        summary = render_pairs([
            ("cost basis", _money(portfolio.total_cost_basis)),
            ("market value", _money(portfolio.total_market_value)),
            ("unrealized P&L", _money(portfolio.total_unrealized_pnl)),
            ("realized P&L", format_money(portfolio.total_realized_pnl)),
            ("total P&L", _money(total)),
        ])
        marks = ", ".join(f"{symbol} {format_money(price)}" for symbol, price in sorted(self.marks.items()))
        settings = render_table(
            [Column("key"), Column("type"), Column("value")],
            [[entry.key, entry.value_type, _setting_text(entry)] for entry in self.settings],
        )
        account = "" if self.account_id == "default" else f" --account {self.account_id}"
        sections = [
            headline,
            "Session (commission 0.005/share, fees 0.001/share on sales):\n" + session,
            f"Open positions ({len(open_positions)}):\n" + positions_table(open_positions, names),
            f"Closed positions ({len(closed_positions)}):\n" + positions_table(closed_positions, names),
            f"Orders ({len(self.orders)}):\n" + orders_table(self.orders, names),
            f"Trades ({len(self.trades)}):\n" + trades_table(self.trades, names, client_ids),
            "Strategies:\n" + strategies_table(self.strategies),
            f"Portfolio at the demo marks ({marks}):\n" + portfolio_table + "\n\n" + summary,
            "Settings:\n" + settings,
            "Look around: " + " | ".join(
                f"stocksbot {command}{account}" for command in
                ("positions --open", "orders --open", "trades --symbol KO", "strategies --json", "config list")
            ),
        ]
        return "\n\n".join(sections)


def run_demo(db: Database, account_id: str = "default") -> DemoReport:
    """Record the demo session in ``account_id`` (once) and return the report of what is there.

    The database must be migrated (``db.migrate()``; ``stocksbot demo`` does it).
    """
    storage = StorageService(db, account_id)
    recorded = False
    if storage.get_order_by_client_order_id(FIRST_ORDER) is None:
        try:
            with db.transaction():
                # Checked again under the write transaction: SQLite serialises here, and on
                # PostgreSQL a racing run fails on the unique keys and lands in the except below.
                if storage.get_order_by_client_order_id(FIRST_ORDER) is None:
                    _record_session(storage)
                    recorded = True
        except ConflictError:
            if storage.get_order_by_client_order_id(FIRST_ORDER) is None:
                raise  # a real conflict, e.g. a strategy named "momentum" made outside the demo
    return _report(storage, recorded)


def _record_session(storage: StorageService) -> None:
    """The session described in the module docstring, in one enclosing transaction."""
    for name in STRATEGIES:
        if storage.get_strategy_by_name(name) is not None:
            raise ConflictError(
                f"account {storage.account_id!r} already has a strategy named {name!r} that the demo did not "
                "record: run the demo in another account (--account demo)",
                constraint="uq_strategies_account_name",
            )
    strategy = {name: storage.create_strategy(name, config) for name, config in STRATEGIES.items()}
    for key, value, kind in SETTINGS:
        storage.set_config_value(key, value, kind)
    momentum, reversion, pairs = strategy["momentum"], strategy["mean-reversion"], strategy["pairs"]

    # momentum: a limit buy filled in three parts; one execution re-delivered by the broker.
    order = _submit(storage, 1, momentum, "AAPL", "buy", "limit", 300, limit="190.00")
    _fill(storage, order, 1, 100, "189.50")
    _fill(storage, order, 2, 100, "189.80")
    _fill(storage, order, 3, 100, "190.00")
    _fill(storage, order, 2, 100, "189.80")  # the same execution again: a no-op
    order = _submit(storage, 2, momentum, "AAPL", "sell", "limit", 100, limit="195.00")
    _fill(storage, order, 1, 100, "195.00")
    (aapl,) = storage.get_open_positions(symbol="AAPL", strategy_id=momentum.strategy_id)
    storage.close_position(
        aapl.position_id, exit_price="196.00", commission=_commission(aapl.quantity),
        fees=_sell_fees(aapl.quantity), external_trade_id="EX-AAPL-CLOSE-1",
    )
    order = _submit(storage, 3, momentum, "NVDA", "buy", "limit", 200, limit="880.00")
    _fill(storage, order, 1, 50, "879.50")
    storage.update_order_status(order.order_id, OrderStatus.CANCELLED, reason="end of day: the unfilled 150 cancelled")
    order = _submit(storage, 4, momentum, "TSLA", "buy", "market", 100)
    storage.update_order_status(order.order_id, OrderStatus.REJECTED, reason="broker: insufficient buying power")

    # mean-reversion: a long stopped out, then a short partly covered.
    order = _submit(storage, 5, reversion, "MSFT", "buy", "market", 100)
    _fill(storage, order, 1, 100, "410.00")
    order = _submit(storage, 6, reversion, "MSFT", "sell", "stop", 100, stop="405.00")
    _fill(storage, order, 1, 100, "404.50")
    order = _submit(storage, 7, reversion, "TSLA", "sell", "market", 100)
    _fill(storage, order, 1, 100, "180.00")
    order = _submit(storage, 8, reversion, "TSLA", "buy", "limit", 40, limit="170.00")
    _fill(storage, order, 1, 40, "170.00")

    # pairs: long KO, short PEP; selling 300 KO against 200 held flips KO to short.
    order = _submit(storage, 9, pairs, "KO", "buy", "market", 200)
    _fill(storage, order, 1, 200, "60.00")
    order = _submit(storage, 10, pairs, "PEP", "sell", "market", 150)
    _fill(storage, order, 1, 150, "170.00")
    order = _submit(storage, 11, pairs, "KO", "sell", "market", 300)
    _fill(storage, order, 1, 300, "61.50")
    _submit(storage, 12, pairs, "PEP", "buy", "limit", 150, limit="165.00")


def _submit(
    storage: StorageService, n: int, strategy: Strategy, symbol: str, side: str, order_type: str, quantity: int,
    *, limit: str | None = None, stop: str | None = None,
) -> Order:
    """Create order ``demo-<n>`` (before the broker hears of it), then mark it submitted with its broker id."""
    order = storage.create_order(
        symbol, side, order_type, quantity, limit_price=limit, stop_price=stop,
        strategy_id=strategy.strategy_id, client_order_id=f"demo-{n}",
    )
    return storage.update_order_status(order.order_id, OrderStatus.SUBMITTED, external_id=f"BRK-{1000 + n}")


def _fill(storage: StorageService, order: Order, k: int, quantity: int, price: str) -> Trade:
    """Record execution ``k`` of ``order`` with the demo's commission and fees."""
    assert order.external_id is not None
    fees = _sell_fees(Decimal(quantity)) if order.side is OrderSide.SELL else Decimal(0)
    return storage.record_fill(
        order.order_id, quantity=quantity, price=price, commission=_commission(Decimal(quantity)), fees=fees,
        external_trade_id=f"EX-{order.external_id.removeprefix('BRK-')}-{k}",
    )


def _commission(quantity: Decimal) -> Decimal:
    return COMMISSION_PER_SHARE * quantity


def _sell_fees(quantity: Decimal) -> Decimal:
    return SELL_FEE_PER_SHARE * quantity


def _report(storage: StorageService, recorded: bool) -> DemoReport:
    strategies = [(s, storage.get_strategy_metrics(s.strategy_id)) for s in storage.list_strategies()]
    return DemoReport(
        account_id=storage.account_id,
        database=storage.db.url.safe,
        recorded=recorded,
        strategies=strategies,
        positions=list(reversed(storage.list_positions())),
        orders=list(reversed(storage.list_orders(limit=None))),
        trades=storage.get_trades(),
        settings=storage.list_config(),
        portfolio=storage.get_portfolio_summary(DEMO_MARKS),
    )


def _money(value: Decimal | None) -> str:
    from .tables import NONE, format_money

    return NONE if value is None else format_money(value)


def _setting_text(entry: ConfigEntry) -> str:
    from .config import encode_value

    return encode_value(entry.value, entry.value_type)
