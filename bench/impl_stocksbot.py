"""The stocksbot implementation: the public API only (``stocksbot.connect`` and ``StorageService``)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from .common import ACCOUNT, ts_text


class StocksbotImpl:
    """The workloads through StorageService."""

    name = "stocksbot"

    def __init__(self, url: str, synchronous: str) -> None:
        os.environ["STOCKSBOT_SQLITE_SYNCHRONOUS"] = synchronous  # read by stocksbot.connect
        import stocksbot

        self.db = stocksbot.connect(url)
        self.storage = stocksbot.StorageService(self.db, account_id=ACCOUNT)
        self.storage.get_config_value("bench.warm-up")  # connected, as the other two are when the clock starts

    def close(self) -> None:
        self.db.close()

    def w1_fills(self, fills: Sequence[dict[str, Any]]) -> None:
        record_fill = self.storage.record_fill
        for fill in fills:
            record_fill(**fill)

    def w1_batches(self, batches: Sequence[Sequence[dict[str, Any]]]) -> None:
        record_fills = self.storage.record_fills
        for batch in batches:
            record_fills(batch)

    def w2_import(self, rows: Sequence[dict[str, Any]]) -> None:
        import_trades = getattr(self.storage, "import_trades", None)
        if import_trades is not None:
            import_trades(rows)
            return
        # Before StorageService.import_trades existed: the typed module, row by row, in one transaction.
        from stocksbot import trades
        from stocksbot.values import money_to_db, new_id, quantity_to_db, utc_now

        now = utc_now()
        with self.db.transaction() as conn:
            for row in rows:
                trades.insert_trade(
                    conn, account_id=ACCOUNT, trade_id=new_id(), order_id=row["order_id"],
                    position_id=row["position_id"], strategy_id=row["strategy_id"], symbol=row["symbol"],
                    side=row["side"], leg=row["leg"], effect=row["effect"], quantity_e9=quantity_to_db(row["quantity"]),
                    price_e8=money_to_db(row["price"]), commission_e8=money_to_db(row["commission"]),
                    fees_e8=money_to_db(row["fees"]), realized_pnl_e8=money_to_db(row["realized_pnl"]),
                    external_trade_id=row["external_trade_id"], executed_at=row["executed_at"], created_at=now,
                )

    def w3_reads(self, external_ids: Sequence[str]) -> list[Any]:
        get = self.storage.get_order_by_external_id
        return [get(external_id) for external_id in external_ids]

    def w4_listings(self, listings: int) -> list[Any]:
        get_open_positions = self.storage.get_open_positions
        rows: list[Any] = []
        for _ in range(listings):
            rows = get_open_positions()
        return rows

    def w5_metrics(self, strategy_ids: Sequence[str]) -> list[Any]:
        get = self.storage.get_strategy_metrics
        return [get(strategy_id) for strategy_id in strategy_ids]

    # -- canonical forms (untimed) --

    @staticmethod
    def canon_order(order: Any) -> list[Any]:
        return [
            order.order_id, order.client_order_id, order.external_id, order.strategy_id, order.symbol,
            order.side.value, order.order_type.value, order.status.value, int(order.quantity.scaleb(9)),
            None if order.limit_price is None else int(order.limit_price.scaleb(8)),
            int(order.filled_quantity.scaleb(9)), int(order.filled_notional.scaleb(8)), ts_text(order.created_at),
        ]

    @staticmethod
    def canon_position(position: Any) -> list[Any]:
        return [
            position.position_id, position.strategy_id, position.symbol, position.side.value, position.status.value,
            int(position.quantity.scaleb(9)), int(position.cost_basis.scaleb(8)),
            int(position.realized_pnl.scaleb(8)), ts_text(position.opened_at),
        ]

    @staticmethod
    def canon_metrics(metrics: Any) -> list[Any]:
        return [
            metrics.strategy_id, metrics.total_trades, metrics.closing_trades, metrics.winning_trades,
            int(metrics.realized_pnl.scaleb(8)), int(metrics.total_fees.scaleb(8)),
        ]
