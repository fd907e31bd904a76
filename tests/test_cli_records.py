"""`stocksbot positions|orders|trades|strategies|config`: the read-only listings and the settings.

Each test runs on both engines against a small, known set of records (``records``).
Most call ``main([...])`` in-process; a few run the real ``python -m stocksbot``.
The plain-text tables (stocksbot/tables.py) are tested at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import stocksbot
from stocksbot.cli import main
from stocksbot.db import DatabaseURL
from stocksbot.migrate import Migrator
from stocksbot.tables import (
    MONEY,
    NUMBER,
    PERCENT,
    QUANTITY,
    TIME,
    Column,
    format_cell,
    format_decimal,
    format_money,
    format_percent,
    format_quantity,
    render_pairs,
    render_table,
)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
LISTINGS = [["positions"], ["orders"], ["trades"], ["strategies"], ["config", "list"], ["config", "get", "k"]]


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


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    """Run a ``--json`` command that must succeed; stdout must be one JSON document and nothing else."""
    code, out, err = cli(capsys, *argv, "--json")
    assert (code, err) == (0, ""), err
    return json.loads(out)


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m stocksbot *argv`` in a subprocess, outside the checkout."""
    environment = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "STOCKSBOT_DEBUG"}}
    return subprocess.run(
        [sys.executable, "-m", "stocksbot", *argv], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=300,
    )


def error_line(err: str) -> str:
    """The single ``stocksbot: error:`` line of stderr (fails if there is any other line)."""
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got:\n{err}"
    assert lines[0].startswith("stocksbot: error: "), lines[0]
    return lines[0]


def money(text: str) -> Decimal:
    """A JSON money/quantity value: must be a string holding an exact decimal."""
    assert isinstance(text, str), f"expected a Decimal as a string, got {text!r}"
    assert "e" not in text.lower(), text
    return Decimal(text)


@dataclass(frozen=True)
class Records:
    """What the ``records`` fixture wrote; amounts are in the docstring of ``records``."""

    url: str
    alpha: stocksbot.Strategy
    gamma: stocksbot.Strategy
    beta: stocksbot.Strategy
    orders: dict[str, stocksbot.Order]  # by client order id, after the last change


@pytest.fixture
def records(database_url: str) -> Records:
    """A small, known account 'default' and a second account 'other'.

    default: strategies alpha (active) and gamma (inactive, no trades).
      a-1 buy 10 AAPL limit 150.50 → filled 10 @ 150.25, commission 1.00 (X-1)   AAPL long opens
      a-2 sell 10 AAPL market      → filled 10 @ 151.25, commission 1.00, fees 0.05 (X-2)
          AAPL closed: gross 1512.50 − 1502.50 = 10.00; realized 10.00 − 1.00 − 1.00 − 0.05 = 7.95
      a-3 buy 5 MSFT limit 300.00  → submitted, no fill (the one open order)
      a-4 buy 3 MSFT market        → filled 3 @ 301.10, no costs (X-4)      MSFT long 3, cost 903.30
      alpha: 3 trades, 1 closing, 1 winning, realized 7.95, fees 2.05
    other: strategy beta; b-1 buy 1 TSLA market → filled 1 @ 200.00 (X-1: the same execution id
      as in default, which is fine: every key is scoped by account).
    """
    with stocksbot.connect(database_url) as db:
        default = stocksbot.StorageService(db)
        other = stocksbot.StorageService(db, "other")
        alpha = default.create_strategy("alpha", {"window": 5})
        gamma = default.create_strategy("gamma", {"x": 1}, is_active=False)
        beta = other.create_strategy("beta")
        made: dict[str, stocksbot.Order] = {}

        def order(storage, client_id, symbol, side, kind, quantity, strategy, limit=None, fill=None):
            created = storage.create_order(
                symbol, side, kind, quantity, limit_price=limit, strategy_id=strategy.strategy_id,
                client_order_id=client_id,
            )
            storage.update_order_status(created.order_id, "submitted", external_id=f"BRK-{client_id}")
            if fill is not None:
                price, commission, fees, execution = fill
                storage.record_fill(created.order_id, quantity=quantity, price=price, commission=commission,
                                    fees=fees, external_trade_id=execution)
            made[client_id] = storage.get_order(created.order_id)

        order(default, "a-1", "AAPL", "buy", "limit", 10, alpha, "150.50", ("150.25", "1.00", "0", "X-1"))
        order(default, "a-2", "AAPL", "sell", "market", 10, alpha, None, ("151.25", "1.00", "0.05", "X-2"))
        order(default, "a-3", "MSFT", "buy", "limit", 5, alpha, "300.00")
        order(default, "a-4", "MSFT", "buy", "market", 3, alpha, None, ("301.10", "0", "0", "X-4"))
        order(other, "b-1", "TSLA", "buy", "market", 1, beta, None, ("200.00", "0", "0", "X-1"))
    return Records(database_url, alpha, gamma, beta, made)


