-- Orders: one row per order the engine places, written before the broker is called.
-- quantity_e9 / filled_quantity_e9 hold quantities x 10^9; *_price_e8 and
-- filled_notional_e8 hold prices and money x 10^8 (exact on both engines).
-- avg_fill_price is derived: filled_notional_e8 / filled_quantity_e9 (see docs/decisions.md).
-- depends: 0001.create-strategies

CREATE TABLE orders (
    account_id TEXT NOT NULL DEFAULT 'default',
    order_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    external_id TEXT,
    strategy_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    quantity_e9 BIGINT NOT NULL,
    limit_price_e8 BIGINT,
    stop_price_e8 BIGINT,
    status TEXT NOT NULL DEFAULT 'pending',
    status_reason TEXT,
    filled_quantity_e9 BIGINT NOT NULL DEFAULT 0,
    filled_notional_e8 BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    terminal_at TEXT,
    CONSTRAINT pk_orders PRIMARY KEY (account_id, order_id),
    CONSTRAINT fk_orders_strategy FOREIGN KEY (account_id, strategy_id)
        REFERENCES strategies (account_id, strategy_id),
    CONSTRAINT ck_orders_order_id CHECK (LENGTH(order_id) = 36),
    CONSTRAINT ck_orders_client_order_id CHECK (LENGTH(client_order_id) BETWEEN 1 AND 128),
    CONSTRAINT ck_orders_external_id CHECK (external_id IS NULL OR LENGTH(external_id) BETWEEN 1 AND 128),
    CONSTRAINT ck_orders_symbol CHECK (LENGTH(symbol) BETWEEN 1 AND 32),
    CONSTRAINT ck_orders_side CHECK (side IN ('buy', 'sell')),
    CONSTRAINT ck_orders_order_type CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
    CONSTRAINT ck_orders_status CHECK (
        status IN ('pending', 'submitted', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired')
    ),
    CONSTRAINT ck_orders_quantity_e9 CHECK (quantity_e9 > 0 AND quantity_e9 = CAST(quantity_e9 AS BIGINT)),
    CONSTRAINT ck_orders_limit_price_e8 CHECK (
        (order_type IN ('limit', 'stop_limit') AND limit_price_e8 IS NOT NULL AND limit_price_e8 > 0 AND limit_price_e8 = CAST(limit_price_e8 AS BIGINT))
        OR (order_type IN ('market', 'stop') AND limit_price_e8 IS NULL)
    ),
    CONSTRAINT ck_orders_stop_price_e8 CHECK (
        (order_type IN ('stop', 'stop_limit') AND stop_price_e8 IS NOT NULL AND stop_price_e8 > 0 AND stop_price_e8 = CAST(stop_price_e8 AS BIGINT))
        OR (order_type IN ('market', 'limit') AND stop_price_e8 IS NULL)
    ),
    CONSTRAINT ck_orders_filled_quantity_e9 CHECK (
        filled_quantity_e9 >= 0
        AND filled_quantity_e9 <= quantity_e9
        AND filled_quantity_e9 = CAST(filled_quantity_e9 AS BIGINT)
    ),
    CONSTRAINT ck_orders_filled_notional_e8 CHECK (
        filled_notional_e8 >= 0 AND filled_notional_e8 = CAST(filled_notional_e8 AS BIGINT)
    ),
    CONSTRAINT ck_orders_status_fill CHECK (
        (status = 'filled' AND filled_quantity_e9 = quantity_e9)
        OR (status = 'partially_filled' AND filled_quantity_e9 > 0 AND filled_quantity_e9 < quantity_e9)
        OR (status IN ('pending', 'submitted', 'rejected') AND filled_quantity_e9 = 0)
        OR (status IN ('cancelled', 'expired') AND filled_quantity_e9 < quantity_e9)
    ),
    CONSTRAINT ck_orders_terminal_at CHECK (
        (status IN ('filled', 'cancelled', 'rejected', 'expired') AND terminal_at IS NOT NULL AND LENGTH(terminal_at) = 27)
        OR (status IN ('pending', 'submitted', 'partially_filled') AND terminal_at IS NULL)
    ),
    CONSTRAINT ck_orders_created_at CHECK (LENGTH(created_at) = 27),
    CONSTRAINT ck_orders_updated_at CHECK (LENGTH(updated_at) = 27)
);

CREATE UNIQUE INDEX uq_orders_account_client_order_id ON orders (account_id, client_order_id);

CREATE UNIQUE INDEX uq_orders_account_external_id ON orders (account_id, external_id)
WHERE external_id IS NOT NULL;

CREATE INDEX ix_orders_account_created ON orders (account_id, created_at);

CREATE INDEX ix_orders_account_status_created ON orders (account_id, status, created_at);

CREATE INDEX ix_orders_account_symbol_created ON orders (account_id, symbol, created_at);

CREATE INDEX ix_orders_account_strategy_created ON orders (account_id, strategy_id, created_at);
