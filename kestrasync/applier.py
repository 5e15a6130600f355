"""Plan + client -> ApplyReport: the plan's writes, one flow per request, in the plan's order.

Creates and updates run first, up to `parallelism` at a time, each only after the changes it depends
on succeeded; deletes run after all of them. The first failure stops new work: requests in flight
finish, everything not started is reported as skipped, and because every write sends a whole flow,
running apply again converges. A stop event (Ctrl-C, SIGTERM) does the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from kestrasync.client import KestraClient
from kestrasync.errors import KestraSyncError, ServerUnreachable
from kestrasync.model import Action, ApplyReport, ApplyResult, Change, Plan, ResultStatus

ResultCallback = Callable[[ApplyResult], None]


def apply_plan(
    plan: Plan,
    client: KestraClient,
    *,
    parallelism: int = 8,
    on_result: ResultCallback | None = None,
    stop: threading.Event | None = None,
    keep_going: bool = False,
) -> ApplyReport:
    """Apply every change of `plan`; failures and skips are results, not exceptions.

    By default the first failure stops new work. With `keep_going` (watch), the other changes go on;
    only those that depend on a failed change are skipped.
    """
    stop = stop or threading.Event()
    writes = [c for c in plan.changes if c.action is not Action.DELETE]
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    results: list[ApplyResult] = []
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        for phase in (writes, deletes):
            halted = not keep_going and _halted(results)
            results += _run_phase(phase, client, pool, parallelism, on_result, stop, halted, keep_going)
    return ApplyReport(tuple(results), interrupted=stop.is_set())


def _halted(results: list[ApplyResult]) -> bool:
    return any(r.status is not ResultStatus.APPLIED for r in results)


def _run_phase(
    changes: list[Change],
    client: KestraClient,
    pool: ThreadPoolExecutor,
    parallelism: int,
    on_result: ResultCallback | None,
    stop: threading.Event,
    halted: bool,
    keep_going: bool,
) -> list[ApplyResult]:
    pending = list(changes)
    done: set = set()
    running: dict[Future, Change] = {}
    results: list[ApplyResult] = []
    while pending or running:
        if not halted and not stop.is_set():
            for change in [c for c in pending if done.issuperset(c.depends_on)][: parallelism - len(running)]:
                pending.remove(change)
                running[pool.submit(apply_change, change, client)] = change
        if not running:
            break  # nothing in flight and nothing ready: the rest waits for a failed change
        finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
        for future in finished:
            running.pop(future)
            result = future.result()
            results.append(result)
            if result.status is ResultStatus.APPLIED:
                done.add(result.change.key)
            elif not keep_going:
                halted = True
            if on_result:
                on_result(result)
    skipped = [ApplyResult(c, ResultStatus.SKIPPED, message="not attempted") for c in pending]
    for result in skipped:
        if on_result:
            on_result(result)
    return results + skipped


def apply_change(change: Change, client: KestraClient) -> ApplyResult:
    """One write; a KestraSyncError becomes a FAILED result carrying its sentence."""
    started = time.perf_counter()
    try:
        if change.action is Action.CREATE:
            revision = client.create_flow(change.key, change.after.source).revision
        elif change.action is Action.UPDATE:
            revision = client.update_flow(change.key, change.after.source).revision
        else:
            client.delete_flow(change.key)
            revision = None
    except KestraSyncError as error:
        where = f"{change.after.location}: " if change.after else ""
        return ApplyResult(
            change,
            ResultStatus.FAILED,
            message=f"{where}{error}",
            seconds=time.perf_counter() - started,
            transient=isinstance(error, ServerUnreachable),
        )
    return ApplyResult(change, ResultStatus.APPLIED, revision_after=revision, seconds=time.perf_counter() - started)
