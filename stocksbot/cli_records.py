"""The record commands of ``stocksbot``: read-only listings, settings and the demo.

Commands::

    stocksbot positions  [--open] [--json]
    stocksbot orders     [--open | --status S] [--symbol X] [--limit N] [--json]
    stocksbot trades     [--symbol X] [--order ID] [--limit N] [--json]
    stocksbot strategies [--active] [--json]
    stocksbot config get KEY [--json] | set KEY VALUE [--type T] | delete KEY | list [--json]
    stocksbot demo

Every command takes ``--account ID`` (default ``default``) and ``--database-url URL``.
:func:`add_record_commands` adds them to the parser of :mod:`stocksbot.cli`, which
owns the exit codes and the one-line error reporting.

The listings and ``config get|list`` only read: they never migrate and never write.
On a database whose schema is missing or behind (a migration pending) they fail
with one line that says to run ``stocksbot db upgrade``; a SQLite file that does not
exist is not created. ``config set|delete`` need the schema too. ``demo`` is the
one command that migrates (the default database, like ``db upgrade``).

``--json`` prints one JSON object on stdout and nothing else: Decimals as strings
in plain notation (``"189.76666667"``), times as ISO-8601 UTC text
(``"2024-03-04T14:30:00.000000Z"``), enums as their values.
"""

from __future__ import annotations

import argparse
import json
import os
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from .cli import EXIT_OK, database_url_options
from .errors import MigrationError, NotFoundError, StocksbotError, ValidationError
from .models import ConfigType, OrderStatus

if TYPE_CHECKING:  # pragma: no cover
    from .db import Database
    from .models import Order, Position, Strategy, StrategyMetrics, Trade
    from .service import StorageService

UPGRADE_HINT = "run `stocksbot db upgrade` first"


def add_record_commands(groups: Any) -> None:
    """Add positions, orders, trades, strategies, config and demo to the ``stocksbot`` subparsers."""
    url = database_url_options()
    account = account_options()

    positions = groups.add_parser(
        "positions", parents=[url, account], help="list positions (read-only)",
        description="List the account's positions, newest first (read-only).",
    )
    positions.add_argument("--open", action="store_true", help="only open positions, by symbol")
    _json_flag(positions)
    positions.set_defaults(handler=positions_command)

    orders = groups.add_parser(
        "orders", parents=[url, account], help="list orders (read-only)",
        description="List the account's orders, newest first (read-only); open ones oldest first.",
    )
    which = orders.add_mutually_exclusive_group()
    which.add_argument("--open", action="store_true", help="only pending, submitted and partially filled orders")
    which.add_argument("--status", choices=[status.value for status in OrderStatus], help="only orders in this status")
    orders.add_argument("--symbol", metavar="X", type=_symbol, help="only orders of this symbol")
    orders.add_argument("--limit", metavar="N", type=_positive_int, default=100, help="at most N orders (default 100)")
    _json_flag(orders)
    orders.set_defaults(handler=orders_command)

    trades = groups.add_parser(
        "trades", parents=[url, account], help="list trades (executions) (read-only)",
        description="List the account's trades in execution order, oldest first (read-only).",
    )
    trades.add_argument("--symbol", metavar="X", type=_symbol, help="only trades of this symbol")
    trades.add_argument("--order", metavar="ID", type=_order_reference,
                        help="only the trades of this order (its order id or client order id)")
    trades.add_argument("--limit", metavar="N", type=_positive_int, default=None,
                        help="at most the first N trades in execution order (default: all)")
    _json_flag(trades)
    trades.set_defaults(handler=trades_command)

    strategies = groups.add_parser(
        "strategies", parents=[url, account], help="list strategies with their metrics (read-only)",
        description="List the account's strategies by name, each with its trade metrics (read-only).",
    )
    strategies.add_argument("--active", action="store_true", help="only active strategies")
    _json_flag(strategies)
    strategies.set_defaults(handler=strategies_command)

    config = groups.add_parser(
        "config", help="read and write typed settings",
        description="Read and write the account's typed settings (string, int, float, bool, json).",
    )
    commands = config.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    get = commands.add_parser("get", parents=[url, account], help="print one setting's value",
                              description="Print one setting's value (exit 1 if it is not set).")
    get.add_argument("key", metavar="KEY", type=_config_key)
    _json_flag(get)
    get.set_defaults(handler=config_get_command)
    put = commands.add_parser(
        "set", parents=[url, account], help="set a setting (insert or replace)",
        description="Set a setting, checked against its type. Without --type, an existing setting keeps "
        "its type and a new one is a string.",
    )
    put.add_argument("key", metavar="KEY", type=_config_key)
    put.add_argument("value", metavar="VALUE")
    put.add_argument("--type", dest="value_type", choices=[kind.value for kind in ConfigType], default=None,
                     help="string, int, float, bool or json (default: the setting's current type, else string)")
    put.set_defaults(handler=config_set_command)
    delete = commands.add_parser("delete", parents=[url, account], help="delete a setting",
                                 description="Delete a setting (exit 1 if it is not set).")
    delete.add_argument("key", metavar="KEY", type=_config_key)
    delete.set_defaults(handler=config_delete_command)
    listing = commands.add_parser("list", parents=[url, account], help="list every setting",
                                  description="List every setting of the account, by key.")
    _json_flag(listing)
    listing.set_defaults(handler=config_list_command)

    demo = groups.add_parser(
        "demo", parents=[url, account], help="migrate the database and record a sample trading session",
        description="Apply pending migrations, record a sample trading session in the account "
        "(once: a second run prints the session already recorded), then print it.",
    )
    demo.set_defaults(handler=demo_command)


