"""Plans, child processes and invariant checks of the reliability scenarios (docs/reliability.md).

The parent side (imported by tests/test_reliability_*.py and tests/test_backup.py)
builds a *plan* — orders on overlapping symbols and strategies, and the fills
each writer will send — sets up the orders, starts the children and checks the
database afterwards. The child side runs as a script:

    python tests/reliability_workers.py writer       --url URL --plan PLAN --worker K --ready F --go F --out OUT
    python tests/reliability_workers.py reader       --url URL --ready F --go F --stop F --out OUT
    python tests/reliability_workers.py crash-writer --url URL --plan PLAN --start N --ack FILE --ready F

``writer`` sends its list of fills through ``StorageService.record_fill`` and
prints what happened (fills acknowledged, errors surfaced, ``db.retries``).
``reader`` lists positions and reads consistent snapshots until the stop file
appears. ``crash-writer`` makes sure the plan's orders exist and are submitted,
then records the plan's fills from index N on, appending each execution id to
the ack file (flush + fsync) once ``record_fill`` has returned: the parent
SIGKILLs it at a random moment.

Sizes follow ``STOCKSBOT_RELIABILITY_SCALE`` (default 0.25; 1 is the full size
of docs/reliability.md). Every scenario prints one ``RELIABILITY ...`` line (run
pytest with ``-s``) and appends it to ``$STOCKSBOT_RELIABILITY_REPORT`` if set.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator

WORKER = Path(__file__).resolve()
START_LINE_TIMEOUT = 120.0  # seconds a child waits for the go file
SCALE_ENV = "STOCKSBOT_RELIABILITY_SCALE"
REPORT_ENV = "STOCKSBOT_RELIABILITY_REPORT"
SEED_ENV = "STOCKSBOT_RELIABILITY_SEED"
DEFAULT_SCALE = 0.25
DEFAULT_SEED = 20240601

SYMBOLS = ("AAPL", "MSFT", "BRK.B")
STRATEGIES = (None, "reliability-momentum")  # positions are keyed by (symbol, strategy)
E8 = 10**8
E9 = 10**9


# --- sizes, seeds and reports --------------------------------------------------------------


def scale() -> float:
    """The size factor of the reliability scenarios (``STOCKSBOT_RELIABILITY_SCALE``, default 0.25)."""
    raw = os.environ.get(SCALE_ENV, "").strip()
    value = float(raw) if raw else DEFAULT_SCALE
    if not 0 < value <= 100:
        raise ValueError(f"{SCALE_ENV}={raw!r}: expected a number in (0, 100]")
    return value


def scaled(full_size: int, minimum: int = 1) -> int:
    """``full_size`` times the scale, at least ``minimum``."""
    return max(minimum, round(full_size * scale()))


def seed() -> int:
    """The random seed of the plans (``STOCKSBOT_RELIABILITY_SEED``); printed with every report."""
    raw = os.environ.get(SEED_ENV, "").strip()
    return int(raw) if raw else DEFAULT_SEED


def report(scenario: str, engine: str, **figures: Any) -> str:
    """Print ``RELIABILITY <scenario> <engine>: k=v ...`` and append it to $STOCKSBOT_RELIABILITY_REPORT."""
    line = f"RELIABILITY {scenario} {engine}: " + " ".join(f"{key}={value}" for key, value in figures.items())
    print(line, flush=True)
    target = os.environ.get(REPORT_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    return line


# --- plans -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedOrder:
    """An order of the plan; its quantity is exactly the sum of its planned fills."""

    client_order_id: str
    symbol: str
    side: str
    strategy: str | None
    quantity: str


@dataclass(frozen=True)
class PlannedFill:
    """One broker execution of the plan (the same execution may be sent more than once)."""

    client_order_id: str
    quantity: str
    price: str
    commission: str
    fees: str
    execution_id: str


@dataclass
class Plan:
    """Orders, and the fills each writer sends, in the order it sends them."""

    strategies: list[str]
    orders: list[PlannedOrder]
    fills: list[list[PlannedFill]]  # one list per writer
    seed: int
    duplicates: int = 0  # executions sent by two writers

    def unique_fills(self) -> dict[str, PlannedFill]:
        """Every planned execution once, by execution id."""
        return {fill.execution_id: fill for worker in self.fills for fill in worker}

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "strategies": self.strategies,
            "orders": [asdict(order) for order in self.orders],
            "fills": [[asdict(fill) for fill in worker] for worker in self.fills],
            "seed": self.seed,
            "duplicates": self.duplicates,
        }))
        return path

    @classmethod
    def load(cls, path: Path) -> "Plan":
        data = json.loads(path.read_text())
        return cls(
            strategies=data["strategies"],
            orders=[PlannedOrder(**order) for order in data["orders"]],
            fills=[[PlannedFill(**fill) for fill in worker] for worker in data["fills"]],
            seed=data["seed"],
            duplicates=data["duplicates"],
        )


def make_plan(
    *, workers: int, fills_per_worker: int, orders_per_key: int, duplicate_share: float, run_seed: int,
    tag: str = "r",
) -> Plan:
    """Fills spread over every order of every (symbol, strategy), buys and sells mixed.

    Each writer gets ``fills_per_worker`` fills picked at random among all orders,
    so writers overlap on orders and on positions; buys and sells on one key make
    positions increase, reduce, close and flip. A share of the executions is also
    given to a second writer (a racing duplicate, which must be a no-op). Each
    order's quantity is the sum of its unique fills, so every order ends filled.
    """
    rng = random.Random(run_seed)
    orders: list[PlannedOrder] = []
    for symbol in SYMBOLS:
        for strategy in STRATEGIES:
            for number in range(orders_per_key):
                side = "buy" if number % 2 == 0 else "sell"
                orders.append(PlannedOrder(f"{tag}-{symbol}-{strategy or 'none'}-{number}", symbol, side, strategy, "0"))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    lists: list[list[PlannedFill]] = []
    for worker in range(workers):
        fills = []
        for number in range(fills_per_worker):
            order = rng.choice(orders)
            quantity = Decimal(rng.randint(1, 5000)).scaleb(-3)  # 0.001 .. 5.000
            price = Decimal(rng.randint(90 * E8, 110 * E8)).scaleb(-8)
            commission = Decimal(rng.choice([0, rng.randint(1, 5_000_000)])).scaleb(-8)
            fees = Decimal(rng.choice([0, 0, rng.randint(1, 99)])).scaleb(-8)
            totals[order.client_order_id] += quantity
            fills.append(PlannedFill(
                order.client_order_id, str(quantity), str(price), str(commission), str(fees),
                f"{tag}-exec-{worker}-{number}",
            ))
        lists.append(fills)
    duplicates = 0
    if workers > 1:
        for worker, fills in enumerate(lists):
            for fill in rng.sample(fills, int(len(fills) * duplicate_share)):
                other = lists[(worker + rng.randint(1, workers - 1)) % workers]
                other.insert(rng.randint(0, len(other)), fill)
                duplicates += 1
    sized = [
        PlannedOrder(o.client_order_id, o.symbol, o.side, o.strategy, str(totals[o.client_order_id]))
        for o in orders if totals[o.client_order_id] > 0
    ]
    return Plan([s for s in STRATEGIES if s], sized, lists, run_seed, duplicates)


def setup_plan(storage: Any, plan: Plan) -> dict[str, str]:
    """Create the plan's strategies and orders and submit them; returns {client_order_id: order_id}.

    Idempotent (looks each one up first), so a restarted crash writer can run it again.
    """
    strategy_ids = {}
    for name in plan.strategies:
        found = storage.get_strategy_by_name(name)
        strategy_ids[name] = (found or storage.create_strategy(name, config={"plan": plan.seed})).strategy_id
    order_ids = {}
    for planned in plan.orders:
        order = storage.get_order_by_client_order_id(planned.client_order_id)
        if order is None:
            order = storage.create_order(
                planned.symbol, planned.side, "market", planned.quantity,
                strategy_id=strategy_ids[planned.strategy] if planned.strategy else None,
                client_order_id=planned.client_order_id,
            )
        if order.status.value == "pending":
            order = storage.update_order_status(order.order_id, "submitted")
        order_ids[planned.client_order_id] = order.order_id
    return order_ids


# --- processes -------------------------------------------------------------------------------


def child(command: str, *arguments: str) -> subprocess.Popen[str]:
    """Start ``python tests/reliability_workers.py COMMAND ARGUMENTS`` with stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, str(WORKER), command, *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )


