-- Strategies: named, configurable trading strategies of one account.
-- Ids are application-made UUIDv7 text; timestamps are fixed-width UTC text
-- (YYYY-MM-DDTHH:MM:SS.ffffffZ, 27 characters). See docs/decisions.md.

CREATE TABLE strategies (
    account_id TEXT NOT NULL DEFAULT 'default',
    strategy_id TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT pk_strategies PRIMARY KEY (account_id, strategy_id),
    CONSTRAINT ck_strategies_account_id CHECK (LENGTH(account_id) BETWEEN 1 AND 64),
    CONSTRAINT ck_strategies_strategy_id CHECK (LENGTH(strategy_id) = 36),
    CONSTRAINT ck_strategies_name CHECK (LENGTH(name) BETWEEN 1 AND 200),
    CONSTRAINT ck_strategies_config CHECK (SUBSTR(config, 1, 1) = '{'),
    CONSTRAINT ck_strategies_is_active CHECK (is_active IN (TRUE, FALSE)),
    CONSTRAINT ck_strategies_created_at CHECK (LENGTH(created_at) = 27),
    CONSTRAINT ck_strategies_updated_at CHECK (LENGTH(updated_at) = 27)
);

CREATE UNIQUE INDEX uq_strategies_account_name ON strategies (account_id, name);
