"""The wheel carries queries/ and migrations/, and an installed stocksbot works with no checkout.

The build is ``python -m build --wheel --no-isolation`` (hatchling from the test
extra). The slow tests install that wheel into a fresh venv (dependencies from the
package index) and run its ``stocksbot`` console script from a directory outside
the checkout, so nothing can be found by accident in the source tree.
Also here: ``.ci/run`` runs exactly the README's test command.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stocksbot.db import DatabaseURL

REPO = Path(__file__).resolve().parent.parent
SQL_DIRS = ("queries", "migrations")
CORE_QUERY_FILES = {"positions.sql", "orders.sql", "trades.sql", "strategies.sql", "config.sql"}
CORE_TABLES = {"strategies", "orders", "positions", "trades", "config"}
CI_SCRIPT = REPO / ".ci" / "run"


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a clean environment (no DATABASE_URL, no PYTHONPATH, no active venv)."""
    environment = {
        key: value for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "STOCKSBOT_DEBUG"}
    }
    environment.update(env or {})
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=900)


def repo_sql_files() -> set[str]:
    """Every file under the repository's queries/ and migrations/, as its path inside the wheel."""
    return {
        f"stocksbot/_sql/{directory}/{path.relative_to(REPO / directory).as_posix()}"
        for directory in SQL_DIRS
        for path in (REPO / directory).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout."""
    dist = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)], cwd=REPO)
    assert 0 == built.returncode, built.stdout + built.stderr
    (path,) = dist.glob("stocksbot-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel (and its dependencies) installed; returns its bin/ directory."""
    venv = tmp_path_factory.mktemp("venv")
    created = run([sys.executable, "-m", "venv", str(venv)], cwd=venv)
    assert 0 == created.returncode, created.stderr
    installing = run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], cwd=venv)
    assert 0 == installing.returncode, installing.stdout + installing.stderr
    return venv / "bin"


# --- the wheel -------------------------------------------------------------------------------


def test_the_wheel_ships_every_query_and_migration_file(wheel: Path):
    """Every file of queries/ and migrations/ is in the wheel under stocksbot/_sql/, and nothing else is."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("stocksbot/_sql/")}

    assert repo_sql_files() == shipped
    assert {f"stocksbot/_sql/queries/{name}" for name in CORE_QUERY_FILES} <= shipped
    assert any(name.endswith(".rollback.sql") for name in shipped)
    assert "stocksbot/_sql/migrations/SHA256SUMS" in shipped


def test_the_wheel_declares_the_console_script(wheel: Path):
    """The wheel installs a `stocksbot` console script pointing at stocksbot.cli:main."""
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()

    assert "[console_scripts]" in text
    assert "stocksbot = stocksbot.cli:main" in text


# --- the installed package, far from the checkout -----------------------------------------


@pytest.mark.slow
def test_the_installed_script_migrates_a_sqlite_database_outside_the_checkout(installed: Path, tmp_path: Path):
    """From the installed wheel: `stocksbot db upgrade` then `db status` (exit 0) create the five tables."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    url = f"sqlite:///{tmp_path / 'x.db'}"

    upgraded = run([str(installed / "stocksbot"), "db", "upgrade", "--database-url", url], cwd=elsewhere)
    status = run([str(installed / "stocksbot"), "db", "status", "--database-url", url], cwd=elsewhere)

    assert 0 == upgraded.returncode, upgraded.stdout + upgraded.stderr
    assert 0 == status.returncode, status.stdout + status.stderr
    with sqlite3.connect(tmp_path / "x.db") as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert CORE_TABLES <= names
    assert [] == list(elsewhere.iterdir())  # nothing written to the working directory


@pytest.mark.slow
@pytest.mark.postgres
def test_the_installed_script_migrates_a_postgres_database(installed: Path, pg_server, tmp_path: Path):
    """From the installed wheel, `stocksbot db upgrade` migrates a new PostgreSQL database too."""
    name = pg_server.create()
    url = pg_server.url_for(name)
    try:
        upgraded = run([str(installed / "stocksbot"), "db", "upgrade", "--database-url", url], cwd=tmp_path)
        status = run([str(installed / "python"), "-m", "stocksbot", "db", "status", "--database-url", url], cwd=tmp_path)
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            names = {row[0] for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )}
    finally:
        pg_server.drop(name)

    assert 0 == upgraded.returncode, upgraded.stdout + upgraded.stderr
    assert 0 == status.returncode, status.stdout + status.stderr
    assert CORE_TABLES <= names
    assert DatabaseURL.parse(url).safe in status.stdout


@pytest.mark.slow
def test_the_installed_package_reads_its_sql_from_site_packages(installed: Path, tmp_path: Path):
    """Inside the venv, queries_dir() and migrations_dir() point into site-packages and hold every file."""
    probe = (
        "import json, sysconfig\n"
        "from importlib.resources import files\n"
        "from stocksbot.paths import migrations_dir, queries_dir\n"
        "sql = files('stocksbot') / '_sql'\n"
        "print(json.dumps({\n"
        "    'purelib': sysconfig.get_paths()['purelib'],\n"
        "    'queries': str(queries_dir()), 'migrations': str(migrations_dir()),\n"
        "    'resources': sorted(f'{d}/{p.name}' for d in ('queries', 'migrations') for p in (sql / d).iterdir()"
        " if p.is_file() and p.read_text()),\n"
        "}))\n"
    )
    probed = run([str(installed / "python"), "-c", probe], cwd=tmp_path)

    assert 0 == probed.returncode, probed.stderr
    found = json.loads(probed.stdout)
    site = Path(found["purelib"]).resolve()
    assert Path(found["queries"]).resolve() == site / "stocksbot" / "_sql" / "queries"
    assert Path(found["migrations"]).resolve() == site / "stocksbot" / "_sql" / "migrations"
    top_level = {
        f"{directory}/{path.name}" for directory in SQL_DIRS for path in (REPO / directory).iterdir() if path.is_file()
    }
    assert top_level == set(found["resources"])


# --- CI -------------------------------------------------------------------------------------------


def test_the_ci_script_is_an_executable_strict_bash_script():
    """.ci/run is executable, runs under `set -euo pipefail`, and is valid bash."""
    text = CI_SCRIPT.read_text()

    assert os.access(CI_SCRIPT, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text.splitlines()
    assert 0 == run(["bash", "-n", str(CI_SCRIPT)], cwd=REPO).returncode


def test_the_ci_script_runs_exactly_the_readme_test_command():
    """The README shows one test command, and .ci/run runs that very line."""
    readme_commands = [
        line.strip() for line in (REPO / "README.md").read_text().splitlines()
        if "python -m pytest" in line and not line.lstrip().startswith(("#", "`.ci"))
    ]
    ci_lines = [line.strip() for line in CI_SCRIPT.read_text().splitlines()]

    assert 1 == len(readme_commands), readme_commands
    assert readme_commands[0].startswith("python3 -m venv .venv && ")
    assert readme_commands[0] in ci_lines, "update .ci/run to run the README's test command verbatim"
    assert "export CI=true" in ci_lines
    assert "export STOCKSBOT_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres" in ci_lines
