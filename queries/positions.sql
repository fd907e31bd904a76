-- Named queries of the positions table. Every query is scoped by account_id.
-- strategy_key is strategy_id, or '' for a position without a strategy; the open
-- position of (account, symbol, strategy) is found and locked through it.

-- name: insert_position(account_id, position_id, strategy_id, symbol, side, quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at)!
-- Open a position (1 row); 0 rows if (account, symbol, strategy) already has an open one.
INSERT INTO positions (
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at
)
VALUES (
    :account_id, :position_id, :strategy_id, :symbol, :side, 'open',
    :quantity_e9, :cost_basis_e8, :realized_pnl_e8, :opened_at, :opened_at
)
ON CONFLICT (account_id, symbol, strategy_key) WHERE status = 'open' DO NOTHING;

-- name: find_position(account_id, position_id)^
-- One position by id, or nothing.
-- Index: pk_positions
SELECT
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at, closed_at
FROM positions
WHERE account_id = :account_id
    AND position_id = :position_id;

-- name: find_open_position(account_id, symbol, strategy_key)^
-- The open position of (symbol, strategy), or nothing; strategy_key is '' for no strategy.
-- Index: uq_positions_account_symbol_strategy_open
SELECT
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at, closed_at
FROM positions
WHERE account_id = :account_id
    AND symbol = :symbol
    AND strategy_key = :strategy_key
    AND status = 'open';

-- name: find_open_position_for_fill(account_id, symbol, strategy_key)^
-- What a fill reads of the open position of (symbol, strategy), inside the fill's transaction: id, side, quantity and cost basis, nothing if none is open; SQLite's BEGIN IMMEDIATE already holds the write lock, PostgreSQL's version in postgresql/positions.sql takes the row lock.
-- Index: uq_positions_account_symbol_strategy_open
SELECT
    position_id, side, quantity_e9, cost_basis_e8
FROM positions
WHERE account_id = :account_id
    AND symbol = :symbol
    AND strategy_key = :strategy_key
    AND status = 'open';

-- name: lock_open_position(account_id, symbol, strategy_key)^
-- Take the row lock of the open position of (symbol, strategy) and return it, nothing if none is open: the portable no-op write; PostgreSQL runs the SELECT ... FOR UPDATE of postgresql/positions.sql.
-- Index: uq_positions_account_symbol_strategy_open
UPDATE positions
SET status = status
WHERE account_id = :account_id
    AND symbol = :symbol
    AND strategy_key = :strategy_key
    AND status = 'open'
RETURNING
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at, closed_at;

-- name: update_position_holding(account_id, position_id, quantity_e9, cost_basis_e8, realized_pnl_delta_e8, updated_at)!
-- Set an open position's quantity and cost basis after a fill and add the fill's realized P&L (0 rows if not open).
-- Index: pk_positions
UPDATE positions
SET
    quantity_e9 = :quantity_e9,
    cost_basis_e8 = :cost_basis_e8,
    realized_pnl_e8 = realized_pnl_e8 + :realized_pnl_delta_e8,
    updated_at = :updated_at
WHERE account_id = :account_id
    AND position_id = :position_id
    AND status = 'open';

-- name: mark_position_closed(account_id, position_id, realized_pnl_delta_e8, closed_at)!
-- Close an open position (quantity and cost basis to zero), adding the closing fill's realized P&L (0 rows if not open).
-- Index: pk_positions
UPDATE positions
SET
    status = 'closed',
    quantity_e9 = 0,
    cost_basis_e8 = 0,
    realized_pnl_e8 = realized_pnl_e8 + :realized_pnl_delta_e8,
    updated_at = :closed_at,
    closed_at = :closed_at
WHERE account_id = :account_id
    AND position_id = :position_id
    AND status = 'open';

-- name: list_open_positions(account_id, symbol)
-- Open positions of the account by symbol; symbol filters when not null (list_open_positions_by_strategy filters by strategy).
-- Index: ix_positions_account_status_symbol or uq_positions_account_symbol_strategy_open
SELECT
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at, closed_at
FROM positions
WHERE account_id = :account_id
    AND status = 'open'
    AND (CAST(:symbol AS TEXT) IS NULL OR symbol = :symbol)
ORDER BY symbol, opened_at, position_id;

-- name: list_open_positions_by_strategy(account_id, strategy_id, symbol)
-- Open positions of one strategy by symbol; symbol filters when not null.
-- Index: ix_positions_account_strategy_status
SELECT
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at, closed_at
FROM positions
WHERE account_id = :account_id
    AND strategy_id = :strategy_id
    AND status = 'open'
    AND (CAST(:symbol AS TEXT) IS NULL OR symbol = :symbol)
-- symbol || '' sorts exactly as symbol. Sorting by the column itself lets SQLite (no statistics)
-- prefer ix_positions_account_status_symbol for its symbol order and read every open position.
ORDER BY symbol || '', opened_at, position_id;

-- name: list_positions(account_id, limit)
-- Every position of the account, open or closed, newest first.
-- Index: ix_positions_account_opened
SELECT
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at, closed_at
FROM positions
WHERE account_id = :account_id
ORDER BY opened_at DESC, position_id DESC
LIMIT :limit;

-- name: sum_realized_pnl(account_id)$
-- Realized P&L of every position of the account, open and closed (money x 10^8).
-- Index: ix_positions_account_opened or ix_positions_account_strategy_status
SELECT CAST(COALESCE(SUM(realized_pnl_e8), 0) AS BIGINT) AS realized_pnl_e8
FROM positions
WHERE account_id = :account_id;
