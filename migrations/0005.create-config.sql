-- Config: typed settings of one account. value holds the canonical text form of
-- the value; value_type says how to read it back (string|int|float|bool|json).
-- depends: 0004.create-trades

CREATE TABLE config (
    account_id TEXT NOT NULL DEFAULT 'default',
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    value_type TEXT NOT NULL DEFAULT 'string',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT pk_config PRIMARY KEY (account_id, key),
    CONSTRAINT ck_config_key CHECK (LENGTH(key) BETWEEN 1 AND 200),
    CONSTRAINT ck_config_value_type CHECK (value_type IN ('string', 'int', 'float', 'bool', 'json')),
    CONSTRAINT ck_config_created_at CHECK (LENGTH(created_at) = 27),
    CONSTRAINT ck_config_updated_at CHECK (LENGTH(updated_at) = 27)
);