def account_options() -> argparse.ArgumentParser:
    """A parent parser holding ``--account ID``."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--account", metavar="ID", type=_account, default="default",
                         help="the account to work in (default: default)")
    return options


# --- listings ------------------------------------------------------------------------------


def positions_command(args: argparse.Namespace) -> int:
    """``positions``: every position newest first, or the open ones by symbol."""
    with _storage(args) as storage:
        rows = storage.get_open_positions() if args.open else storage.list_positions()
        names = _strategy_names(storage)
    if args.json:
        _print_json({"account_id": args.account, "positions": [_position_json(p, names) for p in rows]})
        return EXIT_OK
    open_count = sum(1 for p in rows if p.status.value == "open")
    if args.open:
        print(f"account {args.account}: {_count(open_count, 'open position')}")
    else:
        closed_count = len(rows) - open_count
        print(f"account {args.account}: {_count(len(rows), 'position')} ({open_count} open, {closed_count} closed)")
    print(positions_table(rows, names))
    return EXIT_OK


def orders_command(args: argparse.Namespace) -> int:
    """``orders``: newest first, filtered; ``--open`` lists the working orders oldest first."""
    with _storage(args) as storage:
        if args.open:
            from . import orders as order_queries

            with storage.db.connection() as conn:
                rows = order_queries.list_open_orders(conn, account_id=storage.account_id)
            rows = [o for o in rows if args.symbol is None or o.symbol == args.symbol][: args.limit]
        else:
            rows = storage.list_orders(status=args.status, symbol=args.symbol, limit=args.limit)
        names = _strategy_names(storage)
    if args.json:
        _print_json({"account_id": args.account, "orders": [_order_json(o, names) for o in rows]})
        return EXIT_OK
    what = "open order" if args.open else f"{args.status} order" if args.status else "order"
    print(f"account {args.account}: {_count(len(rows), what)}{f' of {args.symbol}' if args.symbol else ''}")
    print(orders_table(rows, names))
    if len(rows) == args.limit:
        print(f"(at most {args.limit} shown: use --limit N for more)")
    return EXIT_OK


def trades_command(args: argparse.Namespace) -> int:
    """``trades``: executions oldest first, by symbol or order."""
    with _storage(args) as storage:
        order_id = None
        if args.order is not None:
            order = _find_order(storage, args.order)
            if order is None:
                raise NotFoundError(f"no order {args.order!r} in account {args.account}")
            order_id = order.order_id
        rows = storage.get_trades(order_id=order_id, symbol=args.symbol, limit=args.limit)
        names = _strategy_names(storage)
        client_ids = _client_order_ids(storage, {t.order_id for t in rows})
    if args.json:
        _print_json({"account_id": args.account, "trades": [_trade_json(t, names, client_ids) for t in rows]})
        return EXIT_OK
    print(f"account {args.account}: {_count(len(rows), 'trade')}")
    print(trades_table(rows, names, client_ids))
    return EXIT_OK


def strategies_command(args: argparse.Namespace) -> int:
    """``strategies``: by name, each with its metrics."""
    with _storage(args) as storage:
        rows = storage.list_strategies(active_only=args.active)
        metrics = {s.strategy_id: storage.get_strategy_metrics(s.strategy_id) for s in rows}
    if args.json:
        _print_json({
            "account_id": args.account,
            "strategies": [dict(jsonable(s), metrics=jsonable(metrics[s.strategy_id])) for s in rows],
        })
        return EXIT_OK
    print(f"account {args.account}: {_count(len(rows), 'active strategy' if args.active else 'strategy')}")
    print(strategies_table([(s, metrics[s.strategy_id]) for s in rows]))
    return EXIT_OK


# --- config --------------------------------------------------------------------------------


def config_get_command(args: argparse.Namespace) -> int:
    """``config get KEY``: the value as canonical text (exit 1 if the key is not set)."""
    with _storage(args) as storage:
        entry = storage.get_config_entry(args.key)
    if entry is None:
        raise NotFoundError(f"config key {args.key!r} is not set in account {args.account}")
    if args.json:
        _print_json(jsonable(entry))
    else:
        print(config_text(entry.value, entry.value_type))
    return EXIT_OK


def config_set_command(args: argparse.Namespace) -> int:
    """``config set KEY VALUE [--type T]``: insert or replace, checked against the type."""
    with _storage(args) as storage:
        kind = args.value_type
        if kind is None:
            current = storage.get_config_entry(args.key)
            kind = current.value_type.value if current is not None else ConfigType.STRING.value
        entry = storage.set_config_value(args.key, args.value, kind)
    print(f"{entry.key} = {config_text(entry.value, entry.value_type)} ({entry.value_type.value})")
    return EXIT_OK


def config_delete_command(args: argparse.Namespace) -> int:
    """``config delete KEY``: exit 1 if the key was not set."""
    with _storage(args) as storage:
        if not storage.delete_config_value(args.key):
            raise NotFoundError(f"config key {args.key!r} is not set in account {args.account}")
    print(f"deleted {args.key}")
    return EXIT_OK


def config_list_command(args: argparse.Namespace) -> int:
    """``config list``: every setting by key."""
    with _storage(args) as storage:
        entries = storage.list_config()
    if args.json:
        _print_json({"account_id": args.account, "config": [jsonable(entry) for entry in entries]})
        return EXIT_OK
    from .tables import TIME, Column, render_table

    print(f"account {args.account}: {_count(len(entries), 'setting')}")
    print(render_table(
        [Column("key"), Column("type"), Column("value"), Column("updated", TIME)],
        [[e.key, e.value_type, config_text(e.value, e.value_type), e.updated_at] for e in entries],
    ))
    return EXIT_OK


def config_text(value: Any, value_type: ConfigType) -> str:
    """A setting's value as the text ``config set`` takes back (json compact, bools lower case)."""
    from .config import encode_value

    return encode_value(value, value_type)


