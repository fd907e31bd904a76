"""``python -m bench --quick`` runs end to end on both engines (a smoke test: no timing is asserted).

At the smallest size the three implementations (two without SQLAlchemy installed) run
every workload, their results are checked against each other, and the report ends with
the one line the CI reads. The benchmark itself is run on demand (docs/performance.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
LAST_LINE = re.compile(r"worst ratio vs raw: \d+\.\d\d \((W1|W1n|W2|W3|W4|W6) on (sqlite|postgres)\)")


@pytest.mark.slow
def test_the_quick_benchmark_runs_on_both_engines_and_ends_with_the_worst_ratio(pg_server: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scale", "0", "--postgres-url", pg_server.admin_url],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )

    assert 0 == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.fullmatch(lines[-1]), lines[-1]
    assert "## sqlite" in result.stdout and "## postgres" in result.stdout
    for workload in ("W1", "W1n", "W1b", "W2", "W3", "W4", "W5", "W6"):
        assert any(line.startswith(workload + " ") for line in lines), workload


@pytest.mark.slow
def test_the_processes_bench_instructions_counts_run_every_workload(tmp_path: Path) -> None:
    """What ``python -m bench.instructions`` runs under callgrind, run here without it: each workload
    through stocksbot and raw, from its own copy of the template (no count is asserted; the fills
    are checked to have been written)."""
    import sqlite3

    from bench import common
    from bench.instructions import IMPLS, SIZES, build_templates

    templates = build_templates(tmp_path, list(SIZES))
    trades_written = {"W1": 1 + 3, "W1b": (1 + 3) * 100}  # the warm-up operation, then the 3 counted
    for workload in SIZES:
        for impl in IMPLS:
            database = tmp_path / f"{impl}_{workload}.db"
            common.copy_sqlite(str(templates["W1" if workload.startswith("W1") else "reads"]), str(database))
            result = subprocess.run(
                [sys.executable, "-m", "bench.instructions", "--child", impl, workload, "3", f"sqlite:///{database}"],
                cwd=REPO, capture_output=True, text=True, timeout=300,
            )
            assert 0 == result.returncode, f"{impl} {workload}: {result.stderr[-3000:]}"
            if workload in trades_written:
                conn = sqlite3.connect(database)
                try:
                    assert trades_written[workload] == conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
                finally:
                    conn.close()
