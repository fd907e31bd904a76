-- Positions: what is held per (account, symbol, strategy), by the average-cost method.
-- cost_basis_e8 (money x 10^8) is the stored truth; avg_entry_price is derived as
-- cost_basis / quantity. strategy_key is strategy_id with '' for "no strategy", so
-- that the one-open-position rule also holds for positions without a strategy.
-- depends: 0002.create-orders

CREATE TABLE positions (
    account_id TEXT NOT NULL DEFAULT 'default',
    position_id TEXT NOT NULL,
    strategy_id TEXT,
    strategy_key TEXT GENERATED ALWAYS AS (COALESCE(strategy_id, '')) STORED,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    quantity_e9 BIGINT NOT NULL,
    cost_basis_e8 BIGINT NOT NULL,
    realized_pnl_e8 BIGINT NOT NULL DEFAULT 0,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    CONSTRAINT pk_positions PRIMARY KEY (account_id, position_id),
    CONSTRAINT fk_positions_strategy FOREIGN KEY (account_id, strategy_id)
        REFERENCES strategies (account_id, strategy_id),
    CONSTRAINT ck_positions_position_id CHECK (LENGTH(position_id) = 36),
    CONSTRAINT ck_positions_symbol CHECK (LENGTH(symbol) BETWEEN 1 AND 32),
    CONSTRAINT ck_positions_side CHECK (side IN ('long', 'short')),
    CONSTRAINT ck_positions_status CHECK (status IN ('open', 'closed')),
    CONSTRAINT ck_positions_quantity_e9 CHECK (quantity_e9 >= 0 AND quantity_e9 = CAST(quantity_e9 AS BIGINT)),
    CONSTRAINT ck_positions_cost_basis_e8 CHECK (cost_basis_e8 >= 0 AND cost_basis_e8 = CAST(cost_basis_e8 AS BIGINT)),
    CONSTRAINT ck_positions_realized_pnl_e8 CHECK (realized_pnl_e8 = CAST(realized_pnl_e8 AS BIGINT)),
    CONSTRAINT ck_positions_status_quantity CHECK (
        (status = 'open' AND quantity_e9 > 0 AND closed_at IS NULL)
        OR (status = 'closed' AND quantity_e9 = 0 AND cost_basis_e8 = 0 AND closed_at IS NOT NULL AND LENGTH(closed_at) = 27)
    ),
    CONSTRAINT ck_positions_opened_at CHECK (LENGTH(opened_at) = 27),
    CONSTRAINT ck_positions_updated_at CHECK (LENGTH(updated_at) = 27)
);

CREATE UNIQUE INDEX uq_positions_account_symbol_strategy_open ON positions (account_id, symbol, strategy_key)
WHERE status = 'open';

CREATE INDEX ix_positions_account_status_symbol ON positions (account_id, status, symbol);

CREATE INDEX ix_positions_account_strategy_status ON positions (account_id, strategy_id, status);

CREATE INDEX ix_positions_account_opened ON positions (account_id, opened_at);
