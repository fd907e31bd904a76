DROP INDEX ix_trades_account_executed;

DROP INDEX ix_trades_account_symbol_executed;

DROP INDEX ix_trades_account_strategy_executed;

DROP INDEX ix_trades_account_position;

DROP INDEX ix_trades_account_order;

DROP INDEX uq_trades_account_order_execution_leg;

DROP TABLE trades;
