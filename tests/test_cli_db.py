"""`stocksbot db ...`: migrations from the command line, as a deploy pipeline runs them.

Most tests call ``main([...])`` in-process (capsys); the ones about exit codes,
stderr and locks run the real thing, ``python -m stocksbot``, in a subprocess.
The commands and messages of docs/migrations.md are run by tests/test_runbook.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from stocksbot.cli import main
from stocksbot.db import DatabaseURL
from stocksbot.paths import migrations_dir
from stocksbot.values import timestamp_from_db

CORE_TABLES = {"strategies", "orders", "positions", "trades", "config"}
MIGRATION_IDS = sorted(
    path.name[: -len(".sql")]
    for path in migrations_dir().glob("*.sql")
    if not path.name.endswith(".rollback.sql") and not path.name.startswith("post-apply")
)
SECRET = "s3cret"
UNREACHABLE = f"postgresql://postgres:{SECRET}@127.0.0.1:1/x"
PG_LOCK_QUERY = (  # shown in docs/migrations.md: who holds the migration advisory lock
    "SELECT l.pid, a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = 29556 "
    "AND l.objid = 1868786547 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient DATABASE_URL or debug switch leaks into the command under test."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STOCKSBOT_DEBUG", raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``stocksbot *argv`` in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, program: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m stocksbot *argv`` (or ``program``) in a subprocess, outside the checkout."""
    environment = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "STOCKSBOT_DEBUG"}}
    environment.update(env or {})
    command = (program or [sys.executable, "-m", "stocksbot"]) + list(argv)
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def error_line(err: str) -> str:
    """The single ``stocksbot: error:`` line of stderr (fails if there is any other line)."""
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got:\n{err}"
    assert lines[0].startswith("stocksbot: error: "), lines[0]
    return lines[0]


