-- Named queries of the strategy_metrics table: the running totals of each strategy's
-- trades (counts, realized P&L and fees, money x 10^8), which StorageService adds to in
-- the same transaction as every trade it writes. The totals must always equal a full
-- recomputation from trades (list_recomputed_metrics); `stocksbot db verify` checks it.

-- name: upsert_strategy_metrics(account_id, strategy_id, total_trades, closing_trades, winning_trades, realized_pnl_e8, total_fees_e8)!
-- Add the counts, realized P&L and fees of some new trades to a strategy's totals, creating its row at its first trade.
INSERT INTO strategy_metrics (
    account_id, strategy_id, total_trades, closing_trades, winning_trades, realized_pnl_e8, total_fees_e8
)
VALUES (
    :account_id, :strategy_id, :total_trades, :closing_trades, :winning_trades, :realized_pnl_e8, :total_fees_e8
)
ON CONFLICT (account_id, strategy_id) DO UPDATE SET
    total_trades = strategy_metrics.total_trades + excluded.total_trades,
    closing_trades = strategy_metrics.closing_trades + excluded.closing_trades,
    winning_trades = strategy_metrics.winning_trades + excluded.winning_trades,
    realized_pnl_e8 = strategy_metrics.realized_pnl_e8 + excluded.realized_pnl_e8,
    total_fees_e8 = strategy_metrics.total_fees_e8 + excluded.total_fees_e8;

-- name: find_maintained_metrics(account_id, strategy_id)^
-- The maintained totals of one strategy (zeros before its first trade), or nothing if the strategy does not exist.
-- Index: pk_strategies, pk_strategy_metrics
SELECT
    s.strategy_id,
    COALESCE(m.total_trades, 0) AS total_trades,
    COALESCE(m.closing_trades, 0) AS closing_trades,
    COALESCE(m.winning_trades, 0) AS winning_trades,
    COALESCE(m.realized_pnl_e8, 0) AS realized_pnl_e8,
    COALESCE(m.total_fees_e8, 0) AS total_fees_e8
FROM (
    SELECT account_id, strategy_id
    FROM strategies
    WHERE account_id = :account_id
        AND strategy_id = :strategy_id
) AS s
LEFT JOIN strategy_metrics AS m
    ON
        s.account_id = m.account_id
        AND s.strategy_id = m.strategy_id;

-- name: list_maintained_metrics()
-- The maintained totals of every strategy of every account, by account and strategy (for `stocksbot db verify`).
-- Index: pk_strategy_metrics
SELECT
    account_id, strategy_id, total_trades, closing_trades, winning_trades, realized_pnl_e8, total_fees_e8
FROM strategy_metrics
ORDER BY account_id, strategy_id;

-- name: list_recomputed_metrics()
-- The totals of every strategy of every account summed from its trades, by account and strategy: what the maintained totals must equal.
-- Index: ix_trades_account_strategy_executed
SELECT
    account_id,
    strategy_id,
    CAST(COUNT(*) AS BIGINT) AS total_trades,
    CAST(SUM(CASE WHEN effect IN ('reduce', 'close') THEN 1 ELSE 0 END) AS BIGINT) AS closing_trades,
    CAST(
        SUM(CASE WHEN effect IN ('reduce', 'close') AND realized_pnl_e8 > 0 THEN 1 ELSE 0 END) AS BIGINT
    ) AS winning_trades,
    CAST(SUM(realized_pnl_e8) AS BIGINT) AS realized_pnl_e8,
    CAST(SUM(commission_e8 + fees_e8) AS BIGINT) AS total_fees_e8
FROM trades
WHERE strategy_id IS NOT NULL
GROUP BY account_id, strategy_id
ORDER BY account_id, strategy_id;
