"""The ``stocksbot`` command line (argparse only: it must start fast in a deploy pipeline).

Commands::

    stocksbot db upgrade   [--database-url URL] [--dry-run]
    stocksbot db status    [--database-url URL] [--json]
    stocksbot db history   [--database-url URL] [--json]
    stocksbot db downgrade [--database-url URL] [--steps N]
    stocksbot db unlock    [--database-url URL]

The database is ``--database-url``, else ``DATABASE_URL``, else ``sqlite:///./stocksbot.db``.

Exit codes (docs/migrations.md): 0 success; 1 failure, with exactly one line
``stocksbot: error: <message>`` on stderr (never a traceback, never a password);
2 bad usage (argparse); 3 ``db status`` found pending migrations; 4 ``db check`` found
schema drift; 5 ``db verify`` found maintained figures that differ from the trades; 130 interrupted.
``STOCKSBOT_DEBUG=1`` re-raises the error instead, for a traceback.

Adding a command group: write ``_add_<group>_commands(commands)`` next to
``_add_db_commands`` and call it from :func:`build_parser`; every command sets
``handler=`` to one small function that takes the parsed arguments and returns the
exit code. Heavy modules (yoyo, psycopg, the service) are imported inside the
handlers, so ``stocksbot --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

from .errors import StocksbotError

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from .migrate import Migrator

PROG = "stocksbot"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PENDING = 3
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to ``sys.exit``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help and --version (0), bad usage (2)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    debug = os.environ.get("STOCKSBOT_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    try:
        return handler(args)
    except BrokenPipeError:  # `stocksbot orders | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        if debug:
            raise
        _error("interrupted", args)
        return EXIT_INTERRUPTED
    except StocksbotError as exc:
        if debug:
            raise
        _error(str(exc), args)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if debug:
            raise
        _error(f"unexpected {type(exc).__name__}: {exc} (run with STOCKSBOT_DEBUG=1 for a traceback)", args)
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    """The whole ``stocksbot`` parser: one subparser per command group."""
    parser = _Parser(
        prog=PROG,
        description="stocksbot: the SQL-first persistence layer of a stock-trading bot.",
        epilog="Exit codes: 0 ok, 1 failure (one line on stderr), 2 bad usage, 3 pending migrations (db status), "
        "4 schema drift (db check), 5 maintained figures differ from the trades (db verify).",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the stocksbot version and exit")
    groups = parser.add_subparsers(title="command groups", dest="group", metavar="GROUP", required=True)
    _add_db_commands(groups)
    from .cli_records import add_record_commands

    add_record_commands(groups)
    from .cli_sql import add_sql_commands

    add_sql_commands(groups)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors, which quote the arguments they refuse, never show a password.

    ``add_parser`` makes every subcommand's parser of this class too.
    """

    def error(self, message: str) -> NoReturn:
        from .db import redact_passwords

        super().error(redact_passwords(message))


