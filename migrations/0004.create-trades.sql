-- Trades: one row per execution (fill) and position leg. A fill that flips a
-- position writes two rows sharing external_trade_id: leg 0 closes the old
-- position, leg 1 opens the new one. effect says what the row did to its position.
-- quantity_e9 is x 10^9; price_e8, commission_e8, fees_e8, realized_pnl_e8 are x 10^8.
-- depends: 0003.create-positions

CREATE TABLE trades (
    account_id TEXT NOT NULL DEFAULT 'default',
    trade_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    position_id TEXT NOT NULL,
    strategy_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    leg INTEGER NOT NULL DEFAULT 0,
    effect TEXT NOT NULL,
    quantity_e9 BIGINT NOT NULL,
    price_e8 BIGINT NOT NULL,
    commission_e8 BIGINT NOT NULL DEFAULT 0,
    fees_e8 BIGINT NOT NULL DEFAULT 0,
    realized_pnl_e8 BIGINT NOT NULL,
    external_trade_id TEXT,
    executed_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT pk_trades PRIMARY KEY (account_id, trade_id),
    CONSTRAINT fk_trades_order FOREIGN KEY (account_id, order_id)
        REFERENCES orders (account_id, order_id),
    CONSTRAINT fk_trades_position FOREIGN KEY (account_id, position_id)
        REFERENCES positions (account_id, position_id),
    CONSTRAINT fk_trades_strategy FOREIGN KEY (account_id, strategy_id)
        REFERENCES strategies (account_id, strategy_id),
    CONSTRAINT ck_trades_trade_id CHECK (LENGTH(trade_id) = 36),
    CONSTRAINT ck_trades_symbol CHECK (LENGTH(symbol) BETWEEN 1 AND 32),
    CONSTRAINT ck_trades_side CHECK (side IN ('buy', 'sell')),
    CONSTRAINT ck_trades_leg CHECK (leg IN (0, 1)),
    CONSTRAINT ck_trades_effect CHECK (effect IN ('open', 'increase', 'reduce', 'close')),
    CONSTRAINT ck_trades_leg_effect CHECK (leg = 0 OR effect = 'open'),
    CONSTRAINT ck_trades_quantity_e9 CHECK (quantity_e9 > 0 AND quantity_e9 = CAST(quantity_e9 AS BIGINT)),
    CONSTRAINT ck_trades_price_e8 CHECK (price_e8 > 0 AND price_e8 = CAST(price_e8 AS BIGINT)),
    CONSTRAINT ck_trades_commission_e8 CHECK (commission_e8 >= 0 AND commission_e8 = CAST(commission_e8 AS BIGINT)),
    CONSTRAINT ck_trades_fees_e8 CHECK (fees_e8 >= 0 AND fees_e8 = CAST(fees_e8 AS BIGINT)),
    CONSTRAINT ck_trades_realized_pnl_e8 CHECK (realized_pnl_e8 = CAST(realized_pnl_e8 AS BIGINT)),
    CONSTRAINT ck_trades_external_trade_id CHECK (
        external_trade_id IS NULL OR LENGTH(external_trade_id) BETWEEN 1 AND 128
    ),
    CONSTRAINT ck_trades_executed_at CHECK (LENGTH(executed_at) = 27),
    CONSTRAINT ck_trades_created_at CHECK (LENGTH(created_at) = 27)
);

CREATE UNIQUE INDEX uq_trades_account_order_execution_leg ON trades (account_id, order_id, external_trade_id, leg)
WHERE external_trade_id IS NOT NULL;

CREATE INDEX ix_trades_account_order ON trades (account_id, order_id, executed_at);

CREATE INDEX ix_trades_account_position ON trades (account_id, position_id, executed_at);

CREATE INDEX ix_trades_account_strategy_executed ON trades (account_id, strategy_id, executed_at);

CREATE INDEX ix_trades_account_symbol_executed ON trades (account_id, symbol, executed_at);

CREATE INDEX ix_trades_account_executed ON trades (account_id, executed_at);
