"""Backing up a stocksbot database and restoring it, on both engines.

    backup(url, path)    write a consistent copy of the database to ``path``
    restore(url, path)   replace the database's contents with a backup

SQLite goes through the online backup API (:meth:`sqlite3.Connection.backup`):
the copy is taken in one step inside one read transaction, so writers carry on
(WAL) and the copy is one consistent moment. It is converted to a single
self-contained file (rollback journal), checked with ``PRAGMA integrity_check``,
and only then moved into place. Restoring copies the backup into the live file
through the same API, under SQLite's locks, so processes that have the database
open see the restored contents.

PostgreSQL goes through the client tools: ``pg_dump --format=custom`` (one
snapshot of the whole database) and ``pg_restore --clean --if-exists
--single-transaction --no-owner`` (all or nothing). The password travels in the
``PGPASSWORD`` environment variable of the child process, never on its command
line. A missing tool is a :class:`BackupError` that names it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StocksbotError

if TYPE_CHECKING:  # pragma: no cover
    from .db import Database, DatabaseURL

PG_ARCHIVE_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(StocksbotError):
    """A backup or restore could not be made: a missing tool, an unusable file, a failed dump."""


def backup(url: "str | Database | None", path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write a consistent backup of the database at ``url`` to ``path``; returns the path written.

    ``url`` is a database URL, an open :class:`~stocksbot.Database`, or None for
    ``DATABASE_URL`` / the default. An existing ``path`` is refused unless
    ``overwrite``. The file appears only once it is complete and checked.
    """
    where = resolve_url(url)
    target = Path(path).expanduser()
    try:
        return _backup(where, target, overwrite)
    except (OSError, UnicodeEncodeError) as exc:  # a name too long or not encodable, a read-only directory, a full disk
        raise BackupError(f"cannot write the backup {target}: {_reason(exc)}") from exc


def _backup(where: "DatabaseURL", target: Path, overwrite: bool) -> Path:
    if target.is_dir():
        raise BackupError(f"backup path {target} is a directory: give a file name")
    if target.exists() and not overwrite:
        raise BackupError(f"backup path {target} already exists: choose another path or overwrite it explicitly")
    if not target.parent.is_dir():
        raise BackupError(f"cannot write the backup: directory {target.parent} does not exist")
    # Beside the target so the final rename is atomic; cut short so a 255-byte name still gets one.
    partial = target.with_name(f".{target.name[:200]}.{os.getpid()}.partial")
    try:
        if where.dialect == "sqlite":
            _sqlite_backup(where, partial)
        else:
            _pg_dump(where, partial)
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return target


def restore(url: "str | Database | None", path: str | os.PathLike[str]) -> None:
    """Replace the contents of the database at ``url`` with the backup at ``path``.

    SQLite: the file is created if it does not exist (its directory must). PostgreSQL:
    the database must exist; objects of the backup are dropped and recreated in one
    transaction, so a failed restore changes nothing.
    """
    where = resolve_url(url)
    source = Path(path).expanduser()
    try:
        if not source.is_file():
            raise BackupError(f"no backup file at {source}")
        if where.dialect == "sqlite":
            _sqlite_restore(where, source)
        else:
            _pg_restore(where, source)
    except (OSError, UnicodeEncodeError) as exc:  # a name too long or not encodable, an unreadable file
        raise BackupError(f"cannot restore from {source}: {_reason(exc)}") from exc


def default_backup_path(url: "str | Database | None", label: str = "backup", directory: str | os.PathLike[str] | None = None) -> Path:
    """A new file name for a backup: next to a SQLite file, or ``<dbname>.<label>-<UTC time>.dump`` in the
    current directory (or ``directory``) for PostgreSQL."""
    where = resolve_url(url)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    if where.dialect == "sqlite":
        database = Path(_sqlite_file(where))
        return Path(directory or database.parent) / f"{database.name}.{label}-{stamp}.backup"
    name = (where.pg_params or {}).get("dbname") or "postgres"
    return Path(directory or ".") / f"{name}.{label}-{stamp}.dump"


def backup_before_upgrade(url: "str | Database | None", path: str | os.PathLike[str] | None = None) -> Path | None:
    """The backup ``stocksbot db upgrade --backup`` takes before migrating; None when there is nothing to save.

    A SQLite file that does not exist yet has nothing to back up. ``path`` defaults
    to :func:`default_backup_path` with the label ``pre-upgrade``.
    """
    where = resolve_url(url)
    if where.dialect == "sqlite" and not Path(_sqlite_file(where)).exists():
        return None
    return backup(url, path or default_backup_path(url, "pre-upgrade"))


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_file(where: "DatabaseURL") -> str:
    if where.is_memory or not where.sqlite_path:
        raise BackupError("an in-memory SQLite database cannot be backed up or restored by URL")
    return where.sqlite_path