# --- demo ----------------------------------------------------------------------------------


def demo_command(args: argparse.Namespace) -> int:
    """``demo``: migrate, record the sample session once, print it."""
    from .db import connect
    from .demo import run_demo

    with connect(args.database_url) as db:
        applied = db.migrate()
        if applied:
            print(f"migrated {db.url.safe}: {_count(len(applied), 'migration')} applied")
        report = run_demo(db, args.account)
        print(report.render())
    return EXIT_OK


# --- tables --------------------------------------------------------------------------------


def positions_table(rows: "list[Position]", names: Mapping[str, str]) -> str:
    """Positions as a text table (strategy by name)."""
    from .tables import MONEY, QUANTITY, TIME, Column, render_table

    return render_table(
        [Column("symbol"), Column("strategy"), Column("side"), Column("status"), Column("quantity", QUANTITY),
         Column("avg entry", MONEY), Column("cost basis", MONEY), Column("realized P&L", MONEY),
         Column("opened", TIME), Column("closed", TIME)],
        [[p.symbol, _name(p.strategy_id, names), p.side, p.status, p.quantity,
          p.avg_entry_price if p.quantity else None, p.cost_basis, p.realized_pnl, p.opened_at, p.closed_at]
         for p in rows],
    )


def orders_table(rows: "list[Order]", names: Mapping[str, str]) -> str:
    """Orders as a text table (client order id first: the engine's name for it)."""
    from .tables import MONEY, QUANTITY, TIME, Column, render_table

    return render_table(
        [Column("client id"), Column("symbol"), Column("side"), Column("type"), Column("quantity", QUANTITY),
         Column("limit", MONEY), Column("stop", MONEY), Column("status"), Column("filled", QUANTITY),
         Column("avg fill", MONEY), Column("strategy"), Column("broker id"), Column("created", TIME)],
        [[o.client_order_id, o.symbol, o.side, o.order_type, o.quantity, o.limit_price, o.stop_price, o.status,
          o.filled_quantity, o.avg_fill_price, _name(o.strategy_id, names), o.external_id, o.created_at]
         for o in rows],
    )


