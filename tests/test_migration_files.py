"""stocksbot.migration_files: migrations read without sqlparse, to exactly what yoyo's own reader makes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlparse
from yoyo import read_migrations

from stocksbot import migration_files
from stocksbot.paths import migrations_dir

MIGRATION_FILES = sorted(migrations_dir().glob("*.sql"))

TRICKY_TEXTS = [
    "SELECT 1; -- same line\n SELECT 'a;b';\n/* x; */ SELECT 2",
    "CREATE TABLE t (a TEXT); -- one\n-- two\nCREATE INDEX i ON t (a);\n",
    "x;\n\n-- after a blank line\n",
    "x; --a\r\n--b\r\ny;",
    "x;\t-- a\n  -- b\n\n-- c\ny;",
    "x; /* block */ y;",
    "SELECT 'it''s; fine'; SELECT \"odd;\"\"name\"; z",
    "SELECT CASE WHEN a THEN 1 ELSE 0 END AS b; SELECT 2;",
    "a;--c",
    "",
    "   \n  ",
]


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda path: path.name)
def test_every_migration_file_splits_exactly_as_sqlparse_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert sqlparse.split(text) == migration_files.split_sql(text)


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_quotes_comments_and_blank_lines_split_as_sqlparse_does(text: str) -> None:
    assert sqlparse.split(text) == migration_files.split_sql(text)


@pytest.mark.parametrize("text", [
    "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;",
    "CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE y SET n = n + 1; END;",
    "# a MySQL comment; still a comment\nSELECT 1;",
])
def test_what_the_scanner_does_not_handle_is_left_to_sqlparse(text: str) -> None:
    assert migration_files.split_sql(text) is None


def _steps(migration) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    def flat(steps):  # type: ignore[no-untyped-def]
        for step in steps:
            if hasattr(step, "step"):  # a TransactionWrapper
                yield from flat([step.step])
            elif hasattr(step, "steps"):  # a StepGroup
                yield from flat(step.steps)
            else:
                yield (step._apply, step._rollback)
    return list(flat(migration.steps))


def test_loaded_migrations_equal_what_yoyo_loads_itself() -> None:
    """Steps (apply and rollback SQL), dependencies, transactionality and doc of every migration."""
    ours, theirs = read_migrations(str(migrations_dir())), read_migrations(str(migrations_dir()))
    for migration in ours:
        migration_files.load(migration)
        assert migration.loaded, migration.id  # split here, not by sqlparse
    for migration in theirs:
        migration.load()
    assert [m.id for m in theirs] == [m.id for m in ours]
    for mine, yoyos in zip(ours, theirs):
        assert _steps(mine) and _steps(yoyos) == _steps(mine), mine.id
        assert {d.id for d in yoyos.depends} == {d.id for d in mine.depends}, mine.id
        assert (yoyos.use_transactions, yoyos.module.__doc__) == (mine.use_transactions, mine.module.__doc__), mine.id


def test_read_lists_what_yoyo_lists_each_migration_loaded() -> None:
    ours, theirs = migration_files.read(str(migrations_dir())), read_migrations(str(migrations_dir()))
    assert sorted((m.id, m.path) for m in theirs) == sorted((m.id, m.path) for m in ours)
    assert len(ours) >= 7 and all(m.loaded for m in ours)


def test_a_python_migration_directory_goes_to_yoyos_reader(tmp_path: Path) -> None:
    (tmp_path / "0001.a.sql").write_text("CREATE TABLE a (n INTEGER);\n")
    (tmp_path / "0002.b.py").write_text("from yoyo import step\nsteps = [step('CREATE TABLE b (n INTEGER)')]\n")
    assert ["0001.a", "0002.b"] == sorted(m.id for m in migration_files.read(str(tmp_path)))


def test_a_file_the_scanner_cannot_split_is_loaded_by_yoyo(tmp_path: Path) -> None:
    (tmp_path / "0001.trigger.sql").write_text(
        "CREATE TABLE x (n INTEGER);\nCREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE x SET n = 1; END;\n"
    )
    (migration,) = read_migrations(str(tmp_path))
    migration_files.load(migration)
    assert not migration.loaded
    migration.load()  # yoyo's own reader (sqlparse) keeps the trigger body whole
    assert 2 == len(_steps(migration))
