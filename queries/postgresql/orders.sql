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