@contextmanager
def raw_connection(url: str) -> Iterator[Any]:
    """A plain driver connection (autocommit), independent of stocksbot.Database's own checks."""
    parsed = DatabaseURL.parse(url)
    if parsed.dialect == "sqlite":
        conn = sqlite3.connect(parsed.sqlite_path or "", isolation_level=None)
    else:
        import psycopg

        conn = psycopg.connect(url, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def tables(url: str) -> set[str]:
    """The table names of the database at ``url``."""
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if DatabaseURL.parse(url).dialect == "sqlite"
        else "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    with raw_connection(url) as conn:
        return {row[0] for row in conn.execute(sql).fetchall()}


def insert_lock_row(url: str, pid: int) -> None:
    """Leave yoyo's lock row behind as if process ``pid`` were migrating."""
    with raw_connection(url) as conn:
        conn.execute(f"INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, CURRENT_TIMESTAMP, {int(pid)})")


@contextmanager
def migration_lock_held(url: str) -> Iterator[None]:
    """Hold the lock a running ``db upgrade`` holds: the PG advisory lock or the SQLite flock."""
    parsed = DatabaseURL.parse(url)
    if parsed.dialect == "sqlite":
        with open(f"{parsed.sqlite_path}.migrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        return
    import psycopg

    from stocksbot.migrate import ADVISORY_LOCK_KEY

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        yield


def lock_holders(url: str, cwd: Path) -> str:
    """The runbook's `psql ... pg_locks` query, run against ``url`` (PostgreSQL only)."""
    if DatabaseURL.parse(url).dialect != "postgresql":
        return ""
    done = run(url, "-At", "-c", PG_LOCK_QUERY, cwd=cwd, program=["psql"])
    assert 0 == done.returncode, done.stderr
    return done.stdout


# --- upgrade ------------------------------------------------------------------------------


def test_upgrade_creates_the_five_tables(empty_database_url: str, capsys: pytest.CaptureFixture[str]):
    """`db upgrade` on a new database applies every migration, one line each, and creates the five tables."""
    code, out, err = cli(capsys, "db", "upgrade", "--database-url", empty_database_url)

    assert (0, "") == (code, err)
    lines = out.splitlines()
    assert [f"applied {migration_id}" for migration_id in MIGRATION_IDS] == lines[:-1]
    assert lines[-1].startswith(f"{len(MIGRATION_IDS)} migrations applied;")
    assert CORE_TABLES <= tables(empty_database_url)


def test_upgrade_of_an_up_to_date_database_applies_nothing(database_url: str, capsys: pytest.CaptureFixture[str]):
    """A second `db upgrade` succeeds and says there is nothing to apply."""
    code, out, _ = cli(capsys, "db", "upgrade", "--database-url", database_url)

    assert 0 == code
    assert out.startswith("nothing to apply:")


def test_dry_run_prints_the_create_table_sql_and_applies_nothing(empty_database_url: str, capsys: pytest.CaptureFixture[str]):
    """`db upgrade --dry-run` prints every pending migration's SQL and leaves the database without tables."""
    code, out, _ = cli(capsys, "db", "upgrade", "--dry-run", "--database-url", empty_database_url)

    assert 0 == code
    for table in CORE_TABLES:
        assert f"CREATE TABLE {table} (" in out
    assert [f"-- migration: {migration_id}" for migration_id in MIGRATION_IDS] == re.findall(r"^-- migration: .*$", out, re.M)
    assert not CORE_TABLES & tables(empty_database_url)
    assert 3 == cli(capsys, "db", "status", "--database-url", empty_database_url)[0]


def test_dry_run_prints_only_the_pending_migrations(database_url: str, capsys: pytest.CaptureFixture[str]):
    """After downgrading to 0004, the dry run shows only the newer migrations, and they stay pending."""
    newer = MIGRATION_IDS[MIGRATION_IDS.index("0005.create-config"):]
    cli(capsys, "db", "downgrade", "--steps", str(len(newer)), "--database-url", database_url)

    code, out, _ = cli(capsys, "db", "upgrade", "--dry-run", "--database-url", database_url)

    assert 0 == code
    assert [f"-- migration: {m}" for m in newer] == re.findall(r"^-- migration: .*$", out, re.M)
    assert "CREATE TABLE config (" in out and "CREATE TABLE strategies (" not in out
    assert "config" not in tables(database_url)


def test_dry_run_of_an_up_to_date_database_prints_nothing_to_apply(database_url: str, capsys: pytest.CaptureFixture[str]):
    """With nothing pending, the dry run prints one SQL comment saying so."""
    code, out, _ = cli(capsys, "db", "upgrade", "--dry-run", "--database-url", database_url)

    assert 0 == code
    assert out.startswith("-- nothing to apply:") and 1 == len(out.splitlines())


# --- status and history --------------------------------------------------------------------


def test_status_exits_0_when_every_migration_is_applied(database_url: str, capsys: pytest.CaptureFixture[str]):
    """`db status` lists each migration as applied with its time, and exits 0."""
    code, out, _ = cli(capsys, "db", "status", "--database-url", database_url)

    assert 0 == code
    rows = [line.split() for line in out.splitlines() if line.startswith(("applied ", "pending "))]
    assert MIGRATION_IDS == [row[2] for row in rows]
    assert {"applied"} == {row[0] for row in rows}
    assert all(timestamp_from_db(row[1]) for row in rows)
    assert out.splitlines()[-1] == f"{len(MIGRATION_IDS)} applied, 0 pending"


def test_status_exits_3_with_a_pending_migration(database_url: str, capsys: pytest.CaptureFixture[str]):
    """After `db downgrade`, `db status` marks the newest migration pending and exits 3."""
    assert 0 == cli(capsys, "db", "downgrade", "--database-url", database_url)[0]

    code, out, _ = cli(capsys, "db", "status", "--database-url", database_url)

    assert 3 == code
    assert f"pending  {'-':<27}  {MIGRATION_IDS[-1]}" in out.splitlines()
    assert out.splitlines()[-1] == f"{len(MIGRATION_IDS) - 1} applied, 1 pending"


def test_status_json_lists_ids_and_applied(database_url: str, capsys: pytest.CaptureFixture[str]):
    """`db status --json` prints only JSON: every id, applied or not, and when."""
    cli(capsys, "db", "downgrade", "--database-url", database_url)

    code, out, err = cli(capsys, "db", "status", "--json", "--database-url", database_url)

    assert (3, "") == (code, err)
    document = json.loads(out)
    assert MIGRATION_IDS == [item["id"] for item in document["migrations"]]
    assert [True] * (len(MIGRATION_IDS) - 1) + [False] == [item["applied"] for item in document["migrations"]]
    assert all(timestamp_from_db(item["applied_at"]) for item in document["migrations"][:-1])
    assert None is document["migrations"][-1]["applied_at"]
    assert (len(MIGRATION_IDS) - 1, 1) == (document["applied"], document["pending"])


def test_status_of_an_empty_database_lists_every_migration_pending(empty_database_url: str, capsys: pytest.CaptureFixture[str]):
    """A database never migrated is not an error: every migration is pending, exit 3."""
    code, out, err = cli(capsys, "db", "status", "--json", "--database-url", empty_database_url)

    assert (3, "") == (code, err)
    assert [False] * len(MIGRATION_IDS) == [item["applied"] for item in json.loads(out)["migrations"]]


def test_history_lists_applies_and_rollbacks(database_url: str, capsys: pytest.CaptureFixture[str]):
    """`db history` shows every apply and rollback in order, with when and who, as text and as JSON."""
    cli(capsys, "db", "downgrade", "--steps", "2", "--database-url", database_url)

    code, out, _ = cli(capsys, "db", "history", "--database-url", database_url)
    json_code, json_out, json_err = cli(capsys, "db", "history", "--json", "--database-url", database_url)

    assert (0, 0, "") == (code, json_code, json_err)
    entries = json.loads(json_out)["history"]
    expected = [("apply", m) for m in MIGRATION_IDS] + [("rollback", m) for m in reversed(MIGRATION_IDS[-2:])]
    assert expected == [(entry["operation"], entry["migration_id"]) for entry in entries]
    assert all(timestamp_from_db(entry["at"]) and entry["username"] and entry["hostname"] for entry in entries)
    text_rows = [line.split()[1:3] for line in out.splitlines()[1:]]
    assert [[operation, migration_id] for operation, migration_id in expected] == text_rows


def test_history_of_an_empty_database_is_empty(empty_database_url: str, capsys: pytest.CaptureFixture[str]):
    """A database never migrated has an empty history, not an error."""
    code, out, _ = cli(capsys, "db", "history", "--json", "--database-url", empty_database_url)

    assert 0 == code
    assert [] == json.loads(out)["history"]


# --- downgrade -----------------------------------------------------------------------------


def test_downgrade_to_the_bottom_and_upgrade_back(database_url: str, capsys: pytest.CaptureFixture[str]):
    """Repeated `db downgrade` rolls back newest first down to no tables; `db upgrade` brings them back."""
    rolled_back = []
    for _ in MIGRATION_IDS:
        code, out, _ = cli(capsys, "db", "downgrade", "--database-url", database_url)
        assert 0 == code
        rolled_back.append(out.splitlines()[0].removeprefix("rolled back "))
    code, out, _ = cli(capsys, "db", "downgrade", "--database-url", database_url)

    assert list(reversed(MIGRATION_IDS)) == rolled_back
    assert 0 == code and out.startswith("nothing to roll back:")
    assert not CORE_TABLES & tables(database_url)
    assert 0 == cli(capsys, "db", "upgrade", "--database-url", database_url)[0]
    assert CORE_TABLES <= tables(database_url)
    assert 0 == cli(capsys, "db", "status", "--database-url", database_url)[0]


def test_downgrade_steps_rolls_back_the_newest_n(database_url: str, capsys: pytest.CaptureFixture[str]):
    """`db downgrade --steps N` rolls back the N newest migrations (down to 0002) and drops their tables."""
    steps = len(MIGRATION_IDS) - MIGRATION_IDS.index("0003.create-positions")
    code, out, _ = cli(capsys, "db", "downgrade", "--steps", str(steps), "--database-url", database_url)

    assert 0 == code
    assert [f"rolled back {m}" for m in reversed(MIGRATION_IDS[-steps:])] == out.splitlines()[:steps]
    assert {"strategies", "orders"} == CORE_TABLES & tables(database_url)


# --- locks ----------------------------------------------------------------------------------


def test_a_lock_held_by_a_live_process_fails_until_db_unlock(database_url: str, tmp_path: Path):
    """A yoyo lock row of a live process stops `db upgrade` with one line naming `db unlock`; unlock clears it."""
    run("db", "downgrade", "--database-url", database_url, cwd=tmp_path)
    insert_lock_row(database_url, os.getpid())  # this test process: alive, so not stale

    blocked = run("db", "upgrade", "--database-url", database_url, cwd=tmp_path,
                  env={"STOCKSBOT_MIGRATION_LOCK_TIMEOUT": "1"})
    unlocked = run("db", "unlock", "--database-url", database_url, cwd=tmp_path)
    again = run("db", "unlock", "--database-url", database_url, cwd=tmp_path)
    upgraded = run("db", "upgrade", "--database-url", database_url, cwd=tmp_path)

    assert 1 == blocked.returncode
    assert f"migrations are locked by process {os.getpid()}" in error_line(blocked.stderr)
    assert "stocksbot db unlock" in blocked.stderr
    assert (0, "removed the migration lock") == (unlocked.returncode, unlocked.stdout[:26])
    assert (0, "no migration lock was held") == (again.returncode, again.stdout[:26])
    assert 0 == upgraded.returncode and f"applied {MIGRATION_IDS[-1]}" in upgraded.stdout


def test_a_lock_left_by_a_dead_process_is_cleared_automatically(database_url: str, tmp_path: Path):
    """A lock row whose process is gone (a killed run) is cleared by the next `db upgrade`, with a warning."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run("db", "downgrade", "--database-url", database_url, cwd=tmp_path)
    insert_lock_row(database_url, dead.pid)

    upgraded = run("db", "upgrade", "--database-url", database_url, cwd=tmp_path)

    assert 0 == upgraded.returncode, upgraded.stderr
    assert f"clearing a stale migration lock left by process {dead.pid}" in upgraded.stderr
    assert f"applied {MIGRATION_IDS[-1]}" in upgraded.stdout


def test_a_second_pipeline_gives_up_cleanly_after_the_lock_timeout(database_url: str, tmp_path: Path):
    """While another run holds the migration lock, `db upgrade` waits STOCKSBOT_MIGRATION_LOCK_TIMEOUT, then fails in one line."""
    run("db", "downgrade", "--database-url", database_url, cwd=tmp_path)
    with migration_lock_held(database_url):
        blocked = run(
            "db", "upgrade", "--database-url", database_url, cwd=tmp_path,
            env={"STOCKSBOT_MIGRATION_LOCK_TIMEOUT": "1"},
        )
        holders = lock_holders(database_url, tmp_path)
    after = run("db", "upgrade", "--database-url", database_url, cwd=tmp_path)

    assert 1 == blocked.returncode
    line = error_line(blocked.stderr)
    assert "another migration run holds" in line and "STOCKSBOT_MIGRATION_LOCK_TIMEOUT" in line
    assert "" == blocked.stdout
    assert 0 == after.returncode and f"applied {MIGRATION_IDS[-1]}" in after.stdout
    if DatabaseURL.parse(database_url).dialect == "postgresql":
        assert 1 == len(holders.splitlines()), holders  # the runbook's pg_locks query finds the holder


# --- errors -----------------------------------------------------------------------------------


def test_unknown_url_scheme_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """`mysql://x` is refused with one line naming the scheme, exit 1, in-process and as a subprocess."""
    code, out, err = cli(capsys, "db", "status", "--database-url", "mysql://x")
    process = run("db", "upgrade", "--database-url", "mysql://x", cwd=tmp_path)

    assert (1, "") == (code, out)
    assert "unknown database URL scheme 'mysql'" in error_line(err)
    assert (1, "") == (process.returncode, process.stdout)
    assert "unknown database URL scheme 'mysql'" in error_line(process.stderr)


@pytest.mark.parametrize("command", [
    ["db", "upgrade"], ["db", "upgrade", "--dry-run"], ["db", "status"], ["db", "status", "--json"],
    ["db", "history"], ["db", "downgrade"], ["db", "unlock"],
])
def test_unreachable_server_is_one_line_without_the_password(command: list[str], tmp_path: Path):
    """An unreachable PostgreSQL server: exit 1, one line naming host and port, the password nowhere."""
    process = run(*command, "--database-url", UNREACHABLE, cwd=tmp_path)

    assert (1, "") == (process.returncode, process.stdout)
    line = error_line(process.stderr)
    assert "127.0.0.1:1/x" in line or '"127.0.0.1", port 1 failed' in line
    assert SECRET not in process.stdout + process.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "status"]])
def test_missing_database_on_the_server_is_one_line(pg_server, command: list[str], tmp_path: Path):
    """A database that does not exist on the real server: exit 1, one line saying so."""
    url = pg_server.url_for("stocksbot_no_such_database")

    process = run(*command, "--database-url", url, cwd=tmp_path)

    assert (1, "") == (process.returncode, process.stdout)
    line = error_line(process.stderr)
    assert "does not exist" in line and "stocksbot_no_such_database" in line


@pytest.mark.postgres
def test_a_user_without_create_privilege_gets_one_line_and_no_tables(pg_server, tmp_path: Path):
    """A deploy user who may not create tables (PostgreSQL 15's default on public): exit 1, one line, nothing created."""
    role = f"stocksbot_test_nocreate_{os.getpid()}"
    name = pg_server.create()
    with pg_server.admin() as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        url = pg_server.url_for(name).replace("//postgres", f"//{role}", 1)
        process = run("db", "upgrade", "--database-url", url, cwd=tmp_path)
        left = tables(pg_server.url_for(name))
    finally:
        pg_server.drop(name)
        with pg_server.admin() as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')

    assert (1, "") == (process.returncode, process.stdout)
    assert f"cannot create the migration tables on postgresql://{role}@" in error_line(process.stderr)
    assert "CREATE privilege" in error_line(process.stderr)
    assert not CORE_TABLES & left


@pytest.mark.sqlite
@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "status"], ["db", "downgrade"]])
def test_sqlite_path_in_a_missing_directory_is_one_line(command: list[str], tmp_path: Path):
    """A SQLite file in a directory that does not exist: exit 1, one line naming that directory, nothing created."""
    missing = tmp_path / "missing"

    process = run(*command, "--database-url", f"sqlite:///{missing}/stocksbot.db", cwd=tmp_path)

    assert (1, "") == (process.returncode, process.stdout)
    line = error_line(process.stderr)
    assert str(missing) in line and "unexpected" not in line
    assert not missing.exists()


