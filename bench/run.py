"""The driver: builds the template databases, runs the workloads interleaved, checks, reports."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import common, report
from .common import Sizes

REPO = Path(__file__).resolve().parent.parent
ALL_IMPLS = ("stocksbot", "raw", "sqlalchemy")
#: Workloads and what one "operation" of each is (the tables show the time per operation).
WORKLOADS = {
    "W1": "fill path: 2 partial fills per order, a transaction per fill (per fill)",
    "W1n": "W1 with STOCKSBOT_SQLITE_SYNCHRONOUS=NORMAL (per fill)",
    "W1b": "the W1 fills in batches of 100 per transaction (per fill)",
    "W2": "bulk import of historical trades (per import)",
    "W3": "point read of an order by broker id (per read)",
    "W4": "list the open positions among the closed ones (per listing)",
    "W5": "per-strategy metrics over all trades (per call)",
    "W6": "cold start: new process, import, connect, migrate a new database (per process)",
}
#: The workloads the last line's "worst ratio vs raw" is taken over (the issue's W1-W4 and W6).
GATED = ("W1", "W1n", "W2", "W3", "W4", "W6")
WRITES = ("W1", "W1n", "W1b", "W2")


def operations(workload: str, sizes: Sizes) -> int:
    """How many operations one timed run of ``workload`` performs."""
    return {
        "W1": 2 * sizes.w1_orders, "W1n": 2 * sizes.w1_orders, "W1b": 2 * sizes.w1_orders, "W2": 1,
        "W3": sizes.w3_reads, "W4": sizes.w4_listings, "W5": 4 * sizes.w5_calls, "W6": sizes.w6_processes,
    }[workload]


# --- databases ---------------------------------------------------------------------------------


class Provisioner:
    """Template databases and their throwaway copies on one engine."""

    def __init__(self, engine: str, workdir: Path, admin_url: str | None) -> None:
        self.engine = engine
        self.workdir = workdir
        self.admin_url = admin_url
        self.prefix = f"sbbench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._created: list[str] = []

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True)

    def new_url(self, name: str) -> str:
        """The URL of a new, empty database."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.workdir / (name + '.db')}"
        dbname = f"{self.prefix}_{name}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        self._created.append(dbname)
        return common.pg_url_for(self.admin_url or "", dbname)

    def copy(self, template_url: str, name: str) -> str:
        """A fresh copy of a template database."""
        if self.engine == "sqlite":
            target = self.workdir / (name + ".db")
            common.copy_sqlite(common.sqlite_path(template_url), str(target))
            return f"sqlite:///{target}"
        dbname = f"{self.prefix}_{name}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{common.pg_dbname(template_url)}"')
        self._created.append(dbname)
        return common.pg_url_for(self.admin_url or "", dbname)

    def drop(self, url: str) -> None:
        if self.engine == "sqlite":
            path = common.sqlite_path(url)
            for suffix in ("", "-wal", "-shm", ".migrate.lock"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            return
        dbname = common.pg_dbname(url)
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if dbname in self._created:
            self._created.remove(dbname)

    def drop_all(self) -> None:
        if self.engine == "postgresql" or self.engine == "postgres":
            for dbname in list(self._created):
                try:
                    self.drop(common.pg_url_for(self.admin_url or "", dbname))
                except Exception as exc:  # noqa: BLE001 - best effort at exit
                    print(f"bench: could not drop {dbname}: {exc}", file=sys.stderr)


def migrate(url: str) -> None:
    """Apply stocksbot's migrations (the schema every implementation runs on in W1-W5)."""
    import stocksbot

    with stocksbot.connect(url) as db:
        db.migrate()


def finish_template(url: str) -> None:
    """Make a loaded template ready to copy: statistics on PostgreSQL, a checkpointed WAL on SQLite.

    PostgreSQL: only the tables holding rows are vacuumed and analyzed. An empty table stays
    as a freshly migrated database has it, never vacuumed, so the planner sizes it by its
    pages as a workload fills it. Vacuumed while empty, it is "known empty": the generic plan
    a connection caches for a prepared statement is then a sequential scan, which a run of
    under a minute (before autovacuum's next look) never replaces. W1 grew trades to 4,000
    rows that way and read it whole on every execution-id check, raw and stocksbot alike.
    """
    conn = common.raw_connect(url)
    try:
        if common.is_sqlite(conn):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            tables = [row[0] for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
            ).fetchall()]
            for table in tables:
                if conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0]:
                    conn.execute(f'VACUUM ANALYZE "{table}"')
    finally:
        conn.close()