def trades_table(rows: "list[Trade]", names: Mapping[str, str], client_ids: Mapping[str, str]) -> str:
    """Trades as a text table (order by client order id)."""
    from .tables import MONEY, QUANTITY, TIME, Column, render_table

    return render_table(
        [Column("executed", TIME), Column("order"), Column("symbol"), Column("side"), Column("effect"),
         Column("quantity", QUANTITY), Column("price", MONEY), Column("commission", MONEY), Column("fees", MONEY),
         Column("realized P&L", MONEY), Column("strategy"), Column("execution id")],
        [[t.executed_at, client_ids.get(t.order_id, t.order_id), t.symbol, t.side, t.effect, t.quantity, t.price,
          t.commission, t.fees, t.realized_pnl, _name(t.strategy_id, names), t.external_trade_id]
         for t in rows],
    )


def strategies_table(rows: "list[tuple[Strategy, StrategyMetrics | None]]") -> str:
    """Strategies with their metrics as a text table."""
    from .tables import MONEY, NUMBER, PERCENT, Column, render_table

    def compact(config: dict[str, Any]) -> str:
        return json.dumps(config, sort_keys=True, separators=(",", ":"))

    return render_table(
        [Column("name"), Column("active"), Column("trades", NUMBER), Column("closing", NUMBER),
         Column("winning", NUMBER), Column("win rate", PERCENT), Column("realized P&L", MONEY),
         Column("fees", MONEY), Column("config")],
        [[s.name, s.is_active]
         + ([None] * 6 if m is None else
            [m.total_trades, m.closing_trades, m.winning_trades, m.win_rate, m.realized_pnl, m.total_fees])
         + [compact(s.config)]
         for s, m in rows],
    )


# --- JSON ----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: models dumped, Decimals as plain strings, times as UTC text."""
    from pydantic import BaseModel

    from .tables import format_decimal
    from .values import timestamp_to_db

    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return timestamp_to_db(value)
    return value


def _position_json(position: "Position", names: Mapping[str, str]) -> dict[str, Any]:
    return dict(jsonable(position), strategy_name=names.get(position.strategy_id or ""))


def _order_json(order: "Order", names: Mapping[str, str]) -> dict[str, Any]:
    return dict(jsonable(order), remaining_quantity=jsonable(order.remaining_quantity),
                strategy_name=names.get(order.strategy_id or ""))