@pytest.mark.parametrize("argv", [
    ["db", "downgrade", "--steps", "x"],
    ["db", "downgrade", "--steps", "0"],
    ["db", "status", "--database-url", ""],
    ["db", "frobnicate"],
    ["db"],
    [],
])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]):
    """Bad usage is argparse's: exit 2, usage on stderr, nothing on stdout."""
    code, out, err = cli(capsys, *argv)

    assert (2, "") == (code, out)
    assert err.startswith("usage: stocksbot")


def test_bad_usage_exits_2_as_a_process(tmp_path: Path):
    """`stocksbot db downgrade --steps x` as a real process exits 2 and names the bad argument."""
    process = run("db", "downgrade", "--steps", "x", cwd=tmp_path)

    assert (2, "") == (process.returncode, process.stdout)
    assert "argument --steps: expected a whole number, got 'x'" in process.stderr


def test_an_error_under_json_leaves_stdout_empty(capsys: pytest.CaptureFixture[str]):
    """With --json, a failure prints nothing on stdout, so a pipeline never parses half a document."""
    code, out, err = cli(capsys, "db", "status", "--json", "--database-url", UNREACHABLE)

    assert (1, "") == (code, out)
    error_line(err)


@pytest.mark.postgres
def test_a_password_in_the_url_is_never_printed(pg_server, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Every db command prints the URL with `***` for the password (trust auth lets any password in)."""
    name = pg_server.create()
    url = pg_server.url_for(name).replace("postgres@", f"postgres:{SECRET}@", 1)
    try:
        outputs = []
        for command in (["upgrade"], ["status"], ["status", "--json"], ["history"], ["history", "--json"],
                        ["downgrade"], ["upgrade", "--dry-run"], ["unlock"]):
            code, out, err = cli(capsys, "db", *command, "--database-url", url)
            assert 0 == code, err
            outputs.append(out + err)
    finally:
        pg_server.drop(name)

    assert not [output for output in outputs if SECRET in output]
    assert "postgres:***@" in outputs[0]


@pytest.mark.parametrize("argv", [
    ["sql", "explain", "--", "--database-url", f"postgresql://u:{SECRET}@127.0.0.1:1/db"],
    ["db", "status", f"postgresql://u:{SECRET}@127.0.0.1:1/db"],
    ["orders", f"--database-url=postgresql://u:p@{SECRET}@h/db", "--bogus", f"postgres://x:{SECRET}@h/db"],
    ["db", "downgrade", "--steps", f"postgresql://u:{SECRET}@h/db"],
])
def test_a_usage_error_that_quotes_a_url_hides_its_password(argv: list[str], capsys: pytest.CaptureFixture[str]):
    """argparse quotes the arguments it refuses; a password inside one is shown as ``***``."""
    code, out, err = cli(capsys, *argv)

    assert (2, "") == (code, out)
    assert SECRET not in err
    assert ":***@" in err.splitlines()[-1]


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
):
    """A bug (not a StocksbotError) still gives one line and exit 1; STOCKSBOT_DEBUG=1 re-raises it."""
    from stocksbot.migrate import Migrator

    def broken(self: Migrator) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Migrator, "status", broken)
    url = f"sqlite:///{tmp_path / 'x.db'}"

    code, out, err = cli(capsys, "db", "status", "--database-url", url)
    monkeypatch.setenv("STOCKSBOT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["db", "status", "--database-url", url])

    assert (1, "") == (code, out)
    assert "unexpected RuntimeError: boom (run with STOCKSBOT_DEBUG=1 for a traceback)" in error_line(err)


def test_an_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """Ctrl-C during a command: exit 130 with one line, no traceback."""
    from stocksbot.migrate import Migrator

    def interrupted(self: Migrator) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Migrator, "upgrade", interrupted)

    code, _, err = cli(capsys, "db", "upgrade", "--database-url", f"sqlite:///{tmp_path / 'x.db'}")

    assert 130 == code
    assert "stocksbot: error: interrupted" == error_line(err)


# --- the command line itself ----------------------------------------------------------------


@pytest.mark.sqlite
def test_the_database_url_comes_from_the_flag_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
):
    """--database-url beats DATABASE_URL, which beats sqlite:///./stocksbot.db in the working directory."""
    monkeypatch.chdir(tmp_path)
    assert 0 == cli(capsys, "db", "upgrade")[0]
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    assert 0 == cli(capsys, "db", "upgrade")[0]
    assert 0 == cli(capsys, "db", "upgrade", "--database-url", "sqlite:///from-flag.db")[0]

    for name in ("stocksbot.db", "from-env.db", "from-flag.db"):
        assert CORE_TABLES <= tables(f"sqlite:///{tmp_path / name}"), name


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]):
    """`stocksbot --version` prints the package version and exits 0."""
    from importlib.metadata import version

    assert (0, f"stocksbot {version('stocksbot')}\n", "") == cli(capsys, "--version")


