"""Applied migrations are immutable: migrations/SHA256SUMS pins every file, and the names follow the rules.

yoyo identifies a migration by its file name only, so an edit to an applied file
would go unnoticed and databases would silently disagree. The manifest is the
``sha256sum`` output over ``migrations/*.sql``; refresh it only when adding a new
migration::

    cd migrations && LC_ALL=C sha256sum *.sql > SHA256SUMS
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from yoyo import read_migrations

from stocksbot.paths import migrations_dir

MIGRATIONS = migrations_dir()
MANIFEST = "SHA256SUMS"
FORWARD_NAME = re.compile(r"^(?P<number>\d{4})\.(?P<verb>[a-z]+)-(?P<object>[a-z0-9]+(?:-[a-z0-9]+)*)\.sql$")
ROLLBACK_SUFFIX = ".rollback.sql"
MANIFEST_LINE = re.compile(r"^(?P<digest>[0-9a-f]{64})  (?P<name>[^\s/]+)$")

IMMUTABLE = (
    "applied migrations are immutable: revert the edit and put the change in a new migration "
    "(NNNN.verb-object.sql with its .rollback.sql and `-- depends:` on the previous one)"
)
REFRESH = "cd migrations && LC_ALL=C sha256sum *.sql > SHA256SUMS"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_problems(directory: Path) -> list[str]:
    """Every way the files of ``directory`` disagree with its SHA256SUMS, as readable messages."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return [f"{manifest} is missing; create it with `{REFRESH}`"]
    problems: list[str] = []
    pinned: dict[str, str] = {}
    names_in_order: list[str] = []
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        match = MANIFEST_LINE.match(line)
        if match is None:
            problems.append(f"{MANIFEST} line {number} is not `<sha256>  <file name>`: {line!r}")
            continue
        if match["name"] in pinned:
            problems.append(f"{MANIFEST} lists {match['name']} twice")
        pinned[match["name"]] = match["digest"]
        names_in_order.append(match["name"])
    if names_in_order != sorted(names_in_order):
        problems.append(f"{MANIFEST} is not sorted by file name; regenerate it with `{REFRESH}`")
    present = {path.name: path for path in directory.glob("*.sql")}
    for name in sorted(present):
        if name not in pinned:
            problems.append(
                f"{name} is not in {MANIFEST}: a new migration must be added to the manifest "
                f"(`{REFRESH}`); if it is an edit of an applied migration, {IMMUTABLE}"
            )
        elif sha256(present[name]) != pinned[name]:
            problems.append(f"{name} differs from its checksum in {MANIFEST}: {IMMUTABLE}")
    for name in sorted(set(pinned) - set(present)):
        problems.append(f"{name} is in {MANIFEST} but missing from migrations/: {IMMUTABLE}")
    return problems


def forward_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.sql") if not path.name.endswith(ROLLBACK_SUFFIX))


def leading_comments(path: Path) -> list[str]:
    """The comment lines before the first statement: the only place yoyo reads directives from."""
    lines = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("--"):
            break
        lines.append(line.strip())
    return lines


# --- the real manifest --------------------------------------------------------------


def test_every_migration_matches_the_manifest():
    """Each migrations/*.sql is listed in SHA256SUMS with its current content hash, and nothing else is."""
    problems = manifest_problems(MIGRATIONS)

    assert [] == problems, "\n".join(problems)


def test_manifest_covers_every_sql_file_and_nothing_else():
    """The manifest names exactly the .sql files of migrations/, forward and rollback alike."""
    listed = {MANIFEST_LINE.match(line)["name"] for line in (MIGRATIONS / MANIFEST).read_text().splitlines()}

    assert {path.name for path in MIGRATIONS.glob("*.sql")} == listed


# --- the check itself catches edits ---------------------------------------------------


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A scratch copy of migrations/ with its manifest, to tamper with."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target


