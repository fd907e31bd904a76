"""What every implementation shares: sizes, the deterministic data, databases and result digests.

Nothing here imports stocksbot or SQLAlchemy: the raw worker must not pay for them. The
driver process (bench/run.py) builds one *template* database per workload and engine
(migrated by stocksbot, then loaded with plain executemany/COPY) and gives each timed
run either a fresh copy of it (W1, W2: they write) or the shared one (W3-W5: they read).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

ACCOUNT = "bench"
BASE = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
SYMBOLS = [f"S{i:03d}" for i in range(50)]
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def uid(kind: str, number: int) -> str:
    """A deterministic lowercase UUID for the ``number``-th row of ``kind``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stocksbot-bench/{kind}/{number}"))


STRATEGIES = [uid("strategy", i) for i in range(4)]

_last_ms = 0
_sequence = 0


def uuid7() -> str:
    """A time-ordered UUIDv7 text (RFC 9562, a 12-bit counter within a millisecond), as stocksbot makes its ids.

    The raw and SQLAlchemy implementations use it too: random uuid4 keys would scatter their
    inserts over the primary-key index and make them slower for a reason that is not the layer.
    """
    global _last_ms, _sequence
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms, _sequence = ms, 0
    else:
        _sequence += 1
        if _sequence > 0xFFF:
            _last_ms += 1
            _sequence = 0
    value = (_last_ms << 80) | (0x7 << 76) | (_sequence << 64) | (0b10 << 62) | (random.getrandbits(62))
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def ts(seconds: float) -> datetime:
    """BASE plus ``seconds``, an aware UTC datetime."""
    return BASE + timedelta(seconds=seconds)


def ts_text(moment: datetime) -> str:
    """The timestamp-column text of an aware UTC datetime."""
    return moment.strftime(TIMESTAMP_FORMAT)


# --- sizes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How much data each workload uses (the issue's sizes at scale 1)."""

    w1_orders: int = 2000  # x 2 partial fills, one transaction per fill
    w1b_batch: int = 100  # W1b: the same fills through record_fills, this many per transaction
    w2_trades: int = 100_000  # historical trades imported in bulk
    w2_orders: int = 10_000  # ... referencing these orders
    w2_positions: int = 1000  # ... and these positions
    w3_orders: int = 20_000  # orders with a broker id
    w3_reads: int = 10_000  # point reads by broker id
    w4_open: int = 200  # open positions listed
    w4_closed: int = 20_000  # among this many closed ones
    w4_listings: int = 100  # listings per timed run
    w5_trades: int = 500_000  # trades the metrics are over
    w5_calls: int = 5  # calls per strategy per timed run
    w6_processes: int = 3  # new processes per timed run

    @classmethod
    def scaled(cls, factor: float, *, quick: bool = False) -> "Sizes":
        """Every data size times ``factor`` (W1's orders and the repetitions too under --quick); ``factor``
        0 gives the smallest run that still exercises every path."""
        base = cls()

        def n(value: int, floor: int) -> int:
            return max(floor, int(round(value * factor)))

        return cls(
            w1_orders=n(base.w1_orders, 20) if quick else base.w1_orders,
            w1b_batch=base.w1b_batch,
            w2_trades=n(base.w2_trades, 200),
            w2_orders=n(base.w2_orders, 20),
            w2_positions=n(base.w2_positions, 20) // 4 * 4,  # a multiple of the 4 strategies
            w3_orders=n(base.w3_orders, 100),
            w3_reads=n(base.w3_reads, 50) if quick else base.w3_reads,
            w4_open=base.w4_open,
            w4_closed=n(base.w4_closed, 100),
            w4_listings=20 if quick else base.w4_listings,
            w5_trades=n(base.w5_trades, 1000),
            w5_calls=2 if quick else base.w5_calls,
            w6_processes=1 if quick else base.w6_processes,
        )

    def to_json(self) -> dict[str, int]:
        return asdict(self)


# --- integer accounting (the raw and SQLAlchemy implementations) ------------------------------


