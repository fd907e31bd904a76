"""The code the child processes of test_concurrency.py run, and the parent's helper to run them.

    outcomes = run_workers(database_url, "record_fills", [(order_id, 50, "1", "100", "w0"), ...])

Each worker is a separate OS process started with the ``spawn`` method: it
imports stocksbot afresh, opens its own ``stocksbot.connect(url)``, and runs one
task below. Every task waits at a shared ``multiprocessing.Barrier`` before each
racing step, so the processes really overlap. A worker reports
``{"ok": <what the task returned>, "retries": <transient conflicts stocksbot retried>}``
or ``{"error": "Type: message", "traceback": ...}`` through a queue; an error in
one worker breaks the barrier so the others do not hang. Only
InvalidTransitionError is an expected outcome (reported as "refused"); any
other exception is an error the test shows.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
import traceback
from decimal import Decimal
from typing import Any, Callable

import stocksbot
from stocksbot import InvalidTransitionError, StorageService

BARRIER_TIMEOUT = 60.0  # seconds for every worker to reach the start line
RUN_TIMEOUT = 180.0  # seconds for the whole run before the parent gives up


# --- the parent side ---------------------------------------------------------------------------


def run_workers(
    database_url: str, task: str, arguments: list[tuple[Any, ...]], account_id: str = "default",
) -> list[dict[str, Any]]:
    """Run ``task`` in one spawned process per argument tuple, all behind one barrier; outcomes in order."""
    if task not in TASKS:
        raise ValueError(f"unknown worker task {task!r}")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arguments), timeout=BARRIER_TIMEOUT)
    results = context.Queue()
    processes = [
        context.Process(
            target=_child, args=(number, database_url, account_id, task, args, barrier, results),
            name=f"stocksbot-worker-{number}", daemon=True,
        )
        for number, args in enumerate(arguments)
    ]
    for process in processes:
        process.start()
    outcomes: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while len(outcomes) < len(processes):
            try:
                number, outcome = results.get(timeout=0.2)
                outcomes[number] = outcome
                continue
            except queue.Empty:
                pass
            for number, process in enumerate(processes):
                if number not in outcomes and process.exitcode not in (None, 0):
                    outcomes[number] = {"error": f"worker {number} died with exit code {process.exitcode}"}
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(set(range(len(processes))) - set(outcomes))} did not finish")
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    return [outcomes[number] for number in range(len(processes))]


def results_of(outcomes: list[dict[str, Any]]) -> list[Any]:
    """The tasks' return values; fails with every worker's error and traceback if any failed."""
    errors = [f"worker {n}: {o['error']}\n{o.get('traceback', '')}" for n, o in enumerate(outcomes) if "error" in o]
    assert not errors, "\n".join(errors)
    return [outcome["ok"] for outcome in outcomes]


# --- the child side ------------------------------------------------------------------------------


def _child(
    number: int, database_url: str, account_id: str, task: str, args: tuple[Any, ...],
    barrier: threading.Barrier, results: Any,
) -> None:
    try:
        with stocksbot.connect(database_url) as db:
            outcome: dict[str, Any] = {"ok": TASKS[task](StorageService(db, account_id), barrier, *args)}
            outcome["retries"] = db.retries  # transient conflicts retried inside stocksbot, for diagnosis
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent test
        barrier.abort()
        outcome = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    results.put((number, outcome))


def record_executions(
    storage: StorageService, barrier: threading.Barrier, order_id: str, quantity: str, price: str,
    external_trade_ids: list[str],
) -> list[str]:
    """Record each broker execution (all workers record the same ones); the trade id returned for each."""
    trade_ids = []
    for external_trade_id in external_trade_ids:
        barrier.wait()
        trade = storage.record_fill(order_id, quantity=quantity, price=price, external_trade_id=external_trade_id)
        trade_ids.append(trade.trade_id)
    return trade_ids


def record_fills(
    storage: StorageService, barrier: threading.Barrier, order_id: str, count: int, quantity: str, price: str,
    id_prefix: str,
) -> list[str]:
    """Start together, then record ``count`` distinct fills on one order; their trade ids."""
    barrier.wait()
    return [
        storage.record_fill(order_id, quantity=quantity, price=price, external_trade_id=f"{id_prefix}-{k}").trade_id
        for k in range(count)
    ]


def record_batches(
    storage: StorageService, barrier: threading.Barrier, batches: list[list[tuple[str, str, str, str]]],
) -> list[list[str]]:
    """For each batch of (order_id, quantity, price, external_trade_id), meet the others at the barrier, then
    record it with one record_fills call; the trade ids each batch returned."""
    returned = []
    for batch in batches:
        barrier.wait()
        returned.append([trade.trade_id for trade in storage.record_fills([
            {"order_id": order_id, "quantity": quantity, "price": price, "external_trade_id": execution}
            for order_id, quantity, price, execution in batch
        ])])
    return returned


def fill_orders(
    storage: StorageService, barrier: threading.Barrier, fills: list[tuple[str, str, str]],
) -> list[str]:
    """For each (order_id, quantity, price), meet the others at the barrier, then fill it; trade ids."""
    trade_ids = []
    for order_id, quantity, price in fills:
        barrier.wait()
        trade_ids.append(storage.record_fill(order_id, quantity=quantity, price=price).trade_id)
    return trade_ids


def change_status(
    storage: StorageService, barrier: threading.Barrier, order_ids: list[str], status: str, reason: str,
) -> list[str]:
    """For each order, meet the others at the barrier, then try to move it to ``status``: "ok" or "refused"."""
    outcomes = []
    for order_id in order_ids:
        barrier.wait()
        try:
            storage.update_order_status(order_id, status, reason=reason)
            outcomes.append("ok")
        except InvalidTransitionError:
            outcomes.append("refused")
    return outcomes


def fill_until_refused(
    storage: StorageService, barrier: threading.Barrier, order_id: str, count: int, quantity: str, price: str,
    id_prefix: str,
) -> list[str]:
    """Start together, then try ``count`` fills on one order: "filled" or "refused" for each."""
    barrier.wait()
    outcomes = []
    for k in range(count):
        try:
            storage.record_fill(order_id, quantity=quantity, price=price, external_trade_id=f"{id_prefix}-{k}")
            outcomes.append("filled")
        except InvalidTransitionError:
            outcomes.append("refused")
    return outcomes


def cancel_once_filled(
    storage: StorageService, barrier: threading.Barrier, order_id: str, at_least: str,
) -> str:
    """Start together, wait until the order has ``at_least`` filled (or ended), then cancel it: "ok" or "refused"."""
    barrier.wait()
    while True:
        order = storage.get_order(order_id)
        if order.filled_quantity >= Decimal(at_least) or order.status.is_terminal:
            break
        time.sleep(0.001)
    try:
        storage.update_order_status(order_id, "cancelled", reason="cancel racing fills")
        return "ok"
    except InvalidTransitionError:
        return "refused"


def run_task(storage: StorageService, barrier: threading.Barrier, task: str, *args: Any) -> Any:
    """Dispatch to one task by name (for a worker that plays several roles, like the fill/cancel race)."""
    return TASKS[task](storage, barrier, *args)


TASKS: dict[str, Callable[..., Any]] = {
    "record_executions": record_executions,
    "record_fills": record_fills,
    "fill_orders": fill_orders,
    "record_batches": record_batches,
    "change_status": change_status,
    "fill_until_refused": fill_until_refused,
    "cancel_once_filled": cancel_once_filled,
    "run_task": run_task,
}
