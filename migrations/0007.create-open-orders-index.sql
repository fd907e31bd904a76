-- A partial index of the orders not yet terminal, oldest first: list_open_orders (the
-- engine's start-up reconciliation) reads it instead of walking the whole order history.
-- depends: 0006.create-strategy-metrics

CREATE INDEX ix_orders_account_open_created ON orders (account_id, created_at, order_id)
WHERE status IN ('pending', 'submitted', 'partially_filled');
