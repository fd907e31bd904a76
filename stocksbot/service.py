"""StorageService: the domain rules of stocksbot, one transaction per unit of work.

Every method validates its input first (a ValidationError names the field), then
runs as one transaction through :meth:`Database.run_in_transaction` — or joins
the caller's ``with db.transaction():`` as a savepoint. After any error the
database is as it was before the call.

The order lifecycle is enforced by guarded UPDATEs in orders.sql; the fill
arithmetic lives in accounting.py (pure functions); this module sequences them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import accounting, inputs
from . import config as config_queries
from . import orders, positions, strategies, strategy_metrics, trades
from .db import Database
from .errors import ConflictError, InvalidTransitionError, NotFoundError, TransientError, ValidationError
from .models import (
    ConfigEntry,
    ConfigType,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PortfolioLine,
    PortfolioSummary,
    Position,
    PositionSide,
    PositionStatus,
    Strategy,
    StrategyMetrics,
    Trade,
    TradeEffect,
)
from .sqlfiles import run_in_order
from .values import (
    QUANTITY_PLACES, in_range, money_from_db, money_to_db, new_id, new_ids, quantity_from_db, quantity_to_db,
    timestamp_to_db, utc_now,
)

log = logging.getLogger("stocksbot.service")

_WORKING = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
_WORKING_VALUES = frozenset(status.value for status in _WORKING)
# Positions of the columns the fill path reads from an order's and a position's row tuple.
_STRATEGY, _SYMBOL, _SIDE = (orders.ORDER_FILL_COLUMNS.index(c) for c in ("strategy_id", "symbol", "side"))
_QUANTITY, _STATUS, _FILLED, _NOTIONAL = (
    orders.ORDER_FILL_COLUMNS.index(c) for c in ("quantity_e9", "status", "filled_quantity_e9", "filled_notional_e8")
)
_POSITION_ID, _POSITION_SIDE, _POSITION_QUANTITY, _POSITION_COST = (
    positions.POSITION_FILL_COLUMNS.index(c) for c in ("position_id", "side", "quantity_e9", "cost_basis_e8")
)
_FILL_ONLY = (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
_MAX_POSITION_RACES = 5
_FILL_FIELDS = frozenset({"order_id", "quantity", "price", "commission", "fees", "executed_at", "external_trade_id"})


class OverfillError(InvalidTransitionError):
    """A fill larger than what remains of its order."""


class StorageService:
    """Orders, fills, positions, strategies and settings of one account."""

    def __init__(self, db: Database, account_id: str = "default") -> None:
        self.db = db
        self.account_id = inputs.account_id(account_id)

    def __repr__(self) -> str:
        return f"<StorageService account={self.account_id!r} {self.db!r}>"

    # --- positions ---------------------------------------------------------------------

    def create_position(
        self, symbol: str, side: PositionSide | str, quantity: Any, avg_entry_price: Any,
        strategy_id: str | None = None, opened_at: datetime | None = None,
    ) -> Position:
        """Open a position directly (no order or trade), e.g. when importing holdings.

        Cost basis is quantity × avg_entry_price rounded to the money scale. A second
        open position for the same symbol and strategy is a ConflictError.
        """
        symbol = inputs.symbol(symbol)
        position_side = inputs.enum_value(PositionSide, side, "side")
        quantity_e9 = inputs.positive_quantity(quantity)
        inputs.positive_price(avg_entry_price, "avg_entry_price")
        strategy_id = inputs.optional_row_id(strategy_id, "strategy_id")
        opened = inputs.timestamp(opened_at, "opened_at") if opened_at is not None else utc_now()
        cost_basis = accounting.notional(inputs.decimal(quantity, "quantity"), inputs.decimal(avg_entry_price, "avg_entry_price"))

        def work(conn: Any) -> Position:
            self._require_strategy(conn, strategy_id)
            created = positions.insert_position(
                conn, account_id=self.account_id, position_id=new_id(), strategy_id=strategy_id, symbol=symbol,
                side=position_side, quantity_e9=quantity_e9, cost_basis_e8=money_to_db(cost_basis, "cost_basis"),
                realized_pnl_e8=0, opened_at=opened,
            )
            if created is None:
                raise ConflictError(
                    f"an open position for {symbol} (strategy {strategy_id or 'none'}) already exists",
                    constraint="uq_positions_account_symbol_strategy_open",
                )
            return created

        return self.db.run_in_transaction(work)

    def get_position(self, position_id: str) -> Position | None:
        """One position by id, or None."""
        position_id = inputs.row_id(position_id, "position_id")
        return self.db.read(lambda conn: positions.find_position(
            conn, account_id=self.account_id, position_id=position_id,
        ))

    def get_open_positions(self, symbol: str | None = None, strategy_id: str | None = None) -> list[Position]:
        """Open positions by symbol, optionally of one symbol or strategy."""
        symbol = None if symbol is None else inputs.symbol(symbol)
        strategy_id = inputs.optional_row_id(strategy_id, "strategy_id")
        return self.db.read(lambda conn: positions.list_open_positions(
            conn, account_id=self.account_id, symbol=symbol, strategy_id=strategy_id,
        ))

    def list_positions(self, limit: int | None = None) -> list[Position]:
        """Every position, open or closed, newest first."""
        limit = inputs.limit(limit)
        return self.db.read(lambda conn: positions.list_positions(conn, account_id=self.account_id, limit=limit))

    def close_position(
        self, position_id: str, exit_price: Any, commission: Any = 0, fees: Any = 0,
        executed_at: datetime | None = None, external_trade_id: str | None = None,
    ) -> Position:
        """Close an open position at ``exit_price``: records a closing market order and its fill.

        Returns the closed position. Its realized P&L includes this fill's commission and fees.
        """
        position_id = inputs.row_id(position_id, "position_id")
        inputs.positive_price(exit_price, "exit_price")
        inputs.fee(commission, "commission")
        inputs.fee(fees, "fees")

        def work(conn: Any) -> Position:
            position = positions.find_position(conn, account_id=self.account_id, position_id=position_id)
            if position is None:
                raise NotFoundError(f"position {position_id} not found")
            if position.status is PositionStatus.CLOSED:
                raise InvalidTransitionError(f"position {position_id} is already closed")
            side = OrderSide.SELL if position.side is PositionSide.LONG else OrderSide.BUY
            order = self.create_order(position.symbol, side, OrderType.MARKET, position.quantity, strategy_id=position.strategy_id)
            self.update_order_status(order.order_id, OrderStatus.SUBMITTED, reason="close_position")
            self.record_fill(
                order.order_id, quantity=position.quantity, price=exit_price, commission=commission, fees=fees,
                executed_at=executed_at, external_trade_id=external_trade_id,
            )
            closed = positions.find_position(conn, account_id=self.account_id, position_id=position_id)
            assert closed is not None and closed.status is PositionStatus.CLOSED
            return closed

        return self.db.run_in_transaction(work)

    # --- orders ------------------------------------------------------------------------

    def create_order(
        self, symbol: str, side: OrderSide | str, order_type: OrderType | str, quantity: Any,
        limit_price: Any = None, stop_price: Any = None, strategy_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Record a new order in status 'pending' — before the broker is called.

        ``client_order_id`` defaults to the order id; it is unique per account, so a
        retried create with the same id is a ConflictError, never a second order.
        """
        symbol = inputs.symbol(symbol)
        side = inputs.enum_value(OrderSide, side, "side")
        order_type = inputs.enum_value(OrderType, order_type, "order_type")
        quantity_e9 = inputs.positive_quantity(quantity)
        limit_e8 = inputs.optional_price(limit_price, "limit_price")
        stop_e8 = inputs.optional_price(stop_price, "stop_price")
        needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit != (limit_e8 is not None):
            raise ValidationError(
                f"limit_price: {'required' if needs_limit else 'not allowed'} for a {order_type.value} order",
                field="limit_price",
            )
        if needs_stop != (stop_e8 is not None):
            raise ValidationError(
                f"stop_price: {'required' if needs_stop else 'not allowed'} for a {order_type.value} order",
                field="stop_price",
            )
        strategy_id = inputs.optional_row_id(strategy_id, "strategy_id")
        order_id = new_id()
        client_order_id = inputs.external_id(client_order_id, "client_order_id") or order_id

        def work(conn: Any) -> Order:
            self._require_strategy(conn, strategy_id)
            return orders.insert_order(
                conn, account_id=self.account_id, order_id=order_id, client_order_id=client_order_id,
                strategy_id=strategy_id, symbol=symbol, side=side, order_type=order_type, quantity_e9=quantity_e9,
                limit_price_e8=limit_e8, stop_price_e8=stop_e8, created_at=utc_now(),
            )

        return self.db.run_in_transaction(work)

    def get_order(self, order_id: str) -> Order | None:
        """One order by id, or None."""
        order_id = inputs.row_id(order_id, "order_id")
        return self.db.read(lambda conn: orders.find_order(conn, account_id=self.account_id, order_id=order_id))

    def get_order_by_external_id(self, external_id: str) -> Order | None:
        """One order by the broker's order id, or None."""
        external_id = inputs.external_id(external_id, "external_id")
        return self.db.read(lambda conn: orders.find_order_by_external_id(
            conn, account_id=self.account_id, external_id=external_id,
        ))

    def get_order_by_client_order_id(self, client_order_id: str) -> Order | None:
        """One order by the engine's client order id, or None."""
        client_order_id = inputs.external_id(client_order_id, "client_order_id")
        return self.db.read(lambda conn: orders.find_order_by_client_order_id(
            conn, account_id=self.account_id, client_order_id=client_order_id,
        ))

    def list_orders(
        self, status: OrderStatus | str | None = None, symbol: str | None = None,
        strategy_id: str | None = None, limit: int | None = 100,
    ) -> list[Order]:
        """Orders newest first, optionally filtered; ``limit=None`` lists them all."""
        status = None if status is None else inputs.enum_value(OrderStatus, status, "status")
        symbol = None if symbol is None else inputs.symbol(symbol)
        strategy_id = inputs.optional_row_id(strategy_id, "strategy_id")
        limit = inputs.limit(limit)
        return self.db.read(lambda conn: orders.list_orders(
            conn, account_id=self.account_id, status=status, symbol=symbol, strategy_id=strategy_id, limit=limit,
        ))

    def update_order_status(
        self, order_id: str, status: OrderStatus | str, external_id: str | None = None, reason: str | None = None,
    ) -> Order:
        """Move an order to submitted, cancelled, rejected or expired (SPEC §4 lifecycle).

        A transition the lifecycle does not allow raises InvalidTransitionError and
        changes nothing; partially_filled and filled are reached only by record_fill.
        """
        order_id = inputs.row_id(order_id, "order_id")
        target = inputs.enum_value(OrderStatus, status, "status")
        external_id = inputs.external_id(external_id, "external_id")
        reason = inputs.reason(reason)
        if target is OrderStatus.PENDING or target in _FILL_ONLY:
            raise InvalidTransitionError(
                f"an order cannot be set to {target.value}: "
                + ("orders start pending" if target is OrderStatus.PENDING else "record_fill moves it there")
            )

        def work(conn: Any) -> Order:
            moved = orders.mark_order(
                conn, account_id=self.account_id, order_id=order_id, status=target, external_id=external_id,
                status_reason=reason, updated_at=utc_now(),
            )
            if moved is not None:
                return moved
            current = orders.find_order(conn, account_id=self.account_id, order_id=order_id)
            if current is None:
                raise NotFoundError(f"order {order_id} not found")
            raise InvalidTransitionError(f"order {order_id} is {current.status.value}; it cannot become {target.value}")

        return self.db.run_in_transaction(work)

    # --- fills -------------------------------------------------------------------------

    def record_fill(
        self, order_id: str, quantity: Any, price: Any, commission: Any = 0, fees: Any = 0,
        executed_at: datetime | None = None, external_trade_id: str | None = None,
    ) -> Trade:
        """Record one execution of an order: trade row(s), order fill state and position, atomically.

        With ``external_trade_id`` (the broker's execution id) the call is idempotent:
        recording the same execution again returns the existing trade and changes
        nothing; sent again with another quantity, price, commission or fees, it is a
        ConflictError (a recorded execution is never changed). A fill on an order that
        is not submitted or partially filled raises InvalidTransitionError; one larger
        than what remains raises OverfillError. A flip returns the closing leg.
        """
        order_id, fill = self._prepare_fill(order_id, quantity, price, commission, fees, executed_at, external_trade_id)
        return self.db.run_in_transaction(lambda conn: self._record_fill(conn, order_id, fill))

    @staticmethod
    def _prepare_fill(
        order_id: str, quantity: Any, price: Any, commission: Any = 0, fees: Any = 0,
        executed_at: datetime | None = None, external_trade_id: str | None = None,
    ) -> tuple[str, "_Fill"]:
        """Validate one fill's arguments (ValidationError names the field)."""
        return inputs.row_id(order_id, "order_id"), _Fill(
            inputs.positive_quantity(quantity),
            inputs.positive_price(price),
            inputs.fee(commission, "commission"),
            inputs.fee(fees, "fees"),
            inputs.timestamp(executed_at, "executed_at") if executed_at is not None else None,
            inputs.external_id(external_trade_id, "external_trade_id"),
        )

    def _record_fill(self, conn: Any, order_id: str, fill: "_Fill") -> Trade:
        # The fill path works on rows as tuples (orders.ORDER_FILL_COLUMNS, positions.POSITION_FILL_COLUMNS
        # order) and builds one model, the Trade it returns (docs/performance.md).
        account = self.account_id
        order = orders.find_order_for_fill(conn, account_id=account, order_id=order_id)  # locked: serialises fills of one order
        if order is None:
            raise NotFoundError(f"order {order_id} not found")
        if fill.external_trade_id is not None:
            existing = trades.find_trade_by_execution(
                conn, account_id=account, order_id=order_id, external_trade_id=fill.external_trade_id,
            )
            if existing is not None:
                return self._resent(conn, order_id, fill, existing)
        status, quantity_e9, filled_e9, notional_e8 = order[_STATUS], order[_QUANTITY], order[_FILLED], order[_NOTIONAL]
        if status not in _WORKING_VALUES:
            raise InvalidTransitionError(f"order {order_id} is {status}; a fill needs a submitted or partially filled order")
        if filled_e9 + fill.quantity_e9 > quantity_e9:
            raise OverfillError(
                f"fill of {fill.quantity} would overfill order {order_id} "
                f"({quantity_from_db(filled_e9)} of {quantity_from_db(quantity_e9)} filled)"
            )
        fill_notional_e8 = in_range(accounting.notional_units(fill.quantity_e9, fill.price_e8), "notional")
        in_range(notional_e8 + fill_notional_e8, "notional")  # refuse an overflow alike on both engines

        strategy_id, symbol, side = order[_STRATEGY], order[_SYMBOL], order[_SIDE]
        position, legs, executed = self._position_for_fill(conn, strategy_id, symbol, side, fill)
        # One instant for every row this fill writes: the execution time when it was taken here.
        now = executed if fill.executed_at is None else utc_now()
        if not orders.apply_order_fill(
            conn, account_id=account, order_id=order_id, fill_quantity_e9=fill.quantity_e9,
            fill_notional_e8=fill_notional_e8, updated_at=now,
        ):  # the order's row lock makes this unreachable; the guard keeps it safe regardless
            raise InvalidTransitionError(f"order {order_id} changed while recording a fill")
        leg = legs[0]
        position_id = position[_POSITION_ID]
        if leg.effect == "close":
            positions.mark_position_closed(
                conn, account_id=account, position_id=position_id,
                realized_pnl_delta_e8=in_range(leg.realized_pnl_e8, "realized_pnl"), closed_at=executed,
            )
        elif leg.effect != "open":  # an opening leg was inserted with its final state
            assert leg.after is not None
            positions.update_position_holding(
                conn, account_id=account, position_id=position_id,
                quantity_e9=in_range(leg.after.quantity_e9, "quantity", QUANTITY_PLACES),
                cost_basis_e8=in_range(leg.after.cost_basis_e8, "cost_basis"),
                realized_pnl_delta_e8=in_range(leg.realized_pnl_e8, "realized_pnl"), updated_at=now,
            )
        totals = strategy_metrics.Totals()
        first = self._write_trade(conn, order_id, strategy_id, symbol, side, fill, position_id, leg, 0, executed, now, totals)
        if len(legs) == 2:  # a flip: the remainder opens a position on the other side
            opening = legs[1]
            flipped = self._open_position(conn, strategy_id, symbol, opening, executed)
            if flipped is None:  # the old position was closed above, under its row lock
                raise ConflictError(f"an open position for {symbol} appeared during a flip")
            self._write_trade(
                conn, order_id, strategy_id, symbol, side, fill, flipped[_POSITION_ID], opening, 1, executed, now, totals,
            )
        if strategy_id is not None:
            strategy_metrics.add_totals(conn, account_id=account, strategy_id=strategy_id, totals=totals)
        return first

    def _position_for_fill(
        self, conn: Any, strategy_id: str | None, symbol: str, side: str, fill: "_Fill",
    ) -> tuple[tuple[Any, ...], tuple[accounting.UnitLeg, ...], datetime]:
        """Lock the open position of (symbol, strategy), or open one, and compute the fill's legs on it.

        Returns the position's row (a tuple in positions.POSITION_FILL_COLUMNS order), the
        legs (in storage units), and the fill's execution time: the broker's, or — when the caller gave
        none — the time taken here, under the position's lock, so that a position's
        trades listed by ``executed_at`` are in the order they were applied.
        """
        for _ in range(_MAX_POSITION_RACES):
            position = positions.find_open_position_for_fill(
                conn, account_id=self.account_id, symbol=symbol, strategy_id=strategy_id,
            )
            executed = fill.executed_at or utc_now()
            holding = None if position is None else accounting.UnitHolding(
                position[_POSITION_SIDE], position[_POSITION_QUANTITY], position[_POSITION_COST],
            )
            legs = accounting.apply_fill_units(
                holding, side, fill.quantity_e9, fill.price_e8, fill.commission_e8, fill.fees_e8,
            )
            if position is not None:
                return position, legs, executed
            opened = self._open_position(conn, strategy_id, symbol, legs[0], executed)
            if opened is not None:
                return opened, legs, executed
            # Another transaction opened it between our lock and insert (PostgreSQL): lock that one.
        raise ConflictError(f"could not settle the open position of {symbol}: too many concurrent openers")

    def _open_position(
        self, conn: Any, strategy_id: str | None, symbol: str, leg: accounting.UnitLeg, executed: datetime,
    ) -> tuple[Any, ...] | None:
        """Insert the position an opening leg creates; its row in positions.POSITION_FILL_COLUMNS order,
        or None if another transaction has just opened one for (symbol, strategy)."""
        assert leg.effect == "open" and leg.after is not None
        position_id, cost_basis_e8 = new_id(), in_range(leg.after.cost_basis_e8, "cost_basis")
        inserted = positions.insert_position_row(
            conn, account_id=self.account_id, position_id=position_id, strategy_id=strategy_id,
            symbol=symbol, side=leg.after.side, quantity_e9=leg.after.quantity_e9, cost_basis_e8=cost_basis_e8,
            realized_pnl_e8=in_range(leg.realized_pnl_e8, "realized_pnl"), opened_at=executed,
        )
        return None if inserted is None else (position_id, leg.after.side, leg.after.quantity_e9, cost_basis_e8)

    def _write_trade(
        self, conn: Any, order_id: str, strategy_id: str | None, symbol: str, side: str, fill: "_Fill",
        position_id: str, leg: accounting.UnitLeg, leg_number: int, executed: datetime, now: datetime,
        totals: strategy_metrics.Totals,
    ) -> Trade:
        commission_e8, fees_e8 = leg.commission_e8, leg.fees_e8  # shares of the fill's validated charges
        realized_e8 = in_range(leg.realized_pnl_e8, "realized_pnl")
        totals.add(leg.effect, realized_e8, commission_e8, fees_e8)
        return trades.insert_trade(
            conn, account_id=self.account_id, trade_id=new_id(), order_id=order_id, position_id=position_id,
            strategy_id=strategy_id, symbol=symbol, side=side, leg=leg_number, effect=leg.effect,
            quantity_e9=leg.quantity_e9, price_e8=fill.price_e8, commission_e8=commission_e8,
            fees_e8=fees_e8, realized_pnl_e8=realized_e8, external_trade_id=fill.external_trade_id,
            executed_at=executed, created_at=now,
        )

    def record_fills(self, fills: Iterable[Mapping[str, Any]]) -> list[Trade]:
        """Record many fills in ONE transaction, each exactly as :meth:`record_fill` would.

        Each item is a mapping of record_fill's arguments (``order_id``, ``quantity``,
        ``price`` and optionally ``commission``, ``fees``, ``executed_at``,
        ``external_trade_id``). Every fill is validated before anything is written;
        each stays idempotent on its execution id. If one fill is refused, none is
        recorded. Returns the trade of each fill, in order.
        """
        prepared: list[tuple[str, _Fill]] = []
        for index, item in enumerate(inputs.batch(fills, "fills")):
            if not isinstance(item, Mapping):
                raise ValidationError(f"fills[{index}]: expected a mapping of record_fill arguments", field=f"fills[{index}]")
            unknown = set(item) - _FILL_FIELDS
            if unknown or "order_id" not in item or "quantity" not in item or "price" not in item:
                raise ValidationError(
                    f"fills[{index}]: needs order_id, quantity and price"
                    + (f"; unknown {', '.join(sorted(unknown))}" if unknown else ""),
                    field=f"fills[{index}]",
                )
            prepared.append(self._prepare_fill(**item))

        if len(prepared) == 1:
            order_id, fill = prepared[0]
            return [self.db.run_in_transaction(lambda conn: self._record_fill(conn, order_id, fill))]
        return self.db.run_in_transaction(lambda conn: self._record_batch(conn, prepared))

    def _resent(self, conn: Any, order_id: str, fill: "_Fill", leg0: Trade) -> Trade:
        """The trade already recorded for a re-sent execution (leg 0 of a flip), after checking that
        the fill sent again is the same one: quantity, price, commission and fees, over both legs
        of a flip. A different one is a ConflictError: a recorded execution is never changed."""
        legs = [leg0]
        if leg0.effect == TradeEffect.CLOSE:  # it may be a flip's closing leg: the opening leg holds the rest
            opening = trades.find_trade_by_execution(
                conn, account_id=self.account_id, order_id=order_id, external_trade_id=leg0.external_trade_id or "", leg=1,
            )
            legs += [opening] if opening is not None else []
        recorded = _Fill(
            sum(quantity_to_db(leg.quantity) for leg in legs), money_to_db(leg0.price),
            sum(money_to_db(leg.commission) for leg in legs), sum(money_to_db(leg.fees) for leg in legs),
            leg0.executed_at, leg0.external_trade_id,
        )
        _same_execution(order_id, fill, recorded)
        log.info("execution %s of order %s already recorded: no-op", fill.external_trade_id, order_id)
        return leg0

    def _record_batch(self, conn: Any, prepared: list[tuple[str, "_Fill"]]) -> list[Trade]:
        """record_fills' unit of work, in a few round trips whatever the number of fills.

        1. Read and lock up front every order of the batch, the executions already recorded,
           and the open position of every (symbol, strategy) the orders trade.
        2. Apply the fills one by one to that in-memory book, exactly as _record_fill would
           (same checks, same errors, same accounting), collecting the writes.
        3. Write, each position's changes folded into its final state: the positions opened and
           closed (inserts and closes in order of first change) with one upsert per strategy's
           metrics (one pipeline on PostgreSQL); one guarded update per order for all its fills;
           one update per position still open, to its final holding; then every trade row in one
           bulk statement (trades.insert_trades: executemany, or COPY).

        On PostgreSQL the reads and the order and position updates are one statement each over the
        whole batch (the PostgreSQL-only list_*_for_fills, list_trades_by_executions, apply_order_fills,
        update_position_holdings; decision 23); SQLite runs their per-row queries, in process.
        """
        account = self.account_id
        order_rows = orders.list_orders_for_fills(conn, account_id=account, order_ids=[order_id for order_id, _ in prepared])
        recorded = trades.list_trades_by_executions(conn, account_id=account, executions=list(dict.fromkeys(
            (order_id, fill.external_trade_id) for order_id, fill in prepared
            if fill.external_trade_id is not None and order_id in order_rows
        )))
        held = positions.list_open_positions_for_fills(conn, account_id=account, keys=[
            (row[_SYMBOL], row[_STRATEGY]) for row in order_rows.values()
        ])
        # The book as the batch changes it: order fill state, and each (symbol, strategy) open position.
        book_orders = {order_id: [row[_STATUS], row[_FILLED], row[_NOTIONAL]] for order_id, row in order_rows.items()}
        book_positions: dict[tuple[str, str], list[Any] | None] = {
            key: None if row is None else [row[_POSITION_ID], row[_POSITION_SIDE], row[_POSITION_QUANTITY], row[_POSITION_COST]]
            for key, row in held.items()
        }
        order_writes: dict[str, dict[str, Any]] = {}  # one apply_order_fill per order, for all its fills
        position_writes: dict[str, dict[str, Any]] = {}  # per position, in order of first change: insert/update/close
        trade_rows: list[dict[str, Any]] = []
        results: list[Any] = []  # per fill: a Trade recorded before, or the index of its row in trade_rows
        in_batch: dict[tuple[str, str], int] = {}
        totals: dict[str, strategy_metrics.Totals] = {}
        for number, (order_id, fill) in enumerate(prepared):
            row = order_rows.get(order_id)
            if row is None:
                raise NotFoundError(f"order {order_id} not found")
            execution = fill.external_trade_id
            if execution is not None:
                earlier = recorded.get((order_id, execution))
                if earlier is not None:
                    results.append(self._resent(conn, order_id, fill, earlier))
                    continue
                if (order_id, execution) in in_batch:  # sent twice in this batch
                    first = in_batch[(order_id, execution)]
                    _same_execution(order_id, fill, prepared[first][1])
                    results.append(results[first])
                    continue
                in_batch[(order_id, execution)] = number
            state = book_orders[order_id]
            status, filled_e9, notional_e8 = state
            quantity_e9 = row[_QUANTITY]
            if status not in _WORKING_VALUES:
                raise InvalidTransitionError(f"order {order_id} is {status}; a fill needs a submitted or partially filled order")
            if filled_e9 + fill.quantity_e9 > quantity_e9:
                raise OverfillError(
                    f"fill of {fill.quantity} would overfill order {order_id} "
                    f"({quantity_from_db(filled_e9)} of {quantity_from_db(quantity_e9)} filled)"
                )
            fill_notional_e8 = in_range(accounting.notional_units(fill.quantity_e9, fill.price_e8), "notional")
            in_range(notional_e8 + fill_notional_e8, "notional")  # refuse an overflow alike on both engines
            state[1] = filled_e9 = filled_e9 + fill.quantity_e9
            state[2] = notional_e8 + fill_notional_e8
            state[0] = "filled" if filled_e9 == quantity_e9 else "partially_filled"
            now = utc_now()  # one instant for every row this fill writes (its execution time, if none given)
            now_text = timestamp_to_db(now)
            order_write = order_writes.get(order_id)
            if order_write is None:
                order_writes[order_id] = {
                    "account_id": account, "order_id": order_id, "fill_quantity_e9": fill.quantity_e9,
                    "fill_notional_e8": fill_notional_e8, "updated_at": now_text,
                }
            else:
                order_write["fill_quantity_e9"] += fill.quantity_e9
                order_write["fill_notional_e8"] += fill_notional_e8
                order_write["updated_at"] = now_text

            strategy_id, symbol, side = row[_STRATEGY], row[_SYMBOL], row[_SIDE]
            key = (symbol, positions.strategy_key(strategy_id))
            position = book_positions[key]
            executed = fill.executed_at or now
            holding = None if position is None else accounting.UnitHolding(position[1], position[2], position[3])
            legs = accounting.apply_fill_units(
                holding, side, fill.quantity_e9, fill.price_e8, fill.commission_e8, fill.fees_e8,
            )
            executed_text = timestamp_to_db(executed)
            strategy_totals = totals.setdefault(strategy_id, strategy_metrics.Totals()) if strategy_id else None
            for leg_number, leg in enumerate(legs):
                realized_e8 = in_range(leg.realized_pnl_e8, "realized_pnl")
                if leg.effect == "open":
                    assert leg.after is not None
                    position_id = new_id()
                    quantity_after = leg.after.quantity_e9
                    cost_after = in_range(leg.after.cost_basis_e8, "cost_basis")
                    position_writes[position_id] = {"insert": {
                        "account_id": account, "position_id": position_id, "strategy_id": strategy_id, "symbol": symbol,
                        "side": leg.after.side, "quantity_e9": quantity_after, "cost_basis_e8": cost_after,
                        "realized_pnl_e8": realized_e8, "opened_at": executed_text,
                    }, "first_of_key": held[key] is None and key not in {w["key"] for w in position_writes.values()},
                        "key": key}
                    book_positions[key] = [position_id, leg.after.side, quantity_after, cost_after]
                else:
                    assert position is not None
                    position_id = position[0]
                    write = position_writes.setdefault(position_id, {"key": key, "first_of_key": False})
                    delta = realized_e8 + write.get("update", {}).get("realized_pnl_delta_e8", 0)
                    if leg.effect == "close":
                        write.pop("update", None)  # its figures end in the close: quantity and cost 0, P&L summed
                        write["close"] = {
                            "account_id": account, "position_id": position_id, "realized_pnl_delta_e8": delta,
                            "closed_at": executed_text,
                        }
                        book_positions[key] = None
                    else:
                        assert leg.after is not None
                        quantity_after = in_range(leg.after.quantity_e9, "quantity", QUANTITY_PLACES)
                        cost_after = in_range(leg.after.cost_basis_e8, "cost_basis")
                        write["update"] = {
                            "account_id": account, "position_id": position_id, "quantity_e9": quantity_after,
                            "cost_basis_e8": cost_after, "realized_pnl_delta_e8": delta, "updated_at": now_text,
                        }
                        book_positions[key] = [position_id, position[1], quantity_after, cost_after]
                commission_e8, fees_e8 = leg.commission_e8, leg.fees_e8  # shares of the fill's validated charges
                if strategy_totals is not None:
                    strategy_totals.add(leg.effect, realized_e8, commission_e8, fees_e8)
                trade_rows.append({
                    "account_id": account, "trade_id": new_id(), "order_id": order_id, "position_id": position_id,
                    "strategy_id": strategy_id, "symbol": symbol, "side": side, "leg": leg_number, "effect": leg.effect,
                    "quantity_e9": leg.quantity_e9, "price_e8": fill.price_e8, "commission_e8": commission_e8,
                    "fees_e8": fees_e8, "realized_pnl_e8": realized_e8, "external_trade_id": execution,
                    "executed_at": executed_text, "created_at": now_text,
                })
                if leg_number == 0:
                    results.append(len(trade_rows) - 1)

        queries_positions = positions.statements_of(conn)
        openings = [(queries_positions.insert_position, w["insert"]) for w in position_writes.values() if w["first_of_key"]]
        if not all(run_in_order(conn, openings)):  # each inserts 1 row, or 0 where one is open already
            # Another transaction opened one of these positions since we looked (PostgreSQL): start again.
            raise TransientError("a position of this batch was opened concurrently; the batch is retried")
        writes: list[tuple[Any, Any]] = []
        for write in position_writes.values():  # in order of first change: a close comes before the next open
            if "insert" in write and not write["first_of_key"]:
                writes.append((queries_positions.insert_position, write["insert"]))
            if "close" in write:
                writes.append((queries_positions.mark_position_closed, write["close"]))
        upsert = strategy_metrics.statements_of(conn).upsert_strategy_metrics
        writes += [(upsert, {
            "account_id": account, "strategy_id": strategy_id, "total_trades": t.total_trades,
            "closing_trades": t.closing_trades, "winning_trades": t.winning_trades,
            "realized_pnl_e8": t.realized_pnl_e8, "total_fees_e8": t.total_fees_e8,
        }) for strategy_id, t in totals.items()]
        for (statement, _), changed in zip(writes, run_in_order(conn, writes)):
            if changed != 1:  # the locks make this unreachable; the guards keep it safe regardless
                raise InvalidTransitionError(f"{statement.full_name} found its row changed while recording fills")
        # Each order's fills in one update, and the positions still open with their final holding in
        # another (one statement each on PostgreSQL): a position closed in this batch carries its
        # figures in its close, so every position updated here is open, inserted above if it is new.
        order_fills = list(order_writes.values())
        if orders.apply_order_fills(conn, account_id=account, fills=order_fills) != len(order_fills):
            raise InvalidTransitionError("an order of this batch changed while recording its fills")
        holdings = [write["update"] for write in position_writes.values() if "update" in write]
        if positions.update_position_holdings(conn, account_id=account, holdings=holdings) != len(holdings):
            raise InvalidTransitionError("a position of this batch changed while recording its fills")
        # Every trade row in one statement (executemany on SQLite, COPY on PostgreSQL). Each column of a
        # trade is a value bound here, so the Trade of each row is built from exactly what was stored.
        rows = [tuple(trade[column] for column in trades.TRADE_COLUMNS) for trade in trade_rows]
        trades.insert_trades(conn, rows=rows)
        return [result if isinstance(result, Trade) else trades.trade_from_tuple(rows[result]) for result in results]

    def import_trades(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Bulk-load historical trades whose orders and positions already exist in the account; returns how many.

        Each row is a mapping with ``order_id``, ``position_id``, ``symbol``, ``side``
        ('buy'|'sell'), ``effect`` ('open'|'increase'|'reduce'|'close'), ``quantity``, ``price``,
        ``realized_pnl`` and ``executed_at``, and optionally ``leg`` (0, or 1 for the opening leg
        of a flip), ``commission`` and ``fees`` (default 0), ``external_trade_id`` and
        ``strategy_id`` (default None). All of them are inserted in one transaction — one
        executemany on SQLite, ``COPY`` on PostgreSQL — together with their strategies'
        maintained metrics. Each row is validated once, as it streams into that statement, so
        that on PostgreSQL the server stores the rows already sent while the next ones are
        checked (decision 22). A row that does not validate (a ValidationError naming
        ``rows[i].<field>``), or whose order, position or strategy is not in the account, or
        that repeats an execution already recorded (ConflictError), fails the whole import:
        the transaction rolls back and nothing is written.

        The orders and positions are NOT recomputed from the imported rows: they are the
        record as the caller gives it. ``stocksbot db verify`` reports every order whose
        filled quantity, and every position whose realized P&L, the trades do not add up to.
        """
        rows = inputs.batch(rows, "rows")

        def work(conn: Any) -> int:
            totals: dict[str, strategy_metrics.Totals] = {}  # filled in as the rows stream, complete after
            count = trades.insert_trades(conn, rows=_validated_imports(self.account_id, rows, totals))
            for strategy_id, strategy_totals in totals.items():
                strategy_metrics.add_totals(conn, account_id=self.account_id, strategy_id=strategy_id, totals=strategy_totals)
            return count

        return self.db.run_in_transaction(work) if rows else 0

    def get_trades(
        self, order_id: str | None = None, symbol: str | None = None, strategy_id: str | None = None,
        since: datetime | None = None, limit: int | None = None,
    ) -> list[Trade]:
        """Trades in execution order, optionally filtered (``since`` is inclusive)."""
        order_id = inputs.optional_row_id(order_id, "order_id")
        symbol = None if symbol is None else inputs.symbol(symbol)
        strategy_id = inputs.optional_row_id(strategy_id, "strategy_id")
        since = None if since is None else inputs.timestamp(since, "since")
        limit = inputs.limit(limit)
        return self.db.read(lambda conn: trades.list_trades(
            conn, account_id=self.account_id, order_id=order_id, symbol=symbol, strategy_id=strategy_id,
            since=since, limit=limit,
        ))

    # --- strategies ----------------------------------------------------------------------

    def create_strategy(self, name: str, config: Mapping[str, Any] | None = None, is_active: bool = True) -> Strategy:
        """Create a strategy; its name is unique in the account (a duplicate is a ConflictError)."""
        name = inputs.name(name)
        config = inputs.json_object({} if config is None else dict(config) if isinstance(config, Mapping) else config)
        is_active = inputs.boolean(is_active, "is_active")
        return self.db.run_in_transaction(lambda conn: strategies.insert_strategy(
            conn, account_id=self.account_id, strategy_id=new_id(), name=name, config=config,
            is_active=is_active, created_at=utc_now(),
        ))

    def get_strategy(self, strategy_id: str) -> Strategy | None:
        """One strategy by id, or None."""
        strategy_id = inputs.row_id(strategy_id, "strategy_id")
        return self.db.read(lambda conn: strategies.find_strategy(
            conn, account_id=self.account_id, strategy_id=strategy_id,
        ))

    def get_strategy_by_name(self, name: str) -> Strategy | None:
        """One strategy by name, or None."""
        name = inputs.name(name)
        return self.db.read(lambda conn: strategies.find_strategy_by_name(
            conn, account_id=self.account_id, name=name,
        ))

    def list_strategies(self, active_only: bool = False) -> list[Strategy]:
        """Strategies by name; only the active ones with ``active_only``."""
        active_only = inputs.boolean(active_only, "active_only")
        if active_only:
            return self.db.read(lambda conn: strategies.list_active_strategies(conn, account_id=self.account_id))
        return self.db.read(lambda conn: strategies.list_strategies(conn, account_id=self.account_id))

    def update_strategy_config(self, strategy_id: str, config: Mapping[str, Any]) -> Strategy:
        """Replace a strategy's config (NotFoundError if it does not exist)."""
        strategy_id = inputs.row_id(strategy_id, "strategy_id")
        config = inputs.json_object(dict(config) if isinstance(config, Mapping) else config)
        updated = self.db.run_in_transaction(lambda conn: strategies.update_strategy_config(
            conn, account_id=self.account_id, strategy_id=strategy_id, config=config, updated_at=utc_now(),
        ))
        if updated is None:
            raise NotFoundError(f"strategy {strategy_id} not found")
        return updated

    def set_strategy_active(self, strategy_id: str, is_active: bool) -> Strategy:
        """Switch a strategy on or off (NotFoundError if it does not exist)."""
        strategy_id = inputs.row_id(strategy_id, "strategy_id")
        is_active = inputs.boolean(is_active, "is_active")
        updated = self.db.run_in_transaction(lambda conn: strategies.update_strategy_active(
            conn, account_id=self.account_id, strategy_id=strategy_id, is_active=is_active, updated_at=utc_now(),
        ))
        if updated is None:
            raise NotFoundError(f"strategy {strategy_id} not found")
        return updated

    def get_strategy_metrics(self, strategy_id: str) -> StrategyMetrics | None:
        """Trade counts, win rate, realized P&L and fees of a strategy; None if absent.

        Read from the strategy's maintained totals (strategy_metrics), which every trade this
        service writes updates in the same transaction: one row, whatever the number of
        trades. ``stocksbot db verify`` checks them against a recomputation from the trades.
        """
        strategy_id = inputs.row_id(strategy_id, "strategy_id")
        return self.db.read(lambda conn: strategy_metrics.find_maintained_metrics(
            conn, account_id=self.account_id, strategy_id=strategy_id,
        ))

    # --- config --------------------------------------------------------------------------

    def set_config_value(self, key: str, value: Any, value_type: ConfigType | str = ConfigType.STRING) -> ConfigEntry:
        """Set a typed setting (insert or replace); a value that does not fit its type is refused."""
        key = inputs.config_key(key)
        kind = inputs.enum_value(ConfigType, value_type, "value_type")
        text = config_queries.encode_value(value, kind)
        return self.db.run_in_transaction(lambda conn: config_queries.upsert_config_value(
            conn, account_id=self.account_id, key=key, value=text, value_type=kind, updated_at=utc_now(),
        ))

    def get_config_value(self, key: str, default: Any = None) -> Any:
        """The setting's value as its Python type, or ``default`` when the key is not set."""
        key = inputs.config_key(key)
        entry = self.db.read(lambda conn: config_queries.find_config_value(conn, account_id=self.account_id, key=key))
        return default if entry is None else entry.value

    def get_config_entry(self, key: str) -> ConfigEntry | None:
        """The whole setting (value, type, timestamps), or None."""
        key = inputs.config_key(key)
        return self.db.read(lambda conn: config_queries.find_config_value(conn, account_id=self.account_id, key=key))

    def list_config(self) -> list[ConfigEntry]:
        """Every setting of the account, by key."""
        return self.db.read(lambda conn: config_queries.list_config(conn, account_id=self.account_id))

    def delete_config_value(self, key: str) -> bool:
        """Delete a setting; True if it existed, False if there was nothing to delete."""
        key = inputs.config_key(key)
        return self.db.run_in_transaction(
            lambda conn: config_queries.delete_config_value(conn, account_id=self.account_id, key=key)
        )

    # --- portfolio -----------------------------------------------------------------------

    def get_portfolio_summary(self, marks: Mapping[str, Any] | None = None) -> PortfolioSummary:
        """Open positions per symbol and side, valued at ``marks`` ({symbol: price}), plus realized P&L."""
        if marks is not None and not isinstance(marks, Mapping):
            raise ValidationError("marks: expected a mapping of symbol to price", field="marks")
        prices = {
            inputs.symbol(s, "marks"): money_from_db(inputs.positive_price(p, f"marks[{s}]"))
            for s, p in (marks or {}).items()
        }
        open_positions, realized = self.db.read(lambda conn: (
            positions.list_open_positions(conn, account_id=self.account_id),
            positions.sum_realized_pnl(conn, account_id=self.account_id),
        ))
        grouped: dict[tuple[str, PositionSide], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for position in open_positions:
            totals = grouped[(position.symbol, position.side)]
            totals[0] += position.quantity
            totals[1] += position.cost_basis
        lines = []
        for (symbol, side), (quantity, cost_basis) in sorted(grouped.items()):
            mark = prices.get(symbol)
            lines.append(PortfolioLine(
                symbol=symbol, side=side, quantity=quantity, cost_basis=cost_basis,
                avg_entry_price=accounting.average_price(cost_basis, quantity), mark=mark,
                market_value=None if mark is None else accounting.market_value(side.value, quantity, mark),
                unrealized_pnl=None if mark is None else accounting.unrealized_pnl(side.value, quantity, cost_basis, mark),
            ))
        priced = all(line.mark is not None for line in lines)
        return PortfolioSummary(
            account_id=self.account_id,
            lines=lines,
            total_cost_basis=sum((line.cost_basis for line in lines), Decimal(0)),
            total_market_value=sum((line.market_value or Decimal(0) for line in lines), Decimal(0)) if priced else None,
            total_unrealized_pnl=sum((line.unrealized_pnl or Decimal(0) for line in lines), Decimal(0)) if priced else None,
            total_realized_pnl=realized,
            as_of=utc_now(),
        )

    # --- helpers -------------------------------------------------------------------------

    def _require_strategy(self, conn: Any, strategy_id: str | None) -> None:
        if strategy_id is not None and strategies.find_strategy(conn, account_id=self.account_id, strategy_id=strategy_id) is None:
            raise NotFoundError(f"strategy {strategy_id} not found")


_IMPORT_REQUIRED = frozenset({
    "order_id", "position_id", "symbol", "side", "effect", "quantity", "price", "realized_pnl", "executed_at",
})
_IMPORT_FIELDS = _IMPORT_REQUIRED | {"leg", "commission", "fees", "external_trade_id", "strategy_id"}
_SIDE_VALUES = {**{side.value: side.value for side in OrderSide}, **{side: side.value for side in OrderSide}}
_EFFECT_VALUES = {**{effect.value: effect.value for effect in TradeEffect}, **{effect: effect.value for effect in TradeEffect}}


#: import_trades makes its trade ids this many at a time (values.new_ids), as the rows stream.
_IMPORT_ID_CHUNK = 4096


def _validated_imports(
    account_id: str, rows: list[Any], totals: dict[str, strategy_metrics.Totals],
) -> Iterator[tuple[Any, ...]]:
    """One strict pass over import_trades' rows, as they stream into the bulk statement: each row as a
    tuple of trades.TRADE_COLUMNS values, its strategy's metrics added to ``totals`` (complete once
    every row is through). A ValidationError names ``rows[i].<field>``."""
    created_at = timestamp_to_db(utc_now())
    trade_ids: Iterator[str] = iter(())
    known_ids: set[str] = set()  # ids and symbols already checked: history repeats them a lot
    known_symbols: set[str] = set()

    def checked_id(value: Any, field: str) -> str:
        if type(value) is str and value in known_ids:
            return value
        inputs.row_id(value, field)
        known_ids.add(value)
        return value

    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        if not isinstance(row, Mapping):
            raise ValidationError(f"{where}: expected a mapping of trade fields", field=where)
        keys = row.keys()
        if not (_IMPORT_REQUIRED <= keys and keys <= _IMPORT_FIELDS):
            missing, unknown = sorted(_IMPORT_REQUIRED - set(keys)), sorted(set(keys) - _IMPORT_FIELDS)
            raise ValidationError(
                f"{where}: " + "; ".join(filter(None, [
                    f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(map(str, unknown))}" if unknown else "",
                ])),
                field=where,
            )
        try:
            order_id = checked_id(row["order_id"], "order_id")
            position_id = checked_id(row["position_id"], "position_id")
            strategy_id = row.get("strategy_id")
            if strategy_id is not None:
                checked_id(strategy_id, "strategy_id")
            symbol = row["symbol"]
            if not (type(symbol) is str and symbol in known_symbols):
                known_symbols.add(inputs.symbol(symbol))
            side = _SIDE_VALUES.get(row["side"]) if isinstance(row["side"], str) else None
            if side is None:
                side = inputs.enum_value(OrderSide, row["side"], "side").value
            effect = _EFFECT_VALUES.get(row["effect"]) if isinstance(row["effect"], str) else None
            if effect is None:
                effect = inputs.enum_value(TradeEffect, row["effect"], "effect").value
            leg = row.get("leg", 0)
            if type(leg) is not int or leg not in (0, 1):
                raise ValidationError(f"leg: must be 0, or 1 for the opening leg of a flip, got {leg!r:.40}", field="leg")
            if leg == 1 and effect != "open":
                raise ValidationError(f"leg: 1 is the opening leg of a flip, so its effect must be open, not {effect}", field="leg")
            commission_e8 = inputs.fee(row.get("commission", 0), "commission")
            fees_e8 = inputs.fee(row.get("fees", 0), "fees")
            realized_e8 = money_to_db(row["realized_pnl"], "realized_pnl")
            values = (
                order_id, position_id, strategy_id, symbol, side, leg, effect,
                inputs.positive_quantity(row["quantity"]), inputs.positive_price(row["price"]),
                commission_e8, fees_e8, realized_e8, inputs.external_id(row.get("external_trade_id"), "external_trade_id"),
                timestamp_to_db(row["executed_at"], "executed_at"), created_at,
            )
        except ValidationError as exc:
            raise ValidationError(f"{where}.{exc.message}", field=f"{where}.{exc.field}") from None
        if strategy_id is not None:
            strategy_totals = totals.get(strategy_id)
            if strategy_totals is None:
                strategy_totals = totals[strategy_id] = strategy_metrics.Totals()
            strategy_totals.add(effect, realized_e8, commission_e8, fees_e8)
        trade_id = next(trade_ids, None)
        if trade_id is None:  # the trade ids, made together a chunk at a time, in row order
            trade_ids = iter(new_ids(min(_IMPORT_ID_CHUNK, len(rows) - index)))
            trade_id = next(trade_ids)
        yield (account_id, trade_id, *values)


def _same_execution(order_id: str, fill: "_Fill", recorded: "_Fill") -> None:
    """Refuse a re-sent execution whose figures differ from the ones recorded (ConflictError, nothing written)."""
    given = (fill.quantity_e9, fill.price_e8, fill.commission_e8, fill.fees_e8)
    if given != (recorded.quantity_e9, recorded.price_e8, recorded.commission_e8, recorded.fees_e8):
        raise ConflictError(
            f"execution {fill.external_trade_id} of order {order_id} is already recorded as quantity "
            f"{recorded.quantity}, price {recorded.price}, commission {recorded.commission}, fees {recorded.fees}; "
            f"it was sent again as quantity {fill.quantity}, price {fill.price}, commission {fill.commission}, "
            f"fees {fill.fees}: a recorded execution is never changed"
        )


class _Fill:
    """One validated fill, in the columns' scaled integers (the arithmetic runs on them too)."""

    __slots__ = ("quantity_e9", "price_e8", "commission_e8", "fees_e8", "executed_at", "external_trade_id")

    def __init__(
        self, quantity_e9: int, price_e8: int, commission_e8: int, fees_e8: int, executed_at: datetime | None,
        external_trade_id: str | None,
    ) -> None:
        self.quantity_e9, self.price_e8 = quantity_e9, price_e8
        self.commission_e8, self.fees_e8 = commission_e8, fees_e8
        self.executed_at, self.external_trade_id = executed_at, external_trade_id

    # The Decimals, for messages only: the fill path computes on the integers.
    quantity = property(lambda self: quantity_from_db(self.quantity_e9))
    price = property(lambda self: money_from_db(self.price_e8))
    commission = property(lambda self: money_from_db(self.commission_e8))
    fees = property(lambda self: money_from_db(self.fees_e8))