def build_w1_template(prov: Provisioner, sizes: Sizes) -> str:
    url = prov.new_url("tpl_w1")
    migrate(url)
    conn = common.raw_connect(url)
    try:
        common.load_rows(conn, "strategies", common.STRATEGY_COLUMNS, common.strategy_rows())
        common.load_rows(conn, "orders", common.ORDER_COLUMNS, common.w1_order_rows(sizes))
    finally:
        conn.close()
    finish_template(url)
    return url


def build_w2_template(prov: Provisioner, sizes: Sizes) -> str:
    url = prov.new_url("tpl_w2")
    migrate(url)
    conn = common.raw_connect(url)
    try:
        common.load_rows(conn, "strategies", common.STRATEGY_COLUMNS, common.strategy_rows())
        common.load_rows(conn, "orders", common.ORDER_COLUMNS, common.w2_order_rows(sizes))
        common.load_rows(conn, "positions", common.POSITION_COLUMNS, common.w2_position_rows(sizes))
    finally:
        conn.close()
    finish_template(url)
    return url


def build_reads_template(prov: Provisioner, sizes: Sizes, name: str = "tpl_reads", *, trades: bool = True) -> str:
    """W3-W5's database: orders with broker ids, open and closed positions, and (optionally) many trades."""
    url = prov.new_url(name)
    migrate(url)
    conn = common.raw_connect(url)
    try:
        common.load_rows(conn, "strategies", common.STRATEGY_COLUMNS, common.strategy_rows())
        common.load_rows(conn, "orders", common.ORDER_COLUMNS, common.reads_order_rows(sizes))
        common.load_rows(conn, "positions", common.POSITION_COLUMNS, common.reads_position_rows(sizes))
        if trades:
            common.load_rows(conn, "trades", common.TRADE_COLUMNS, common.reads_trade_rows(sizes))
            if common.has_table(conn, "strategy_metrics"):
                conn.execute(common.BACKFILL_METRICS)
    finally:
        conn.close()
    finish_template(url)
    return url


# --- workers -----------------------------------------------------------------------------------


