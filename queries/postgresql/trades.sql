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

-- name: list_trades_by_executions(account_id, order_ids, external_trade_ids)
-- The leg-0 trade rows of many broker executions (the i-th order with the i-th execution id), one statement: which of a batch's executions are recorded already.
-- PostgreSQL only: SQLite runs find_trade_by_execution once per execution, in process (StorageService.record_fills).
-- The LATERAL join (a correlated subquery: no CTE can say it; LIMIT 1, as the unique key allows one row)
-- looks each execution up by its order, whatever the table's statistics say.
-- Index: uq_trades_account_order_execution_leg or ix_trades_account_order
SELECT
    recorded.account_id, recorded.trade_id, recorded.order_id, recorded.position_id, recorded.strategy_id,
    recorded.symbol, recorded.side, recorded.leg, recorded.effect, recorded.quantity_e9, recorded.price_e8,
    recorded.commission_e8, recorded.fees_e8, recorded.realized_pnl_e8, recorded.external_trade_id,
    recorded.executed_at, recorded.created_at
FROM UNNEST(CAST(:order_ids AS TEXT[]), CAST(:external_trade_ids AS TEXT[])) AS wanted (order_id, external_trade_id)
CROSS JOIN
    LATERAL (  -- noqa: ST05
        SELECT
            trades.account_id, trades.trade_id, trades.order_id, trades.position_id, trades.strategy_id,
            trades.symbol, trades.side, trades.leg, trades.effect, trades.quantity_e9, trades.price_e8,
            trades.commission_e8, trades.fees_e8, trades.realized_pnl_e8, trades.external_trade_id,
            trades.executed_at, trades.created_at
        FROM trades
        WHERE trades.account_id = :account_id
            AND trades.order_id = wanted.order_id
            AND trades.external_trade_id = wanted.external_trade_id
            AND trades.leg = 0
        LIMIT 1  -- noqa: AM09
    ) AS recorded
ORDER BY recorded.order_id, recorded.external_trade_id;
