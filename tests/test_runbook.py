"""docs/migrations.md, executed: every command of its shell blocks runs for real, on both engines.

The runbook's conventions (stated at its top), as this file applies them:

* ``stocksbot`` commands read ``DATABASE_URL``. Here it names the *target*, a throwaway
  database: a SQLite file at ``/var/lib/stocksbot/stocksbot.db`` under a temporary root, or
  a new PostgreSQL database made from the migrated template of tests/conftest.py. The
  installed console scripts (``stocksbot``, ``yoyo``) come first on ``PATH``.
* Example names are rewritten before a command runs (:meth:`Site.substitute`):
  ``deploy@db.example.com:5432/<name>`` becomes the test server's user, host and port with
  database ``<name>`` (``stocksbot`` is the target, any other name a new empty database);
  ``/var/...`` moves under the temporary root; relative paths are in a scratch working
  directory that holds ``migrations/``.
* A command runs on both engines unless it is PostgreSQL's (``pg_dump``, ``pg_restore``,
  ``psql``, or it names ``db.example.com``) or SQLite's (``sqlite3``, or it names
  ``/var/lib/stocksbot/``).
* Each command has a scenario in :data:`SCENARIOS`, keyed by its exact text in the runbook.
  The scenario puts the database in the state that step expects, runs the command through
  ``bash`` as a DBA would paste it, and checks the exit code and what the runbook says it
  prints.
* Each message the runbook lists (the first column of its Troubleshooting tables, and the
  lines of its indented example blocks) has a trigger in :data:`MESSAGES` that makes the
  code print it. In a message, ``...`` and ``<name>`` match any text and digits any number.

A command or message added to the runbook without an entry here fails
``test_every_command_has_a_scenario`` / ``test_every_message_has_a_trigger`` (and its own
parametrised test); an entry whose command or message left the runbook fails them too.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from stocksbot.backup import backup
from stocksbot.cli import build_parser, main
from stocksbot.db import DatabaseURL
from stocksbot.paths import migrations_dir

REPO = Path(__file__).resolve().parent.parent
RUNBOOK = REPO / "docs" / "migrations.md"
BIN = Path(sys.executable).parent  # the venv's console scripts: stocksbot, yoyo
BASH = shutil.which("bash") or "/bin/bash"
MIGRATION_IDS = sorted(
    path.name.removesuffix(".sql")
    for path in migrations_dir().glob("*.sql")
    if not path.name.endswith(".rollback.sql") and not path.name.startswith("post-apply")
)
NEWEST = MIGRATION_IDS[-1]
CORE_TABLES = {"strategies", "orders", "positions", "trades", "config"}
LOCK_CTIME = "2024-03-01 14:30:00.123456"  # how yoyo's lock row shows its time (the runbook's example)
ADVISORY_LOCK_OBJID = 1868786547  # the low 32 bits of stocksbot.migrate.ADVISORY_LOCK_KEY, as pg_locks shows them
SHELL_INFO = {"sh", "bash", "shell"}
SHELL_PLUMBING = {"export", "echo", "exit", "case", "esac", "fi", "done"}  # not commands under test
PG_PROGRAMS = {"pg_dump", "pg_restore", "psql"}
ENGINE_MARKS = {"sqlite": pytest.mark.sqlite, "postgres": pytest.mark.postgres}


# --- reading the runbook -------------------------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(info string, lines) of every fenced block, in order."""
    blocks: list[tuple[str, list[str]]] = []
    info: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("```"):
            if info is None:
                info, lines = line[3:].strip(), []
            else:
                blocks.append((info, lines))
                info = None
        elif info is not None:
            lines.append(line)
    return blocks


def shell_blocks(text: str) -> list[str]:
    """The text of every sh/bash/shell block, continuation lines joined."""
    return [
        "\n".join(lines).replace("\\\n", " ")
        for info, lines in fenced_blocks(text)
        if info in SHELL_INFO
    ]


def split_unquoted(line: str) -> list[str]:
    """The pieces of one shell line between unquoted ``&&``, ``||``, ``|``, ``;`` and ``;;``."""
    pieces, current, quote, i = [], "", None, 0
    while i < len(line):
        char, pair = line[i], line[i:i + 2]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif pair in {"&&", "||", ";;"} or char in "|;":
            pieces.append(current)
            current, i = "", i + (2 if pair in {"&&", "||", ";;"} else 1)
            continue
        current += char
        i += 1
    pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


def command_in(piece: str) -> str | None:
    """The command a piece of shell runs, without case labels, assignments and keywords; None for plumbing."""
    command = re.sub(r"^(?:\S+\)\s*|\w+=\S*\s*|(?:if|then|else|do|while|!)\s+)*", "", piece).strip()
    if not command or command.split()[0] in SHELL_PLUMBING:
        return None
    return command


def runbook_commands(text: str | None = None) -> list[str]:
    """Every command of the runbook's shell blocks, in order, each once."""
    text = RUNBOOK.read_text() if text is None else text
    found: list[str] = []
    for block in shell_blocks(text):
        for line in block.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for piece in split_unquoted(line):
                command = command_in(piece)
                if command and command not in found:
                    found.append(command)
    return found


def engines_of(command: str) -> tuple[str, ...]:
    """The engines a runbook command is for (see the module docstring)."""
    program = command.split()[0]
    if program in PG_PROGRAMS or "db.example.com" in command:
        return ("postgres",)
    if program == "sqlite3" or "/var/lib/stocksbot/" in command:
        return ("sqlite",)
    return ("sqlite", "postgres")


def code_spans(text: str) -> list[str]:
    """The contents of the Markdown code spans of ``text``, also those fenced by two backticks."""
    spans = []
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", text):
        content = match[2]
        if len(content) > 1 and content.startswith(" ") and content.endswith(" "):
            content = content[1:-1]
        spans.append(content)
    return spans


@dataclass(frozen=True)
class Listed:
    """A message the runbook lists, and the exit code it gives with it (None: the runbook does not say)."""

    message: str
    exit_code: int | None