# --- positions -------------------------------------------------------------------------


def test_positions_lists_every_position_newest_first_as_a_table(capsys, records: Records) -> None:
    code, out, err = cli(capsys, "positions", "--database-url", records.url)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "account default: 2 positions (1 open, 1 closed)"
    assert lines[1].split() == [
        "symbol", "strategy", "side", "status", "quantity", "avg", "entry", "cost", "basis", "realized", "P&L",
        "opened", "closed",
    ]
    header, msft, aapl = lines[1], lines[3], lines[4]
    assert msft.split()[:8] == ["MSFT", "alpha", "long", "open", "3", "301.10", "903.30", "0.00"]
    assert aapl.split()[:8] == ["AAPL", "alpha", "long", "closed", "0", "-", "0.00", "7.95"]
    # Numbers are right-aligned under their header.
    end = header.index("realized P&L") + len("realized P&L")
    assert msft[:end].endswith(" 0.00") and aapl[:end].endswith(" 7.95")
    end = header.index("quantity") + len("quantity")
    assert msft[:end].endswith(" 3") and aapl[:end].endswith(" 0")


def test_positions_json_has_decimals_as_strings_and_utc_times(capsys, records: Records) -> None:
    document = cli_json(capsys, "positions", "--database-url", records.url)

    assert document["account_id"] == "default"
    msft, aapl = document["positions"]
    assert (msft["symbol"], msft["status"], msft["side"], msft["strategy_name"]) == ("MSFT", "open", "long", "alpha")
    assert money(msft["quantity"]) == Decimal("3")
    assert money(msft["cost_basis"]) == Decimal("903.30")
    assert money(msft["avg_entry_price"]) == Decimal("301.10")
    assert msft["strategy_id"] == records.alpha.strategy_id
    assert msft["closed_at"] is None
    assert (aapl["symbol"], aapl["status"]) == ("AAPL", "closed")
    assert money(aapl["realized_pnl"]) == Decimal("7.95")
    assert money(aapl["quantity"]) == 0
    for field in ("opened_at", "updated_at", "closed_at"):
        assert TIMESTAMP.match(aapl[field]), aapl[field]


def test_positions_open_lists_only_open_positions(capsys, records: Records) -> None:
    code, out, _ = cli(capsys, "positions", "--open", "--database-url", records.url)
    assert code == 0
    assert out.splitlines()[0] == "account default: 1 open position"
    assert "MSFT" in out and "AAPL" not in out

    document = cli_json(capsys, "positions", "--open", "--database-url", records.url)
    assert [(p["symbol"], p["status"]) for p in document["positions"]] == [("MSFT", "open")]


# --- orders ----------------------------------------------------------------------------


