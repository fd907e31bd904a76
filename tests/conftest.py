"""Fixtures: every test that takes ``db`` (or ``database_url``) runs on SQLite and on PostgreSQL.

PostgreSQL tests use the server named by ``STOCKSBOT_TEST_POSTGRES_URL`` (an
admin URL, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``); each test
gets its own throwaway database, created from a migrated template and dropped
afterwards. Without the variable they skip with a reason, except under CI
(``CI`` set), where a missing or unreachable server fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import stocksbot
from stocksbot.db import DatabaseURL

pytest_plugins = ["query_coverage"]  # --query-coverage: fail when a named query never ran

PG_ENV = "STOCKSBOT_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}

ENGINES = [
    pytest.param("sqlite", marks=pytest.mark.sqlite, id="sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
]


# --- PostgreSQL server -------------------------------------------------------------


class PostgresServer:
    """Creates and drops throwaway databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.admin_url = admin_url
        self._psycopg = psycopg
        self.template: str | None = None

    def admin(self):  # noqa: ANN201 - a psycopg connection
        return self._psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def url_for(self, name: str) -> str:
        parsed = DatabaseURL.parse(self.admin_url)
        params = dict(parsed.pg_params or {})
        auth = params.get("user", "postgres")
        if "password" in params:
            auth += f":{params['password']}"
        return f"postgresql://{auth}@{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"

    def create(self, *, template: str | None = None) -> str:
        name = f"stocksbot_test_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            if template:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The PostgreSQL test server, or a skip (a failure under CI) when it is not configured or reachable."""
    url = os.environ.get(PG_ENV)
    if not url:
        if IN_CI:
            pytest.fail(f"{PG_ENV} is not set under CI: PostgreSQL tests must run")
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped (set it to an admin URL to run them)")
    server = PostgresServer(url)
    try:
        server.admin().close()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported the same way
        message = f"PostgreSQL test server {DatabaseURL.parse(url).safe} is unreachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    template = server.create()
    with stocksbot.connect(server.url_for(template)) as db:
        db.migrate()
    server.template = template
    yield server
    server.drop(template)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that tests copy instead of migrating each time."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    with stocksbot.connect(f"sqlite:///{path}") as db:
        db.migrate()
        with db.connection() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


# --- per-test databases ---------------------------------------------------------------


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine under test: "sqlite" or "postgres"."""
    return request.param


@pytest.fixture
def empty_database_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new database with no tables (not migrated), on the engine under test."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.create()
    try:
        yield server.url_for(name)
    finally:
        server.drop(name)


@pytest.fixture
def database_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, fully migrated database on the engine under test."""
    if engine == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "stocksbot.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.create(template=server.template)
    try:
        yield server.url_for(name)
    finally:
        server.drop(name)


@pytest.fixture
def db(database_url: str) -> Iterator[stocksbot.Database]:
    """An open, migrated :class:`stocksbot.Database` on the engine under test."""
    database = stocksbot.connect(database_url)
    try:
        yield database
    finally:
        database.close()
