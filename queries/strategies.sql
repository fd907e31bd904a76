-- Named queries of the strategies table. Every query is scoped by account_id.

-- name: insert_strategy(account_id, strategy_id, name, config, is_active, created_at, updated_at)^
-- Insert one strategy and return it.
INSERT INTO strategies (
    account_id, strategy_id, name, config, is_active, created_at, updated_at
)
VALUES (
    :account_id, :strategy_id, :name, :config, :is_active, :created_at, :updated_at
)
RETURNING account_id, strategy_id, name, config, is_active, created_at, updated_at;

-- name: find_strategy(account_id, strategy_id)^
-- One strategy by id, or nothing.
-- Index: pk_strategies
SELECT account_id, strategy_id, name, config, is_active, created_at, updated_at
FROM strategies
WHERE account_id = :account_id
    AND strategy_id = :strategy_id;

-- name: find_strategy_by_name(account_id, name)^
-- One strategy by its unique name, or nothing.
-- Index: uq_strategies_account_name
SELECT account_id, strategy_id, name, config, is_active, created_at, updated_at
FROM strategies
WHERE account_id = :account_id
    AND name = :name;

-- name: list_strategies(account_id)
-- Every strategy of the account, by name.
-- Index: uq_strategies_account_name
SELECT account_id, strategy_id, name, config, is_active, created_at, updated_at
FROM strategies
WHERE account_id = :account_id
ORDER BY name;

-- name: list_active_strategies(account_id)
-- The active strategies of the account, by name.
-- Index: uq_strategies_account_name
SELECT account_id, strategy_id, name, config, is_active, created_at, updated_at
FROM strategies
WHERE account_id = :account_id
    AND is_active = TRUE
ORDER BY name;

-- name: update_strategy_config(account_id, strategy_id, config, updated_at)^
-- Replace a strategy's config and return the strategy; nothing if it does not exist.
-- Index: pk_strategies
UPDATE strategies
SET config = :config, updated_at = :updated_at
WHERE account_id = :account_id
    AND strategy_id = :strategy_id
RETURNING account_id, strategy_id, name, config, is_active, created_at, updated_at;

-- name: update_strategy_active(account_id, strategy_id, is_active, updated_at)^
-- Switch a strategy on or off and return it; nothing if it does not exist.
-- Index: pk_strategies
UPDATE strategies
SET is_active = :is_active, updated_at = :updated_at
WHERE account_id = :account_id
    AND strategy_id = :strategy_id
RETURNING account_id, strategy_id, name, config, is_active, created_at, updated_at;

-- name: find_strategy_metrics(account_id, strategy_id)^
-- Trade counts, realized P&L and fees of one strategy, summed from its trades (money x 10^8).
-- Index: ix_trades_account_strategy_executed
-- Returns: always one row (an aggregate without GROUP BY): zeros when the strategy has no trades.
SELECT
    CAST(COUNT(*) AS BIGINT) AS total_trades,
    CAST(COALESCE(SUM(CASE WHEN effect IN ('reduce', 'close') THEN 1 ELSE 0 END), 0) AS BIGINT) AS closing_trades,
    CAST(
        COALESCE(SUM(CASE WHEN effect IN ('reduce', 'close') AND realized_pnl_e8 > 0 THEN 1 ELSE 0 END), 0)
        AS BIGINT
    ) AS winning_trades,
    CAST(COALESCE(SUM(realized_pnl_e8), 0) AS BIGINT) AS realized_pnl_e8,
    CAST(COALESCE(SUM(commission_e8 + fees_e8), 0) AS BIGINT) AS total_fees_e8
FROM trades
WHERE account_id = :account_id
    AND strategy_id = :strategy_id;
