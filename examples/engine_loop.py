"""How a trading engine records one order's life with stocksbot, end to end.

    python examples/engine_loop.py [DATABASE_URL]

The database is argv[1], else $DATABASE_URL, else a new SQLite file in a temporary
directory. The example migrates it, then:

(a) with the StorageService — the engine's usual path, one transaction per call:
    create a strategy; write the order with the engine's own client order id
    BEFORE the broker hears of it; mark it submitted with the broker's order id;
    record the broker's executions (one delivered twice, counted once); cancel the
    rest; read the position and the strategy's metrics;
(b) with the typed query functions directly, inside ``with db.transaction() as conn:``
    — what an engine does at start-up: find its order by client order id, list the
    open orders to reconcile with the broker, read the fills; service calls made
    inside the block join the same transaction.

Run it twice on the same database: each run is a new order with a new client order
id, and the strategy is reused.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import stocksbot
from stocksbot import orders, positions, trades
from stocksbot.tables import format_money as money, format_quantity as qty  # Decimal -> text, no float

ACCOUNT = "paper"  # one database can hold several accounts; every call is scoped by it
SYMBOL = "AAPL"


@dataclass(frozen=True)
class Execution:
    """One fill as a broker reports it: its own execution id, quantity, price, costs."""

    execution_id: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    executed_at: datetime


class SimulatedBroker:
    """A stand-in for a broker API: accepts orders, reports executions, cancels."""

    def __init__(self) -> None:
        self.orders: dict[str, str] = {}  # broker order id -> client order id

    def submit(self, client_order_id: str, symbol: str, side: str, quantity: Decimal, limit_price: Decimal) -> str:
        broker_order_id = f"SIM-{len(self.orders) + 1:04d}-{client_order_id[-6:]}"
        self.orders[broker_order_id] = client_order_id
        return broker_order_id

    def executions(self, broker_order_id: str) -> list[Execution]:
        # 75 of the 100 fill, in two parts: 50 @ 100.00 and 25 @ 100.30 (average 100.10).
        return [
            Execution(f"{broker_order_id}-E1", Decimal("50"), Decimal("100.00"), Decimal("0.25"), _now()),
            Execution(f"{broker_order_id}-E2", Decimal("25"), Decimal("100.30"), Decimal("0.25"), _now()),
        ]

    def cancel(self, broker_order_id: str) -> None:
        pass


def _now() -> datetime:
    return datetime.now(timezone.utc)  # stocksbot takes aware datetimes only


def with_the_service(db: stocksbot.Database, broker: SimulatedBroker) -> str:
    """(a) One order's life through the StorageService. Returns the client order id."""
    storage = stocksbot.StorageService(db, account_id=ACCOUNT)

    strategy = storage.get_strategy_by_name("breakout") or storage.create_strategy(
        "breakout", {"lookback_days": 20, "max_shares": 100},
    )
    print(f"[a] strategy {strategy.name} ({strategy.strategy_id})")

    # 1. Write the order first, under the engine's own id. If the process dies after the
    #    broker call, the restart finds this row by client order id instead of sending twice.
    client_order_id = f"breakout-{uuid.uuid4().hex[:12]}"
    order = storage.create_order(
        symbol=SYMBOL, side="buy", order_type="limit", quantity=100, limit_price="100.50",
        strategy_id=strategy.strategy_id, client_order_id=client_order_id,
    )
    print(f"[a] order {order.client_order_id}: {order.status} (written before the broker call)")

    # 2. Call the broker, then record its order id.
    broker_order_id = broker.submit(client_order_id, SYMBOL, "buy", order.quantity, Decimal("100.50"))
    order = storage.update_order_status(order.order_id, "submitted", external_id=broker_order_id)
    print(f"[a] broker accepted it as {order.external_id}: {order.status}")

    # 3. Record each execution with the broker's execution id: the idempotency key.
    executions = broker.executions(broker_order_id)
    for execution in executions:
        trade = storage.record_fill(
            order.order_id, quantity=execution.quantity, price=execution.price,
            commission=execution.commission, executed_at=execution.executed_at,
            external_trade_id=execution.execution_id,
        )
        order = storage.get_order(order.order_id)
        print(f"[a] fill {trade.external_trade_id}: {qty(trade.quantity)} @ {money(trade.price)} -> order {order.status}, "
              f"{qty(order.filled_quantity)} of {qty(order.quantity)} filled")

    # 4. Brokers re-deliver executions (reconnects, replays). The same id is a no-op
    #    that returns the trade already recorded.
    first = executions[0]
    again = storage.record_fill(
        order.order_id, quantity=first.quantity, price=first.price, commission=first.commission,
        executed_at=first.executed_at, external_trade_id=first.execution_id,
    )
    order = storage.get_order(order.order_id)
    print(f"[a] fill {first.execution_id} delivered again -> trade {again.trade_id} already recorded; "
          f"still {qty(order.filled_quantity)} of {qty(order.quantity)} filled")

    # 5. Cancel the rest at the broker, then in the database (partially_filled -> cancelled).
    broker.cancel(broker_order_id)
    order = storage.update_order_status(order.order_id, "cancelled", reason="remaining 25 cancelled by the engine")
    print(f"[a] order {order.client_order_id}: {order.status}, avg fill {money(order.avg_fill_price)}")

    # 6. The position and the strategy's metrics follow from the fills.
    (position,) = storage.get_open_positions(symbol=SYMBOL, strategy_id=strategy.strategy_id)
    print(f"[a] position {position.symbol} {position.side} {qty(position.quantity)} @ {money(position.avg_entry_price)} "
          f"(cost basis {money(position.cost_basis)}), realized P&L {money(position.realized_pnl)}")
    metrics = storage.get_strategy_metrics(strategy.strategy_id)
    print(f"[a] strategy {strategy.name}: {metrics.total_trades} trades, realized P&L {money(metrics.realized_pnl)}, "
          f"fees {money(metrics.total_fees)}")
    return client_order_id


