"""Plan + connection -> ApplyReport: the plan's writes, one resource per request, in the plan's order.

Creates and updates run first, kind by kind (what others read first), up to `parallelism` at a time,
each only after the changes it depends on succeeded; deletes run after all of them, in the reverse
order of kinds. The first failure stops new work: requests in flight
finish, everything not started is reported as skipped, and because every write sends a whole
resource, running apply again converges. A stop event (Ctrl-C, SIGTERM) does the same. Each write is
its kind's to make (kestrasync.kinds).
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from kestrasync import kinds
from kestrasync.errors import KestraSyncError, ServerUnreachable
from kestrasync.http import Connection
from kestrasync.model import Action, ApplyReport, ApplyResult, Change, Key, Plan, ResultStatus

ResultCallback = Callable[[ApplyResult], None]
PARALLELISM = 8  # concurrent writes, unless apply.parallelism or --parallelism says otherwise


def apply_plan(
    plan: Plan,
    conn: Connection,
    *,
    parallelism: int = PARALLELISM,
    on_result: ResultCallback | None = None,
    stop: threading.Event | None = None,
    keep_going: bool = False,
) -> ApplyReport:
    """Apply every change of `plan`; failures and skips are results, not exceptions.

    By default the first failure stops new work. With `keep_going` (watch), the other changes go on;
    only those that depend on a failed change are skipped.
    """
    stop = stop or threading.Event()
    results: list[ApplyResult] = []
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        for phase in _phases(plan):
            halted = not keep_going and _halted(results)
            results += _run_phase(phase, conn, pool, parallelism, on_result, stop, halted, keep_going)
    return ApplyReport(tuple(results), interrupted=stop.is_set(), kinds=plan.kinds)


def _phases(plan: Plan) -> list[list[Change]]:
    """The plan's changes in phases, each finished before the next starts: writes kind by kind in
    ascending rank (a namespace's files before the flows that read them), then deletes in descending
    rank (flows before the files they stopped reading)."""
    ranks = sorted({kinds.get(c.key.kind).info.rank for c in plan.changes})
    writes = [[c for c in plan.changes if c.action is not Action.DELETE and kinds.get(c.key.kind).info.rank == rank] for rank in ranks]
    deletes = [[c for c in plan.changes if c.action is Action.DELETE and kinds.get(c.key.kind).info.rank == rank] for rank in reversed(ranks)]
    return [phase for phase in writes + deletes if phase]


def _halted(results: list[ApplyResult]) -> bool:
    return any(r.status is not ResultStatus.APPLIED for r in results)


def _run_phase(
    changes: list[Change],
    conn: Connection,
    pool: ThreadPoolExecutor,
    parallelism: int,
    on_result: ResultCallback | None,
    stop: threading.Event,
    halted: bool,
    keep_going: bool,
) -> list[ApplyResult]:
    """Start changes in plan order as soon as what they depend on is applied, `parallelism` at a time.
    Each finished change unblocks its dependents directly: no rescan of what waits, which shows
    with thousands of changes. Changes are tracked by position (a damaged plan file may repeat a key)."""
    blockers = [set(c.depends_on) for c in changes]
    dependents: dict[Key, set[int]] = defaultdict(set)
    for position, change in enumerate(changes):
        for dependency in change.depends_on:
            dependents[dependency].add(position)
    ready = [position for position, waiting in enumerate(blockers) if not waiting]  # a heap: plan order
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    started: set[int] = set()
    in_flight = 0
    results: list[ApplyResult] = []
    while True:
        while ready and in_flight < parallelism and not halted and not stop.is_set():
            position = heapq.heappop(ready)
            started.add(position)
            in_flight += 1
            pool.submit(apply_change, changes[position], conn).add_done_callback(finished.put)
        if not in_flight:
            break  # nothing in flight and nothing ready: the rest waits for a failed change
        result = finished.get().result()
        in_flight -= 1
        results.append(result)
        if result.status is ResultStatus.APPLIED:
            for position in dependents.pop(result.change.key, ()):
                blockers[position].discard(result.change.key)
                if not blockers[position]:
                    heapq.heappush(ready, position)
        elif not keep_going:
            halted = True
        if on_result:
            on_result(result)
    skipped = [
        ApplyResult(change, ResultStatus.SKIPPED, message="not attempted")
        for position, change in enumerate(changes)
        if position not in started
    ]
    for result in skipped:
        if on_result:
            on_result(result)
    return results + skipped


def apply_change(change: Change, conn: Connection) -> ApplyResult:
    """One write; a KestraSyncError becomes a FAILED result carrying its sentence."""
    started = time.perf_counter()
    try:
        version = kinds.get(change.key.kind).write(conn, change)
    except KestraSyncError as error:
        location = getattr(error, "location", None) or (change.after.location if change.after else None)
        where = f"{location}: " if location else ""
        return ApplyResult(
            change,
            ResultStatus.FAILED,
            message=f"{where}{error}",
            seconds=time.perf_counter() - started,
            transient=isinstance(error, ServerUnreachable),
        )
    return ApplyResult(change, ResultStatus.APPLIED, version_after=version, seconds=time.perf_counter() - started)
