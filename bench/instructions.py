"""``python -m bench.instructions``: CPU instructions per operation, stocksbot against raw, on SQLite.

Wall-clock ratios on a shared 2-core machine move by ±20 % from round to round
(docs/performance.md). The layer's own cost on SQLite is CPU work in this process, and
valgrind's callgrind counts the instructions a process executes: the same count for the same
code and input, whatever else the machine is doing. This runs each workload through one
implementation under callgrind twice, at two sizes, from a fresh copy of the same database, and
reports the difference divided by the operations between the sizes: instructions per fill,
per read, per listing, with start-up, imports and connecting cancelled out. SQLite's own work
is counted too (it runs in the process), so the ratio is the whole process's, as W1-W5 time it.

Instructions are not seconds (a cache miss costs more than an add), but an optimisation that
removes instructions from the layer shows here as a repeatable number, before and after, where
the timed runs cannot tell it from the noise. Needs ``valgrind`` on the PATH; takes a few
minutes (a process under callgrind runs about 50 times slower).

    python -m bench.instructions                      # W1, W1b, W3, W4, W5
    python -m bench.instructions --workloads W3,W4
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import common
from .common import STRATEGIES, Sizes

REPO = Path(__file__).resolve().parent.parent

#: Operations run before the counted ones at each size, and the two sizes: (first, last) operation counts.
#: W1's range covers buys, sells, closes and flips (the fills of orders 100-900).
SIZES = {"W1": (200, 1800), "W1b": (4, 16), "W3": (1000, 3000), "W4": (20, 60), "W5": (200, 600)}
UNITS = {"W1": "fill", "W1b": "batch of 100 fills", "W3": "read", "W4": "listing of 200", "W5": "metrics call"}
IMPLS = ("stocksbot", "raw")


def child(impl: str, workload: str, count: int, url: str) -> None:
    """Run ``count`` operations of ``workload`` after one warm-up operation (the counted process)."""
    sizes = Sizes()
    if impl == "raw":
        from .impl_raw import RawImpl as Impl
    else:
        from .impl_stocksbot import StocksbotImpl as Impl  # type: ignore[assignment]
    target: Any = Impl(url, "NORMAL")
    if workload == "W1":
        fills = common.w1_fills(sizes)
        target.w1_fills(fills[:1])
        target.w1_fills(fills[1:1 + count])
    elif workload == "W1b":
        fills = common.w1_fills(sizes)
        batches = [fills[i:i + sizes.w1b_batch] for i in range(0, len(fills), sizes.w1b_batch)]
        target.w1_batches(batches[:1])
        target.w1_batches(batches[1:1 + count])
    elif workload == "W3":
        ids = common.w3_external_ids(sizes)
        target.w3_reads(ids[:1])
        target.w3_reads(ids[1:1 + count])
    elif workload == "W4":
        target.w4_listings(1)
        target.w4_listings(count)
    elif workload == "W5":
        calls = [strategy for _ in range(count) for strategy in STRATEGIES][:count]
        target.w5_metrics(calls[:1])
        target.w5_metrics(calls)
    else:
        raise ValueError(f"unknown workload {workload}")
    target.close()


def count_instructions(impl: str, workload: str, count: int, template: Path, workdir: Path) -> int:
    """The instructions one child process executes, on its own copy of ``template``."""
    database = workdir / f"{impl}_{workload}_{count}.db"
    common.copy_sqlite(str(template), str(database))
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--child", impl, workload, str(count), f"sqlite:///{database}",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # dict layouts, hence the counts, repeat from run to run
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{impl} {workload} x{count} failed under callgrind:\n{done.stderr[-2000:]}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return int(found.group(1))


def per_operation(impl: str, workload: str, templates: dict[str, Path], workdir: Path) -> float:
    """Instructions per operation between the two sizes of ``workload``."""
    first, last = SIZES[workload]
    template = templates["W1" if workload.startswith("W1") else "reads"]
    low = count_instructions(impl, workload, first, template, workdir)
    high = count_instructions(impl, workload, last, template, workdir)
    return (high - low) / (last - first)


def build_templates(workdir: Path, workloads: list[str]) -> dict[str, Path]:
    from .run import Provisioner, build_reads_template, build_w1_template

    provisioner = Provisioner("sqlite", workdir, None)
    sizes = Sizes()
    templates: dict[str, Path] = {}
    if any(w.startswith("W1") for w in workloads):
        templates["W1"] = Path(common.sqlite_path(build_w1_template(provisioner, sizes)))
    if any(not w.startswith("W1") for w in workloads):
        # W5's maintained metrics read the same whatever the trades below them: 20,000 are enough.
        reads = build_reads_template(provisioner, Sizes(w5_trades=20_000), "tpl_reads")
        templates["reads"] = Path(common.sqlite_path(reads))
    return templates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(SIZES), help="comma-separated subset of " + ", ".join(SIZES))
    parser.add_argument("--child", nargs=4, metavar=("IMPL", "WORKLOAD", "COUNT", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        impl, workload, count, url = args.child
        child(impl, workload, int(count), url)
        return 0
    if shutil.which("valgrind") is None:
        print("bench.instructions: valgrind is not on the PATH", file=sys.stderr)
        return 2
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in SIZES]
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="sbinstr_") as tmp:
        workdir = Path(tmp)
        templates = build_templates(workdir, workloads)
        jobs = [(impl, workload) for workload in workloads for impl in IMPLS]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            counts = dict(zip(jobs, pool.map(lambda job: per_operation(*job, templates, workdir), jobs)))
    print(f"{'workload':8}  {'per':20}  {'stocksbot':>12}  {'raw':>12}  stocksbot/raw")
    print(f"{'-' * 8}  {'-' * 20}  {'-' * 12}  {'-' * 12}  {'-' * 13}")
    for workload in workloads:
        mine, raw = counts[("stocksbot", workload)], counts[("raw", workload)]
        print(f"{workload:8}  {UNITS[workload]:20}  {mine:12,.0f}  {raw:12,.0f}  {mine / raw:13.2f}")
    print("\ninstructions per operation (callgrind, PYTHONHASHSEED=0, SQLite, synchronous=NORMAL)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
