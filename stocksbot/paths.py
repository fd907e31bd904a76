"""Where the SQL lives: the repository root in a checkout, a copy inside the installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _sql_dir(name: str) -> Path:
    shipped = _PACKAGE / "_sql" / name  # inside an installed wheel
    if shipped.is_dir():
        return shipped
    checkout = _PACKAGE.parent / name  # a source checkout or an editable install
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"stocksbot cannot find its {name}/ directory (looked in {shipped} and {checkout})")


def queries_dir() -> Path:
    """The directory of named queries (``queries/*.sql``)."""
    return _sql_dir("queries")


def migrations_dir() -> Path:
    """The directory of yoyo migrations (``migrations/*.sql``)."""
    return _sql_dir("migrations")


def migration_ids() -> list[str]:
    """The ids of the migrations this code knows (file names without ``.sql``), in order."""
    return sorted(
        path.name[: -len(".sql")]
        for path in migrations_dir().glob("*.sql")
        if not path.name.endswith(".rollback.sql") and not path.name.startswith("post-apply")
    )
