"""The raw-driver implementation: stdlib sqlite3 or psycopg 3, hand-written SQL, tuples.

It is what a careful engineer writes against the bare driver for the same schema and the
same guarantees as stocksbot: one transaction per fill (``BEGIN IMMEDIATE`` on SQLite,
``SELECT ... FOR UPDATE`` row locks on PostgreSQL), the execution-id idempotency check,
average-cost accounting on scaled integers, and — when the schema has the
``strategy_metrics`` table — the same per-fill metrics upsert. No validation beyond what
the accounting needs, no models: rows stay tuples.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Any, Sequence

from .common import (
    ACCOUNT,
    uuid7,
    apply_fill_e,
    has_table,
    notional_e8,
    scaled,
    sqlite_path,
    ts_text,
)

# Whole rows, as stocksbot reads them: the same data crosses the driver in every implementation.
ORDER_FULL = (
    "account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type, quantity_e9, "
    "limit_price_e8, stop_price_e8, status, status_reason, filled_quantity_e9, filled_notional_e8, created_at, "
    "updated_at, terminal_at"
)
POSITION_FULL = (
    "account_id, position_id, strategy_id, symbol, side, status, quantity_e9, cost_basis_e8, realized_pnl_e8, "
    "opened_at, updated_at, closed_at"
)
_ORDER_CANON = (1, 2, 3, 4, 5, 6, 7, 11, 8, 9, 13, 14, 15)
_POSITION_CANON = (1, 2, 3, 4, 5, 6, 7, 8, 9)
TRADE_INSERT_COLUMNS = (
    "account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect, quantity_e9, price_e8, "
    "commission_e8, fees_e8, realized_pnl_e8, external_trade_id, executed_at, created_at"
)

SQL = {
    "order_for_fill": "SELECT status, quantity_e9, filled_quantity_e9, symbol, side, strategy_id FROM orders "
    "WHERE account_id = ? AND order_id = ?",
    "execution": "SELECT trade_id FROM trades WHERE account_id = ? AND order_id = ? AND external_trade_id = ? AND leg = 0",
    "fill_order": "UPDATE orders SET filled_quantity_e9 = ?, filled_notional_e8 = filled_notional_e8 + ?, status = ?, "
    "terminal_at = ?, updated_at = ? WHERE account_id = ? AND order_id = ?",
    "open_position": "SELECT position_id, side, quantity_e9, cost_basis_e8 FROM positions "
    "WHERE account_id = ? AND symbol = ? AND strategy_key = ? AND status = 'open'",
    "insert_position": "INSERT INTO positions (account_id, position_id, strategy_id, symbol, side, status, quantity_e9, "
    "cost_basis_e8, realized_pnl_e8, opened_at, updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)",
    "update_position": "UPDATE positions SET quantity_e9 = ?, cost_basis_e8 = ?, realized_pnl_e8 = realized_pnl_e8 + ?, "
    "updated_at = ? WHERE account_id = ? AND position_id = ?",
    "close_position": "UPDATE positions SET status = 'closed', quantity_e9 = 0, cost_basis_e8 = 0, "
    "realized_pnl_e8 = realized_pnl_e8 + ?, updated_at = ?, closed_at = ? WHERE account_id = ? AND position_id = ?",
    "insert_trade": f"INSERT INTO trades ({TRADE_INSERT_COLUMNS}) VALUES ({', '.join('?' * 17)})",
    "upsert_metrics": "INSERT INTO strategy_metrics (account_id, strategy_id, total_trades, closing_trades, "
    "winning_trades, realized_pnl_e8, total_fees_e8) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_id, strategy_id) DO UPDATE SET "
    "total_trades = strategy_metrics.total_trades + excluded.total_trades, "
    "closing_trades = strategy_metrics.closing_trades + excluded.closing_trades, "
    "winning_trades = strategy_metrics.winning_trades + excluded.winning_trades, "
    "realized_pnl_e8 = strategy_metrics.realized_pnl_e8 + excluded.realized_pnl_e8, "
    "total_fees_e8 = strategy_metrics.total_fees_e8 + excluded.total_fees_e8",
    "order_by_broker_id": f"SELECT {ORDER_FULL} FROM orders WHERE account_id = ? AND external_id = ?",
    "open_positions": f"SELECT {POSITION_FULL} FROM positions WHERE account_id = ? AND status = 'open' "
    "ORDER BY symbol, opened_at, position_id",
    "metrics_maintained": "SELECT total_trades, closing_trades, winning_trades, realized_pnl_e8, total_fees_e8 "
    "FROM strategy_metrics WHERE account_id = ? AND strategy_id = ?",
    "metrics_scan": "SELECT COUNT(*), "
    "COALESCE(SUM(CASE WHEN effect IN ('reduce', 'close') THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(CASE WHEN effect IN ('reduce', 'close') AND realized_pnl_e8 > 0 THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(realized_pnl_e8), 0), COALESCE(SUM(commission_e8 + fees_e8), 0) "
    "FROM trades WHERE account_id = ? AND strategy_id = ?",
}
PG_SQL = {name: sql.replace("?", "%s") for name, sql in SQL.items()}
PG_SQL["order_for_fill"] += " FOR UPDATE"
PG_SQL["open_position"] += " FOR UPDATE"
COPY_TRADES = f"COPY trades ({TRADE_INSERT_COLUMNS}) FROM STDIN"


def _now() -> str:
    return ts_text(datetime.now(timezone.utc))


class RawImpl:
    """The workloads on the bare driver."""

    name = "raw"

    def __init__(self, url: str, synchronous: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:")
        if self.sqlite:
            self.conn: Any = sqlite3.connect(sqlite_path(url), isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute(f"PRAGMA synchronous = {synchronous}")
            self.sql = SQL
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.sql = PG_SQL
        self.metrics = has_table(self.conn, "strategy_metrics")

    def close(self) -> None:
        self.conn.close()

    # -- transactions --

    def _begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE" if self.sqlite else "BEGIN")

    def _commit(self) -> None:
        self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    # -- W1: the fill path --

    def _fill(self, execute: Any, fill: dict[str, Any]) -> None:
        sql = self.sql
        order_id = fill["order_id"]
        external = fill["external_trade_id"]
        q = scaled(fill["quantity"], 9)
        p = scaled(fill["price"], 8)
        commission = scaled(fill["commission"], 8)
        fees = scaled(fill["fees"], 8)
        executed = ts_text(fill["executed_at"])
        now = _now()
        order = execute(sql["order_for_fill"], (ACCOUNT, order_id)).fetchone()
        if order is None:
            raise LookupError(order_id)
        if external is not None and execute(sql["execution"], (ACCOUNT, order_id, external)).fetchone() is not None:
            return
        status, quantity, filled, symbol, side, strategy_id = order
        if status not in ("submitted", "partially_filled") or filled + q > quantity:
            raise ValueError(f"order {order_id} cannot take this fill")
        filled += q
        done = filled == quantity
        execute(sql["fill_order"], (
            filled, notional_e8(q, p), "filled" if done else "partially_filled", now if done else None, now,
            ACCOUNT, order_id,
        ))
        position = execute(sql["open_position"], (ACCOUNT, symbol, strategy_id or "")).fetchone()
        leg = apply_fill_e(None if position is None else position[1:], side, q, p, commission + fees)
        if position is None:
            position_id = uuid7()
            execute(sql["insert_position"], (
                ACCOUNT, position_id, strategy_id, symbol, "long" if side == "buy" else "short", leg.new_quantity_e9,
                leg.new_cost_e8, leg.realized_e8, executed, executed,
            ))
        else:
            position_id = position[0]
            if leg.effect == "close":
                execute(sql["close_position"], (leg.realized_e8, executed, executed, ACCOUNT, position_id))
            else:
                execute(sql["update_position"], (
                    leg.new_quantity_e9, leg.new_cost_e8, leg.realized_e8, now, ACCOUNT, position_id,
                ))
        execute(sql["insert_trade"], (
            ACCOUNT, uuid7(), order_id, position_id, strategy_id, symbol, side, 0, leg.effect, q, p,
            commission, fees, leg.realized_e8, external, executed, now,
        ))
        if self.metrics and strategy_id is not None:
            closing = leg.effect in ("reduce", "close")
            execute(sql["upsert_metrics"], (
                ACCOUNT, strategy_id, 1, int(closing), int(closing and leg.realized_e8 > 0), leg.realized_e8,
                commission + fees,
            ))

    def w1_fills(self, fills: Sequence[dict[str, Any]]) -> None:
        """One transaction per fill."""
        execute = self.conn.execute
        for fill in fills:
            self._begin()
            try:
                self._fill(execute, fill)
            except BaseException:
                self._rollback()
                raise
            self._commit()

    def w1_batches(self, batches: Sequence[Sequence[dict[str, Any]]]) -> None:
        """One transaction per batch of fills."""
        execute = self.conn.execute
        for batch in batches:
            self._begin()
            try:
                for fill in batch:
                    self._fill(execute, fill)
            except BaseException:
                self._rollback()
                raise
            self._commit()

    # -- W2: bulk import --

    def w2_import(self, rows: Sequence[dict[str, Any]]) -> None:
        """One executemany (SQLite) or COPY (PostgreSQL), plus the metrics upserts, in one transaction."""
        now = _now()
        deltas: dict[str, list[int]] = {}

        def tuples() -> Any:
            for row in rows:
                commission = scaled(row["commission"], 8)
                fees = scaled(row["fees"], 8)
                pnl = scaled(row["realized_pnl"], 8)
                strategy_id = row["strategy_id"]
                if self.metrics and strategy_id is not None:
                    closing = row["effect"] in ("reduce", "close")
                    delta = deltas.setdefault(strategy_id, [0, 0, 0, 0, 0])
                    delta[0] += 1
                    delta[1] += closing
                    delta[2] += closing and pnl > 0
                    delta[3] += pnl
                    delta[4] += commission + fees
                yield (
                    ACCOUNT, uuid7(), row["order_id"], row["position_id"], strategy_id, row["symbol"],
                    row["side"], row["leg"], row["effect"], scaled(row["quantity"], 9), scaled(row["price"], 8),
                    commission, fees, pnl, row["external_trade_id"], ts_text(row["executed_at"]), now,
                )

        self._begin()
        try:
            if self.sqlite:
                self.conn.executemany(self.sql["insert_trade"], tuples())
            else:
                with self.conn.cursor().copy(COPY_TRADES) as copy:
                    for row in tuples():
                        copy.write_row(row)
            for strategy_id, delta in deltas.items():
                self.conn.execute(self.sql["upsert_metrics"], (ACCOUNT, strategy_id, *delta))
        except BaseException:
            self._rollback()
            raise
        self._commit()

    # -- W3-W5: reads --

    def w3_reads(self, external_ids: Sequence[str]) -> list[Any]:
        execute, sql = self.conn.execute, self.sql["order_by_broker_id"]
        return [execute(sql, (ACCOUNT, external_id)).fetchone() for external_id in external_ids]

    def w4_listings(self, listings: int) -> list[Any]:
        execute, sql = self.conn.execute, self.sql["open_positions"]
        rows: list[Any] = []
        for _ in range(listings):
            rows = execute(sql, (ACCOUNT,)).fetchall()
        return rows

    def w5_metrics(self, strategy_ids: Sequence[str]) -> list[Any]:
        execute = self.conn.execute
        sql = self.sql["metrics_maintained" if self.metrics else "metrics_scan"]
        results = []
        for strategy_id in strategy_ids:
            row = execute(sql, (ACCOUNT, strategy_id)).fetchone()
            results.append((strategy_id, *(row or (0, 0, 0, 0, 0))))
        return results

    # -- canonical forms (untimed) --

    @staticmethod
    def canon_order(row: Any) -> list[Any]:
        return [row[i] for i in _ORDER_CANON]

    @staticmethod
    def canon_position(row: Any) -> list[Any]:
        return [row[i] for i in _POSITION_CANON]
