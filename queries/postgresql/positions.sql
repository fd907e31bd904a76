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

-- name: list_open_positions_for_fills(account_id, symbols, strategy_keys)
-- What a batch of fills reads of the open positions of many (symbol, strategy) pairs (the i-th symbol with the i-th key), one statement, each row locked.
-- PostgreSQL only: SQLite runs find_open_position_for_fill once per pair, in process (StorageService.record_fills).
-- The LATERAL join (a correlated subquery: no CTE can say it) looks each pair up in the unique index and
-- locks its row, in the order the pairs are given, whatever the table's statistics say.
-- Index: uq_positions_account_symbol_strategy_open
SELECT
    held.symbol, held.strategy_key, held.position_id, held.side, held.quantity_e9,
    held.cost_basis_e8
FROM UNNEST(CAST(:symbols AS TEXT[]), CAST(:strategy_keys AS TEXT[])) AS wanted (symbol, strategy_key)
CROSS JOIN
    LATERAL (  -- noqa: ST05
        SELECT
            positions.symbol, positions.strategy_key, positions.position_id, positions.side,
            positions.quantity_e9, positions.cost_basis_e8
        FROM positions
        WHERE positions.account_id = :account_id
            AND positions.symbol = wanted.symbol
            AND positions.strategy_key = wanted.strategy_key
            AND positions.status = 'open'
        FOR UPDATE
    ) AS held
ORDER BY held.symbol, held.strategy_key;

-- name: update_position_holdings(account_id, position_ids, quantities_e9, cost_bases_e8, realized_pnl_deltas_e8, updated_ats)!
-- Set the holdings of many open positions in one statement, as update_position_holding does for one (the i-th position gets the i-th figures); counts the positions changed.
-- PostgreSQL only: SQLite runs update_position_holding once per position, in process (StorageService.record_fills).
-- position_id = ANY(...) lets the planner read the rows by primary key (without statistics it may walk the open positions).
-- Index: pk_positions
UPDATE positions
SET
    quantity_e9 = holding.quantity_e9,
    cost_basis_e8 = holding.cost_basis_e8,
    realized_pnl_e8 = positions.realized_pnl_e8 + holding.realized_pnl_delta_e8,
    updated_at = holding.updated_at
FROM UNNEST(
        CAST(:position_ids AS TEXT[]), CAST(:quantities_e9 AS BIGINT[]), CAST(:cost_bases_e8 AS BIGINT[]),
        CAST(:realized_pnl_deltas_e8 AS BIGINT[]), CAST(:updated_ats AS TEXT[])
    ) AS holding (position_id, quantity_e9, cost_basis_e8, realized_pnl_delta_e8, updated_at)
WHERE positions.account_id = :account_id
    AND positions.position_id = ANY(CAST(:position_ids AS TEXT[]))
    AND positions.position_id = holding.position_id
    AND positions.status = 'open';
