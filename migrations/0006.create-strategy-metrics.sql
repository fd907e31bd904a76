-- Strategy metrics: the running totals of each strategy's trades (counts, realized P&L
-- and fees, money x 10^8), kept by StorageService in the same transaction as the trades
-- it writes (record_fill, record_fills, close_position, import_trades), so that
-- get_strategy_metrics reads one row instead of summing every trade of the strategy.
-- A strategy gets its row with its first trade. `stocksbot db verify` checks every row
-- against a full recomputation from trades (strategy_metrics.sql: list_recomputed_metrics).
-- This migration backfills the totals of the trades already recorded.
-- depends: 0005.create-config

CREATE TABLE strategy_metrics (
    account_id TEXT NOT NULL DEFAULT 'default',
    strategy_id TEXT NOT NULL,
    total_trades BIGINT NOT NULL DEFAULT 0,
    closing_trades BIGINT NOT NULL DEFAULT 0,
    winning_trades BIGINT NOT NULL DEFAULT 0,
    realized_pnl_e8 BIGINT NOT NULL DEFAULT 0,
    total_fees_e8 BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT pk_strategy_metrics PRIMARY KEY (account_id, strategy_id),
    CONSTRAINT fk_strategy_metrics_strategy FOREIGN KEY (account_id, strategy_id)
        REFERENCES strategies (account_id, strategy_id),
    CONSTRAINT ck_strategy_metrics_total_trades CHECK (total_trades >= 0),
    CONSTRAINT ck_strategy_metrics_closing_trades CHECK (closing_trades >= 0 AND closing_trades <= total_trades),
    CONSTRAINT ck_strategy_metrics_winning_trades CHECK (winning_trades >= 0 AND winning_trades <= closing_trades),
    CONSTRAINT ck_strategy_metrics_total_fees_e8 CHECK (total_fees_e8 >= 0)
);

INSERT INTO strategy_metrics (
    account_id, strategy_id, total_trades, closing_trades, winning_trades, realized_pnl_e8, total_fees_e8
)
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
GROUP BY account_id, strategy_id;
