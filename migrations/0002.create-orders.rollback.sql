DROP INDEX ix_orders_account_strategy_created;

DROP INDEX ix_orders_account_symbol_created;

DROP INDEX ix_orders_account_status_created;

DROP INDEX ix_orders_account_created;

DROP INDEX uq_orders_account_external_id;

DROP INDEX uq_orders_account_client_order_id;

DROP TABLE orders;
