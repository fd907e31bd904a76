"""pytest plugin: ``--query-coverage`` fails the run when a named query of queries/ never ran.

Every call of a named query goes through stocksbot's aiosql adapter, which counts it
in ``stocksbot.sqlfiles.QUERY_CALLS`` under ``"file.query"`` (in this process: a query
run only by a subprocess, e.g. the CLI tests' ``python -m stocksbot``, does not count).
At the end of the session this plugin compares the counts with the catalogue
(``stocksbot.catalog``) and, with ``--query-coverage``, turns the run into a failure
when any query never ran, listing them. Meant for the whole suite (CI)::

    python -m pytest -p query_coverage --query-coverage

(registered in tests/conftest.py as ``pytest_plugins = ["query_coverage"]``).
"""

from __future__ import annotations

import pytest

COVERAGE = pytest.StashKey[tuple[list[str], list[str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stocksbot")
    group.addoption(
        "--query-coverage",
        action="store_true",
        default=False,
        help="fail the run if any named query in queries/ never ran (counted by stocksbot.sqlfiles.QUERY_CALLS)",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not config.getoption("--query-coverage"):
        return
    from stocksbot.catalog import load_catalog
    from stocksbot.sqlfiles import QUERY_CALLS

    names = [query.full_name for query in load_catalog().queries]
    missing = [name for name in names if QUERY_CALLS.get(name, 0) == 0]
    config.stash[COVERAGE] = (names, missing)
    if missing and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if COVERAGE not in config.stash:
        return
    names, missing = config.stash[COVERAGE]
    ran = len(names) - len(missing)
    if missing:
        terminalreporter.write_sep("=", "query coverage: FAILED", red=True)
        terminalreporter.write_line(f"{ran} of {len(names)} named queries ran; never ran ({len(missing)}):")
        for name in missing:
            terminalreporter.write_line(f"    {name}")
        terminalreporter.write_line("Add a test that runs each of them (through its wrapper in stocksbot/<file>.py).")
    else:
        terminalreporter.write_sep("=", f"query coverage: all {len(names)} named queries ran", green=True)