def test_orders_lists_newest_first_with_fill_state(capsys, records: Records) -> None:
    code, out, err = cli(capsys, "orders", "--database-url", records.url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "account default: 4 orders"
    assert [line.split()[0] for line in lines[3:]] == ["a-4", "a-3", "a-2", "a-1"]
    assert lines[-1].split()[:10] == ["a-1", "AAPL", "buy", "limit", "10", "150.50", "-", "filled", "10", "150.25"]

    document = cli_json(capsys, "orders", "--database-url", records.url)
    by_id = {o["client_order_id"]: o for o in document["orders"]}
    assert list(by_id) == ["a-4", "a-3", "a-2", "a-1"]
    a1 = by_id["a-1"]
    assert (a1["status"], a1["external_id"], a1["order_type"], a1["strategy_name"]) == ("filled", "BRK-a-1", "limit", "alpha")
    assert money(a1["limit_price"]) == Decimal("150.50")
    assert money(a1["avg_fill_price"]) == Decimal("150.25")
    assert money(a1["remaining_quantity"]) == 0
    assert TIMESTAMP.match(a1["terminal_at"])
    a3 = by_id["a-3"]
    assert (a3["status"], a3["avg_fill_price"], a3["terminal_at"]) == ("submitted", None, None)
    assert money(a3["remaining_quantity"]) == 5


def test_orders_filters(capsys, records: Records) -> None:
    url = ("--database-url", records.url)

    def client_ids(*argv: str) -> list[str]:
        return [o["client_order_id"] for o in cli_json(capsys, "orders", *argv, *url)["orders"]]

    assert client_ids("--open") == ["a-3"]
    assert client_ids("--open", "--symbol", "AAPL") == []
    assert client_ids("--status", "filled") == ["a-4", "a-2", "a-1"]
    assert client_ids("--status", "cancelled") == []
    assert client_ids("--symbol", "MSFT") == ["a-4", "a-3"]
    assert client_ids("--symbol", "MSFT", "--status", "submitted") == ["a-3"]
    assert client_ids("--limit", "2") == ["a-4", "a-3"]

    code, out, _ = cli(capsys, "orders", "--limit", "2", *url)
    assert code == 0
    assert out.splitlines()[-1] == "(at most 2 shown: use --limit N for more)"
    code, out, _ = cli(capsys, "orders", "--open", *url)
    assert out.splitlines()[0] == "account default: 1 open order"


# --- trades ----------------------------------------------------------------------------


def test_trades_lists_executions_in_order(capsys, records: Records) -> None:
    code, out, err = cli(capsys, "trades", "--database-url", records.url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "account default: 3 trades"
    rows = [line.split() for line in lines[3:]]
    # executed (date, time), order, symbol, side, effect, quantity, price, commission, fees, realized P&L
    assert [row[2:12] for row in rows] == [
        ["a-1", "AAPL", "buy", "open", "10", "150.25", "1.00", "0.00", "-1.00", "alpha"],
        ["a-2", "AAPL", "sell", "close", "10", "151.25", "1.00", "0.05", "8.95", "alpha"],
        ["a-4", "MSFT", "buy", "open", "3", "301.10", "0.00", "0.00", "0.00", "alpha"],
    ]

    document = cli_json(capsys, "trades", "--database-url", records.url)
    trades = document["trades"]
    assert [(t["client_order_id"], t["external_trade_id"], t["effect"]) for t in trades] == [
        ("a-1", "X-1", "open"), ("a-2", "X-2", "close"), ("a-4", "X-4", "open"),
    ]
    assert money(trades[1]["realized_pnl"]) == Decimal("8.95")
    assert money(trades[1]["fees"]) == Decimal("0.05")
    assert trades[1]["order_id"] == records.orders["a-2"].order_id
    assert sum(money(t["realized_pnl"]) for t in trades) == Decimal("7.95")


def test_trades_filters_by_symbol_order_and_limit(capsys, records: Records) -> None:
    url = ("--database-url", records.url)

    def executions(*argv: str) -> list[str]:
        return [t["external_trade_id"] for t in cli_json(capsys, "trades", *argv, *url)["trades"]]

    assert executions("--symbol", "AAPL") == ["X-1", "X-2"]
    assert executions("--symbol", "TSLA") == []
    assert executions("--order", "a-2") == ["X-2"]  # a client order id ...
    assert executions("--order", records.orders["a-4"].order_id) == ["X-4"]  # ... or an order id
    assert executions("--order", "a-3") == []
    assert executions("--limit", "2") == ["X-1", "X-2"]

    code, out, err = cli(capsys, "trades", "--order", "nope", *url)
    assert (code, out) == (1, "")
    assert error_line(err) == "stocksbot: error: no order 'nope' in account default"


# --- strategies ------------------------------------------------------------------------


def test_strategies_list_each_with_its_metrics(capsys, records: Records) -> None:
    code, out, err = cli(capsys, "strategies", "--database-url", records.url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "account default: 2 strategies"
    assert lines[3].split() == ["alpha", "yes", "3", "1", "1", "100.00%", "7.95", "2.05", '{"window":5}']
    assert lines[4].split() == ["gamma", "no", "0", "0", "0", "0.00%", "0.00", "0.00", '{"x":1}']

    document = cli_json(capsys, "strategies", "--database-url", records.url)
    alpha, gamma = document["strategies"]
    assert (alpha["name"], alpha["is_active"], alpha["config"]) == ("alpha", True, {"window": 5})
    metrics = alpha["metrics"]
    assert (metrics["total_trades"], metrics["closing_trades"], metrics["winning_trades"]) == (3, 1, 1)
    assert money(metrics["win_rate"]) == 1
    assert money(metrics["realized_pnl"]) == Decimal("7.95")
    assert money(metrics["total_fees"]) == Decimal("2.05")
    assert (gamma["name"], gamma["is_active"], gamma["metrics"]["total_trades"]) == ("gamma", False, 0)
    assert TIMESTAMP.match(alpha["created_at"])


def test_strategies_active_hides_inactive_ones(capsys, records: Records) -> None:
    document = cli_json(capsys, "strategies", "--active", "--database-url", records.url)
    assert [s["name"] for s in document["strategies"]] == ["alpha"]
    code, out, _ = cli(capsys, "strategies", "--active", "--database-url", records.url)
    assert out.splitlines()[0] == "account default: 1 active strategy"


# --- accounts --------------------------------------------------------------------------


def test_account_option_isolates_every_listing(capsys, records: Records) -> None:
    other = ("--account", "other", "--database-url", records.url)

    positions = cli_json(capsys, "positions", *other)
    assert positions["account_id"] == "other"
    assert [(p["symbol"], p["strategy_name"]) for p in positions["positions"]] == [("TSLA", "beta")]
    assert [o["client_order_id"] for o in cli_json(capsys, "orders", *other)["orders"]] == ["b-1"]
    trades = cli_json(capsys, "trades", *other)["trades"]
    assert [(t["external_trade_id"], t["symbol"]) for t in trades] == [("X-1", "TSLA")]
    assert [s["name"] for s in cli_json(capsys, "strategies", *other)["strategies"]] == ["beta"]
    # A client order id of another account is not found here.
    code, _, err = cli(capsys, "trades", "--order", "a-1", *other)
    assert code == 1 and "no order 'a-1' in account other" in err

    assert cli(capsys, "config", "set", "max_positions", "10", "--type", "int", *other)[0] == 0
    assert cli_json(capsys, "config", "list", *other)["config"][0]["value"] == 10
    assert cli_json(capsys, "config", "list", "--database-url", records.url)["config"] == []
    code, _, err = cli(capsys, "config", "get", "max_positions", "--database-url", records.url)
    assert code == 1
    assert error_line(err) == "stocksbot: error: config key 'max_positions' is not set in account default"

    code, out, _ = cli(capsys, "positions", "--account", "nobody", "--database-url", records.url)
    assert (code, out.splitlines()[0]) == (0, "account nobody: 0 positions (0 open, 0 closed)")
    assert out.splitlines()[1] == "(none)"


# --- config ----------------------------------------------------------------------------


def test_config_set_get_and_list_keep_types(capsys, database_url: str) -> None:
    url = ("--database-url", database_url)

    assert cli(capsys, "config", "set", "max_positions", "10", "--type", "int", *url) == (
        0, "max_positions = 10 (int)\n", "",
    )
    assert cli(capsys, "config", "get", "max_positions", *url) == (0, "10\n", "")
    assert cli(capsys, "config", "set", "trading_enabled", "yes", "--type", "bool", *url)[1] == "trading_enabled = true (bool)\n"
    assert cli(capsys, "config", "get", "trading_enabled", *url)[1] == "true\n"
    assert cli(capsys, "config", "set", "risk", '{"max_loss": 250, "symbols": ["AAPL"]}', "--type", "json", *url)[0] == 0
    assert cli(capsys, "config", "get", "risk", *url)[1] == '{"max_loss":250,"symbols":["AAPL"]}\n'
    assert cli(capsys, "config", "set", "fraction", "0.25", "--type", "float", *url)[0] == 0
    assert cli(capsys, "config", "set", "greeting", " hello world ", *url)[1] == "greeting =  hello world  (string)\n"
    assert cli(capsys, "config", "get", "greeting", *url)[1] == " hello world \n"  # verbatim

    # Without --type an existing setting keeps its type, so a bad value is still refused.
    assert cli(capsys, "config", "set", "max_positions", "12", *url)[1] == "max_positions = 12 (int)\n"
    code, out, err = cli(capsys, "config", "set", "max_positions", "twelve", *url)
    assert (code, out) == (1, "")
    assert "'twelve'" in error_line(err)

    document = cli_json(capsys, "config", "list", *url)
    values = {entry["key"]: (entry["value"], entry["value_type"]) for entry in document["config"]}
    assert values == {
        "fraction": (0.25, "float"),
        "greeting": (" hello world ", "string"),
        "max_positions": (12, "int"),
        "risk": ({"max_loss": 250, "symbols": ["AAPL"]}, "json"),
        "trading_enabled": (True, "bool"),
    }
    assert [entry["key"] for entry in document["config"]] == sorted(values)
    assert all(TIMESTAMP.match(entry["updated_at"]) for entry in document["config"])

    entry = cli_json(capsys, "config", "get", "max_positions", *url)
    assert (entry["key"], entry["value"], entry["value_type"], entry["account_id"]) == ("max_positions", 12, "int", "default")

    code, out, _ = cli(capsys, "config", "list", *url)
    assert out.splitlines()[0] == "account default: 5 settings"
    assert out.splitlines()[6].split()[:3] == ["risk", "json", '{"max_loss":250,"symbols":["AAPL"]}']

    assert cli(capsys, "config", "delete", "fraction", *url) == (0, "deleted fraction\n", "")
    code, _, err = cli(capsys, "config", "delete", "fraction", *url)
    assert code == 1 and "config key 'fraction' is not set" in error_line(err)


def test_config_set_refuses_a_value_that_does_not_fit_its_type(capsys, database_url: str) -> None:
    code, out, err = cli(capsys, "config", "set", "x", "abc", "--type", "int", "--database-url", database_url)

    assert (code, out) == (1, "")
    assert error_line(err) == "stocksbot: error: value: 'abc' is not an integer for type int"
    assert cli(capsys, "config", "get", "x", "--database-url", database_url)[0] == 1  # nothing written
    for value, kind in [("maybe", "bool"), ("{not json", "json"), ("1.5.2", "float")]:
        code, _, err = cli(capsys, "config", "set", "x", value, "--type", kind, "--database-url", database_url)
        assert code == 1 and repr(value) in error_line(err)


# --- schema checks: read-only, never migrate -------------------------------------------


def database_is_empty(url: str) -> bool:
    """True if the database at ``url`` has no table (SQLite: the file does not exist)."""
    parsed = DatabaseURL.parse(url)
    if parsed.dialect == "sqlite":
        return not Path(parsed.sqlite_path).exists()
    with stocksbot.connect(url) as db, db.connection() as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return rows == []


@pytest.mark.parametrize("argv", LISTINGS, ids=lambda argv: "-".join(argv))
def test_listing_on_an_unmigrated_database_says_to_upgrade_and_writes_nothing(
    capsys, empty_database_url: str, argv: list[str],
) -> None:
    code, out, err = cli(capsys, *argv, "--json", "--database-url", empty_database_url)

    assert (code, out) == (1, "")
    line = error_line(err)
    assert "has no stocksbot schema" in line or "does not exist" in line
    assert line.endswith("run `stocksbot db upgrade` first")
    assert database_is_empty(empty_database_url)


def test_config_set_on_an_unmigrated_database_does_not_migrate(capsys, empty_database_url: str) -> None:
    code, out, err = cli(capsys, "config", "set", "k", "v", "--database-url", empty_database_url)
    assert (code, out) == (1, "")
    assert "stocksbot db upgrade" in error_line(err)
    assert database_is_empty(empty_database_url)


def test_listing_on_a_database_with_a_pending_migration_names_it(capsys, database_url: str) -> None:
    (rolled_back,) = Migrator(database_url).downgrade(1)

    code, out, err = cli(capsys, "positions", "--database-url", database_url)

    assert (code, out) == (1, "")
    assert error_line(err).endswith(f"is behind: 1 pending migration ({rolled_back}): run `stocksbot db upgrade` first")
    assert Migrator(database_url).pending() == [rolled_back]  # still pending: nothing was migrated


def test_sqlite_listing_on_an_existing_empty_file_does_not_create_tables(capsys, tmp_path: Path) -> None:
    path = tmp_path / "blank.db"
    path.touch()
    code, _, err = cli(capsys, "orders", "--database-url", f"sqlite:///{path}")
    assert code == 1
    assert error_line(err) == (
        f"stocksbot: error: sqlite:///{path} has no stocksbot schema (no migration applied): "
        "run `stocksbot db upgrade` first"
    )
    with stocksbot.connect(f"sqlite:///{path}") as db, db.connection() as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


# --- usage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["orders", "--status", "bogus"],
        ["orders", "--limit", "0"],
        ["orders", "--limit", "ten"],
        ["orders", "--open", "--status", "filled"],
        ["orders", "--symbol", "aapl"],
        ["positions", "--bogus"],
        ["positions", "--account", "bad account"],
        ["trades", "--order", "has space"],
        ["strategies", "extra"],
        ["config"],
        ["config", "get"],
        ["config", "set", "key"],
        ["config", "set", "key", "value", "--type", "decimal"],
        ["config", "get", "bad key"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_bad_usage_exits_2(capsys, argv: list[str]) -> None:
    code, out, err = cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert "usage: stocksbot" in err


def test_help_lists_the_record_commands(capsys) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for command in ("positions", "orders", "trades", "strategies", "config", "demo"):
        assert re.search(rf"^\s+{command}\b", out, re.MULTILINE), command


# --- the real command ------------------------------------------------------------------


def test_subprocess_listings_config_and_errors(records: Records, tmp_path: Path) -> None:
    url = ("--database-url", records.url)

    listed = run("positions", "--json", *url, cwd=tmp_path)
    assert (listed.returncode, listed.stderr) == (0, "")
    assert [p["symbol"] for p in json.loads(listed.stdout)["positions"]] == ["MSFT", "AAPL"]

    table = run("orders", "--open", *url, cwd=tmp_path)
    assert table.returncode == 0 and "a-3" in table.stdout and "a-1" not in table.stdout

    assert run("config", "set", "max_positions", "10", "--type", "int", *url, cwd=tmp_path).returncode == 0
    got = run("config", "get", "max_positions", *url, cwd=tmp_path)
    assert (got.returncode, got.stdout, got.stderr) == (0, "10\n", "")

    bad = run("config", "set", "x", "abc", "--type", "int", *url, cwd=tmp_path)
    assert (bad.returncode, bad.stdout) == (1, "")
    assert error_line(bad.stderr) == "stocksbot: error: value: 'abc' is not an integer for type int"

    usage = run("orders", "--status", "bogus", *url, cwd=tmp_path)
    assert usage.returncode == 2 and "invalid choice: 'bogus'" in usage.stderr


def test_subprocess_listing_without_a_database_does_not_create_one(tmp_path: Path) -> None:
    result = run("strategies", "--json", cwd=tmp_path)  # the default: sqlite:///./stocksbot.db

    assert (result.returncode, result.stdout) == (1, "")
    assert error_line(result.stderr) == (
        "stocksbot: error: no database at sqlite:///./stocksbot.db (the file does not exist): "
        "run `stocksbot db upgrade` first"
    )
    assert list(tmp_path.iterdir()) == []


# --- tables ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("150.00000000"), "150.00"),
        (Decimal("150.25000000"), "150.25"),
        (Decimal("189.76666667"), "189.76666667"),
        (Decimal("0.00000001"), "0.00000001"),
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("-0.25"), "-0.25"),
        (Decimal("-0E-8"), "0.00"),
        (Decimal("12345678901.5"), "12345678901.50"),
        (Decimal("1E+3"), "1000.00"),
        (7, "7.00"),
    ],
)
def test_format_money_trims_to_between_2_and_8_places(value: Decimal, expected: str) -> None:
    assert format_money(value) == expected


def test_format_decimal_never_goes_through_float() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 as floats; 20 significant digits survive exactly.
    assert format_decimal(Decimal("0.1") + Decimal("0.2")) == "0.3"
    assert format_decimal(Decimal("98765432109.87654321")) == "98765432109.87654321"
    assert format_money(Decimal("98765432109.87654321")) == "98765432109.87654321"
    assert format_decimal(Decimal("2") / Decimal("3"), 0, 8) == "0.66666667"  # display rounding is half-even
    assert format_decimal(Decimal("0.125"), 0, 2) == "0.12"
    assert format_quantity(Decimal("300.000000000")) == "300"
    assert format_quantity(Decimal("0.123456789")) == "0.123456789"  # quantities keep their 9 places
    assert format_percent(Decimal(1) / Decimal(3)) == "33.33%"
    with pytest.raises(ValueError):
        format_decimal(Decimal("NaN"))


def test_format_cell_by_kind_and_type() -> None:
    assert format_cell(None, MONEY) == "-"
    assert format_cell(True) == "yes"
    assert format_cell(stocksbot.OrderStatus.PARTIALLY_FILLED) == "partially_filled"
    assert format_cell(datetime(2024, 3, 4, 14, 30, 5, 999999, tzinfo=timezone.utc), TIME) == "2024-03-04 14:30:05Z"
    assert format_cell(Decimal("0.5"), PERCENT) == "50.00%"
    assert format_cell(3, NUMBER) == "3"
    assert format_cell(Decimal("2.50"), NUMBER) == "2.5"


def test_render_table_aligns_text_left_and_numbers_right() -> None:
    table = render_table(
        [Column("symbol"), Column("qty", QUANTITY), Column("price", MONEY), Column("note")],
        [["AAPL", Decimal("300.000000000"), Decimal("189.76666667"), "three fills"],
         ["KO", Decimal("0.5"), Decimal("-61.5"), None]],
    )
    assert table.splitlines() == [
        "symbol  qty         price  note",
        "------  ---  ------------  -----------",
        "AAPL    300  189.76666667  three fills",
        "KO      0.5        -61.50  -",
    ]
    assert render_table([Column("a")], []) == "(none)"
    assert render_table([Column("a")], [], empty="nothing") == "nothing"
    with pytest.raises(ValueError):
        render_table([Column("a"), Column("b")], [["only one"]])


def test_render_pairs_aligns_labels_and_values() -> None:
    assert render_pairs([("cost basis", "86425.00"), ("total P&L", "-5.00")]).splitlines() == [
        "cost basis:  86425.00",
        "total P&L:      -5.00",
    ]