def database_url_options() -> argparse.ArgumentParser:
    """A parent parser holding ``--database-url``, shared by every command that opens the database."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--database-url",
        metavar="URL",
        type=_non_empty,
        default=None,
        help="sqlite:///path.db or postgresql://user:pass@host:port/db "
        "(default: $DATABASE_URL, else sqlite:///./stocksbot.db)",
    )
    return options


# --- db ------------------------------------------------------------------------------------


def _add_db_commands(groups: Any) -> None:
    db = groups.add_parser(
        "db",
        help="apply, inspect and roll back the schema migrations",
        description="Apply, inspect and roll back the schema migrations (see docs/migrations.md).",
    )
    commands = db.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    url = database_url_options()

    upgrade = commands.add_parser(
        "upgrade", parents=[url], help="apply every pending migration",
        description="Apply every pending migration, under the migration lock.",
    )
    upgrade.add_argument("--dry-run", action="store_true", help="print the SQL that would run; change nothing")
    upgrade.add_argument(
        "--backup", nargs="?", const="", default=None, metavar="PATH",
        help="back up the database first, when a migration is pending (default PATH: next to the database "
        "for SQLite, ./<db>-pre-upgrade-<time>.dump for PostgreSQL)",
    )
    upgrade.set_defaults(handler=db_upgrade)

    status = commands.add_parser(
        "status", parents=[url], help="list migrations, applied and pending (exit 3 if any is pending)",
        description="List every migration, applied (with when) or pending. Exit 3 if any is pending.",
    )
    status.add_argument("--json", action="store_true", help="print JSON only")
    status.set_defaults(handler=db_status)

    history = commands.add_parser(
        "history", parents=[url], help="every apply and rollback, with when and who",
        description="Every apply and rollback recorded in the database, oldest first.",
    )
    history.add_argument("--json", action="store_true", help="print JSON only")
    history.set_defaults(handler=db_history)

    downgrade = commands.add_parser(
        "downgrade", parents=[url], help="roll back the newest N applied migrations",
        description="Roll back the newest N applied migrations (their tables and data are dropped).",
    )
    downgrade.add_argument("--steps", metavar="N", type=_positive_int, default=1, help="how many (default 1)")
    downgrade.set_defaults(handler=db_downgrade)

    unlock = commands.add_parser(
        "unlock", parents=[url], help="clear a stale migration lock left by a killed run",
        description="Remove the migration lock row (yoyo_lock) left by a killed run. "
        "Only when no migration is running.",
    )
    unlock.set_defaults(handler=db_unlock)
    from .cli_sql import add_schema_commands

    add_schema_commands(commands)
    from .cli_backup import add_backup_commands

    add_backup_commands(commands)
    from .verify import add_verify_command

    add_verify_command(commands)


def db_upgrade(args: argparse.Namespace) -> int:
    """``db upgrade``: apply the pending migrations, or print their SQL with ``--dry-run``."""
    migrator = _migrator(args)
    where = migrator.url.safe
    if args.dry_run:
        pending = migrator.pending_sql()
        if not pending:
            print(f"-- nothing to apply: {where} is up to date")
            return EXIT_OK
        print(f"-- dry run: {_count(len(pending), 'pending migration')} on {where}; nothing was applied")
        for migration_id, sql in pending:
            print(f"\n-- migration: {migration_id}")
            print(sql.rstrip("\n"))
        return EXIT_OK
    if args.backup is not None and migrator.pending():
        from .backup import backup_before_upgrade

        written = backup_before_upgrade(args.database_url, args.backup or None)
        if written is not None:
            print(f"backed up {where} to {written}")
    applied = migrator.upgrade()
    for migration_id in applied:
        print(f"applied {migration_id}")
    if applied:
        print(f"{_count(len(applied), 'migration')} applied; {where} is up to date")
    else:
        print(f"nothing to apply: {where} is up to date")
    return EXIT_OK


def db_status(args: argparse.Namespace) -> int:
    """``db status``: every migration, applied or pending; exit 3 if any is pending."""
    migrator = _migrator(args)
    states = migrator.status()
    pending = [state.id for state in states if not state.applied]
    unknown = [state.id for state in states if not state.known]
    if args.json:
        _print_json({
            "database": migrator.url.safe,
            "applied": len(states) - len(pending),
            "pending": len(pending),
            "unknown": len(unknown),
            "migrations": [
                {"id": state.id, "applied": state.applied, "applied_at": _when(state.applied_at), "known": state.known}
                for state in states
            ],
        })
    else:
        print(f"database: {migrator.url.safe}")
        for state in states:
            when = _when(state.applied_at) or "-"
            label = "unknown" if not state.known else "applied" if state.applied else "pending"
            print(f"{label:<7}  {when:<27}  {state.id}")
        print(f"{len(states) - len(pending)} applied, {len(pending)} pending"
              + (f", {len(unknown)} unknown to this stocksbot" if unknown else ""))
    if unknown:
        _error(
            f"the database has migrations this stocksbot does not know ({', '.join(unknown)}): "
            "it was migrated by a newer version; upgrade stocksbot", args,
        )
        return EXIT_FAILURE
    return EXIT_PENDING if pending else EXIT_OK


def db_history(args: argparse.Namespace) -> int:
    """``db history``: every apply and rollback, oldest first, with when and by whom."""
    migrator = _migrator(args)
    entries = migrator.history()
    if args.json:
        _print_json({
            "database": migrator.url.safe,
            "history": [
                {
                    "migration_id": entry.migration_id,
                    "operation": entry.operation,
                    "at": _when(entry.at),
                    "username": entry.username,
                    "hostname": entry.hostname,
                }
                for entry in entries
            ],
        })
        return EXIT_OK
    print(f"database: {migrator.url.safe}")
    width = max((len(entry.migration_id) for entry in entries), default=0)
    for entry in entries:
        print(
            f"{_when(entry.at)}  {entry.operation:<8}  {entry.migration_id:<{width}}  "
            f"{entry.username}@{entry.hostname}"
        )
    if not entries:
        print("no migration has been applied yet")
    return EXIT_OK


def db_downgrade(args: argparse.Namespace) -> int:
    """``db downgrade``: roll back the newest ``--steps`` applied migrations."""
    migrator = _migrator(args)
    rolled_back = migrator.downgrade(args.steps)
    for migration_id in rolled_back:
        print(f"rolled back {migration_id}")
    if rolled_back:
        print(f"{_count(len(rolled_back), 'migration')} rolled back on {migrator.url.safe}")
    else:
        print(f"nothing to roll back: no migration is applied on {migrator.url.safe}")
    return EXIT_OK


def db_unlock(args: argparse.Namespace) -> int:
    """``db unlock``: remove a stale yoyo lock row."""
    migrator = _migrator(args)
    if migrator.break_lock():
        print(f"removed the migration lock (yoyo_lock) on {migrator.url.safe}")
    else:
        print(f"no migration lock was held on {migrator.url.safe}")
    return EXIT_OK


def _migrator(args: argparse.Namespace) -> "Migrator":
    from .migrate import Migrator  # lazy: yoyo and the drivers load only for db commands

    return Migrator(args.database_url)


# --- helpers -------------------------------------------------------------------------------


class _VersionAction(argparse.Action):
    """``--version``, reading the installed version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("stocksbot")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            text = "unknown (not installed)"
        print(f"{PROG} {text}")
        parser.exit(EXIT_OK)


def _non_empty(value: str) -> str:
    # An empty --database-url (an unset variable in a pipeline) must not fall back to the default.
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _when(moment: "datetime | None") -> str | None:
    if moment is None:
        return None
    from .values import timestamp_to_db

    return timestamp_to_db(moment)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def _error(message: str, args: argparse.Namespace) -> None:
    """Print ``stocksbot: error: <message>`` as one line, with any password blanked out."""
    line = " ".join(message.split())
    for secret in _passwords(getattr(args, "database_url", None), os.environ.get("DATABASE_URL")):
        line = line.replace(secret, "***")
    print(f"{PROG}: error: {line}", file=sys.stderr)


def _passwords(*urls: str | None) -> set[str]:
    """The passwords in these URLs, raw and percent-decoded (a belt to DatabaseURL.safe's braces)."""
    from urllib.parse import unquote, urlsplit

    found: set[str] = set()
    for url in urls:
        if not url:
            continue
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            found.update({password, unquote(password)})
    return found