def test_an_edited_migration_is_reported_as_immutable(migrations_copy: Path):
    """Changing one byte of an applied migration fails the check, saying to write a new migration instead."""
    edited = migrations_copy / "0001.create-strategies.sql"
    edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")

    problems = manifest_problems(migrations_copy)

    assert 1 == len(problems)
    assert "0001.create-strategies.sql differs from its checksum" in problems[0]
    assert "applied migrations are immutable" in problems[0]
    assert "new migration" in problems[0]


def test_a_file_missing_from_the_manifest_is_reported(migrations_copy: Path):
    """A .sql file without a manifest line fails the check and names the command that adds it."""
    (migrations_copy / "0099.add-something.sql").write_text("-- depends: 0005.create-config\nSELECT 1;\n")

    problems = manifest_problems(migrations_copy)

    assert 1 == len(problems)
    assert "0099.add-something.sql is not in SHA256SUMS" in problems[0]
    assert "sha256sum" in problems[0]
    assert "applied migrations are immutable" in problems[0]


def test_a_deleted_migration_is_reported(migrations_copy: Path):
    """Removing an applied migration file fails the check: applied history cannot be rewritten."""
    (migrations_copy / "0005.create-config.rollback.sql").unlink()

    problems = manifest_problems(migrations_copy)

    assert ["0005.create-config.rollback.sql is in SHA256SUMS but missing from migrations/: " + IMMUTABLE] == problems


def test_a_malformed_or_unsorted_manifest_is_reported(migrations_copy: Path):
    """Manifest lines must be `sha256sum` output, sorted by name."""
    manifest = migrations_copy / MANIFEST
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([*reversed(lines), "not a checksum line"]) + "\n")

    problems = manifest_problems(migrations_copy)

    assert any(f"line {len(lines) + 1} is not `<sha256>  <file name>`" in problem for problem in problems)
    assert any("not sorted" in problem for problem in problems)


# --- naming and dependencies ----------------------------------------------------------------


def test_migration_files_are_named_nnnn_verb_object():
    """Every forward migration is `NNNN.verb-object.sql`, numbered 0001, 0002, ... without gaps."""
    forwards = forward_files(MIGRATIONS)
    bad = [path.name for path in forwards if FORWARD_NAME.match(path.name) is None]
    numbers = [int(FORWARD_NAME.match(path.name)["number"]) for path in forwards if FORWARD_NAME.match(path.name)]

    assert [] == bad, f"migration names must be NNNN.verb-object.sql: {bad}"
    assert list(range(1, len(forwards) + 1)) == numbers


def test_every_migration_has_a_rollback_and_every_rollback_a_migration():
    """Each NNNN.verb-object.sql has a NNNN.verb-object.rollback.sql, and no rollback is orphaned."""
    forwards = {path.name.removesuffix(".sql") for path in forward_files(MIGRATIONS)}
    rollbacks = {path.name.removesuffix(ROLLBACK_SUFFIX) for path in MIGRATIONS.glob(f"*{ROLLBACK_SUFFIX}")}

    assert set() == forwards - rollbacks, "migrations without a .rollback.sql"
    assert set() == rollbacks - forwards, "rollback files without a migration"


def test_every_migration_after_the_first_depends_on_the_previous_one():
    """`-- depends:` in the leading comment block names exactly the previous migration (0001 has none)."""
    ids = [path.name.removesuffix(".sql") for path in forward_files(MIGRATIONS)]
    for previous, path in zip([None, *ids], forward_files(MIGRATIONS)):
        directives = [line for line in leading_comments(path) if line.startswith("-- depends:")]
        if previous is None:
            assert [] == directives, f"{path.name} is the first migration and depends on nothing"
        else:
            assert [f"-- depends: {previous}"] == directives, f"{path.name} must depend on {previous}"


def test_yoyo_reads_the_same_dependency_chain():
    """yoyo itself parses the chain 0001 <- 0002 <- ... from the files, so the directives are effective."""
    migrations = list(read_migrations(str(MIGRATIONS)))
    for migration in migrations:
        migration.load()
    ids = [migration.id for migration in migrations]

    assert sorted(ids) == ids
    assert [set()] + [{previous} for previous in ids[:-1]] == [
        {dependency.id for dependency in migration.depends} for migration in migrations
    ]