def listed_messages(text: str | None = None) -> list[Listed]:
    """The Troubleshooting tables' messages (first column) and the lines of indented example blocks."""
    text = RUNBOOK.read_text() if text is None else text
    found: list[Listed] = []
    in_fence, section = False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if line.startswith("## "):
            section = line[3:].strip()
        if section == "Troubleshooting" and line.startswith("| `"):
            cell = line.split(" | ")[0]
            stated = re.search(r"\bexits? (\d+)", cell)
            found += [Listed(message, int(stated[1]) if stated else 1) for message in code_spans(cell)]
        elif line.startswith("    ") and line.strip():
            found.append(Listed(line.strip(), None))
    return found


PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")  # <name> in a listed message


def message_pattern(message: str) -> re.Pattern[str]:
    """``...`` and ``<name>`` match any text, digits any number; everything else itself."""
    parts = re.split(rf"(\.\.\.|{PLACEHOLDER.pattern}|\d+)", message)
    return re.compile("".join(
        ".+" if part == "..." or PLACEHOLDER.fullmatch(part) else r"\d+" if part.isdigit() else re.escape(part)
        for part in parts
    ))


def printed(message: str, output: str) -> bool:
    """Whether one line of ``output`` is ``message`` (with or without the ``stocksbot: error: `` prefix)."""
    pattern = message_pattern(message)
    lines = [line.strip() for line in output.splitlines()]
    return any(pattern.fullmatch(line) or pattern.fullmatch(line.removeprefix("stocksbot: error: ")) for line in lines)


# --- the machine the runbook talks about -----------------------------------------------------------


