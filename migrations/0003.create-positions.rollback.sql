DROP INDEX ix_positions_account_opened;

DROP INDEX ix_positions_account_strategy_status;

DROP INDEX ix_positions_account_status_symbol;

DROP INDEX uq_positions_account_symbol_strategy_open;

DROP TABLE positions;
