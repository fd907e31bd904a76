"""Reading ``migrations/*.sql`` for yoyo without sqlparse's tokenizer on the cold-start path.

yoyo splits each SQL migration (and its ``.rollback.sql``) into statements with
``sqlparse.split``, a full tokenizer: about 25 ms for the 14 files, a sixth of a new
process's ``connect().migrate()`` on SQLite (docs/performance.md, W6). stocksbot's
migrations are plain DDL, so :func:`split_sql` — a small scanner that knows quotes and
comments — splits them to exactly what ``sqlparse.split`` returns (tests/test_migration_files.py
proves it on every file). Anything it does not handle (dollar quoting, ``BEGIN ... END``
bodies) is left to sqlparse.

:func:`load` then fills in a yoyo ``Migration`` the way its own ``load()`` does for a
``.sql`` file; yoyo sees a loaded migration and applies it as usual. :func:`read` is yoyo's
``read_migrations`` for a directory of plain ``.sql`` migrations, loaded that way (without
the import of yoyo's ``new`` command that ``read_migrations`` makes to skip its temp files).
"""

from __future__ import annotations

import os
import re
import types
from itertools import zip_longest
from typing import Any

from yoyo.migrations import Migration, MigrationList, StepCollector, parse_metadata_from_sql_comments

#: What the scanner stops at: a comment, a quote, a statement's end, or what needs the real tokenizer.
_NEXT = re.compile(r"--|/\*|['\";]|\$|# |\bBEGIN\b", re.IGNORECASE)
#: What sqlparse keeps with a statement after its ";": blanks, and "--" comments each up to and
#: including its line break (a bare line break, or a "/* */" comment, starts the next statement).
_AFTER_STATEMENT = re.compile(r"(?:[^\S\r\n]*--[^\r\n]*(?:\r\n|\r|\n)?)*[^\S\r\n]*")


def split_sql(text: str) -> list[str] | None:
    """The statements of ``text`` exactly as ``sqlparse.split`` returns them (stripped; the ``--``
    comments right after a ``;`` stay with its statement), or None when the text needs the real
    tokenizer (dollar quoting, ``BEGIN ... END`` bodies, MySQL ``#`` comments)."""
    statements: list[str] = []
    start = index = 0
    while (found := _NEXT.search(text, index)) is not None:
        token = found.group()
        if token == "--":
            newline = text.find("\n", found.end())
            index = len(text) if newline < 0 else newline
        elif token == "/*":
            close = text.find("*/", found.end())
            index = len(text) if close < 0 else close + 2
        elif token in ("'", '"'):
            index = _end_of_quoted(text, found.start(), token)
        elif token == ";":
            index = _AFTER_STATEMENT.match(text, found.end()).end()  # type: ignore[union-attr]
            statements.append(text[start:index].strip())
            start = index
        else:  # dollar quoting, a BEGIN ... END body, a "# " comment
            return None
    tail = text[start:].strip()
    if tail:
        statements.append(tail)
    return statements


def _end_of_quoted(text: str, index: int, quote: str) -> int:
    """The index just past the quoted string or identifier starting at ``index`` (a doubled quote escapes)."""
    index += 1
    while True:
        close = text.find(quote, index)
        if close < 0:
            return len(text)
        if text.startswith(quote * 2, close):
            index = close + 2
            continue
        return close + 1


def _read_statements(path: str) -> tuple[dict[str, str], str, list[str]] | None:
    """yoyo's ``read_sql_migration`` for one file (directives, leading comment, statements), or None
    when :func:`split_sql` leaves the file to sqlparse."""
    if not os.path.exists(path):
        return {}, "", []
    with open(path, encoding="utf-8") as file:
        statements = split_sql(file.read())
    if statements is None:
        return None
    directives: dict[str, str] = {}
    leading_comment = ""
    if statements:
        directives, leading_comment, statements[0] = parse_metadata_from_sql_comments(statements[0])
    return directives, leading_comment, [statement for statement in statements if statement.strip()]


def load(migration: Any) -> None:
    """Load one yoyo ``.sql`` migration as ``Migration.load()`` would, splitting with :func:`split_sql`;
    a migration it cannot split (or a Python one) is left to yoyo's own ``load()``."""
    if migration.loaded or not migration.is_raw_sql():
        return
    forward = _read_statements(migration.path)
    backward = _read_statements(os.path.splitext(migration.path)[0] + ".rollback.sql")
    if forward is None or backward is None:
        return
    directives, leading_comment, statements = forward
    rollback_statements = list(reversed(backward[2]))
    collector = StepCollector(migration=migration)
    with open(migration.path, encoding="utf-8") as file:
        migration.source = file.read()
    migration.module = types.ModuleType(migration.path)
    migration.module.__doc__ = leading_comment
    for apply, rollback in zip_longest(statements, rollback_statements, fillvalue=None):
        collector.add_step(apply, rollback)
    known = Migration._Migration__all_migrations  # type: ignore[attr-defined]  # yoyo's id -> Migration registry
    depends = {known.get(name) for name in directives.get("depends", "").split() if name}
    if None in depends:
        return  # yoyo's load() raises its BadMigration for an unknown dependency
    migration._depends = depends
    migration.use_transactions = {"true": True, "false": False}[directives.get("transactional", "true").lower()]
    migration.steps = collector.create_steps(migration.use_transactions)


def read(directory: str) -> Any:
    """The migrations of ``directory`` as yoyo's ``read_migrations(directory)`` lists them, each loaded
    by :func:`load`; a directory holding Python or post-apply migrations goes to yoyo's own reader."""
    paths = sorted(
        name for name in os.listdir(directory)
        if name.endswith((".sql", ".py")) and os.path.isfile(os.path.join(directory, name))
    )
    if any(name.endswith(".py") or name.startswith("post-apply") for name in paths):
        from yoyo import read_migrations

        migrations = read_migrations(directory)
    else:
        migrations = MigrationList([
            Migration(name[: -len(".sql")], os.path.join(directory, name), source_dir=directory)
            for name in paths if not name.endswith(".rollback.sql")
        ])
    for migration in migrations:
        load(migration)
    return migrations