class Worker:
    """One implementation's worker process (python -m bench.worker IMPL)."""

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", impl], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1,
        )
        ready = self._read()
        if ready.get("ready") != impl:
            raise RuntimeError(f"worker {impl} did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.impl} exited (code {self.process.wait()})")
        return json.loads(line)

    def run(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"{self.impl} failed {command.get('workload')}:\n{answer['error']}")
        return answer

    def close(self) -> None:
        try:
            if self.process.poll() is None and self.process.stdin is not None:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.flush()
            self.process.wait(timeout=30)
        except Exception:  # noqa: BLE001 - shutting down
            self.process.kill()


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Results:
    """Every timed run: seconds[(workload, engine, impl)] is one number per round."""

    sizes: Sizes
    rounds: int
    synchronous: str
    seconds: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    rss: dict[tuple[str, str, str], list[tuple[int, int]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, workload: str, engine: str, impl: str, seconds: float, rss: tuple[int, int] | None = None) -> None:
        self.seconds.setdefault((workload, engine, impl), []).append(seconds)
        if rss is not None:
            self.rss.setdefault((workload, engine, impl), []).append(rss)

    def to_json(self) -> dict[str, Any]:
        return {
            "sizes": self.sizes.to_json(),
            "rounds": self.rounds,
            "synchronous": self.synchronous,
            "seconds": [{"workload": w, "engine": e, "impl": i, "rounds": s} for (w, e, i), s in self.seconds.items()],
            "rss_kib": [{"workload": w, "engine": e, "impl": i, "rounds": r} for (w, e, i), r in self.rss.items()],
        }


class ResultMismatch(RuntimeError):
    pass


def check_same(workload: str, engine: str, round_no: int, answers: dict[str, dict[str, Any]], files: dict[str, Path]) -> None:
    """Every implementation produced the same results (else the timings mean nothing)."""
    digests = {impl: answer["digest"] for impl, answer in answers.items()}
    if len(set(digests.values())) != 1:
        reference = "raw"
        lines = [f"{workload} on {engine}, round {round_no}: the implementations disagree ({digests})"]
        ref_doc = json.loads(files[reference].read_text())
        for impl, path in files.items():
            if impl != reference and digests[impl] != digests[reference]:
                lines.append(f"  {impl} vs raw: {common.first_difference(json.loads(path.read_text()), ref_doc)}")
        raise ResultMismatch("\n".join(lines))
    for impl in ("stocksbot", "raw"):
        if impl in answers and answers[impl].get("metrics_consistent") is False:
            raise ResultMismatch(f"{workload} on {engine}: {impl} left strategy_metrics different from its trades")


def workloads_for(engine: str, selected: list[str]) -> list[str]:
    return [w for w in selected if not (w == "W1n" and engine != "sqlite")]


def run_engine(
    engine: str, args: argparse.Namespace, sizes: Sizes, results: Results, workdir: Path, log: Callable[[str], None],
) -> None:
    prov = Provisioner(engine, workdir, args.postgres_url)
    selected = workloads_for(engine, args.workloads)
    workers: dict[str, Worker] = {}
    impls = args.impls
    try:
        log(f"{engine}: building the template databases")
        started = time.perf_counter()
        templates: dict[str, str] = {}
        if any(w in selected for w in ("W1", "W1n", "W1b")):
            templates["W1"] = build_w1_template(prov, sizes)
        if "W2" in selected:
            templates["W2"] = build_w2_template(prov, sizes)
        if any(w in selected for w in ("W3", "W4", "W5")):
            templates["reads"] = build_reads_template(prov, sizes)
        log(f"{engine}: templates ready in {time.perf_counter() - started:.1f}s")
        workers = {impl: Worker(impl) for impl in impls}
        for round_no in range(1, args.rounds + 1):
            for workload in selected:
                if workload == "W6":
                    run_coldstart(engine, prov, sizes, results, args)
                    continue
                answers: dict[str, dict[str, Any]] = {}
                files: dict[str, Path] = {}
                for impl in impls:
                    template = templates["W1" if workload.startswith("W1") else workload if workload == "W2" else "reads"]
                    files[impl] = workdir / f"result_{engine}_{workload}_{impl}.json"
                    answers[impl] = run_with_retries(
                        workers[impl], log, prov, template, fresh=workload in WRITES, name=f"{workload.lower()}_{impl}",
                        workload=workload, sizes=sizes.to_json(),
                        synchronous="NORMAL" if workload == "W1n" else args.synchronous, state_file=str(files[impl]),
                    )
                check_same(workload, engine, round_no, answers, files)
                for impl, answer in answers.items():
                    rss = (answer["rss_base_kib"], answer["rss_peak_kib"]) if workload in ("W2", "W5") else None
                    results.add(workload, engine, impl, answer["seconds"], rss)
                log(f"{engine} round {round_no} {workload}: " + ", ".join(
                    f"{impl} {answers[impl]['seconds']:.3f}s" for impl in impls
                ))
            if "W6" in selected:
                log(f"{engine} round {round_no} W6: " + ", ".join(
                    f"{impl} {results.seconds[('W6', engine, impl)][-1]:.3f}s" for impl in impls
                ))
    finally:
        for worker in workers.values():
            worker.close()
        for url in list(locals().get("templates", {}).values()):
            try:
                prov.drop(url)
            except Exception as exc:  # noqa: BLE001 - best effort
                print(f"bench: could not drop {url}: {exc}", file=sys.stderr)
        prov.drop_all()


#: Failures that are the server's doing (a restart by another job on a shared machine), not the code's.
TRANSIENT = ("AdminShutdown", "terminating connection", "server closed the connection", "Connection refused",
             "the database system is", "connection failed")


def run_with_retries(
    worker: Worker, log: Callable[[str], None], prov: Provisioner, template: str, *, fresh: bool, name: str,
    **command: Any,
) -> dict[str, Any]:
    """Run one timed task on the template (or on a fresh copy of it, for a writing workload); retry it on a
    new copy, up to 3 times after a pause, when the server went away under it (another job restarting it)."""
    for attempt in range(4):
        url = prov.copy(template, f"{name}_{attempt}") if fresh else template
        try:
            return worker.run(url=url, **command)
        except RuntimeError as exc:
            if attempt == 3 or not any(marker in str(exc) for marker in TRANSIENT):
                raise
            log(f"{worker.impl} {command.get('workload')}: the server went away ({str(exc).splitlines()[-1][:120]}); "
                "retrying in 10s")
            time.sleep(10)
        finally:
            if fresh:
                try:
                    prov.drop(url)
                except Exception as exc:  # noqa: BLE001 - the server may be down; drop_all retries at the end
                    log(f"could not drop {url}: {exc}")
    raise AssertionError  # pragma: no cover


COLDSTART_TABLES = {"strategies", "orders", "positions", "trades", "config"}


def compile_to_bytecode() -> None:
    """Compile stocksbot's and bench's own modules to ``__pycache__``, as ``pip install`` does for a package.

    The libraries in site-packages were compiled when pip installed them. stocksbot in an
    editable install, and bench, are compiled on first import only if the interpreter may
    write bytecode: under ``PYTHONDONTWRITEBYTECODE=1`` every W6 process would compile them
    from source again (about 13 ms), a cost no installed deployment pays.
    """
    import compileall

    spec = importlib.util.find_spec("stocksbot")
    packages = list(spec.submodule_search_locations or []) if spec else []
    for directory in [*packages, str(Path(__file__).resolve().parent)]:
        compileall.compile_dir(directory, quiet=1)


def run_coldstart(engine: str, prov: Provisioner, sizes: Sizes, results: Results, args: argparse.Namespace) -> None:
    """W6: for each implementation, ``w6_processes`` new processes, each on a new empty database."""
    compile_to_bytecode()
    env = dict(os.environ, STOCKSBOT_SQLITE_SYNCHRONOUS=args.synchronous)
    for impl in args.impls:
        total = 0.0
        for _ in range(sizes.w6_processes):
            for attempt in range(4):
                url = prov.new_url(f"w6_{impl}_{uuid.uuid4().hex[:8]}")
                try:
                    started = time.perf_counter()
                    done = subprocess.run(
                        [sys.executable, "-m", "bench.coldstart", impl, url], cwd=REPO, env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                    )
                    elapsed = time.perf_counter() - started
                    if done.returncode == 0:
                        missing = COLDSTART_TABLES - tables_of(url)
                        if missing:
                            raise ResultMismatch(f"W6 on {engine}: {impl} did not create {sorted(missing)}")
                        total += elapsed
                        break
                    if attempt == 3 or not any(marker in done.stderr for marker in TRANSIENT):
                        raise RuntimeError(f"W6 {impl} failed on {engine}:\n{done.stderr}")
                    time.sleep(10)
                finally:
                    prov.drop(url)
        results.add("W6", engine, impl, total)


def tables_of(url: str) -> set[str]:
    conn = common.raw_connect(url)
    try:
        if common.is_sqlite(conn):
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        else:
            rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
        return {row[0] for row in rows}
    finally:
        conn.close()


# --- scaling -----------------------------------------------------------------------------------


def run_scaling(args: argparse.Namespace, engines: list[str], workdir: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """W3, W4 and W5 through stocksbot and raw at growing table sizes; the per-operation cost of each."""
    rows: list[dict[str, Any]] = []
    base = Sizes()
    for engine in engines:
        prov = Provisioner(engine, workdir, args.postgres_url)
        workers = {impl: Worker(impl) for impl in ("stocksbot", "raw")}  # the scaling run compares these two
        try:
            for workload in ("W3", "W4", "W5"):
                for factor in args.scaling_factors:
                    table_rows = {"W3": base.w3_orders, "W4": base.w4_closed, "W5": base.w5_trades}[workload] * factor
                    if table_rows > args.scaling_max_rows:
                        log(f"{engine} {workload} x{factor}: {table_rows:,} rows is over --scaling-max-rows, skipped")
                        continue
                    sizes = Sizes(
                        w3_orders=base.w3_orders * (factor if workload == "W3" else 1),
                        w4_closed=base.w4_closed * (factor if workload == "W4" else 1),
                        w5_trades=base.w5_trades * factor if workload == "W5" else 1000,
                        w3_reads=2000, w4_listings=20, w5_calls=2,
                    )
                    started = time.perf_counter()
                    url = build_reads_template(prov, sizes, f"scale_{workload.lower()}_{factor}", trades=workload == "W5")
                    log(f"{engine} {workload} x{factor}: {table_rows:,} rows loaded in {time.perf_counter() - started:.0f}s")
                    try:
                        timings: dict[str, list[float]] = {"stocksbot": [], "raw": []}
                        for _ in range(args.rounds):
                            digests = set()
                            for impl, worker in workers.items():
                                answer = worker.run(workload=workload, url=url, sizes=sizes.to_json(), synchronous=args.synchronous)
                                digests.add(answer["digest"])
                                timings[impl].append(answer["seconds"] / operations(workload, sizes))
                            if len(digests) != 1:
                                raise ResultMismatch(f"scaling {workload} x{factor} on {engine}: results differ")
                        rows.append({
                            "engine": engine, "workload": workload, "factor": factor, "table_rows": table_rows,
                            "stocksbot": report.median(timings["stocksbot"]), "raw": report.median(timings["raw"]),
                        })
                        log(f"{engine} {workload} x{factor}: stocksbot {rows[-1]['stocksbot'] * 1e6:.1f} us/op, raw {rows[-1]['raw'] * 1e6:.1f} us/op")
                    finally:
                        prov.drop(url)
        finally:
            for worker in workers.values():
                worker.close()
            prov.drop_all()
    return rows


# --- the command ---------------------------------------------------------------------------------


#: The PostgreSQL server of the development machine (README), when no URL is given.
LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="stocksbot vs the raw driver vs SQLAlchemy ORM, interleaved, on SQLite and PostgreSQL.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few repetitions (about a minute)")
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=None, help="an admin URL (creates and drops throwaway databases); "
                        "default: $STOCKSBOT_BENCH_POSTGRES_URL, else $STOCKSBOT_TEST_POSTGRES_URL, else "
                        f"{LOCAL_POSTGRES_URL}")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (at least 3 for a believable median)")
    parser.add_argument("--scale", type=float, default=None, help="multiply the data sizes (default 1, or 0.05 with --quick)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset, e.g. W1,W3")
    parser.add_argument("--synchronous", default=os.environ.get("STOCKSBOT_SQLITE_SYNCHRONOUS", "FULL").upper(),
                        choices=("NORMAL", "FULL", "EXTRA"), help="SQLite durability for W1, W1b, W2 and W6 (default FULL, "
                        "what stocksbot ships; W1n always uses NORMAL)")
    parser.add_argument("--json", metavar="PATH", help="also write every timing to this JSON file")
    parser.add_argument("--impls", default=",".join(ALL_IMPLS),
                        help="comma-separated implementations to run (raw is always one: the ratios are against it)")
    parser.add_argument("--scaling", action="store_true", help="run W3, W4, W5 at growing table sizes instead")
    parser.add_argument("--scaling-factors", default="1,10,100")
    parser.add_argument("--scaling-max-rows", type=int, default=5_000_000)
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads: {', '.join(unknown)}")
    args.scaling_factors = [int(f) for f in args.scaling_factors.split(",")]
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.postgres_url = (
        args.postgres_url or os.environ.get("STOCKSBOT_BENCH_POSTGRES_URL") or os.environ.get("STOCKSBOT_TEST_POSTGRES_URL")
        or LOCAL_POSTGRES_URL
    )
    args.engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    impls = [impl.strip() for impl in args.impls.split(",") if impl.strip()]
    if "raw" not in impls or any(impl not in ALL_IMPLS for impl in impls):
        parser.error(f"--impls: a subset of {', '.join(ALL_IMPLS)} that includes raw")
    if "sqlalchemy" in impls and importlib.util.find_spec("sqlalchemy") is None:
        print("# sqlalchemy is not installed (pip install -e '.[bench]'): running without the ORM implementation",
              file=sys.stderr)
        impls.remove("sqlalchemy")
    args.impls = tuple(impl for impl in ALL_IMPLS if impl in impls)
    return args


def machine() -> str:
    """One line about where this ran."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    import sqlite3

    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = args.scale if args.scale is not None else (0.05 if args.quick else 1.0)
    sizes = Sizes.scaled(scale, quick=args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="stocksbot-bench-"))

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    try:
        print(f"# python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
        print(f"# machine: {machine()}")
        if args.scaling:
            rows = run_scaling(args, args.engines, workdir, log)
            print(report.scaling_table(rows))
            if args.json:
                Path(args.json).write_text(json.dumps({"scaling": rows}, indent=1), encoding="utf-8")
            return 0
        results = Results(sizes, args.rounds, args.synchronous)
        for engine in args.engines:
            if engine == "postgres":
                print(f"# postgres: {server_version(args.postgres_url)}")
            run_engine(engine, args, sizes, results, workdir, log)
        if args.json:
            Path(args.json).write_text(json.dumps(results.to_json(), indent=1), encoding="utf-8")
        print(report.render(results, args.engines, WORKLOADS, GATED, operations, args.impls))
        return 0
    except ResultMismatch as exc:
        print(f"bench: RESULTS DIFFER, no timing is valid:\n{exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])

