-- Named queries of the orders table. Every query is scoped by account_id.
-- Status changes are guarded UPDATEs (mark_order_*): the WHERE clause lists the
-- statuses the transition may start from, so a refused transition changes nothing
-- and returns no row, also when two processes race on one order.

-- name: insert_order(account_id, order_id, client_order_id, strategy_id, symbol, side, order_type, quantity_e9, limit_price_e8, stop_price_e8, created_at)^
-- Insert one new order in status 'pending' and return it.
INSERT INTO orders (
    account_id, order_id, client_order_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, created_at, updated_at
)
VALUES (
    :account_id, :order_id, :client_order_id, :strategy_id, :symbol, :side, :order_type,
    :quantity_e9, :limit_price_e8, :stop_price_e8, 'pending', :created_at, :created_at
)
RETURNING
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at;

-- name: find_order(account_id, order_id)^
-- One order by id, or nothing.
-- Index: pk_orders
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND order_id = :order_id;

-- name: find_order_by_client_order_id(account_id, client_order_id)^
-- One order by the engine's client order id, or nothing.
-- Index: uq_orders_account_client_order_id
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND client_order_id = :client_order_id;

-- name: find_order_by_external_id(account_id, external_id)^
-- One order by the broker's order id, or nothing.
-- Index: uq_orders_account_external_id
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND external_id = :external_id;

-- name: list_orders(account_id, limit)
-- Orders of the account, newest first (list_orders_by_* filter by status, symbol or strategy).
-- Index: ix_orders_account_created
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
ORDER BY created_at DESC, order_id DESC
LIMIT :limit;

-- name: list_orders_by_status(account_id, status, limit)
-- Orders in one status, newest first.
-- Index: ix_orders_account_status_created
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND status = :status
ORDER BY created_at DESC, order_id DESC
LIMIT :limit;

-- name: list_orders_by_symbol(account_id, symbol, status, strategy_id, limit)
-- Orders of one symbol, newest first; status and strategy_id filter when not null.
-- Index: ix_orders_account_symbol_created
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND symbol = :symbol
    AND (CAST(:status AS TEXT) IS NULL OR status = :status)
    AND (CAST(:strategy_id AS TEXT) IS NULL OR strategy_id = :strategy_id)
ORDER BY created_at DESC, order_id DESC
LIMIT :limit;

-- name: list_orders_by_strategy(account_id, strategy_id, status, limit)
-- Orders of one strategy, newest first; status filters when not null.
-- Index: ix_orders_account_strategy_created
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND strategy_id = :strategy_id
    AND (CAST(:status AS TEXT) IS NULL OR status = :status)
ORDER BY created_at DESC, order_id DESC
LIMIT :limit;

-- name: list_open_orders(account_id)
-- Orders not yet terminal (pending, submitted, partially_filled), oldest first: what to reconcile at start-up.
-- Index: ix_orders_account_open_created or ix_orders_account_status_created
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND status IN ('pending', 'submitted', 'partially_filled')
ORDER BY created_at, order_id;

-- name: find_order_for_fill(account_id, order_id)^
-- What a fill reads of its order, inside the fill's transaction: status, fill state, strategy, symbol and side; SQLite's BEGIN IMMEDIATE already holds the write lock, PostgreSQL's version in postgresql/orders.sql takes the row lock.
-- Index: pk_orders
SELECT
    order_id, status, quantity_e9, filled_quantity_e9, filled_notional_e8, strategy_id, symbol, side
FROM orders
WHERE account_id = :account_id
    AND order_id = :order_id;

-- name: lock_order(account_id, order_id)^
-- Take the row lock of one order for the rest of the transaction and return it: the portable no-op write; PostgreSQL runs the SELECT ... FOR UPDATE of postgresql/orders.sql.
-- Index: pk_orders
UPDATE orders
SET status = status
WHERE account_id = :account_id
    AND order_id = :order_id
RETURNING
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at;

-- name: apply_order_fill(account_id, order_id, fill_quantity_e9, fill_notional_e8, updated_at)!
-- Add one fill to a working order (status becomes partially_filled or filled); 0 rows if not working or it would overfill.
-- Index: pk_orders
UPDATE orders
SET
    filled_quantity_e9 = filled_quantity_e9 + :fill_quantity_e9,
    filled_notional_e8 = filled_notional_e8 + :fill_notional_e8,
    status = CASE
        WHEN filled_quantity_e9 + :fill_quantity_e9 = quantity_e9 THEN 'filled'
        ELSE 'partially_filled'
    END,
    terminal_at = CASE
        WHEN filled_quantity_e9 + :fill_quantity_e9 = quantity_e9 THEN :updated_at
    END,
    updated_at = :updated_at
WHERE account_id = :account_id
    AND order_id = :order_id
    AND status IN ('submitted', 'partially_filled')
    AND filled_quantity_e9 + :fill_quantity_e9 <= quantity_e9;

-- name: mark_order_submitted(account_id, order_id, external_id, status_reason, updated_at)^
-- Move a pending order to 'submitted' (recording the broker id); nothing if it was not pending.
-- Index: pk_orders
UPDATE orders
SET
    status = 'submitted',
    external_id = COALESCE(:external_id, external_id),
    status_reason = COALESCE(:status_reason, status_reason),
    updated_at = :updated_at
WHERE account_id = :account_id
    AND order_id = :order_id
    AND status IN ('pending')
RETURNING
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at;

-- name: mark_order_cancelled(account_id, order_id, external_id, status_reason, updated_at)^
-- Move a working order to 'cancelled'; nothing if it was already terminal.
-- Index: pk_orders
UPDATE orders
SET
    status = 'cancelled',
    external_id = COALESCE(:external_id, external_id),
    status_reason = COALESCE(:status_reason, status_reason),
    updated_at = :updated_at,
    terminal_at = :updated_at
WHERE account_id = :account_id
    AND order_id = :order_id
    AND status IN ('pending', 'submitted', 'partially_filled')
RETURNING
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at;

-- name: mark_order_rejected(account_id, order_id, external_id, status_reason, updated_at)^
-- Move a pending or submitted order to 'rejected'; nothing otherwise.
-- Index: pk_orders
UPDATE orders
SET
    status = 'rejected',
    external_id = COALESCE(:external_id, external_id),
    status_reason = COALESCE(:status_reason, status_reason),
    updated_at = :updated_at,
    terminal_at = :updated_at
WHERE account_id = :account_id
    AND order_id = :order_id
    AND status IN ('pending', 'submitted')
RETURNING
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at;

-- name: mark_order_expired(account_id, order_id, external_id, status_reason, updated_at)^
-- Move a submitted or partially filled order to 'expired'; nothing otherwise.
-- Index: pk_orders
UPDATE orders
SET
    status = 'expired',
    external_id = COALESCE(:external_id, external_id),
    status_reason = COALESCE(:status_reason, status_reason),
    updated_at = :updated_at,
    terminal_at = :updated_at
WHERE account_id = :account_id
    AND order_id = :order_id
    AND status IN ('submitted', 'partially_filled')
RETURNING
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at;
