-- Named queries of `stocksbot db verify` (stocksbot/verify.py): the invariants that tie
-- orders and positions to their trades, checked over every account of the database.
-- Each returns only the rows that break its invariant, so a healthy database returns none.
-- Each walks its table in key order and sums every row's trades through that row's index
-- of trades, so the cost grows with the book, never with a sort or a hash of all trades.
-- (The strategy metrics are checked with strategy_metrics.sql's two list_ queries.)

-- name: list_order_fill_drift()
-- Orders whose filled quantity is not the sum of their trades' quantities (x 10^9), by account and order.
-- Index: pk_orders, ix_trades_account_order
SELECT
    d.account_id,
    d.order_id,
    d.filled_quantity_e9,
    d.traded_quantity_e9
FROM (
    SELECT
        o.account_id,
        o.order_id,
        o.filled_quantity_e9,
        (
            SELECT CAST(COALESCE(SUM(t.quantity_e9), 0) AS BIGINT)
            FROM trades AS t
            WHERE
                t.account_id = o.account_id
                AND t.order_id = o.order_id
        ) AS traded_quantity_e9
    FROM orders AS o
) AS d
WHERE d.filled_quantity_e9 <> d.traded_quantity_e9
ORDER BY d.account_id, d.order_id;

-- name: list_position_pnl_drift()
-- Positions whose realized P&L is not the sum of their trades' realized P&L (money x 10^8), by account and position.
-- Index: pk_positions, ix_trades_account_position
SELECT
    d.account_id,
    d.position_id,
    d.realized_pnl_e8,
    d.traded_pnl_e8
FROM (
    SELECT
        p.account_id,
        p.position_id,
        p.realized_pnl_e8,
        (
            SELECT CAST(COALESCE(SUM(t.realized_pnl_e8), 0) AS BIGINT)
            FROM trades AS t
            WHERE
                t.account_id = p.account_id
                AND t.position_id = p.position_id
        ) AS traded_pnl_e8
    FROM positions AS p
) AS d
WHERE d.realized_pnl_e8 <> d.traded_pnl_e8
ORDER BY d.account_id, d.position_id;
