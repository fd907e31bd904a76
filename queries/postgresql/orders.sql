-- PostgreSQL overrides of queries/orders.sql.

-- name: lock_order(account_id, order_id)^
-- Take the row lock of one order for the rest of the transaction and return it (no new row version, unlike the shared no-op write).
-- Index: pk_orders
SELECT
    account_id, order_id, client_order_id, external_id, strategy_id, symbol, side, order_type,
    quantity_e9, limit_price_e8, stop_price_e8, status, status_reason,
    filled_quantity_e9, filled_notional_e8, created_at, updated_at, terminal_at
FROM orders
WHERE account_id = :account_id
    AND order_id = :order_id
FOR UPDATE;

-- name: find_order_for_fill(account_id, order_id)^
-- What a fill reads of its order (status, fill state, strategy, symbol, side), with the order's row lock for the rest of the transaction.
-- Index: pk_orders
SELECT
    order_id, status, quantity_e9, filled_quantity_e9, filled_notional_e8, strategy_id, symbol, side
FROM orders
WHERE account_id = :account_id
    AND order_id = :order_id
FOR UPDATE;