def with_the_query_functions(db: stocksbot.Database, client_order_id: str) -> None:
    """(b) The typed query functions on one connection, as at an engine's start-up."""
    storage = stocksbot.StorageService(db, account_id=ACCOUNT)
    strategy = storage.get_strategy_by_name("breakout")
    # A second order the broker accepted but never filled: what reconciliation finds.
    working = storage.create_order(
        symbol=SYMBOL, side="sell", order_type="limit", quantity=75, limit_price="110.00",
        strategy_id=strategy.strategy_id, client_order_id=f"{client_order_id}-tp",
    )
    storage.update_order_status(working.order_id, "submitted", external_id=f"SIM-TP-{client_order_id[-6:]}")

    with db.transaction() as conn:  # one transaction: every read below sees the same data
        order = orders.find_order_by_client_order_id(conn, account_id=ACCOUNT, client_order_id=client_order_id)
        print(f"[b] find_order_by_client_order_id({client_order_id!r}) -> {order.status}, "
              f"broker id {order.external_id}")

        for fill in trades.list_trades(conn, account_id=ACCOUNT, order_id=order.order_id):
            print(f"[b] list_trades: {fill.external_trade_id} {fill.side} {qty(fill.quantity)} @ {money(fill.price)} "
                  f"({fill.effect}, commission {money(fill.commission)})")

        open_orders = orders.list_open_orders(conn, account_id=ACCOUNT)
        print(f"[b] list_open_orders -> {len(open_orders)} to reconcile with the broker")
        for open_order in open_orders:
            # Suppose the broker says this one expired overnight. The service call joins
            # this transaction (a savepoint): all of it commits together, or none of it.
            expired = storage.update_order_status(open_order.order_id, "expired", reason="broker: expired at close")
            print(f"[b] {open_order.client_order_id} ({open_order.external_id}): {open_order.status} -> "
                  f"{expired.status}")

        held = positions.list_open_positions(conn, account_id=ACCOUNT, symbol=SYMBOL)
        print("[b] list_open_positions -> " + ", ".join(f"{p.symbol} {p.side} {qty(p.quantity)}" for p in held))


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("DATABASE_URL")
    if not url:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='stocksbot-example-')}/engine_loop.db"
    with stocksbot.connect(url) as db:
        applied = db.migrate()  # a no-op when the schema is up to date
        print(f"database {db.url.safe} ({db.dialect}): {len(applied)} migrations applied")
        client_order_id = with_the_service(db, SimulatedBroker())
        with_the_query_functions(db, client_order_id)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
