"""``python -m bench.worker IMPL``: one implementation's worker process.

Reads one JSON command per line on stdin, answers one JSON line on stdout (anything the
implementation prints goes to stderr). A ``run`` command opens the implementation on the
given database (untimed), runs one workload under the timer, then reads the results in an
engine-independent canonical form (untimed) and returns their digest, the time and the
peak RSS of the timed part.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import common
from .common import STRATEGIES, Sizes

IMPLEMENTATIONS = {
    "stocksbot": ("bench.impl_stocksbot", "StocksbotImpl"),
    "raw": ("bench.impl_raw", "RawImpl"),
    "sqlalchemy": ("bench.impl_sqlalchemy", "SQLAlchemyImpl"),
}


class Inputs:
    """The workloads' inputs, generated once per worker and size (generation is not timed)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Any] = {}

    def get(self, workload: str, sizes: Sizes) -> Any:
        key = (workload, json.dumps(sizes.to_json(), sort_keys=True))
        if key not in self._cache:
            self._cache[key] = self._make(workload, sizes)
        return self._cache[key]

    @staticmethod
    def _make(workload: str, sizes: Sizes) -> Any:
        if workload in ("W1", "W1n"):
            return common.w1_fills(sizes)
        if workload == "W1b":
            fills = common.w1_fills(sizes)
            return [fills[i:i + sizes.w1b_batch] for i in range(0, len(fills), sizes.w1b_batch)]
        if workload == "W2":
            return common.w2_trades(sizes)
        if workload == "W3":
            return common.w3_external_ids(sizes)
        if workload == "W4":
            return sizes.w4_listings
        if workload == "W5":
            return [strategy for _ in range(sizes.w5_calls) for strategy in STRATEGIES]
        raise ValueError(f"unknown workload {workload}")


def run(impl_cls: Any, command: dict[str, Any], inputs: Inputs) -> dict[str, Any]:
    workload = command["workload"]
    sizes = Sizes(**command["sizes"])
    url = command["url"]
    data = inputs.get(workload, sizes)
    impl = impl_cls(url, command["synchronous"])
    try:
        method = {
            "W1": impl.w1_fills, "W1n": impl.w1_fills, "W1b": impl.w1_batches, "W2": impl.w2_import,
            "W3": impl.w3_reads, "W4": impl.w4_listings, "W5": impl.w5_metrics,
        }[workload]
        gc.collect()
        rss_base = common.reset_peak_rss()
        started = time.perf_counter()
        output = method(data)
        seconds = time.perf_counter() - started
        rss_peak = common.peak_rss()
    finally:
        impl.close()
    consistent = None
    if workload in ("W1", "W1n", "W1b", "W2"):
        state = common.read_state(url)
        consistent = state.pop("metrics_table_consistent")
        document: Any = state
    elif workload == "W3":
        document = [None if row is None else impl.canon_order(row) for row in output]
    elif workload == "W4":
        document = [impl.canon_position(row) for row in output]
    else:
        canon = getattr(impl, "canon_metrics", None)
        document = [canon(row) if canon else list(row) for row in output]
    state_file = command.get("state_file")
    if state_file:
        common.write_json(Path(state_file), document)
    return {
        "seconds": seconds,
        "digest": common.digest(document),
        "rows": len(document) if isinstance(document, list) else sum(len(v) for v in document.values()),
        "metrics_consistent": consistent,
        "rss_base_kib": rss_base,
        "rss_peak_kib": rss_peak,
    }


def main() -> None:
    name = sys.argv[1]
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever an implementation prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    module, cls = IMPLEMENTATIONS[name]
    impl_cls = getattr(importlib.import_module(module), cls)
    inputs = Inputs()
    protocol.write(json.dumps({"ready": name}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        try:
            answer = run(impl_cls, command, inputs)
        except Exception:  # noqa: BLE001 - reported to the driver, which stops the run
            answer = {"error": traceback.format_exc()}
        protocol.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