def test_help_does_not_load_yoyo_or_the_postgres_driver(tmp_path: Path):
    """`stocksbot --help` imports neither yoyo nor psycopg: the migration code loads only for db commands."""
    probe = (
        "import sys; from stocksbot.cli import main; code = main(['--help']); "
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'yoyo', 'psycopg', 'psycopg_pool'}))"
    )
    process = run(cwd=tmp_path, program=[sys.executable, "-c", probe])

    assert "db" in process.stdout
    assert process.stdout.splitlines()[-1] == "0 []"


def test_the_console_script_and_python_m_agree(tmp_path: Path):
    """The installed `stocksbot` script and `python -m stocksbot` are the same program."""
    script = Path(sys.executable).parent / "stocksbot"

    assert run("--version", cwd=tmp_path).stdout == run("--version", cwd=tmp_path, program=[str(script)]).stdout


# --- the same migrations without stocksbot, and the runbook ------------------------------------


def test_plain_yoyo_applies_and_rolls_back_the_same_migrations(empty_database_url: str, tmp_path: Path):
    """`yoyo apply --batch` on migrations/ gives the schema stocksbot sees as up to date; `yoyo rollback` undoes one."""
    yoyo = str(Path(sys.executable).parent / "yoyo")
    yoyo_url = DatabaseURL.parse(empty_database_url).yoyo_url()
    assert yoyo_url.startswith(("postgresql+psycopg://", "sqlite:///"))

    applied = run("apply", "--batch", "--no-config-file", "--database", yoyo_url, str(migrations_dir()),
                  cwd=tmp_path, program=[yoyo])
    status = run("db", "status", "--database-url", empty_database_url, cwd=tmp_path)
    tables_after_apply = tables(empty_database_url)
    rolled_back = run("rollback", "--batch", "--no-config-file", "--database", yoyo_url, str(migrations_dir()),
                      cwd=tmp_path, program=[yoyo])
    after = run("db", "status", "--database-url", empty_database_url, cwd=tmp_path)

    assert 0 == applied.returncode, applied.stderr
    assert 0 == status.returncode, status.stdout + status.stderr
    assert CORE_TABLES <= tables_after_apply
    assert 0 == rolled_back.returncode, rolled_back.stderr
    assert 3 == after.returncode and f"pending  {'-':<27}  {MIGRATION_IDS[-1]}" in after.stdout


