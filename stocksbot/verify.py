"""``stocksbot db verify``: the figures stocksbot keeps, checked against the trades they come from.

Three invariants, over every account of the database, read in one consistent snapshot:

* each strategy's maintained metrics (strategy_metrics) equal a full recomputation from
  its trades (strategy_metrics.sql: list_maintained_metrics vs list_recomputed_metrics);
* each order's filled quantity is the sum of its trades' quantities (verify.sql:
  list_order_fill_drift);
* each position's realized P&L is the sum of its trades' realized P&L (verify.sql:
  list_position_pnl_drift).

StorageService keeps all three in the same transaction as every trade it writes, so a
difference means something else wrote: a hand edit, a script, or ``import_trades`` of a
history the existing orders and positions do not add up to (it loads trades as given).

Also the typed module of queries/verify.sql. Wiring (stocksbot/cli.py): call
``add_verify_command(commands)`` at the end of ``_add_db_commands``. Exit codes: 0 when
everything agrees, :data:`EXIT_INCONSISTENT` (5) with one line per difference otherwise,
1 on an error (one line, as every command).
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from . import strategy_metrics
from .sqlfiles import is_sqlite, statements
from .values import money_from_db, quantity_from_db

if TYPE_CHECKING:  # pragma: no cover
    from .db import Database

EXIT_INCONSISTENT = 5

__all__ = [
    "EXIT_INCONSISTENT", "Difference", "VerifyReport", "add_verify_command", "db_verify", "list_order_fill_drift",
    "list_position_pnl_drift", "verify",
]


@dataclass(frozen=True)
class Difference:
    """One figure that does not agree with the trades: what, where, and the two values."""

    kind: str  # "strategy_metrics" | "order_fill" | "position_pnl"
    account_id: str
    row_id: str  # the strategy, order or position
    detail: str  # e.g. "total_trades: maintained 3, trades say 4"

    def line(self) -> str:
        """The one line ``db verify`` prints for it."""
        return f"{self.kind} {self.account_id}/{self.row_id}: {self.detail}"


@dataclass
class VerifyReport:
    """What ``verify`` checked and every difference it found (none: the database agrees with its trades)."""

    strategies: int = 0  # strategies with trades or maintained metrics
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


# --- the typed functions of verify.sql ---------------------------------------------------------


def _sql(conn: Any) -> Any:
    return statements(conn, "verify")


def list_order_fill_drift(conn: Any) -> list[tuple[str, str, int, int]]:
    """(account_id, order_id, filled_quantity_e9, traded_quantity_e9) of every order whose filled
    quantity is not the sum of its trades' (verify.sql: list_order_fill_drift)."""
    return [(a, o, int(filled), int(traded)) for a, o, filled, traded in _sql(conn).list_order_fill_drift(conn)]


def list_position_pnl_drift(conn: Any) -> list[tuple[str, str, int, int]]:
    """(account_id, position_id, realized_pnl_e8, traded_pnl_e8) of every position whose realized P&L
    is not the sum of its trades' (verify.sql: list_position_pnl_drift)."""
    return [(a, p, int(realized), int(traded)) for a, p, realized, traded in _sql(conn).list_position_pnl_drift(conn)]


# --- the check -------------------------------------------------------------------------------------

_METRIC_FIELDS = ("total_trades", "closing_trades", "winning_trades", "realized_pnl_e8", "total_fees_e8")


@contextmanager
def _snapshot(db: "Database") -> Iterator[Any]:
    """A connection whose reads all see one snapshot, without blocking writers (WAL; REPEATABLE READ)."""
    with db.connection() as conn:
        if is_sqlite(conn):
            conn.execute("BEGIN")  # deferred: the snapshot starts at the first read; writers go on (WAL)
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        else:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield conn


def verify(db: "Database") -> VerifyReport:
    """Check the maintained strategy metrics, order fills and position P&L against the trades."""
    report = VerifyReport()
    with _snapshot(db) as conn:
        maintained = {(m.account_id, m.strategy_id): m for m in strategy_metrics.list_maintained_metrics(conn)}
        recomputed = {(m.account_id, m.strategy_id): m for m in strategy_metrics.list_recomputed_metrics(conn)}
        orders = list_order_fill_drift(conn)
        positions = list_position_pnl_drift(conn)
    keys = sorted(set(maintained) | set(recomputed))
    report.strategies = len(keys)
    for key in keys:
        kept, actual = maintained.get(key), recomputed.get(key)
        details = [
            f"{name}: maintained {getattr(kept, name) if kept else 0}, trades say {getattr(actual, name) if actual else 0}"
            for name in _METRIC_FIELDS
            if (getattr(kept, name) if kept else 0) != (getattr(actual, name) if actual else 0)
        ]
        if details:
            report.differences.append(Difference("strategy_metrics", key[0], key[1], "; ".join(details)))
    for account_id, order_id, filled, traded in orders:
        report.differences.append(Difference(
            "order_fill", account_id, order_id,
            f"filled_quantity {quantity_from_db(filled).normalize():f}, its trades add up to {quantity_from_db(traded).normalize():f}",
        ))
    for account_id, position_id, realized, traded in positions:
        report.differences.append(Difference(
            "position_pnl", account_id, position_id,
            f"realized_pnl {money_from_db(realized).normalize():f}, its trades add up to {money_from_db(traded).normalize():f}",
        ))
    return report


# --- the command -----------------------------------------------------------------------------------


def add_verify_command(db_commands: Any) -> None:
    """Add ``verify`` to the subparsers of ``stocksbot db``."""
    from .cli import database_url_options  # here, not at import: cli.py imports this module

    command = db_commands.add_parser(
        "verify", parents=[database_url_options()],
        help="check the kept figures against the trades (exit 5 if any differs)",
        description="Check, in one snapshot, that every strategy's maintained metrics equal a recomputation "
        "from its trades, that every order's filled quantity is the sum of its trades' and every position's "
        "realized P&L the sum of its trades'. Exit 0 if all agree, 5 with one line per difference.",
    )
    command.add_argument("--json", action="store_true", help="print JSON only")
    command.set_defaults(handler=db_verify)


def db_verify(args: argparse.Namespace) -> int:
    """``db verify``: print each difference (or that everything agrees); exit 5 when any differs."""
    from .cli import EXIT_OK
    from .db import connect

    with connect(args.database_url) as db:
        report = verify(db)
        where = db.url.safe
    if args.json:
        print(json.dumps({
            "database": where, "ok": report.ok, "strategies": report.strategies,
            "differences": [asdict(difference) for difference in report.differences],
        }, indent=2))
    else:
        for difference in report.differences:
            print(difference.line())
        if report.ok:
            print(f"verified {where}: strategy metrics ({report.strategies} strategies), order fills and "
                  "position P&L all agree with the trades")
        else:
            print(f"verified {where}: {len(report.differences)} difference(s) with the trades")
    return EXIT_OK if report.ok else EXIT_INCONSISTENT