def release_together(processes: list[subprocess.Popen[str]], readies: list[Path], go: Path) -> None:
    """Wait until every child has created its ready file, then create the go file."""
    deadline = time.monotonic() + START_LINE_TIMEOUT
    while not all(ready.exists() for ready in readies):
        exited = [p for p in processes if p.poll() is not None]
        if exited:
            raise RuntimeError(f"a child exited before the start line: {exited[0].communicate()}")
        if time.monotonic() > deadline:
            raise RuntimeError("the children did not reach the start line")
        time.sleep(0.01)
    go.touch()


def finish(process: subprocess.Popen[str], timeout: float = 900) -> dict[str, Any]:
    """Wait for a child and return its JSON report (RuntimeError with its stderr if it failed)."""
    stdout, stderr = process.communicate(timeout=timeout)
    if process.returncode != 0 or not stdout.strip():
        raise RuntimeError(f"child exited {process.returncode}: {stderr.strip()[-2000:]}")
    return json.loads(stdout)


def kill_all(processes: Iterable[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def read_acks(path: Path) -> list[str]:
    """The execution ids in an ack file; a last line cut by a kill (no newline) is not an ack."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")
    return [line for line in lines[:-1] if line]


# --- invariants ------------------------------------------------------------------------------


def div_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half to even (denominator > 0)."""
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def notional_e8(quantity_e9: int, price_e8: int) -> int:
    """quantity x price in money units (10**-8), rounded half to even: computed here, not by stocksbot."""
    return div_half_even(quantity_e9 * price_e8, E9)


@dataclass
class Findings:
    """What :func:`check_invariants` found: violations (empty when all hold) and counts."""

    violations: list[str] = field(default_factory=list)
    orders: int = 0
    trades: int = 0
    positions: int = 0
    executions: int = 0
    flips: int = 0
    closed_positions: int = 0

    def add(self, message: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(message)


def table(conn: Any, sql: str) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sql).fetchall()]


def read_book(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Orders, trades and positions of every account, read in one consistent snapshot."""
    with read_snapshot(db) as conn:
        return {
            "orders": table(conn, "SELECT * FROM orders ORDER BY account_id, order_id"),
            "trades": table(conn, "SELECT * FROM trades ORDER BY account_id, trade_id"),
            "positions": table(conn, "SELECT * FROM positions ORDER BY account_id, position_id"),
        }


@contextmanager
def read_snapshot(db: Any) -> Iterator[Any]:
    """A read-only transaction with one snapshot for all its statements, that never blocks writers.

    SQLite: a deferred ``BEGIN`` (WAL readers never block writers; ``db.transaction()``
    would take the write lock with BEGIN IMMEDIATE). PostgreSQL: REPEATABLE READ, READ ONLY.
    """
    with db.connection() as conn:
        if db.dialect == "sqlite":
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")  # nothing to keep: it only read
        else:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield conn


def check_invariants(
    book: dict[str, list[dict[str, Any]]], planned: dict[str, PlannedFill] | None = None,
    order_keys: dict[str, str] | None = None,
) -> Findings:
    """Every invariant of the book, recomputed here from the rows (nothing from stocksbot's arithmetic).

    * orders: filled quantity = sum of their trades; filled notional = sum of their
      executions' notionals; status agrees with the filled quantity;
    * executions: no (order, execution id, leg) twice; a leg 1 only with its leg 0;
      with a plan, every execution's legs add up to the planned quantity, commission
      and fees, at the planned price, with the fee split in proportion to quantity;
    * positions: quantity = the signed sum of their trades; realized P&L = the sum
      of their trades'; cost basis = buys - sells + gross realized (long) or
      sells - buys - gross realized (short), exactly; a closed position realized
      exactly its sell notionals - buy notionals - commissions - fees; opening and
      increasing legs realize minus their own fees; exactly one opening leg, a
      'close' leg only on a closed position, trade sides match the position side;
    * at most one open position per (account, symbol, strategy).

    These identities do not depend on the order in which fills were applied, so
    they hold for any interleaving of concurrent writers.
    """
    found = Findings(orders=len(book["orders"]), trades=len(book["trades"]), positions=len(book["positions"]))
    trades_by_order: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    trades_by_position: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    legs: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for trade in book["trades"]:
        trades_by_order[(trade["account_id"], trade["order_id"])].append(trade)
        trades_by_position[(trade["account_id"], trade["position_id"])].append(trade)
        if trade["external_trade_id"] is not None:
            legs[(trade["account_id"], trade["order_id"], trade["external_trade_id"])].append(trade)

    # executions
    found.executions = len(legs)
    client_ids = {(o["account_id"], o["order_id"]): o["client_order_id"] for o in book["orders"]}
    for (account, order_id, execution), rows in legs.items():
        numbers = sorted(row["leg"] for row in rows)
        if numbers not in ([0], [0, 1]):
            found.add(f"execution {execution} of order {order_id} has legs {numbers} (a duplicate or a lost leg)")
            continue
        if numbers == [0, 1]:
            found.flips += 1
        if planned is not None:
            plan = planned.get(execution)
            if plan is None:
                found.add(f"execution {execution} was never sent")
                continue
            if plan.client_order_id != client_ids.get((account, order_id)):
                found.add(f"execution {execution} recorded on order {order_id}, planned for {plan.client_order_id}")
            quantity_e9 = sum(row["quantity_e9"] for row in rows)
            commission_e8 = sum(row["commission_e8"] for row in rows)
            fees_e8 = sum(row["fees_e8"] for row in rows)
            want = (_units(plan.quantity, E9), _units(plan.commission, E8), _units(plan.fees, E8))
            if (quantity_e9, commission_e8, fees_e8) != want:
                found.add(f"execution {execution}: legs add up to {(quantity_e9, commission_e8, fees_e8)}, sent {want}")
            if any(row["price_e8"] != _units(plan.price, E8) for row in rows):
                found.add(f"execution {execution}: price differs from the one sent")
            if len(rows) == 2:
                first = next(row for row in rows if row["leg"] == 0)
                for column, total in (("commission_e8", want[1]), ("fees_e8", want[2])):
                    if first[column] != div_half_even(total * first["quantity_e9"], want[0]):
                        found.add(f"execution {execution}: flip split of {column} is not proportional to quantity")

    # orders
    for order in book["orders"]:
        key = (order["account_id"], order["order_id"])
        rows = trades_by_order.get(key, [])
        traded = sum(row["quantity_e9"] for row in rows)
        if order["filled_quantity_e9"] != traded:
            found.add(f"order {order['order_id']}: filled {order['filled_quantity_e9']} != sum of trades {traded}")
        if rows and all(row["external_trade_id"] is not None for row in rows):
            by_execution: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_execution[row["external_trade_id"]].append(row)
            notional = sum(
                notional_e8(sum(r["quantity_e9"] for r in execution_rows), execution_rows[0]["price_e8"])
                for execution_rows in by_execution.values()
            )
            if order["filled_notional_e8"] != notional:
                found.add(f"order {order['order_id']}: filled notional {order['filled_notional_e8']} != {notional}")
        expected_status = (
            "filled" if traded == order["quantity_e9"] else "partially_filled" if traded > 0 else None
        )
        if expected_status and order["status"] not in (expected_status, "cancelled", "expired"):
            found.add(f"order {order['order_id']}: status {order['status']} with {traded} of {order['quantity_e9']} filled")
        if expected_status is None and order["status"] in ("partially_filled", "filled"):
            found.add(f"order {order['order_id']}: status {order['status']} without trades")

    # positions
    open_keys: dict[tuple[str, str, str], int] = defaultdict(int)
    for position in book["positions"]:
        key = (position["account_id"], position["position_id"])
        rows = trades_by_position.get(key, [])
        is_long = position["side"] == "long"
        opening_side = "buy" if is_long else "sell"
        quantity = buys = sells = gross = realized = 0
        for row in rows:
            signed = row["quantity_e9"] if row["effect"] in ("open", "increase") else -row["quantity_e9"]
            quantity += signed
            value = notional_e8(row["quantity_e9"], row["price_e8"])
            if row["side"] == "buy":
                buys += value
            else:
                sells += value
            leg_gross = row["realized_pnl_e8"] + row["commission_e8"] + row["fees_e8"]
            gross += leg_gross
            realized += row["realized_pnl_e8"]
            if row["effect"] in ("open", "increase") and (row["side"] != opening_side or leg_gross != 0):
                found.add(f"trade {row['trade_id']}: an {row['effect']} leg must be a {opening_side} realizing -fees")
            if row["effect"] in ("reduce", "close") and row["side"] == opening_side:
                found.add(f"trade {row['trade_id']}: a {row['effect']} leg on the position's own side")
        effects = [row["effect"] for row in rows]
        if rows and effects.count("open") != 1:
            found.add(f"position {position['position_id']}: {effects.count('open')} opening legs")
        if position["quantity_e9"] != quantity:
            found.add(f"position {position['position_id']}: quantity {position['quantity_e9']} != trades {quantity}")
        if rows and position["realized_pnl_e8"] != realized:
            found.add(f"position {position['position_id']}: realized {position['realized_pnl_e8']} != trades {realized}")
        basis = buys - sells + gross if is_long else sells - buys - gross
        if rows and position["cost_basis_e8"] != basis:
            found.add(f"position {position['position_id']}: cost basis {position['cost_basis_e8']} != recomputed {basis}")
        if position["status"] == "closed":
            found.closed_positions += 1
            if effects.count("close") != 1 or quantity != 0:
                found.add(f"position {position['position_id']}: closed with {effects.count('close')} closing legs, quantity {quantity}")
            fees = sum(row["commission_e8"] + row["fees_e8"] for row in rows)
            if rows and position["realized_pnl_e8"] != sells - buys - fees:
                found.add(f"position {position['position_id']}: closed realized {position['realized_pnl_e8']} != {sells - buys - fees}")
        else:
            open_keys[(position["account_id"], position["symbol"], position["strategy_id"] or "")] += 1
            if "close" in effects:
                found.add(f"position {position['position_id']}: open, with a closing leg")
    for key, count in open_keys.items():
        if count > 1:
            found.add(f"{count} open positions for {key}")
    return found


def check_replay(book: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Replay every position's trades in trade-id order by average cost, recomputing each leg.

    Valid when one process wrote the fills one after the other (its UUIDv7 trade ids
    are in the order the fills were applied): the crash and lost-server scenarios.
    Each reducing leg must take out round_half_even(basis x q / quantity) of the basis,
    each closing leg all of it; the final quantity and basis must be the position's.
    """
    problems: list[str] = []
    by_position: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for trade in sorted(book["trades"], key=lambda row: row["trade_id"]):
        by_position[(trade["account_id"], trade["position_id"])].append(trade)
    for position in book["positions"]:
        rows = by_position.get((position["account_id"], position["position_id"]), [])
        if not rows:
            continue
        is_long = position["side"] == "long"
        quantity = basis = 0
        for row in rows:
            value = notional_e8(row["quantity_e9"], row["price_e8"])
            if row["effect"] == "open":
                if quantity:
                    problems.append(f"trade {row['trade_id']}: opens an already open position")
                quantity, basis, gross = row["quantity_e9"], value, 0
            elif row["effect"] == "increase":
                quantity, basis, gross = quantity + row["quantity_e9"], basis + value, 0
            else:
                if row["effect"] == "close":
                    removed = basis
                    if row["quantity_e9"] != quantity:
                        problems.append(f"trade {row['trade_id']}: closes {row['quantity_e9']} of {quantity}")
                else:
                    removed = div_half_even(basis * row["quantity_e9"], quantity)
                gross = value - removed if is_long else removed - value
                quantity, basis = quantity - row["quantity_e9"], basis - removed
            want = gross - row["commission_e8"] - row["fees_e8"]
            if row["realized_pnl_e8"] != want:
                problems.append(f"trade {row['trade_id']} ({row['effect']}): realized {row['realized_pnl_e8']}, replay {want}")
        if (quantity, basis) != (position["quantity_e9"], position["cost_basis_e8"]):
            problems.append(
                f"position {position['position_id']}: ({position['quantity_e9']}, {position['cost_basis_e8']}) "
                f"!= replay ({quantity}, {basis})"
            )
    return problems[:50]


def _units(text: str, scale_: int) -> int:
    value = Decimal(text) * scale_
    assert value == value.to_integral_value(), text
    return int(value)


# --- the child side --------------------------------------------------------------------------


def wait_for_start(ready: Path, go: Path | None) -> None:
    ready.touch()
    if go is None:
        return
    deadline = time.monotonic() + START_LINE_TIMEOUT
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"worker: {go} never appeared")
        time.sleep(0.002)


def run_writer(args: argparse.Namespace) -> dict[str, Any]:
    """Send this writer's fills; every error that reaches the caller is counted, never hidden."""
    import stocksbot

    plan = Plan.load(args.plan)
    fills = plan.fills[args.worker]
    db = stocksbot.connect(args.url)
    storage = stocksbot.StorageService(db)
    order_ids = {o.client_order_id: storage.get_order_by_client_order_id(o.client_order_id).order_id for o in plan.orders}
    wait_for_start(args.ready, args.go)
    acknowledged, errors = [], []
    started = time.monotonic()
    for fill in fills:
        try:
            storage.record_fill(
                order_ids[fill.client_order_id], quantity=fill.quantity, price=fill.price,
                commission=fill.commission, fees=fill.fees, external_trade_id=fill.execution_id,
            )
        except Exception as exc:  # noqa: BLE001 - the scenario counts every error a caller would see
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        acknowledged.append(fill.execution_id)
    elapsed = time.monotonic() - started
    db.close()
    return {
        "worker": args.worker, "sent": len(fills), "acknowledged": acknowledged, "errors": errors[:20],
        "error_count": len(errors), "retries": db.retries, "seconds": round(elapsed, 3),
    }


def run_reader(args: argparse.Namespace) -> dict[str, Any]:
    """List positions and read consistent snapshots until the stop file appears."""
    import stocksbot

    db = stocksbot.connect(args.url)
    storage = stocksbot.StorageService(db)
    wait_for_start(args.ready, args.go)
    listings = snapshots = 0
    trade_counts: list[int] = []
    problems: list[str] = []
    errors: list[str] = []
    while not args.stop.exists():
        try:
            storage.list_positions()
            storage.get_open_positions()
            listings += 1
            with read_snapshot(db) as conn:
                orders = table(conn, "SELECT order_id, filled_quantity_e9 FROM orders")
                trades = table(conn, "SELECT order_id, position_id, effect, quantity_e9 FROM trades")
                positions = table(conn, "SELECT position_id, quantity_e9 FROM positions")
        except Exception as exc:  # noqa: BLE001 - a reader error is a finding
            errors.append(f"{type(exc).__name__}: {exc}")
            if len(errors) > 20:
                break
            continue
        snapshots += 1
        by_order: dict[str, int] = defaultdict(int)
        by_position: dict[str, int] = defaultdict(int)
        for trade in trades:
            by_order[trade["order_id"]] += trade["quantity_e9"]
            signed = trade["quantity_e9"] if trade["effect"] in ("open", "increase") else -trade["quantity_e9"]
            by_position[trade["position_id"]] += signed
        for order in orders:
            if order["filled_quantity_e9"] != by_order.get(order["order_id"], 0):
                problems.append(f"snapshot {snapshots}: order {order['order_id']} filled "
                                f"{order['filled_quantity_e9']} but its trades sum to {by_order.get(order['order_id'], 0)}")
        for position in positions:
            if position["quantity_e9"] != by_position.get(position["position_id"], 0):
                problems.append(f"snapshot {snapshots}: position {position['position_id']} holds "
                                f"{position['quantity_e9']} but its trades sum to {by_position.get(position['position_id'], 0)}")
        if trade_counts and len(trades) < trade_counts[-1]:
            problems.append(f"snapshot {snapshots}: {len(trades)} trades, fewer than the {trade_counts[-1]} seen before")
        trade_counts.append(len(trades))
        if len(problems) > 20:
            break
    db.close()
    return {
        "listings": listings, "snapshots": snapshots, "distinct_states": len(set(trade_counts)),
        "first_trades": trade_counts[0] if trade_counts else None, "last_trades": trade_counts[-1] if trade_counts else None,
        "problems": problems[:20], "errors": errors[:20],
    }


def run_crash_writer(args: argparse.Namespace) -> dict[str, Any]:
    """Set up the plan's orders (idempotently), then record fills from ``--start``, acking each one."""
    import stocksbot

    plan = Plan.load(args.plan)
    db = stocksbot.connect(args.url)
    wait_for_start(args.ready, None)  # imports and connect take most of a second: the kill timer starts here
    storage = stocksbot.StorageService(db)
    order_ids = setup_plan(storage, plan)
    with open(args.ack, "a", encoding="utf-8") as ack:
        for fill in plan.fills[0][args.start:]:
            storage.record_fill(
                order_ids[fill.client_order_id], quantity=fill.quantity, price=fill.price,
                commission=fill.commission, fees=fill.fees, external_trade_id=fill.execution_id,
            )
            ack.write(fill.execution_id + "\n")
            ack.flush()
            os.fsync(ack.fileno())
    db.close()
    return {"finished": True}


def main() -> int:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    writer = commands.add_parser("writer")
    writer.add_argument("--url", required=True)
    writer.add_argument("--plan", type=Path, required=True)
    writer.add_argument("--worker", type=int, required=True)
    writer.add_argument("--ready", type=Path, required=True)
    writer.add_argument("--go", type=Path, required=True)
    reader = commands.add_parser("reader")
    reader.add_argument("--url", required=True)
    reader.add_argument("--ready", type=Path, required=True)
    reader.add_argument("--go", type=Path, required=True)
    reader.add_argument("--stop", type=Path, required=True)
    crash = commands.add_parser("crash-writer")
    crash.add_argument("--url", required=True)
    crash.add_argument("--plan", type=Path, required=True)
    crash.add_argument("--start", type=int, required=True)
    crash.add_argument("--ack", type=Path, required=True)
    crash.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args()
    run = {"writer": run_writer, "reader": run_reader, "crash-writer": run_crash_writer}[args.command]
    json.dump(run(args), sys.stdout)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - report anything to the parent test
        print(f"worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