def test_the_backup_and_restore_commands_of_the_runbook_work(database_url: str, tmp_path: Path, request: pytest.FixtureRequest):
    """The runbook's backup (pg_dump / sqlite3 .backup) restores (pg_restore / sqlite3 .restore) to an up-to-date database."""
    parsed = DatabaseURL.parse(database_url)
    if parsed.dialect == "sqlite":
        backup, restored = tmp_path / "backup.db", tmp_path / "restored.db"
        done = run(parsed.sqlite_path or "", f".backup '{backup}'", cwd=tmp_path, program=["sqlite3"])
        back = run(str(restored), f".restore '{backup}'", cwd=tmp_path, program=["sqlite3"])
        restored_url = f"sqlite:///{restored}"
        status = run("db", "status", "--database-url", restored_url, cwd=tmp_path)
        assert (0, 0) == (done.returncode, back.returncode), done.stderr + back.stderr
        assert CORE_TABLES <= tables(restored_url)
        assert 0 == status.returncode, status.stdout + status.stderr
        return
    server = request.getfixturevalue("pg_server")
    backup = tmp_path / "stocksbot-before-upgrade.dump"
    done = run("--format=custom", f"--file={backup}", database_url, cwd=tmp_path, program=["pg_dump"])
    listing = run("--list", str(backup), cwd=tmp_path, program=["pg_restore"])
    name = server.create()
    try:
        restored_url = server.url_for(name)
        back = run(f"--dbname={restored_url}", str(backup), cwd=tmp_path, program=["pg_restore"])
        status = run("db", "status", "--database-url", restored_url, cwd=tmp_path)
        restored_tables = tables(restored_url)
    finally:
        server.drop(name)

    assert (0, 0) == (done.returncode, back.returncode), done.stderr + back.stderr
    assert all(f"TABLE public {table} " in listing.stdout for table in CORE_TABLES), listing.stdout
    assert CORE_TABLES <= restored_tables
    assert 0 == status.returncode, status.stdout + status.stderr