def _trade_json(trade: "Trade", names: Mapping[str, str], client_ids: Mapping[str, str]) -> dict[str, Any]:
    return dict(jsonable(trade), client_order_id=client_ids.get(trade.order_id),
                strategy_name=names.get(trade.strategy_id or ""))


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


# --- opening the database read-only --------------------------------------------------------


@contextmanager
def _storage(args: argparse.Namespace) -> Iterator["StorageService"]:
    """A StorageService on the database of ``args``, after checking its schema is applied.

    Nothing is created or migrated: a SQLite file that does not exist is reported, not made.
    """
    from .db import DEFAULT_URL, DatabaseURL, connect
    from .service import StorageService

    url = args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_URL
    parsed = DatabaseURL.parse(url)
    if parsed.dialect == "sqlite" and not parsed.is_memory and not os.path.exists(parsed.sqlite_path or ""):
        raise MigrationError(f"no database at {parsed.safe} (the file does not exist): {UPGRADE_HINT}")
    with connect(url) as db:
        require_schema(db)
        yield StorageService(db, args.account)


def require_schema(db: "Database") -> None:
    """Raise MigrationError (naming ``stocksbot db upgrade``) unless every known migration is applied.

    Reads the catalog and yoyo's ``_yoyo_migration`` table only; never writes.
    """
    from .paths import migration_ids

    applied = applied_migrations(db)
    pending = [mid for mid in migration_ids() if mid not in applied]
    if not pending:
        return
    if not applied:
        raise MigrationError(f"{db.url.safe} has no stocksbot schema (no migration applied): {UPGRADE_HINT}")
    raise MigrationError(
        f"{db.url.safe} is behind: {_count(len(pending), 'pending migration')} ({', '.join(pending)}): {UPGRADE_HINT}"
    )


def applied_migrations(db: "Database") -> set[str]:
    """Ids of the migrations recorded in ``_yoyo_migration``; empty when yoyo never ran here."""
    from .errors import translate

    try:
        with db.connection() as conn:
            if db.dialect == "sqlite":
                found = conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_yoyo_migration'"
                ).fetchall()
            else:
                found = [row for row in conn.execute("SELECT to_regclass('_yoyo_migration') AS name").fetchall()
                         if row["name"] is not None]
            if not found:
                return set()
            return {row["migration_id"] for row in conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()}
    except StocksbotError:
        raise
    except Exception as exc:  # a driver error: one line, translated
        raise translate(exc, query="schema check") from exc


# --- helpers -------------------------------------------------------------------------------


def _strategy_names(storage: "StorageService") -> dict[str, str]:
    return {s.strategy_id: s.name for s in storage.list_strategies()}


def _name(strategy_id: str | None, names: Mapping[str, str]) -> str | None:
    return None if strategy_id is None else names.get(strategy_id, strategy_id)


def _find_order(storage: "StorageService", reference: str) -> "Order | None":
    """The order with this id, else the one with this client order id."""
    from .inputs import UUID_TEXT

    if UUID_TEXT.fullmatch(reference):
        order = storage.get_order(reference)
        if order is not None:
            return order
    return storage.get_order_by_client_order_id(reference)


def _client_order_ids(storage: "StorageService", order_ids: set[str]) -> dict[str, str]:
    from . import orders as order_queries

    found: dict[str, str] = {}
    with storage.db.connection() as conn:
        for order_id in sorted(order_ids):
            order = order_queries.find_order(conn, account_id=storage.account_id, order_id=order_id)
            if order is not None:
                found[order_id] = order.client_order_id
    return found


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON only")


def _argument_type(check: Any, value: str) -> str:
    try:
        return check(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def _account(value: str) -> str:
    from .inputs import account_id

    return _argument_type(account_id, value)


def _symbol(value: str) -> str:
    from .inputs import symbol

    return _argument_type(symbol, value)


def _config_key(value: str) -> str:
    from .inputs import config_key

    return _argument_type(config_key, value)


def _order_reference(value: str) -> str:
    from .inputs import external_id

    return _argument_type(lambda text: external_id(text, "order"), value)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"
