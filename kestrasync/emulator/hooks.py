"""Test hooks: request counters, added latency and injected faults (none of this exists in Kestra).

Counters are keyed `"METHOD /route/template"` (e.g. `GET /api/v1/{tenant}/flows/search`) and count every
request that reached a Kestra route, faulted or not. A fault matches a method and/or a route template and
fires on the next `count` matching requests, or on a seeded `fraction` of them, or on all of them:

- `status`: answer that status (500, 502, 503, 429...) with an optional `Retry-After`;
- `drop`: close the connection without answering;
- `stall`: wait `stall_seconds`, then answer normally (past a client's timeout).

With `phase: "before"` the request is not processed; with `phase: "after"` it is processed and stored first,
and only the answer is replaced, which models a write whose outcome the client cannot know.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

ACTIONS = ("status", "drop", "stall")
PHASES = ("before", "after")


@dataclass
class Fault:
    action: str = "status"
    status: int = 503
    method: str | None = None
    route: str | None = None
    count: int | None = None
    fraction: float | None = None
    seed: int | None = None
    retry_after: str | None = None
    stall_seconds: float | None = None
    phase: str = "before"
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}")
        if not 100 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.count is not None and int(self.count) < 1:
            raise ValueError("count must be at least 1")
        if self.fraction is not None and not 0 <= float(self.fraction) <= 1:
            raise ValueError("fraction must be between 0 and 1")
        if self.action == "stall" and not self.stall_seconds:
            raise ValueError("a stall needs stall_seconds")
        self.method = str(self.method).upper() if self.method else None
        self._random = random.Random(self.seed)

    def matches(self, method: str, template: str) -> bool:
        return (self.method is None or self.method == method) and (self.route is None or self.route == template)

    def fires(self) -> bool:
        """Decide for one matching request, consuming the count or drawing the seeded fraction."""
        if self.fraction is not None and self._random.random() >= self.fraction:
            return False
        if self.count is not None:
            self.count -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.count is not None and self.count <= 0


class Hooks:
    def __init__(self, latency_ms: int = 0) -> None:
        self.configured_latency_ms = latency_ms
        self.latency_ms = latency_ms
        self.counts: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self._generation = 0  # bumped to release stalled requests (reset, shutdown)

    def record(self, method: str, template: str) -> None:
        self.counts[f"{method} {template}"] += 1

    def requests(self) -> dict:
        return {"total": sum(self.counts.values()), "routes": dict(sorted(self.counts.items()))}

    def add_fault(self, spec: dict) -> Fault:
        known = {name for name in Fault.__dataclass_fields__ if not name.startswith("_")}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = Fault(**spec)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, template: str) -> Fault | None:
        """The first matching fault that fires for this request, if any."""
        for fault in self.faults:
            if fault.matches(method, template) and fault.fires():
                if fault.spent:
                    self.faults.remove(fault)
                return fault
        return None

    def reset(self, *, counters: bool = True, faults: bool = True) -> None:
        if counters:
            self.counts.clear()
        if faults:
            self.clear_faults()
            self.latency_ms = self.configured_latency_ms

    def clear_faults(self) -> None:
        self.faults.clear()
        self.release_stalls()

    def release_stalls(self) -> None:
        self._generation += 1

    async def stall(self, seconds: float) -> None:
        """Sleep `seconds`, or less if stalls are released (so a reset or a shutdown never waits on one)."""
        generation, deadline = self._generation, time.monotonic() + seconds
        while time.monotonic() < deadline and generation == self._generation:
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    async def delay(self) -> None:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
