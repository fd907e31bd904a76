"""A child process for the multi-process tests: it waits at a start line, then does one thing.

    python tests/migration_worker.py --ready FILE --go FILE upgrade DATABASE_URL
    python tests/migration_worker.py --ready FILE --go FILE new-ids COUNT

The process creates the ``--ready`` file once it has imported everything, then
polls for the ``--go`` file, so the parent can release all its children at the
same moment. ``upgrade`` runs ``Migrator(url).upgrade()`` and prints the ids it
applied as JSON; ``new-ids`` prints COUNT ids from ``new_id()`` as JSON. Any
error goes to stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stocksbot.migrate import Migrator
from stocksbot.values import new_id

START_LINE_TIMEOUT = 60.0  # seconds to wait for --go before giving up
WORKER = Path(__file__).resolve()


# --- the parent side (imported by the tests) ---------------------------------------------


@dataclass(frozen=True)
class WorkerResult:
    """How one worker ended: exit status, its JSON output (or None) and its stderr."""

    returncode: int
    output: list[str] | None
    stderr: str


def run_together(workdir: Path, command: str, argument: str, count: int) -> list[WorkerResult]:
    """Start ``count`` workers, release them at the same moment once all are ready, and wait for them."""
    go = workdir / "go"
    processes = []
    readies = []
    for number in range(count):
        ready = workdir / f"ready-{number}"
        readies.append(ready)
        processes.append(subprocess.Popen(
            [sys.executable, str(WORKER), "--ready", str(ready), "--go", str(go), command, argument],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        ))
    try:
        deadline = time.monotonic() + START_LINE_TIMEOUT
        while not all(ready.exists() for ready in readies):
            exited = [process for process in processes if process.poll() is not None]
            if exited or time.monotonic() > deadline:
                raise RuntimeError(f"a worker did not reach the start line: {exited[0].communicate() if exited else 'timeout'}")
            time.sleep(0.01)
        go.touch()
        results = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=180)
            results.append(WorkerResult(process.returncode, json.loads(stdout) if stdout.strip() else None, stderr))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


# --- the child side ----------------------------------------------------------------------


def wait_for_start(ready: Path, go: Path) -> None:
    ready.touch()
    deadline = time.monotonic() + START_LINE_TIMEOUT
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"worker: {go} never appeared")
        time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--go", type=Path, required=True)
    parser.add_argument("command", choices=["upgrade", "new-ids"])
    parser.add_argument("argument")
    args = parser.parse_args()

    wait_for_start(args.ready, args.go)
    if args.command == "upgrade":
        result: list[str] = Migrator(args.argument).upgrade()
    else:
        result = [new_id() for _ in range(int(args.argument))]
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - report anything to the parent test
        print(f"worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
