DROP INDEX uq_strategies_account_name;

DROP TABLE strategies;