def div_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half to even (denominator > 0)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def notional_e8(quantity_e9: int, price_e8: int) -> int:
    """quantity x price in money units (10**-8), rounded half to even: stocksbot's accounting.notional."""
    return div_half_even(quantity_e9 * price_e8, 10**9)


def scaled(value: Decimal, places: int) -> int:
    """A Decimal as its scaled integer (the caller's data is known to fit)."""
    return int(value.scaleb(places))


@dataclass
class LegResult:
    """What one (non-flipping) fill does to the open position, in scaled integers."""

    effect: str
    new_quantity_e9: int
    new_cost_e8: int
    realized_e8: int


def apply_fill_e(position: tuple[str, int, int] | None, side: str, q_e9: int, p_e8: int, fee_e8: int) -> LegResult:
    """Average-cost arithmetic on scaled integers for open/increase/reduce/close (no flips)."""
    value = notional_e8(q_e9, p_e8)
    want = "long" if side == "buy" else "short"
    if position is None:
        return LegResult("open", q_e9, value, -fee_e8)
    held_side, held_q, held_cost = position
    if held_side == want:
        return LegResult("increase", held_q + q_e9, held_cost + value, -fee_e8)
    if q_e9 < held_q:
        removed = div_half_even(held_cost * q_e9, held_q)
        gross = value - removed if held_side == "long" else removed - value
        return LegResult("reduce", held_q - q_e9, held_cost - removed, gross - fee_e8)
    if q_e9 > held_q:
        raise ValueError("the benchmark's fills never flip a position")
    gross = value - held_cost if held_side == "long" else held_cost - value
    return LegResult("close", 0, 0, gross - fee_e8)


# --- the data ---------------------------------------------------------------------------------

ORDER_COLUMNS = (
    "account_id", "order_id", "client_order_id", "external_id", "strategy_id", "symbol", "side", "order_type",
    "quantity_e9", "limit_price_e8", "stop_price_e8", "status", "status_reason", "filled_quantity_e9",
    "filled_notional_e8", "created_at", "updated_at", "terminal_at",
)
POSITION_COLUMNS = (
    "account_id", "position_id", "strategy_id", "symbol", "side", "status", "quantity_e9", "cost_basis_e8",
    "realized_pnl_e8", "opened_at", "updated_at", "closed_at",
)
TRADE_COLUMNS = (
    "account_id", "trade_id", "order_id", "position_id", "strategy_id", "symbol", "side", "leg", "effect",
    "quantity_e9", "price_e8", "commission_e8", "fees_e8", "realized_pnl_e8", "external_trade_id",
    "executed_at", "created_at",
)
STRATEGY_COLUMNS = ("account_id", "strategy_id", "name", "config", "is_active", "created_at", "updated_at")
EFFECTS = ("open", "increase", "reduce", "close")


def strategy_rows() -> list[tuple[Any, ...]]:
    stamp = ts_text(BASE)
    return [(ACCOUNT, sid, f"strategy-{i}", "{}", True, stamp, stamp) for i, sid in enumerate(STRATEGIES)]


