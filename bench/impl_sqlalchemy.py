"""The SQLAlchemy 2 ORM implementation: repository classes over a Session, as a typical user writes them.

A ``Session`` per unit of work (each fill, each read, each listing), default engine and
pool settings, the documented connect-event recipe for the SQLite pragmas (WAL, the same
``synchronous`` as stocksbot, foreign keys). The bulk import uses the ORM bulk INSERT
(``session.execute(insert(Trade), [dicts])``) the SQLAlchemy docs recommend for it. A
typical user keeps no maintained metrics table: the metrics are one aggregate query.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import case, create_engine, event, func, insert, select
from sqlalchemy.orm import Session

from .common import ACCOUNT, apply_fill_e, notional_e8, scaled, ts_text, uuid7
from .sa_models import Order, Position, Trade


def make_engine(url: str, synchronous: str) -> Any:
    """The engine for a bench URL, with the SQLite pragmas set on every new connection."""
    if url.startswith("sqlite:"):
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.close()

        return engine
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_for_update(self, order_id: str) -> Order | None:
        return self.session.get(Order, (ACCOUNT, order_id), with_for_update=True)

    def find_by_external_id(self, external_id: str) -> Order | None:
        return self.session.scalars(
            select(Order).where(Order.account_id == ACCOUNT, Order.external_id == external_id)
        ).one_or_none()


class PositionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find_open_for_update(self, symbol: str, strategy_id: str | None) -> Position | None:
        strategy = Position.strategy_id.is_(None) if strategy_id is None else Position.strategy_id == strategy_id
        return self.session.scalars(
            select(Position)
            .where(Position.account_id == ACCOUNT, Position.symbol == symbol, strategy, Position.status == "open")
            .with_for_update()
        ).one_or_none()

    def list_open(self) -> list[Position]:
        return list(self.session.scalars(
            select(Position)
            .where(Position.account_id == ACCOUNT, Position.status == "open")
            .order_by(Position.symbol, Position.opened_at, Position.position_id)
        ))

    def add(self, position: Position) -> None:
        self.session.add(position)


class TradeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find_by_execution(self, order_id: str, external_trade_id: str) -> Trade | None:
        return self.session.scalars(
            select(Trade).where(
                Trade.account_id == ACCOUNT, Trade.order_id == order_id,
                Trade.external_trade_id == external_trade_id, Trade.leg == 0,
            )
        ).one_or_none()

    def add(self, trade: Trade) -> None:
        self.session.add(trade)

    def bulk_insert(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Trade), rows)

    def strategy_metrics(self, strategy_id: str) -> tuple[int, int, int, int, int]:
        closing = Trade.effect.in_(("reduce", "close"))
        row = self.session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((closing, 1), else_=0)), 0),
                func.coalesce(func.sum(case((closing & (Trade.realized_pnl_e8 > 0), 1), else_=0)), 0),
                func.coalesce(func.sum(Trade.realized_pnl_e8), 0),
                func.coalesce(func.sum(Trade.commission_e8 + Trade.fees_e8), 0),
            ).where(Trade.account_id == ACCOUNT, Trade.strategy_id == strategy_id)
        ).one()
        return tuple(int(value) for value in row)  # type: ignore[return-value]


class FillService:
    """The fill path: order, position and trade updated in the session's one transaction."""

    def __init__(self, session: Session) -> None:
        self.orders = OrderRepository(session)
        self.positions = PositionRepository(session)
        self.trades = TradeRepository(session)

    def record_fill(self, fill: dict[str, Any]) -> None:
        now = datetime.now(timezone.utc)
        order = self.orders.get_for_update(fill["order_id"])
        if order is None:
            raise LookupError(fill["order_id"])
        external = fill["external_trade_id"]
        if external is not None and self.trades.find_by_execution(order.order_id, external) is not None:
            return
        q = scaled(fill["quantity"], 9)
        p = scaled(fill["price"], 8)
        commission = scaled(fill["commission"], 8)
        fees = scaled(fill["fees"], 8)
        if order.status not in ("submitted", "partially_filled") or order.filled_quantity_e9 + q > order.quantity_e9:
            raise ValueError(f"order {order.order_id} cannot take this fill")
        order.filled_quantity_e9 += q
        order.filled_notional_e8 += notional_e8(q, p)
        done = order.filled_quantity_e9 == order.quantity_e9
        order.status = "filled" if done else "partially_filled"
        order.terminal_at = now if done else None
        order.updated_at = now
        position = self.positions.find_open_for_update(order.symbol, order.strategy_id)
        held = None if position is None else (position.side, position.quantity_e9, position.cost_basis_e8)
        leg = apply_fill_e(held, order.side, q, p, commission + fees)
        executed = fill["executed_at"]
        if position is None:
            position = Position(
                account_id=ACCOUNT, position_id=uuid7(), strategy_id=order.strategy_id, symbol=order.symbol,
                side="long" if order.side == "buy" else "short", status="open", quantity_e9=leg.new_quantity_e9,
                cost_basis_e8=leg.new_cost_e8, realized_pnl_e8=leg.realized_e8, opened_at=executed,
                updated_at=executed,
            )
            self.positions.add(position)
        elif leg.effect == "close":
            position.status = "closed"
            position.quantity_e9 = 0
            position.cost_basis_e8 = 0
            position.realized_pnl_e8 += leg.realized_e8
            position.updated_at = executed
            position.closed_at = executed
        else:
            position.quantity_e9 = leg.new_quantity_e9
            position.cost_basis_e8 = leg.new_cost_e8
            position.realized_pnl_e8 += leg.realized_e8
            position.updated_at = now
        self.trades.add(Trade(
            account_id=ACCOUNT, trade_id=uuid7(), order_id=order.order_id, position_id=position.position_id,
            strategy_id=order.strategy_id, symbol=order.symbol, side=order.side, leg=0, effect=leg.effect,
            quantity_e9=q, price_e8=p, commission_e8=commission, fees_e8=fees, realized_pnl_e8=leg.realized_e8,
            external_trade_id=external, executed_at=executed, created_at=now,
        ))


