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

-- name: list_orders_for_fills(account_id, order_ids)
-- What a batch of fills reads of its orders (find_order_for_fill's columns), one statement for them all, each row locked, in order_id order.
-- PostgreSQL only: SQLite runs find_order_for_fill once per order, in process (StorageService.record_fills).
-- Index: pk_orders
SELECT
    order_id, status, quantity_e9, filled_quantity_e9, filled_notional_e8, strategy_id, symbol, side
FROM orders
WHERE account_id = :account_id
    AND order_id = ANY(CAST(:order_ids AS TEXT[]))
ORDER BY order_id
FOR UPDATE;

-- name: apply_order_fills(account_id, order_ids, fill_quantities_e9, fill_notionals_e8, updated_ats)!
-- Add the fills of many working orders in one statement, as apply_order_fill does for one (the i-th order gets the i-th figures); counts the orders changed.
-- PostgreSQL only: SQLite runs apply_order_fill once per order, in process (StorageService.record_fills).
-- order_id = ANY(...) reads the rows by primary key, whatever the table's statistics say.
-- Index: pk_orders
UPDATE orders
SET
    filled_quantity_e9 = orders.filled_quantity_e9 + fill.fill_quantity_e9,
    filled_notional_e8 = orders.filled_notional_e8 + fill.fill_notional_e8,
    status = CASE
        WHEN orders.filled_quantity_e9 + fill.fill_quantity_e9 = orders.quantity_e9 THEN 'filled'
        ELSE 'partially_filled'
    END,
    terminal_at = CASE
        WHEN orders.filled_quantity_e9 + fill.fill_quantity_e9 = orders.quantity_e9 THEN fill.updated_at
    END,
    updated_at = fill.updated_at
FROM UNNEST(
        CAST(:order_ids AS TEXT[]), CAST(:fill_quantities_e9 AS BIGINT[]), CAST(:fill_notionals_e8 AS BIGINT[]),
        CAST(:updated_ats AS TEXT[])
    ) AS fill (order_id, fill_quantity_e9, fill_notional_e8, updated_at)
WHERE orders.account_id = :account_id
    AND orders.order_id = ANY(CAST(:order_ids AS TEXT[]))
    AND orders.order_id = fill.order_id
    AND orders.status IN ('submitted', 'partially_filled')
    AND orders.filled_quantity_e9 + fill.fill_quantity_e9 <= orders.quantity_e9;
