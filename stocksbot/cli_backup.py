"""The backup commands of ``stocksbot db``::

    stocksbot db backup  PATH [--database-url URL] [--force]
    stocksbot db restore PATH [--database-url URL]

:func:`add_backup_commands` adds them to the ``db`` subparsers of :mod:`stocksbot.cli`,
which owns the exit codes and the one-line error reporting (a
:class:`~stocksbot.backup.BackupError` is a StocksbotError: exit 1, one line).
SQLite uses the online backup API; PostgreSQL needs ``pg_dump`` and
``pg_restore`` on PATH (see stocksbot/backup.py).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_backup_commands(db_commands: Any) -> None:
    """Add ``backup`` and ``restore`` to the subparsers of ``stocksbot db``."""
    from .cli import database_url_options  # here, not at import: cli.py imports this module

    url = database_url_options()
    backup = db_commands.add_parser(
        "backup", parents=[url], help="write a consistent backup of the database to PATH",
        description="Write a consistent backup of the database to PATH while it stays in use: "
        "SQLite through the online backup API (a single checked .db file), PostgreSQL through "
        "pg_dump --format=custom (needs the PostgreSQL client tools on PATH).",
    )
    backup.add_argument("path", metavar="PATH", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    backup.set_defaults(handler=db_backup)

    restore = db_commands.add_parser(
        "restore", parents=[url], help="replace the database's contents with the backup at PATH",
        description="Replace the database's contents with a backup written by `stocksbot db backup`: "
        "SQLite through the online backup API (the file is created if missing), PostgreSQL through "
        "pg_restore --clean --if-exists --single-transaction (all or nothing).",
    )
    restore.add_argument("path", metavar="PATH", help="the backup file to restore")
    restore.set_defaults(handler=db_restore)


def db_backup(args: argparse.Namespace) -> int:
    """``db backup PATH``: write the backup, then say where."""
    from .backup import backup, resolve_url
    from .cli import EXIT_OK

    written = backup(args.database_url, args.path, overwrite=args.force)
    print(f"backed up {resolve_url(args.database_url).safe} to {written} ({written.stat().st_size} bytes)")
    return EXIT_OK


def db_restore(args: argparse.Namespace) -> int:
    """``db restore PATH``: restore the backup, then say what was replaced."""
    from .backup import resolve_url, restore
    from .cli import EXIT_OK

    restore(args.database_url, args.path)
    print(f"restored {args.path} into {resolve_url(args.database_url).safe}")
    return EXIT_OK
