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