class SQLAlchemyImpl:
    """The workloads through SQLAlchemy's ORM."""

    name = "sqlalchemy"

    def __init__(self, url: str, synchronous: str) -> None:
        self.engine = make_engine(url, synchronous)
        self.engine.connect().close()  # connected, as the other two are when the clock starts

    def close(self) -> None:
        self.engine.dispose()

    def w1_fills(self, fills: Sequence[dict[str, Any]]) -> None:
        for fill in fills:
            with Session(self.engine) as session, session.begin():
                FillService(session).record_fill(fill)

    def w1_batches(self, batches: Sequence[Sequence[dict[str, Any]]]) -> None:
        for batch in batches:
            with Session(self.engine) as session, session.begin():
                service = FillService(session)
                for fill in batch:
                    service.record_fill(fill)  # autoflush lets the next fill see this one's position

    def w2_import(self, rows: Sequence[dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc)
        mapped = [
            {
                "account_id": ACCOUNT, "trade_id": uuid7(), "order_id": row["order_id"],
                "position_id": row["position_id"], "strategy_id": row["strategy_id"], "symbol": row["symbol"],
                "side": row["side"], "leg": row["leg"], "effect": row["effect"],
                "quantity_e9": scaled(row["quantity"], 9), "price_e8": scaled(row["price"], 8),
                "commission_e8": scaled(row["commission"], 8), "fees_e8": scaled(row["fees"], 8),
                "realized_pnl_e8": scaled(row["realized_pnl"], 8), "external_trade_id": row["external_trade_id"],
                "executed_at": row["executed_at"], "created_at": now,
            }
            for row in rows
        ]
        with Session(self.engine) as session, session.begin():
            TradeRepository(session).bulk_insert(mapped)

    def w3_reads(self, external_ids: Sequence[str]) -> list[Any]:
        results = []
        for external_id in external_ids:
            with Session(self.engine) as session:
                results.append(OrderRepository(session).find_by_external_id(external_id))
        return results

    def w4_listings(self, listings: int) -> list[Any]:
        rows: list[Any] = []
        for _ in range(listings):
            with Session(self.engine) as session:
                rows = PositionRepository(session).list_open()
        return rows

    def w5_metrics(self, strategy_ids: Sequence[str]) -> list[Any]:
        results = []
        for strategy_id in strategy_ids:
            with Session(self.engine) as session:
                results.append((strategy_id, *TradeRepository(session).strategy_metrics(strategy_id)))
        return results

    # -- canonical forms (untimed) --

    @staticmethod
    def canon_order(order: Any) -> list[Any]:
        return [
            order.order_id, order.client_order_id, order.external_id, order.strategy_id, order.symbol, order.side,
            order.order_type, order.status, order.quantity_e9, order.limit_price_e8, order.filled_quantity_e9,
            order.filled_notional_e8, ts_text(order.created_at),
        ]

    @staticmethod
    def canon_position(position: Any) -> list[Any]:
        return [
            position.position_id, position.strategy_id, position.symbol, position.side, position.status,
            position.quantity_e9, position.cost_basis_e8, position.realized_pnl_e8, ts_text(position.opened_at),
        ]
