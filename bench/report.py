"""The tables: medians (min-max) per operation, per-round paired ratios vs raw, peak RSS, the targets."""

from __future__ import annotations

import statistics
from typing import Any, Callable, Sequence

IMPLS = ("stocksbot", "raw", "sqlalchemy")

#: The issue's targets: stocksbot's median paired ratio vs raw, per workload (and per engine for W6).
RATIO_TARGETS = {
    ("W1n", "sqlite"): 1.10, ("W2", "sqlite"): 1.30, ("W2", "postgres"): 1.30,
    ("W3", "sqlite"): 1.40, ("W3", "postgres"): 1.40, ("W4", "sqlite"): 2.0, ("W4", "postgres"): 2.0,
    ("W6", "sqlite"): 3.0, ("W6", "postgres"): 1.5,
}
W5_TARGET_SECONDS = 0.002
BATCH_TARGET = 10.0


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def human(seconds: float) -> str:
    """A duration with 3 significant digits in a fitting unit."""
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= factor or unit == "us":
            value = seconds / factor
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    raise AssertionError  # pragma: no cover


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def ratio_text(value: float) -> str:
    return f"{value:.2f}"


def paired_ratios(results: Any, workload: str, engine: str, impl: str) -> list[float]:
    mine = results.seconds[(workload, engine, impl)]
    raw = results.seconds[(workload, engine, "raw")]
    return [a / b for a, b in zip(mine, raw)]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def render(
    results: Any, engines: Sequence[str], workloads: dict[str, str], gated: Sequence[str],
    operations: Callable[[str, Any], int], impls: Sequence[str] = IMPLS,
) -> str:
    out: list[str] = []
    out.append(f"# sizes: {results.sizes.to_json()}")
    out.append(f"# {results.rounds} interleaved rounds; times are per operation, median (min-max) over the rounds; "
               "ratios are per-round paired ratios vs raw, median (min-max)")
    worst: tuple[float, str, str] | None = None
    checks: list[str] = []
    for engine in engines:
        rows = []
        for workload in workloads:
            if (workload, engine, "raw") not in results.seconds:
                continue
            ops = operations(workload, results.sizes)
            row = [workload]
            for impl in IMPLS:
                samples = results.seconds.get((workload, engine, impl))
                row.append(spread([s / ops for s in samples], human) if samples else "-")
            for impl in ("stocksbot", "sqlalchemy"):
                has = (workload, engine, impl) in results.seconds
                row.append(spread(paired_ratios(results, workload, engine, impl), ratio_text) if has else "-")
            rows.append(row)
            ratio = median(paired_ratios(results, workload, engine, "stocksbot"))
            if workload in gated and (worst is None or ratio > worst[0]):
                worst = (ratio, workload, engine)
        sync = f"synchronous={results.synchronous}" if engine == "sqlite" else "server defaults"
        out.append("")
        out.append(f"## {engine} ({sync})")
        out.append("")
        out.append(_table(
            ["workload", "stocksbot", "raw", "sqlalchemy", "stocksbot/raw", "sqlalchemy/raw"], rows,
        ))
        memory = []
        for workload in ("W2", "W5"):
            if (workload, engine, "raw") in results.rss:
                cells = []
                for impl in impls:
                    samples = results.rss[(workload, engine, impl)]
                    peak = max(p for _, p in samples)
                    growth = max(p - b for b, p in samples)
                    cells.append(f"{impl} {peak / 1024:.0f} MiB (+{growth / 1024:.0f})")
                memory.append(f"peak RSS {workload}: " + ", ".join(cells))
        if memory:
            out.append("")
            out += memory
        checks += _targets(results, engine, "sqlalchemy" in impls)
    out.append("")
    out.append("# targets")
    out += checks
    out.append("")
    if worst is None:
        out.append("worst ratio vs raw: n/a (no gated workload ran)")
    else:
        out.append(f"worst ratio vs raw: {worst[0]:.2f} ({worst[1]} on {worst[2]})")
    return "\n".join(out)


def _targets(results: Any, engine: str, with_orm: bool = True) -> list[str]:
    lines = []
    for (workload, target_engine), target in RATIO_TARGETS.items():
        if target_engine != engine or (workload, engine, "raw") not in results.seconds:
            continue
        ratio = median(paired_ratios(results, workload, engine, "stocksbot"))
        lines.append(f"{'met ' if ratio <= target else 'MISS'} {workload} on {engine}: {ratio:.2f}x raw (target <= {target:.2f}x)")
    for workload in sorted({w for (w, e, _) in results.seconds if e == engine} if with_orm else ()):
        ratio = median(paired_ratios(results, workload, engine, "stocksbot"))
        sa = median(paired_ratios(results, workload, engine, "sqlalchemy"))
        verdict = "met " if ratio < sa else "MISS"
        lines.append(f"{verdict} {workload} on {engine}: stocksbot {ratio:.2f}x raw vs sqlalchemy {sa:.2f}x raw (faster than the ORM)")
    if ("W5", engine, "stocksbot") in results.seconds:
        per_call = median(results.seconds[("W5", engine, "stocksbot")]) / (4 * results.sizes.w5_calls)
        verdict = "met " if per_call < W5_TARGET_SECONDS else "MISS"
        lines.append(f"{verdict} W5 on {engine}: get_strategy_metrics {human(per_call)} per call over "
                     f"{results.sizes.w5_trades:,} trades (target < 2 ms)")
    if ("W1b", engine, "stocksbot") in results.seconds and ("W1", engine, "stocksbot") in results.seconds:
        speedup = median(results.seconds[("W1", engine, "stocksbot")]) / median(results.seconds[("W1b", engine, "stocksbot")])
        verdict = "met " if speedup >= BATCH_TARGET else "MISS"
        lines.append(f"{verdict} W1b on {engine}: record_fills in batches of {results.sizes.w1b_batch} = {speedup:.1f}x "
                     f"the single-fill throughput (target >= {BATCH_TARGET:.0f}x)")
    return lines


def scaling_table(rows: Sequence[dict[str, Any]]) -> str:
    """Per-operation cost of W3, W4, W5 as the tables grow."""
    header = ["engine", "workload", "factor", "table rows", "stocksbot per op", "raw per op", "stocksbot/raw",
              "stocksbot vs x1"]
    body = []
    first: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row["engine"], row["workload"])
        first.setdefault(key, row["stocksbot"])
        body.append([
            row["engine"], row["workload"], f"x{row['factor']}", f"{row['table_rows']:,}", human(row["stocksbot"]),
            human(row["raw"]), f"{row['stocksbot'] / row['raw']:.2f}", f"{row['stocksbot'] / first[key]:.2f}",
        ])
    return _table(header, body)