def w1_pair(i: int) -> tuple[str, str, str]:
    """(symbol, strategy_id, side) of W1 order ``i``: per (symbol, strategy) buy, buy, sell, sell, ..."""
    k = i // 200
    return SYMBOLS[i % 50], STRATEGIES[(i // 50) % 4], "buy" if k % 4 < 2 else "sell"


def w1_order_rows(sizes: Sizes) -> list[tuple[Any, ...]]:
    """The submitted orders W1 fills (100 each, market, with a broker id)."""
    rows = []
    for i in range(sizes.w1_orders):
        symbol, strategy_id, side = w1_pair(i)
        stamp = ts_text(ts(i / 1000))
        rows.append((
            ACCOUNT, uid("w1-order", i), f"C{i:07d}", f"B{i:07d}", strategy_id, symbol, side, "market",
            100 * 10**9, None, None, "submitted", None, 0, 0, stamp, stamp, None,
        ))
    return rows


FILL_QUANTITIES = (Decimal("37.5"), Decimal("62.5"))


def w1_fills(sizes: Sizes) -> list[dict[str, Any]]:
    """The fills of W1, in order: two partial fills per order, as a broker adapter hands them over."""
    fills = []
    for i in range(sizes.w1_orders):
        for j, quantity in enumerate(FILL_QUANTITIES):
            fills.append({
                "order_id": uid("w1-order", i),
                "quantity": quantity,
                "price": Decimal(10000 + (i * 7919 + j * 104729) % 5000).scaleb(-2),
                "commission": Decimal("1.00"),
                "fees": Decimal("0.0123"),
                "executed_at": ts(3600 + 2 * i + j),
                "external_trade_id": f"E{i:07d}-{j}",
            })
    return fills


def w2_order_rows(sizes: Sizes) -> list[tuple[Any, ...]]:
    """Filled historical orders the imported trades belong to."""
    rows = []
    for o in range(sizes.w2_orders):
        stamp = ts_text(ts(o))
        rows.append((
            ACCOUNT, uid("w2-order", o), f"H{o:07d}", f"HB{o:07d}", STRATEGIES[o % 4], SYMBOLS[o % 50],
            "buy" if o % 2 == 0 else "sell", "market", 10 * 10**9, None, None, "filled", None, 10 * 10**9,
            1000 * 10**8, stamp, stamp, stamp,
        ))
    return rows


def w2_position_rows(sizes: Sizes) -> list[tuple[Any, ...]]:
    """Closed historical positions the imported trades belong to."""
    rows = []
    for p in range(sizes.w2_positions):
        stamp = ts_text(ts(p))
        rows.append((
            ACCOUNT, uid("w2-position", p), STRATEGIES[p % 4], SYMBOLS[p % 50], "long", "closed", 0, 0, 0,
            stamp, stamp, stamp,
        ))
    return rows


def w2_trades(sizes: Sizes) -> list[dict[str, Any]]:
    """The historical trades W2 imports: one mapping per trade, Decimal money and aware datetimes."""
    rows = []
    positions = sizes.w2_positions
    for t in range(sizes.w2_trades):
        o = t % sizes.w2_orders
        p = o % positions
        effect = EFFECTS[t % 4]
        pnl = Decimal(0) if effect in ("open", "increase") else Decimal((t * 7919) % 20001 - 10000).scaleb(-2)
        rows.append({
            "order_id": uid("w2-order", o),
            "position_id": uid("w2-position", p),
            "strategy_id": STRATEGIES[p % 4],
            "symbol": SYMBOLS[p % 50],
            "side": "buy" if o % 2 == 0 else "sell",
            "effect": effect,
            "leg": 0,
            "quantity": Decimal(1 + t % 9),
            "price": Decimal(10000 + (t * 104729) % 9000).scaleb(-2),
            "commission": Decimal("0.35"),
            "fees": Decimal(t % 7).scaleb(-4),
            "realized_pnl": pnl,
            "external_trade_id": f"X{t:09d}",
            "executed_at": ts(t),
        })
    return rows


def reads_order_rows(sizes: Sizes) -> list[tuple[Any, ...]]:
    """W3's orders: filled, each with its broker id."""
    rows = []
    for o in range(sizes.w3_orders):
        stamp = ts_text(ts(o))
        rows.append((
            ACCOUNT, uid("r-order", o), f"R{o:08d}", f"RB{o:08d}", STRATEGIES[o % 4], SYMBOLS[o % 50],
            "buy" if o % 2 == 0 else "sell", "limit", (o % 90 + 10) * 10**9, (10000 + o % 5000) * 10**6, None,
            "filled", None, (o % 90 + 10) * 10**9, (o % 90 + 10) * (10000 + o % 5000) * 10**6, stamp, stamp, stamp,
        ))
    return rows


def reads_position_rows(sizes: Sizes) -> list[tuple[Any, ...]]:
    """W4's positions: ``w4_closed`` closed ones, then ``w4_open`` open ones (one per symbol and strategy)."""
    rows = []
    for p in range(sizes.w4_closed):
        stamp = ts_text(ts(p))
        rows.append((
            ACCOUNT, uid("r-position", p), STRATEGIES[p % 4], SYMBOLS[p % 50], "long", "closed", 0, 0,
            (p * 7919) % 200001 - 100000, stamp, stamp, stamp,
        ))
    for k in range(sizes.w4_open):
        p = sizes.w4_closed + k
        stamp = ts_text(ts(10**7 + k))
        quantity_e9 = (k % 50 + 1) * 10**9
        rows.append((
            ACCOUNT, uid("r-position", p), STRATEGIES[(k // 50) % 4], SYMBOLS[k % 50], "long" if k % 3 else "short",
            "open", quantity_e9, (k % 50 + 1) * (10000 + k * 37) * 10**6 + k, k * 1000, stamp, stamp, None,
        ))
    return rows


def reads_trade_rows(sizes: Sizes) -> Iterable[tuple[Any, ...]]:
    """W5's trades, spread over the four strategies (generated lazily: there are many)."""
    orders = sizes.w3_orders
    positions = sizes.w4_closed
    for t in range(sizes.w5_trades):
        o = t % orders
        effect = EFFECTS[t % 4]
        pnl = 0 if effect in ("open", "increase") else (t * 7919) % 2000001 - 1000000
        yield (
            ACCOUNT, uid("r-trade", t), uid("r-order", o), uid("r-position", o % positions), STRATEGIES[o % 4],
            SYMBOLS[o % 50], "buy" if o % 2 == 0 else "sell", 0, effect, (1 + t % 9) * 10**9,
            (10000 + t % 9000) * 10**6, 35 * 10**6, (t % 7) * 10**4, pnl, f"T{t:09d}", ts_text(ts(t)), ts_text(ts(t)),
        )


def w3_external_ids(sizes: Sizes) -> list[str]:
    """The broker ids W3 looks up: a fixed pseudo-random sample of the orders."""
    rng = random.Random(3)
    return [f"RB{rng.randrange(sizes.w3_orders):08d}" for _ in range(sizes.w3_reads)]


# --- databases --------------------------------------------------------------------------------


def pg_url_for(admin_url: str, dbname: str) -> str:
    """``admin_url`` with its database name replaced."""
    parts = urlsplit(admin_url)
    scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, f"/{dbname}", parts.query, ""))


def pg_dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def sqlite_path(url: str) -> str:
    return url[len("sqlite:///"):]


def raw_connect(url: str) -> Any:
    """A plain driver connection (autocommit) to a bench database, for setup and digests."""
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None, timeout=60)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn
    import psycopg

    return psycopg.connect(url, autocommit=True)


def is_sqlite(conn: Any) -> bool:
    return isinstance(conn, sqlite3.Connection)


def load_rows(conn: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Bulk-load rows in one transaction: executemany on SQLite, COPY on PostgreSQL."""
    count = 0
    if is_sqlite(conn):
        placeholders = ", ".join("?" for _ in columns)
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)
        count = cursor.rowcount
        conn.execute("COMMIT")
        return count
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def has_table(conn: Any, table: str) -> bool:
    """Whether the database has ``table`` (e.g. strategy_metrics, created by migration 0006)."""
    if is_sqlite(conn):
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


BACKFILL_METRICS = """
INSERT INTO strategy_metrics (
    account_id, strategy_id, total_trades, closing_trades, winning_trades, realized_pnl_e8, total_fees_e8
)
SELECT
    account_id, strategy_id, COUNT(*),
    SUM(CASE WHEN effect IN ('reduce', 'close') THEN 1 ELSE 0 END),
    SUM(CASE WHEN effect IN ('reduce', 'close') AND realized_pnl_e8 > 0 THEN 1 ELSE 0 END),
    SUM(realized_pnl_e8), SUM(commission_e8 + fees_e8)
FROM trades
WHERE strategy_id IS NOT NULL
GROUP BY account_id, strategy_id
"""


def analyze(conn: Any) -> None:
    """Refresh the planner statistics after a load (what a DBA does after a bulk import)."""
    conn.execute("ANALYZE")


# --- digests ---------------------------------------------------------------------------------

STATE_QUERIES = {
    "orders": """
        SELECT client_order_id, status, filled_quantity_e9, filled_notional_e8,
               CASE WHEN terminal_at IS NULL THEN 0 ELSE 1 END
        FROM orders WHERE account_id = 'bench' ORDER BY client_order_id""",
    "positions": """
        SELECT symbol, strategy_id, opened_at, side, status, quantity_e9, cost_basis_e8, realized_pnl_e8, closed_at
        FROM positions WHERE account_id = 'bench' ORDER BY symbol, strategy_id, opened_at""",
    "trades": """
        SELECT o.client_order_id, t.external_trade_id, t.leg, t.effect, t.side, t.symbol, t.strategy_id,
               p.opened_at, t.quantity_e9, t.price_e8, t.commission_e8, t.fees_e8, t.realized_pnl_e8, t.executed_at,
               LENGTH(t.trade_id), LENGTH(t.created_at)
        FROM trades AS t
        JOIN orders AS o ON o.account_id = t.account_id AND o.order_id = t.order_id
        JOIN positions AS p ON p.account_id = t.account_id AND p.position_id = t.position_id
        WHERE t.account_id = 'bench'
        ORDER BY o.client_order_id, t.external_trade_id, t.leg""",
    "metrics": """
        SELECT strategy_id, COUNT(*),
               SUM(CASE WHEN effect IN ('reduce', 'close') THEN 1 ELSE 0 END),
               SUM(CASE WHEN effect IN ('reduce', 'close') AND realized_pnl_e8 > 0 THEN 1 ELSE 0 END),
               SUM(realized_pnl_e8), SUM(commission_e8 + fees_e8)
        FROM trades WHERE account_id = 'bench' AND strategy_id IS NOT NULL
        GROUP BY strategy_id ORDER BY strategy_id""",
}
MAINTAINED_METRICS = """
    SELECT strategy_id, total_trades, closing_trades, winning_trades, realized_pnl_e8, total_fees_e8
    FROM strategy_metrics WHERE account_id = 'bench' AND total_trades > 0 ORDER BY strategy_id"""


def canonical(value: Any) -> Any:
    """A JSON-able, engine-independent form of one value (ints stay ints; Decimals become text)."""
    if isinstance(value, dict):
        return {key: canonical(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, Decimal):  # PostgreSQL's SUM(bigint) is numeric
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return ts_text(value)
    return value


def digest(document: Any) -> str:
    """sha256 of the canonical JSON of ``document`` (first 16 hex digits)."""
    text = json.dumps(canonical(document), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_state(url: str) -> dict[str, Any]:
    """The book after a writing workload, keyed by natural keys (ids and clock times left out),
    plus whether a maintained strategy_metrics table agrees with the trades."""
    conn = raw_connect(url)
    try:
        state = {name: [list(row) for row in conn.execute(sql).fetchall()] for name, sql in STATE_QUERIES.items()}
        if has_table(conn, "strategy_metrics"):
            maintained = [list(row) for row in conn.execute(MAINTAINED_METRICS).fetchall()]
            state["metrics_table_consistent"] = canonical(maintained) == canonical(state["metrics"])
        else:
            state["metrics_table_consistent"] = None
        return state
    finally:
        conn.close()


def write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(canonical(document), indent=0, sort_keys=True), encoding="utf-8")


def first_difference(a: Any, b: Any, where: str = "") -> str:
    """Where two canonical documents first differ, in words (for a failed result check)."""
    if type(a) is not type(b):
        return f"{where or 'root'}: {a!r:.200} != {b!r:.200}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{where}.{key}")
        return ""
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{where}[{i}]")
        if len(a) != len(b):
            return f"{where}: {len(a)} items != {len(b)} items"
        return ""
    return f"{where}: {a!r:.200} != {b!r:.200}" if a != b else ""


# --- process memory ---------------------------------------------------------------------------


def reset_peak_rss() -> int:
    """Reset this process's peak RSS (Linux clear_refs) and return the current RSS in KiB (0 elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
    return _status_kib("VmRSS")


def peak_rss() -> int:
    """This process's peak RSS since the last reset, in KiB (0 where /proc is absent)."""
    return _status_kib("VmHWM")


def _status_kib(field: str) -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def copy_sqlite(template: str, target: str) -> None:
    """A copy of a (checkpointed) SQLite template file."""
    shutil.copyfile(template, target)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(target + suffix):
            os.remove(target + suffix)