class Site:
    """The runbook's world for one test: the target database, ``/var/`` under a temporary root,
    a working directory with ``migrations/``, and the PostgreSQL server when the engine is PostgreSQL."""

    def __init__(self, engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.engine = engine
        self.root = tmp_path / "root"
        self.cwd = tmp_path / "work"
        for directory in (self.root / "var" / "lib" / "stocksbot", self.root / "var" / "backups", self.cwd):
            directory.mkdir(parents=True)
        (self.cwd / "migrations").symlink_to(migrations_dir(), target_is_directory=True)
        self.server: Any = None
        self.databases: dict[str, str] = {}  # runbook name -> real name (PostgreSQL)
        if engine == "sqlite":
            self.sqlite_path = self.root / "var" / "lib" / "stocksbot" / "stocksbot.db"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), self.sqlite_path)
            self.url = f"sqlite:///{self.sqlite_path}"
        else:
            self.server = request.getfixturevalue("pg_server")
            self.databases["stocksbot"] = self.server.create(template=self.server.template)
            self.url = self.server.url_for(self.databases["stocksbot"])
        self.safe = DatabaseURL.parse(self.url).safe

    def close(self) -> None:
        for name in self.databases.values():
            self.server.drop(name)

    # -- running things --

    def substitute(self, text: str) -> str:
        """The runbook's example names replaced by this site's."""
        text = re.sub(r"(?<![\w.])/var/", f"{self.root}/var/", text)
        if self.server is not None:
            text = re.sub(
                r"deploy@db\.example\.com:5432/(\w+)",
                lambda match: self.url_of(match[1]).split("://", 1)[1], text,
            )
        return text

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a pipeline step: DATABASE_URL is the target, the console scripts on PATH."""
        env = {key: value for key, value in os.environ.items()
               if key not in {"DATABASE_URL", "STOCKSBOT_DEBUG", "SQL_ECHO"}}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["DATABASE_URL"] = self.url
        env.update(extra or {})
        return env

    def run(self, command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (runbook text) through bash in the working directory."""
        return subprocess.run(
            [BASH, "-c", self.substitute(command)], cwd=self.cwd, env=self.environment(env),
            capture_output=True, text=True, timeout=120,
        )

    def start(self, command: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``command`` in the background (``exec``: the process is the command itself)."""
        return subprocess.Popen(
            [BASH, "-c", f"exec {self.substitute(command)}"], cwd=self.cwd, env=self.environment(env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def path(self, runbook_path: str) -> Path:
        """Where a runbook path (``/var/backups/x``, ``x.dump``) is on this site."""
        return self.cwd / self.substitute(runbook_path)

    def url_of(self, name: str) -> str:
        """The URL of the PostgreSQL database the runbook calls ``name`` (new and empty unless the target)."""
        if name not in self.databases:
            self.databases[name] = self.server.create()
        return self.server.url_for(self.databases[name])

    # -- the state of the target --

    def migrator(self, directory: Path | None = None) -> Any:
        from stocksbot.migrate import Migrator

        return Migrator(self.url, directory=directory)

    def downgrade(self, steps: int = 1) -> None:
        self.migrator().downgrade(steps)

    def upgrade(self) -> None:
        self.migrator().upgrade()

    def make_empty(self) -> None:
        """Turn the target into a database that was never migrated."""
        if self.engine == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
            return
        name = self.databases["stocksbot"]
        with self.server.admin() as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')

    @contextlib.contextmanager
    def connection(self, url: str | None = None) -> Iterator[Any]:
        """A plain driver connection to the target (autocommit), outside stocksbot."""
        if self.engine == "sqlite":
            conn: Any = sqlite3.connect(DatabaseURL.parse(url or self.url).sqlite_path or "", isolation_level=None)
        else:
            import psycopg

            conn = psycopg.connect(url or self.url, autocommit=True)
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, *statements: str) -> None:
        with self.connection() as conn:
            for statement in statements:
                conn.execute(statement)

    def tables(self) -> set[str]:
        sql = ("SELECT name FROM sqlite_master WHERE type = 'table'" if self.engine == "sqlite"
               else "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        with self.connection() as conn:
            return {row[0] for row in conn.execute(sql).fetchall()}

    def status_of(self, url: str) -> int:
        """The exit code of ``stocksbot db status`` on another database."""
        return self.run("stocksbot db status", env={"DATABASE_URL": url}).returncode

    def plant_lock_row(self, pid: int) -> None:
        """yoyo's lock row, as process ``pid`` would have left it."""
        self.execute(f"INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, '{LOCK_CTIME}', {int(pid)})")

    def process_lock_taken(self) -> bool:
        """Whether some run holds the lock that dies with its holder (advisory lock / flock)."""
        if self.engine == "sqlite":
            with open(f"{self.sqlite_path}.migrate.lock", "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(handle, fcntl.LOCK_UN)
                return False
        with self.connection() as conn:
            sql = f"SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {ADVISORY_LOCK_OBJID} AND granted"
            return conn.execute(sql).fetchone()[0] > 0

    @contextlib.contextmanager
    def process_lock_held(self) -> Iterator[None]:
        """Hold the lock a running ``db upgrade`` holds, from this test process."""
        if self.engine == "sqlite":
            with open(f"{self.sqlite_path}.migrate.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
            return
        from stocksbot.migrate import ADVISORY_LOCK_KEY

        with self.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            yield

    @contextlib.contextmanager
    def sqlite_writer(self) -> Iterator[None]:
        """A SQLite writer (the running bot) holding the database's write lock."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def upgrade_waiting_for_a_live_lock(self) -> Iterator[subprocess.Popen[str]]:
        """A real ``stocksbot db upgrade`` holding the process lock, waiting for a live lock row."""
        self.downgrade()
        self.plant_lock_row(os.getpid())  # this test process: alive, so not stale
        process = self.start("stocksbot db upgrade", env={"STOCKSBOT_MIGRATION_LOCK_TIMEOUT": "60"})
        try:
            wait_for(self.process_lock_taken, process)
            time.sleep(0.5)  # past connecting: polling yoyo's lock row
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)
            self.execute("DELETE FROM yoyo_lock")


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the command ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "the command never took the migration lock"
        time.sleep(0.05)


def dead_pid() -> int:
    """The pid of a process that has ended (what a killed run leaves in yoyo_lock)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def site(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    """The runbook's world on the engine under test, with a migrated target."""
    place = Site(engine, tmp_path, request)
    try:
        yield place
    finally:
        place.close()


def succeeded(done: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that must exit 0."""
    assert 0 == done.returncode, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- the scenarios: one per runbook command ------------------------------------------------------------

BACKUP = "/var/backups/stocksbot-before-upgrade.backup"
SQLITE_BACKUP = "/var/backups/stocksbot-before-upgrade.db"
PG_DUMP = "stocksbot-before-upgrade.dump"


def db_backup(site: Site, command: str) -> None:
    """Step 1: a backup file of the engine's kind; a second run refuses to overwrite it."""
    site.downgrade()  # before a deploy: a migration is pending
    target = site.path(BACKUP)

    out = succeeded(site.run(command))
    again = site.run(command)

    assert out.startswith(f"backed up {site.safe} to {target} (") and out.rstrip().endswith(" bytes)")
    magic = b"SQLite format 3\x00" if site.engine == "sqlite" else b"PGDMP"
    assert target.read_bytes().startswith(magic)
    assert 1 == again.returncode and "already exists" in again.stderr


def pg_dump(site: Site, command: str) -> None:
    """Step 1 with pg_dump: a custom-format archive in the working directory."""
    succeeded(site.run(command))

    assert site.path(PG_DUMP).read_bytes().startswith(b"PGDMP")


def pg_restore_list(site: Site, command: str) -> None:
    """Step 1's check of the dump: pg_restore lists every table."""
    backup(site.url, site.path(PG_DUMP))

    out = succeeded(site.run(command))

    assert all(f"TABLE public {table} " in out for table in CORE_TABLES | {"strategy_metrics"}), out


def sqlite3_backup(site: Site, command: str) -> None:
    """Step 1 with sqlite3: the copy is an up-to-date stocksbot database."""
    succeeded(site.run(command))

    assert 0 == site.status_of(f"sqlite:///{site.path(SQLITE_BACKUP)}")


def db_status(site: Site, command: str) -> None:
    """Steps 2 and 5: exit 3 listing the pending migration; after the upgrade, exit 0."""
    site.downgrade()
    pending = site.run(command)
    site.upgrade()
    current = site.run(command)

    assert 3 == pending.returncode, pending.stderr
    assert f"pending  {'-':<27}  {NEWEST}" in lines(pending.stdout)
    assert f"{len(MIGRATION_IDS) - 1} applied, 1 pending" == lines(pending.stdout)[-1]
    assert f"{len(MIGRATION_IDS)} applied, 0 pending" == lines(succeeded(current))[-1]


def db_status_json(site: Site, command: str) -> None:
    """Step 2: the same answer as JSON only, with the fields the runbook shows."""
    site.downgrade()

    done = site.run(command)

    assert (3, "") == (done.returncode, done.stderr)
    document = json.loads(done.stdout)
    assert {"database", "applied", "pending", "unknown", "migrations"} == set(document)
    assert (site.safe, len(MIGRATION_IDS) - 1, 1, 0) == (
        document["database"], document["applied"], document["pending"], document["unknown"])
    assert all({"id", "applied", "applied_at", "known"} == set(item) for item in document["migrations"])
    assert {"id": NEWEST, "applied": False, "applied_at": None, "known": True} == document["migrations"][-1]
    assert document["migrations"][0]["applied_at"].endswith("Z")


def db_upgrade_dry_run(site: Site, command: str) -> None:
    """Step 3: every pending migration's SQL, in order; nothing applied, only yoyo_lock created."""
    site.make_empty()

    out = succeeded(site.run(command))

    assert [f"-- migration: {mid}" for mid in MIGRATION_IDS] == re.findall(r"^-- migration: .*$", out, re.M)
    assert all(f"CREATE TABLE {table} (" in out for table in CORE_TABLES)
    assert {"yoyo_lock"} == site.tables()  # the runbook: read-only commands create yoyo_lock and nothing else
    assert 3 == site.run("stocksbot db status").returncode


def db_upgrade(site: Site, command: str) -> None:
    """Step 4: one line per applied migration and a summary; again, nothing to apply (exit 0)."""
    site.downgrade(2)

    out = succeeded(site.run(command))
    again = succeeded(site.run(command))

    assert [f"applied {mid}" for mid in MIGRATION_IDS[-2:]] == lines(out)[:2]
    assert f"2 migrations applied; {site.safe} is up to date" == lines(out)[2]
    assert f"nothing to apply: {site.safe} is up to date\n" == again
    assert 0 == site.run("stocksbot db status").returncode


def db_upgrade_backup(site: Site, command: str) -> None:
    """Step 4 with --backup: a backup at the default place when something is pending, none otherwise."""
    site.downgrade()

    out = succeeded(site.run(command))
    again = succeeded(site.run(command))

    if site.engine == "sqlite":  # the runbook: next to the database file
        pattern = rf"{re.escape(str(site.sqlite_path))}\.pre-upgrade-\w+\.backup"
    else:  # the runbook: <database>.pre-upgrade-<UTC time>.dump in the working directory
        pattern = rf"{site.databases['stocksbot']}\.pre-upgrade-\w+\.dump"
    written = re.fullmatch(rf"backed up {re.escape(site.safe)} to ({pattern})", lines(out)[0])
    assert written, lines(out)[0]
    assert (site.cwd / written[1]).is_file()
    assert f"applied {NEWEST}" == lines(out)[1]
    assert again.startswith("nothing to apply:") and "backed up" not in again


def db_history(site: Site, command: str) -> None:
    """Step 5: every apply and rollback, oldest first, with who."""
    site.downgrade()
    site.upgrade()

    rows = [line.split() for line in lines(succeeded(site.run(command)))[1:]]

    assert [("apply", mid) for mid in MIGRATION_IDS] + [("rollback", NEWEST), ("apply", NEWEST)] == [
        (row[1], row[2]) for row in rows]
    assert all("@" in row[3] for row in rows)


def db_history_json(site: Site, command: str) -> None:
    """Step 5: the history as JSON, with the fields the runbook names."""
    site.downgrade()
    site.upgrade()

    done = site.run(command)

    assert (0, "") == (done.returncode, done.stderr)
    entries = json.loads(done.stdout)["history"]
    assert all({"migration_id", "operation", "at", "username", "hostname"} == set(entry) for entry in entries)
    assert [("rollback", NEWEST), ("apply", NEWEST)] == [(e["operation"], e["migration_id"]) for e in entries[-2:]]
    assert all(entry["at"].endswith("Z") and entry["username"] and entry["hostname"] for entry in entries)


def drift_by_hand(site: Site) -> None:
    """The runbook's drift example: a column added and an index dropped by hand."""
    site.execute("ALTER TABLE orders ADD COLUMN note TEXT", "DROP INDEX ix_orders_account_created")


def db_check(site: Site, command: str) -> None:
    """Step 6: exit 0 on the migrated schema; exit 4 after a change by hand (the lines: MESSAGES)."""
    clean = succeeded(site.run(command))
    drift_by_hand(site)
    drifted = site.run(command)

    assert "ok: the schema is what the migrations create" in lines(clean)
    assert 4 == drifted.returncode
    assert "  column orders.note: in the database, not in the migrations (text NULL; added by hand?)" in lines(drifted.stdout)


def db_schema(site: Site, command: str) -> None:
    """Step 6: the live schema, every table, yoyo's left out."""
    out = succeeded(site.run(command))

    shown = set(re.findall(r"^table (\w+)$", out, re.M))
    assert CORE_TABLES | {"strategy_metrics"} == shown


def psql_lock_holders(site: Site, command: str) -> None:
    """Locking: the runbook's pg_locks query names a stocksbot run that holds the advisory lock."""
    idle = succeeded(site.run(command))
    with site.upgrade_waiting_for_a_live_lock():
        holders = succeeded(site.run(command))

    assert "" == idle
    assert 1 == len(lines(holders)) and "|stocksbot|" in holders, holders


def db_unlock(site: Site, command: str) -> None:
    """Stale lock: the row of a killed run is removed; with no row, it says so; exit 0 both times."""
    site.plant_lock_row(dead_pid())

    removed = succeeded(site.run(command))
    nothing = succeeded(site.run(command))

    assert f"removed the migration lock (yoyo_lock) on {site.safe}\n" == removed
    assert f"no migration lock was held on {site.safe}\n" == nothing


def db_downgrade(site: Site, command: str) -> None:
    """Rolling back: the newest (or ``--steps N`` newest) migrations, newest first; then status exits 3."""
    steps = int(re.search(r"--steps (\d+)", command)[1]) if "--steps" in command else 1

    out = succeeded(site.run(command))

    expected = [f"rolled back {mid}" for mid in reversed(MIGRATION_IDS[-steps:])]
    plural = "migration" if steps == 1 else "migrations"
    assert expected + [f"{steps} {plural} rolled back on {site.safe}"] == lines(out)
    assert 3 == site.run("stocksbot db status").returncode
    history = json.loads(succeeded(site.run("stocksbot db history --json")))["history"]
    assert [("rollback", line.removeprefix("rolled back ")) for line in expected] == [
        (e["operation"], e["migration_id"]) for e in history[-steps:]]


def db_restore(site: Site, command: str) -> None:
    """Rolling back by restoring step 1's backup: the database is back where the backup was taken."""
    site.downgrade()
    backup(site.url, site.path(BACKUP))
    site.upgrade()  # the release went out

    out = succeeded(site.run(command))

    assert f"restored {site.path(BACKUP)} into {site.safe}\n" == out
    assert 3 == site.run("stocksbot db status").returncode  # the backup's migrations: the newest pending


def db_verify(site: Site, command: str) -> None:
    """After a restore: exit 0 when the kept figures agree with the trades, 5 with one line per difference."""
    agree = succeeded(site.run(command))
    strategy = str(uuid.uuid4())
    site.execute(
        "INSERT INTO strategies (account_id, strategy_id, name, config, is_active, created_at, updated_at) "
        f"VALUES ('default', '{strategy}', 'runbook', '{{}}', {'1' if site.engine == 'sqlite' else 'TRUE'}, "
        "'2024-03-01T14:30:00.123456Z', '2024-03-01T14:30:00.123456Z')",
        f"INSERT INTO strategy_metrics (account_id, strategy_id, total_trades) VALUES ('default', '{strategy}', 1)",
    )
    differ = site.run(command)

    assert lines(agree)[-1].endswith("all agree with the trades")
    assert 5 == differ.returncode
    assert lines(differ.stdout)[0].startswith(f"strategy_metrics default/{strategy}: ")


def pg_restore_into_a_new_database(site: Site, command: str) -> None:
    """Restoring pg_dump's archive into a new database gives an up-to-date stocksbot database."""
    backup(site.url, site.path(PG_DUMP))

    succeeded(site.run(command))

    assert 0 == site.status_of(site.url_of("stocksbot_restored"))


def sqlite3_restore_into_a_new_file(site: Site, command: str) -> None:
    """Restoring sqlite3's backup into a new file gives an up-to-date stocksbot database."""
    backup(site.url, site.path(SQLITE_BACKUP))

    succeeded(site.run(command))

    assert 0 == site.status_of(f"sqlite:///{site.path('/var/lib/stocksbot/stocksbot-restored.db')}")


def yoyo_apply(site: Site, command: str) -> None:
    """Plain yoyo applies every migration to a new database; stocksbot sees it up to date."""
    site.make_empty()

    succeeded(site.run(command))

    assert CORE_TABLES <= site.tables()
    assert 0 == site.run("stocksbot db status").returncode


def yoyo_rollback(site: Site, command: str) -> None:
    """Plain yoyo rolls back exactly one migration; stocksbot sees it pending."""
    succeeded(site.run(command))

    status = site.run("stocksbot db status")
    assert 3 == status.returncode and f"{len(MIGRATION_IDS) - 1} applied, 1 pending" == lines(status.stdout)[-1]


PG_LOCK_QUERY_COMMAND = (
    'psql "postgresql://deploy@db.example.com:5432/stocksbot" -At -c "SELECT l.pid, a.application_name, '
    "a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE "
    "l.locktype = 'advisory' AND l.classid = 29556 AND l.objid = 1868786547 AND l.database = "
    '(SELECT oid FROM pg_database WHERE datname = current_database())"'
)

SCENARIOS: dict[str, Callable[[Site, str], None]] = {
    "stocksbot db backup /var/backups/stocksbot-before-upgrade.backup": db_backup,
    'pg_dump --format=custom --file=stocksbot-before-upgrade.dump "postgresql://deploy@db.example.com:5432/stocksbot"':
        pg_dump,
    "pg_restore --list stocksbot-before-upgrade.dump": pg_restore_list,
    "sqlite3 /var/lib/stocksbot/stocksbot.db \".backup '/var/backups/stocksbot-before-upgrade.db'\"": sqlite3_backup,
    "stocksbot db status": db_status,
    "stocksbot db status --json": db_status_json,
    "stocksbot db upgrade --dry-run": db_upgrade_dry_run,
    "stocksbot db upgrade": db_upgrade,
    "stocksbot db upgrade --backup": db_upgrade_backup,
    "stocksbot db history": db_history,
    "stocksbot db history --json": db_history_json,
    "stocksbot db check": db_check,
    "stocksbot db schema": db_schema,
    PG_LOCK_QUERY_COMMAND: psql_lock_holders,
    "stocksbot db unlock": db_unlock,
    "stocksbot db downgrade": db_downgrade,
    "stocksbot db downgrade --steps 2": db_downgrade,
    "stocksbot db restore /var/backups/stocksbot-before-upgrade.backup": db_restore,
    "stocksbot db verify": db_verify,
    'pg_restore --dbname="postgresql://deploy@db.example.com:5432/stocksbot_restored" stocksbot-before-upgrade.dump':
        pg_restore_into_a_new_database,
    "sqlite3 /var/lib/stocksbot/stocksbot-restored.db \".restore '/var/backups/stocksbot-before-upgrade.db'\"":
        sqlite3_restore_into_a_new_file,
    'yoyo apply --batch --no-config-file --database "postgresql+psycopg://deploy@db.example.com:5432/stocksbot" migrations/':
        yoyo_apply,
    'yoyo apply --batch --no-config-file --database "sqlite:////var/lib/stocksbot/stocksbot.db" migrations/': yoyo_apply,
    'yoyo rollback --batch --no-config-file --database "postgresql+psycopg://deploy@db.example.com:5432/stocksbot" migrations/':
        yoyo_rollback,
}


# --- the triggers: one per listed message ------------------------------------------------------------

Outcome = tuple[int, str]  # exit code, everything printed (stdout then stderr)


def outcome(done: subprocess.CompletedProcess[str]) -> Outcome:
    return done.returncode, done.stdout + done.stderr


def status_with(url: str | Callable[[Site], str] | None = None, **env: str) -> Callable[[Site], Outcome]:
    """``stocksbot db status`` with another DATABASE_URL and/or settings."""
    def trigger(site: Site) -> Outcome:
        extra = dict(env)
        if url is not None:
            extra["DATABASE_URL"] = url(site) if callable(url) else url
        return outcome(site.run("stocksbot db status", env=extra))
    return trigger


def bad_usage(command: str) -> Callable[[Site], Outcome]:
    return lambda site: outcome(site.run(command))


def in_process(make_message: Callable[[], BaseException]) -> Callable[[Site], Outcome]:
    """A message the CLI prints for an exception it cannot be made to meet here (exit 1, one line)."""
    return lambda site: (1, str(make_message()))


def auth_failure() -> BaseException:
    """What connect_error makes of libpq's refusal of a password (the test server trusts everyone)."""
    import psycopg

    from stocksbot.db import connect_error

    refusal = psycopg.OperationalError('connection failed: FATAL:  password authentication failed for user "deploy"')
    return connect_error(refusal, DatabaseURL.parse("postgresql://deploy:s3cret@127.0.0.1:5432/stocksbot"))


def auth_failure_with_sqlstate() -> BaseException:
    import psycopg

    from stocksbot.errors import translate

    return translate(psycopg.errors.InvalidPassword("password authentication failed"))


def missing_database(site: Site) -> Outcome:
    return status_with(site.server.url_for(f"stocksbot_no_such_database_{uuid.uuid4().hex[:8]}"))(site)


def missing_user(site: Site) -> Outcome:
    url = site.url_of("stocksbot_empty").replace("//postgres", f"//stocksbot_no_such_user_{uuid.uuid4().hex[:8]}", 1)
    return status_with(url)(site)


def no_create_privilege(site: Site) -> Outcome:
    """A deploy user who may not create tables in public (PostgreSQL 15's default), with a password in the URL."""
    role = f"stocksbot_runbook_{uuid.uuid4().hex[:8]}"
    empty = site.url_of("stocksbot_empty")
    with site.server.admin() as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        url = empty.replace("//postgres", f"//{role}:s3cret", 1)
        code, output = outcome(site.run("stocksbot db upgrade", env={"DATABASE_URL": url}))
    finally:
        with site.server.admin() as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
    assert "s3cret" not in output
    return code, output


def failing_migration(site: Site) -> Outcome:
    """Objects made by hand are in the way of the newest migration: its own SQL, run outside yoyo."""
    site.downgrade()
    sql = (migrations_dir() / f"{NEWEST}.sql").read_text()
    with site.connection() as conn:
        conn.executescript(sql) if site.engine == "sqlite" else conn.execute(sql)
    return outcome(site.run("stocksbot db upgrade"))


def busy_unlock(site: Site) -> Outcome:
    with site.sqlite_writer():
        return outcome(site.run("stocksbot db unlock", env={"STOCKSBOT_SQLITE_BUSY_TIMEOUT": "0.2"}))


def still_pending_after_upgrade(site: Site) -> Outcome:
    """Migrations whose record disappears during the run (here: the second deletes the first's)."""
    directory = site.cwd / "odd-migrations"
    directory.mkdir()
    (directory / "0001.create-probe.sql").write_text("CREATE TABLE runbook_probe (id INTEGER);\n")
    (directory / "0002.forget-probe.sql").write_text(
        "-- depends: 0001.create-probe\n\nDELETE FROM _yoyo_migration WHERE migration_id = '0001.create-probe';\n")
    site.make_empty()
    from stocksbot.errors import MigrationError

    with pytest.raises(MigrationError) as raised:
        site.migrator(directory).upgrade()
    return 1, str(raised.value)


def lock_held_by_another_run(site: Site) -> Outcome:
    with site.process_lock_held():
        return outcome(site.run("stocksbot db upgrade", env={"STOCKSBOT_MIGRATION_LOCK_TIMEOUT": "1"}))


def live_lock_row(site: Site) -> Outcome:
    site.plant_lock_row(os.getpid())
    return outcome(site.run("stocksbot db upgrade", env={"STOCKSBOT_MIGRATION_LOCK_TIMEOUT": "1"}))


def busy_writer_during_upgrade(site: Site) -> Outcome:
    with site.sqlite_writer():
        return outcome(site.run("stocksbot db upgrade", env={
            "STOCKSBOT_MIGRATION_LOCK_TIMEOUT": "1", "STOCKSBOT_SQLITE_BUSY_TIMEOUT": "0.2"}))


def stale_lock_row(site: Site) -> Outcome:
    site.downgrade()
    site.plant_lock_row(dead_pid())
    return outcome(site.run("stocksbot db upgrade"))


def migrated_by_a_newer_release(site: Site) -> Outcome:
    site.execute("INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
                 "VALUES ('runbook', '9999.from-a-newer-release', '2024-03-01 14:30:00')")
    return outcome(site.run("stocksbot db status"))


def backup_twice(site: Site) -> Outcome:
    succeeded(site.run(f"stocksbot db backup {BACKUP}"))
    return outcome(site.run(f"stocksbot db backup {BACKUP}"))


def backup_without_client_tools(site: Site) -> Outcome:
    return outcome(site.run(f"stocksbot db backup {BACKUP}", env={"PATH": str(BIN)}))


def backup_to_a_name_too_long(site: Site) -> Outcome:
    return outcome(site.run(f"stocksbot db backup /var/backups/{'b' * 300}"))


def upgrade_without_room_for_the_lock_file(site: Site) -> Outcome:
    """A database name that fits, with no room left for its ``.migrate.lock`` suffix."""
    return outcome(site.run("stocksbot db upgrade", env={"DATABASE_URL": f"sqlite:///{site.root}/{'d' * 250}"}))


def restore_of_nothing(site: Site) -> Outcome:
    return outcome(site.run("stocksbot db restore /var/backups/no-such.backup"))


def interrupted(site: Site) -> Outcome:
    """Ctrl-C while ``db upgrade`` waits for the lock."""
    with site.upgrade_waiting_for_a_live_lock() as process:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    return process.returncode, out + err


def unexpected_error(site: Site) -> Outcome:
    """A bug (not a StocksbotError) inside a command, as the CLI reports it."""
    from stocksbot.migrate import Migrator

    def broken(self: Migrator) -> None:
        raise RuntimeError("boom")

    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.delenv("STOCKSBOT_DEBUG", raising=False)
        patch.setattr(Migrator, "status", broken)
        code = main(["db", "status", "--database-url", site.url])
    return code, stderr.getvalue()


def drift(site: Site) -> Outcome:
    drift_by_hand(site)
    return outcome(site.run("stocksbot db check"))


@dataclass(frozen=True)
class Trigger:
    """How to make stocksbot print a message: ``make`` returns (exit code, output); on which engines."""

    make: Callable[[Site], Outcome]
    exit_code: int
    engines: tuple[str, ...] = ("sqlite", "postgres")


NO_SERVER = ("sqlite",)  # needs no database server: run once, on the cheap engine
PG_ONLY = ("postgres",)
SQLITE_ONLY = ("sqlite",)
UNREACHABLE = "postgresql://deploy:s3cret@127.0.0.1:1/stocksbot"
LOCK_ROW_LINE = ("migrations are locked by process <pid> since <time> (yoyo_lock); if no migration is running, "
                 "clear it with `stocksbot db unlock`")

MESSAGES: dict[str, Trigger] = {
    # the URL or the settings
    "unknown database URL scheme 'mysql': use sqlite:///path or postgresql://user@host/db":
        Trigger(status_with("mysql://deploy@db.example.com/stocksbot"), 1, NO_SERVER),
    "not a database URL: '...' (expected sqlite:///path or postgresql://...)":
        Trigger(status_with("stocksbot.db"), 1, NO_SERVER),
    "SQLite URL needs a path: sqlite:///relative.db or sqlite:////absolute.db, got '...'":
        Trigger(status_with("sqlite://"), 1, NO_SERVER),
    "an in-memory SQLite database only exists inside one process: use db.migrate()":
        Trigger(status_with("sqlite:///:memory:"), 1, NO_SERVER),
    "cannot open SQLite database sqlite:///<path>: directory <directory> does not exist":
        Trigger(status_with(lambda site: f"sqlite:///{site.root}/missing/stocksbot.db"), 1, NO_SERVER),
    "cannot open the SQLite database (SQLITE_CANTOPEN)":
        Trigger(status_with(lambda site: f"sqlite:///{site.root}/var/backups"), 1, NO_SERVER),  # a directory
    "STOCKSBOT_MIGRATION_LOCK_TIMEOUT='abc' is not a number":
        Trigger(status_with(STOCKSBOT_MIGRATION_LOCK_TIMEOUT="abc"), 1, NO_SERVER),
    "STOCKSBOT_MIGRATION_LOCK_TIMEOUT='-1' must not be negative":
        Trigger(status_with(STOCKSBOT_MIGRATION_LOCK_TIMEOUT="-1"), 1, NO_SERVER),
    "STOCKSBOT_SQLITE_SYNCHRONOUS='X': use NORMAL, FULL or EXTRA":
        Trigger(status_with(STOCKSBOT_SQLITE_SYNCHRONOUS="x"), 1, NO_SERVER),
    "STOCKSBOT_POOL_MAX_SIZE must be at least STOCKSBOT_POOL_MIN_SIZE and 1":
        Trigger(status_with(STOCKSBOT_POOL_MIN_SIZE="5", STOCKSBOT_POOL_MAX_SIZE="2"), 1, NO_SERVER),
    "stocksbot db status: error: argument --database-url: must not be empty":
        Trigger(bad_usage('stocksbot db status --database-url ""'), 2, NO_SERVER),
    "stocksbot db downgrade: error: argument --steps: expected a whole number, got 'x'":
        Trigger(bad_usage("stocksbot db downgrade --steps x"), 2, NO_SERVER),
    # reaching PostgreSQL
    "cannot connect to PostgreSQL at <host>:<port>/<database>: Is the server running on that host and accepting "
    "TCP/IP connections?": Trigger(status_with(UNREACHABLE), 1, NO_SERVER),
    "cannot connect to PostgreSQL at <host>:<port>/<database>: database does not exist":
        Trigger(missing_database, 1, PG_ONLY),
    "cannot connect to PostgreSQL at <host>:<port>/<database>: user '<user>' does not exist":
        Trigger(missing_user, 1, PG_ONLY),
    "cannot connect to PostgreSQL at <host>:<port>/<database>: authentication failed for user 'deploy'":
        Trigger(in_process(auth_failure), 1, NO_SERVER),
    "authentication failed (SQLSTATE 28P01)": Trigger(in_process(auth_failure_with_sqlstate), 1, NO_SERVER),
    "cannot create the migration tables on postgresql://<user>:***@<host>:<port>/<database>: the user needs CREATE "
    "privilege on the schema (PostgreSQL 15 no longer grants it on public)": Trigger(no_create_privilege, 1, PG_ONLY),
    # applying
    "migration <id> failed on <url> and was rolled back: <driver error>": Trigger(failing_migration, 1),
    "migration failed on <url>: database is busy (SQLITE_BUSY); retry": Trigger(busy_unlock, 1, SQLITE_ONLY),
    "migrations still pending after upgrade: <ids>": Trigger(still_pending_after_upgrade, 1),
    "another migration run holds the lock; gave up after 300s (STOCKSBOT_MIGRATION_LOCK_TIMEOUT)":
        Trigger(lock_held_by_another_run, 1, PG_ONLY),
    "stocksbot: error: another migration run holds the lock; gave up after 300s (STOCKSBOT_MIGRATION_LOCK_TIMEOUT)":
        Trigger(lock_held_by_another_run, 1, PG_ONLY),
    "another migration run holds /var/lib/stocksbot/stocksbot.db.migrate.lock; gave up after 300s "
    "(STOCKSBOT_MIGRATION_LOCK_TIMEOUT)": Trigger(lock_held_by_another_run, 1, SQLITE_ONLY),
    "cannot open the migration lock file <path>: <reason>": Trigger(upgrade_without_room_for_the_lock_file, 1, NO_SERVER),
    LOCK_ROW_LINE: Trigger(live_lock_row, 1),
    "stocksbot: error: migrations are locked by process 4242 since 2024-03-01 14:30:00.123456 (yoyo_lock); "
    "if no migration is running, clear it with `stocksbot db unlock`": Trigger(live_lock_row, 1),
    "the database stayed busy for 300s (STOCKSBOT_MIGRATION_LOCK_TIMEOUT): another connection, such as the running "
    "bot, held its write lock; no migration holds yoyo_lock, so there is nothing to unlock: rerun, or stop the "
    "writers for the migration": Trigger(busy_writer_during_upgrade, 1, SQLITE_ONLY),
    "clearing a stale migration lock left by process <pid> at <time>": Trigger(stale_lock_row, 0),
    "the database has migrations this stocksbot does not know (<ids>): it was migrated by a newer version; "
    "upgrade stocksbot": Trigger(migrated_by_a_newer_release, 1),
    # checking (the example of step 6)
    "drift: 2 difference(s) from the migrations": Trigger(drift, 4),
    "column orders.note: in the database, not in the migrations (text NULL; added by hand?)": Trigger(drift, 4),
    "index ix_orders_account_created on orders: missing from the database ((account_id, created_at); dropped?)":
        Trigger(drift, 4),
    "stocksbot: schema drift: 2 difference(s) on sqlite:////var/lib/stocksbot/stocksbot.db":
        Trigger(drift, 4, SQLITE_ONLY),
    # backups
    "backup path <path> already exists: choose another path or overwrite it explicitly": Trigger(backup_twice, 1),
    "pg_dump not found on PATH: install the PostgreSQL client tools (e.g. `apt install postgresql-client`) at least "
    "as new as the server, or add them to PATH": Trigger(backup_without_client_tools, 1, PG_ONLY),
    "no backup file at <path>": Trigger(restore_of_nothing, 1),
    "cannot write the backup <path>: <reason>": Trigger(backup_to_a_name_too_long, 1),
    # the command itself
    "interrupted": Trigger(interrupted, 130),
    "unexpected <ErrorType>: ... (run with STOCKSBOT_DEBUG=1 for a traceback)": Trigger(unexpected_error, 1, NO_SERVER),
}


# --- the tests ------------------------------------------------------------------------------------------


def engine_param(engine: str, key: str) -> Any:
    label = re.sub(r"\s+", " ", key)[:70]
    return pytest.param(engine, key, id=f"{engine}-{label}", marks=ENGINE_MARKS[engine])


def command_params() -> list[Any]:
    return [engine_param(engine, command) for command in runbook_commands() for engine in engines_of(command)]


def message_params() -> list[Any]:
    params = []
    for listed in listed_messages():
        trigger = MESSAGES.get(listed.message)
        params += [engine_param(engine, listed.message) for engine in (trigger.engines if trigger else ("sqlite",))]
    return params


def test_the_runbook_shows_the_deploy_commands():
    """The extraction finds the pipeline's commands (so an empty parse cannot pass everything)."""
    commands = runbook_commands()

    for expected in ("stocksbot db status", "stocksbot db upgrade", "stocksbot db upgrade --dry-run",
                     "stocksbot db downgrade", "stocksbot db unlock", "stocksbot db backup", "stocksbot db restore"):
        assert any(command.startswith(expected) for command in commands), expected
    assert any(command.startswith("yoyo apply --batch") for command in commands)
    assert len(listed_messages()) >= 30


def test_every_command_has_a_scenario():
    """Each command of the runbook's shell blocks has a scenario here, and each scenario a command there."""
    commands = set(runbook_commands())

    assert set() == commands - set(SCENARIOS), "runbook commands that no test runs"
    assert set() == set(SCENARIOS) - commands, "scenarios for commands the runbook no longer shows"


def test_every_message_has_a_trigger():
    """Each message the runbook lists has a trigger here, and each trigger a message there."""
    messages = {listed.message for listed in listed_messages()}

    assert set() == messages - set(MESSAGES), "runbook messages that no test makes stocksbot print"
    assert set() == set(MESSAGES) - messages, "triggers for messages the runbook no longer lists"


@pytest.mark.parametrize(("engine", "command"), command_params())
def test_runbook_command(site: Site, engine: str, command: str):
    """The command, run as the runbook shows it, in the state of its step, does and prints what the runbook says."""
    scenario = SCENARIOS.get(command)
    if scenario is None:
        pytest.fail(f"the runbook command {command!r} has no scenario in tests/test_runbook.py SCENARIOS")

    scenario(site, command)


@pytest.mark.parametrize(("engine", "message"), message_params())
def test_runbook_message(site: Site, engine: str, message: str):
    """stocksbot really prints the message, with the exit code the runbook gives for it."""
    trigger = MESSAGES.get(message)
    if trigger is None:
        pytest.fail(f"the runbook message {message!r} has no trigger in tests/test_runbook.py MESSAGES")
    stated = {listed.exit_code for listed in listed_messages() if listed.message == message} - {None}

    code, output = trigger.make(site)

    assert printed(site.substitute(message), output), f"not printed:\n{message}\ngot (exit {code}):\n{output}"
    assert trigger.exit_code == code, output
    assert stated <= {trigger.exit_code}, f"the runbook says exit {stated}, stocksbot exits {trigger.exit_code}"
    assert "s3cret" not in output and "Traceback" not in output


def gate_script() -> str:
    """Step 2's shell block: the deploy gate on `db status`."""
    blocks = [block for block in shell_blocks(RUNBOOK.read_text()) if 'case "$status" in' in block]
    assert 1 == len(blocks), "the runbook's step 2 shows one gate script"
    return blocks[0]


def test_the_deploy_gate_of_step_2_runs_as_a_script(site: Site):
    """Step 2's block, run whole: upgrade when pending, nothing when current, stop on any failure."""
    script = gate_script()
    site.downgrade()
    pending = site.run(script)
    site.upgrade()
    current = site.run(script)
    broken = site.run(script, env={"DATABASE_URL": UNREACHABLE})

    assert (0, "migrations pending: upgrading") == (pending.returncode, lines(pending.stdout)[-1])
    assert (0, "schema up to date") == (current.returncode, lines(current.stdout)[-1])
    assert (1, "") == (broken.returncode, broken.stdout)
    assert "stocksbot db status failed (exit 1): stopping the deploy" == lines(broken.stderr)[-1]


def test_every_stocksbot_command_in_the_prose_parses():
    """Commands the runbook names in its text (`stocksbot db upgrade --backup`) are real ones."""
    spans = {span for span in code_spans(RUNBOOK.read_text()) if re.match(r"stocksbot db \w", span)}
    spans = {span for span in spans if ": error:" not in span}

    assert spans
    for span in sorted(spans):
        words = [word for word in span.split() if word != "..."]
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as stop:
            pytest.fail(f"the runbook names `{span}`, which stocksbot refuses (exit {stop.code})")


# --- the reading of the runbook itself ------------------------------------------------------------------


SAMPLE = '''
Text with `stocksbot db status` in it.

```sh
status=0
stocksbot db status || status=$?
case "$status" in
    0) echo "up to date" ;;
    *) echo "failed" >&2; exit 1 ;;
esac
psql "postgresql://x" -c "SELECT 1; SELECT 2 | 3"
```

```text
not a command
```

## Troubleshooting

| message | cause |
|---|---|
| `first <thing>`, `second ...` (exit 2) | why |
| `` with `ticks` inside `` (a warning; exits 0) | why |

    stocksbot: error: an example line 300s
'''


def test_commands_are_found_in_shell_blocks_only_without_shell_plumbing():
    """Assignments, case labels, echo and exit are not commands; quoted `;` and `|` do not split a command."""
    assert ["stocksbot db status", 'psql "postgresql://x" -c "SELECT 1; SELECT 2 | 3"'] == runbook_commands(SAMPLE)


def test_messages_come_from_the_troubleshooting_tables_and_indented_blocks():
    """Every code span of a table row's first cell, with the exit code it states, and each indented line."""
    assert [
        Listed("first <thing>", 2), Listed("second ...", 2), Listed("with `ticks` inside", 0),
        Listed("stocksbot: error: an example line 300s", None),
    ] == listed_messages(SAMPLE)


def test_a_message_matches_whatever_its_placeholders_and_numbers_stand_for():
    """`...` and `<x>` stand for any text and digits for any number; the rest must be exact."""
    assert printed("gave up after 300s (<why>)", "stocksbot: error: gave up after 1s (STOCKSBOT_X)\n")
    assert printed("stocksbot: error: x ... y", "stocksbot: error: x 1 2 y")
    assert not printed("gave up after 300s", "stocksbot: error: gave up after 1 s")
    assert not printed("gave up", "stocksbot: error: gave up after 1s")
