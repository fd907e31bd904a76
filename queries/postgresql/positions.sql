-- PostgreSQL overrides of queries/positions.sql.

-- name: lock_open_position(account_id, symbol, strategy_key)^
-- Take the row lock of the open position of (symbol, strategy) and return it; nothing if none is open (no new row version).
-- Index: uq_positions_account_symbol_strategy_open
SELECT
    account_id, position_id, strategy_id, symbol, side, status,
    quantity_e9, cost_basis_e8, realized_pnl_e8, opened_at, updated_at, closed_at
FROM positions
WHERE account_id = :account_id
    AND symbol = :symbol
    AND strategy_key = :strategy_key
    AND status = 'open'
FOR UPDATE;

-- name: find_open_position_for_fill(account_id, symbol, strategy_key)^
-- What a fill reads of the open position of (symbol, strategy) (id, side, quantity, cost basis), with its row lock; nothing if none is open.
-- Index: uq_positions_account_symbol_strategy_open
SELECT
    position_id, side, quantity_e9, cost_basis_e8
FROM positions
WHERE account_id = :account_id
    AND symbol = :symbol
    AND strategy_key = :strategy_key
    AND status = 'open'
FOR UPDATE;
