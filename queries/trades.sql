-- Named queries of the trades table: one row per fill and position leg. Scoped by account_id.
-- Trades are never updated or deleted: they are the record the positions and the
-- strategy metrics are checked against.

-- name: insert_trade(account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect, quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8, external_trade_id, executed_at, created_at)!
-- Insert one trade row (the caller has every value it wrote: no RETURNING, which costs SQLite a temporary table).
INSERT INTO trades (
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
)
VALUES (
    :account_id, :trade_id, :order_id, :position_id, :strategy_id, :symbol, :side, :leg, :effect,
    :quantity_e9, :price_e8, :commission_e8, :fees_e8, :realized_pnl_e8,
    :external_trade_id, :executed_at, :created_at
);

-- name: find_trade(account_id, trade_id)^
-- One trade row by id, or nothing.
-- Index: pk_trades
SELECT
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
FROM trades
WHERE account_id = :account_id
    AND trade_id = :trade_id;

-- name: find_trade_by_execution(account_id, order_id, external_trade_id, leg)^
-- The trade row of one broker execution of an order (leg 0, or 1 for a flip's opening leg), or nothing.
-- Index: uq_trades_account_order_execution_leg or ix_trades_account_order
SELECT
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
FROM trades
WHERE account_id = :account_id
    AND order_id = :order_id
    AND external_trade_id = :external_trade_id
    AND leg = :leg;

-- name: list_trades(account_id, since, limit)
-- Trades of the account in execution order, from since (executed_at >=) on; a null since is '', before any time.
-- since bounds the index range, so a recent since reads only recent rows (list_trades_by_* filter more).
-- Index: ix_trades_account_executed
SELECT
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
FROM trades
WHERE account_id = :account_id
    AND executed_at >= COALESCE(CAST(:since AS TEXT), '')
ORDER BY executed_at, trade_id
LIMIT :limit;

-- name: list_trades_by_order(account_id, order_id, symbol, strategy_id, since, limit)
-- The trades of one order in execution order; symbol and strategy_id filter when not null; since starts the index range.
-- Index: ix_trades_account_order
SELECT
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
FROM trades
WHERE account_id = :account_id
    AND order_id = :order_id
    AND (CAST(:symbol AS TEXT) IS NULL OR symbol = :symbol)
    AND (CAST(:strategy_id AS TEXT) IS NULL OR strategy_id = :strategy_id)
    AND executed_at >= COALESCE(CAST(:since AS TEXT), '')
ORDER BY executed_at, trade_id
LIMIT :limit;

-- name: list_trades_by_symbol(account_id, symbol, strategy_id, since, limit)
-- The trades of one symbol in execution order; strategy_id filters when not null; since starts the index range.
-- Index: ix_trades_account_symbol_executed
SELECT
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
FROM trades
WHERE account_id = :account_id
    AND symbol = :symbol
    AND (CAST(:strategy_id AS TEXT) IS NULL OR strategy_id = :strategy_id)
    AND executed_at >= COALESCE(CAST(:since AS TEXT), '')
ORDER BY executed_at, trade_id
LIMIT :limit;

-- name: list_trades_by_strategy(account_id, strategy_id, since, limit)
-- The trades of one strategy in execution order; since (executed_at >=) starts the index range when not null.
-- Index: ix_trades_account_strategy_executed
SELECT
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
FROM trades
WHERE account_id = :account_id
    AND strategy_id = :strategy_id
    AND executed_at >= COALESCE(CAST(:since AS TEXT), '')
ORDER BY executed_at, trade_id
LIMIT :limit;

-- name: list_trades_by_position(account_id, position_id)
-- The trade rows of one position in execution order.
-- Index: ix_trades_account_position
SELECT
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
FROM trades
WHERE account_id = :account_id
    AND position_id = :position_id
ORDER BY executed_at, trade_id;

-- name: insert_trades(account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect, quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8, external_trade_id, executed_at, created_at)*!
-- Insert many trade rows in one executemany (StorageService.import_trades); PostgreSQL loads them with COPY instead.
-- Called by: trades.insert_trades, with rows validated once by StorageService.import_trades.
INSERT INTO trades (
    account_id, trade_id, order_id, position_id, strategy_id, symbol, side, leg, effect,
    quantity_e9, price_e8, commission_e8, fees_e8, realized_pnl_e8,
    external_trade_id, executed_at, created_at
)
VALUES (
    :account_id, :trade_id, :order_id, :position_id, :strategy_id, :symbol, :side, :leg, :effect,
    :quantity_e9, :price_e8, :commission_e8, :fees_e8, :realized_pnl_e8,
    :external_trade_id, :executed_at, :created_at
);