def _sqlite_backup(where: "DatabaseURL", partial: Path) -> None:
    database = Path(_sqlite_file(where))
    if not database.is_file():
        raise BackupError(f"no SQLite database at {database}")
    partial.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(database, timeout=_busy_timeout())
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)  # every page in one step: one read transaction, one consistent moment
                copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, whatever the source used
                _check_integrity(copy, f"the backup of {database}")
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {database}: {exc}") from exc


def _sqlite_restore(where: "DatabaseURL", source_path: Path) -> None:
    database = Path(_sqlite_file(where))
    if not database.parent.is_dir():
        raise BackupError(f"cannot restore into {database}: directory {database.parent} does not exist")
    with open(source_path, "rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError(f"{source_path} is not a SQLite database file")
    try:
        source = sqlite3.connect(f"file:{source_path.resolve()}?mode=ro", uri=True)
        try:
            _check_integrity(source, str(source_path))
            if source.execute("SELECT 1 FROM sqlite_master WHERE name = '_yoyo_migration'").fetchone() is None:
                raise BackupError(f"{source_path} is not a stocksbot backup (it has no _yoyo_migration table)")
            target = sqlite3.connect(database, timeout=_busy_timeout(), isolation_level=None)
            try:
                source.backup(target)  # takes the write lock of the live file, waiting out writers
                target.execute("PRAGMA journal_mode = WAL")
                _check_integrity(target, f"{database} after the restore")
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot restore {source_path} into {database}: {exc}") from exc


def _check_integrity(conn: sqlite3.Connection, what: str) -> None:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    if result != ["ok"]:
        raise BackupError(f"{what} fails PRAGMA integrity_check: {'; '.join(map(str, result[:3]))}")


def _busy_timeout() -> float:
    from .db import Settings

    return Settings.from_env().sqlite_busy_timeout


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_command(tool: str, where: "DatabaseURL", arguments: list[str]) -> tuple[list[str], dict[str, str]]:
    """The argv and environment to run a PostgreSQL client tool against ``where``.

    The connection string on the command line carries no password; the password
    goes to the child's ``PGPASSWORD``.
    """
    from psycopg.conninfo import make_conninfo

    params = {key: str(value) for key, value in (where.pg_params or {}).items()}
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return [_tool(tool), *arguments, "--dbname", make_conninfo(**params)], env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found on PATH: install the PostgreSQL client tools "
            f"(e.g. `apt install postgresql-client`) at least as new as the server, or add them to PATH"
        )
    return found


def _pg_dump(where: "DatabaseURL", partial: Path) -> None:
    argv, env = pg_command("pg_dump", where, ["--format=custom", "--file", str(partial)])
    _run(argv, env, f"pg_dump of {where.safe}")
    with open(partial, "rb") as handle:
        if handle.read(len(PG_ARCHIVE_MAGIC)) != PG_ARCHIVE_MAGIC:
            raise BackupError(f"pg_dump of {where.safe} did not write a custom-format archive")


def _pg_restore(where: "DatabaseURL", source_path: Path) -> None:
    with open(source_path, "rb") as handle:
        if handle.read(len(PG_ARCHIVE_MAGIC)) != PG_ARCHIVE_MAGIC:
            raise BackupError(f"{source_path} is not a pg_dump custom-format archive (made by `stocksbot db backup`)")
    argv, env = pg_command(
        "pg_restore", where, ["--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-owner", str(source_path)],
    )
    _run(argv, env, f"pg_restore into {where.safe}")


def _run(argv: list[str], env: dict[str, str], what: str) -> Any:
    try:
        completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupError(f"{what}: cannot run {argv[0]}: {exc}") from exc
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {completed.returncode}"
        password = env.get("PGPASSWORD")
        if password:
            reason = reason.replace(password, "***")
        raise BackupError(f"{what} failed: {reason.strip()}")
    return completed


# --- helpers -------------------------------------------------------------------------------------


def resolve_url(url: "str | Database | None") -> "DatabaseURL":
    """The parsed URL of a URL, an open Database, or None (``DATABASE_URL``, else the SQLite default)."""
    from .db import DEFAULT_URL, Database, DatabaseURL

    if isinstance(url, Database):
        return url.url
    return DatabaseURL.parse(url or os.environ.get("DATABASE_URL") or DEFAULT_URL)


def _reason(exc: OSError | UnicodeEncodeError) -> str:
    """What the operating system said, without repeating the file name the message already shows."""
    if isinstance(exc, UnicodeEncodeError):
        return "the file name cannot be encoded for the file system"
    return exc.strerror or str(exc)


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
