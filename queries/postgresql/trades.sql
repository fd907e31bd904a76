-- PostgreSQL overrides of queries/trades.sql.
-- COPY takes its values from the rows streamed to it, not from parameters, so the
-- override declares none; trades.insert_trades streams one row per trade, in the
-- column order listed here (the shared query's parameter order).

-- name: insert_trades()*!
-- Load many trade rows with COPY ... FROM STDIN (StorageService.import_trades), one streamed row per trade.
COPY trades (
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
) FROM STDIN;
