"""watch: keep a development server in line with the files while they are edited.

A loop over engine functions, with no rule of its own. First a full sync (what `apply
--auto-approve` does, except that a resource the server refuses is reported and left out), then a
watchfiles loop: each batch of changed paths (debounced, so an editor's save-through-rename or a
`git checkout` of many files arrives as one batch) is rescanned alone (Workspace.update), the
affected resources are read fresh from the server (so an edit made in the Kestra UI shows as a
change, and is overwritten), planned and applied. When the server does not answer, the affected
resources are kept and retried with backoff. Nothing here prints: a WatchView does.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

import watchfiles

from kestrasync import engine
from kestrasync.config import Settings
from kestrasync.errors import ConfigError, KestraSyncError, ScanFailed, ServerUnreachable
from kestrasync.http import Connection
from kestrasync.model import ApplyReport, ApplyResult, Change, Key, Plan, Remote

DEBOUNCE_MS = 400  # longest a burst of events is grouped
STEP_MS = 30  # quiet time that ends a burst
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)


class WatchView(Protocol):
    """How the watcher tells the user what happens (the CLI renders; tests may record)."""

    def plan(self, plan: Plan) -> None: ...
    def report(self, report: ApplyReport) -> None: ...
    def result(self, result: ApplyResult) -> None: ...
    def would(self, change: Change) -> None: ...
    def problem(self, error: KestraSyncError) -> None: ...
    def notice(self, text: str) -> None: ...


@dataclass(frozen=True)
class WatchOptions:
    prune: bool = False
    dry_run: bool = False
    selected_namespaces: tuple[str, ...] = ()
    debounce_ms: int = DEBOUNCE_MS
    step_ms: int = STEP_MS


@dataclass
class _Outage:
    """While the server does not answer: since when, and when to try again."""

    since: float
    retry_at: float = 0.0
    retries: int = 0


@dataclass
class _State:
    remote: dict[Key, Remote] = field(default_factory=dict)  # last known server state
    pending: set[Key] = field(default_factory=set)  # to sync once the server answers
    synced: bool = False  # the initial full sync happened
    outage: _Outage | None = None


class Watcher:
    """The watch loop's state and steps; `run` blocks until `stop` is set."""

    def __init__(
        self,
        settings: Settings,
        conn: Connection,
        options: WatchOptions,
        view: WatchView,
        stop: threading.Event,
        pool: Executor | None = None,
    ):
        self.settings = settings
        self.conn = conn
        self.options = options
        self.view = view
        self.stop = stop
        self.pool = pool
        self.workspace = engine.Workspace(settings)
        self.state = _State()

    def run(self) -> None:
        """Sync everything, then follow the files until `stop` is set."""
        roots = engine.watched_roots(self.settings)
        if not roots:
            raise ConfigError(f"nothing to watch: {', '.join(map(str, engine.configured_roots(self.settings)))} does not exist")
        loaded_at = time.time()
        self.workspace = engine.scan(self.settings, self.pool)
        self._report_problems()
        self._full_sync()
        watching = False
        for changes in watchfiles.watch(
            *roots,
            watch_filter=None,
            debounce=self.options.debounce_ms,
            step=self.options.step_ms,
            stop_event=self.stop,
            rust_timeout=300,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if self.stop.is_set():
                break
            paths = {path for _, path in changes}
            if not watching:  # the watcher is live only now: catch saves made while it started
                watching = True
                self.view.notice(f"Watching {', '.join(str(p) for p in roots)} for changes (Ctrl-C to stop).")
                paths |= self.workspace.changed_since(loaded_at)
            if paths:
                self.handle_paths(paths)
            elif self.state.outage is not None and time.monotonic() >= self.state.outage.retry_at:
                self._retry()

    def handle_paths(self, paths) -> None:
        """One debounced batch: rescan what changed, then sync what it touched."""
        affected = self.workspace.update(paths)
        self._report_problems()
        if not self.state.synced:
            self._full_sync()
        else:
            self._sync(affected | self.state.pending)

    def _report_problems(self) -> None:
        if self.workspace.problems:
            self.view.problem(ScanFailed(self.workspace.problems, engine.files_noun(self.settings)))

    def _request(self, targets: frozenset[Key] | None = None) -> engine.PlanRequest:
        request = engine.PlanRequest(prune=self.options.prune, selected_namespaces=self.options.selected_namespaces, targets=targets)
        if engine.prune_paused(self.settings, request, self.workspace):
            self.view.notice(engine.PRUNE_PAUSED)
        return request

    def _full_sync(self) -> None:
        """The first sync: read the whole owned scope, plan with validation, apply what passes."""
        request = self._request()
        try:
            scopes = engine.plan_options(self.settings, request, self.workspace).ownership.scopes
            self.state.remote = engine.read(self.conn, self.settings, scopes, self.workspace.current())
            plan, refused = engine.watch_plan(self.settings, request, self.workspace, self.state.remote, self.conn, validate=True)
        except KestraSyncError as error:
            self._failed(error, set())
            self.state.synced = not isinstance(error, ServerUnreachable)
            return
        if refused is not None:
            self.view.problem(refused)
        self._answered()
        self.state.synced = True
        self.view.plan(plan)
        if not self.options.dry_run and plan.has_changes:
            self.view.report(self._apply(plan, quiet=True))

    def _sync(self, keys: set[Key]) -> None:
        """Bring the resources `keys` in line: read them fresh, plan without validation (a write that
        the server refuses is reported by its answer), apply each independently of the others."""
        if not keys:
            return
        request = self._request(frozenset(keys))
        try:
            engine.remember(self.state.remote, engine.refresh(self.conn, self.settings, engine.on_server(self.settings, self.workspace, keys)))
            plan, _ = engine.watch_plan(self.settings, request, self.workspace, self.state.remote, self.conn, validate=False)
        except KestraSyncError as error:
            self._failed(error, keys)
            return
        self._answered()
        self.state.pending -= keys
        if self.options.dry_run:
            for change in plan.changes:
                self.view.would(change)
        else:
            self._apply(plan, quiet=False)
        if not plan.prune:
            for key in engine.undeclared(self.settings, keys, self.workspace, self.state.remote):
                self.view.notice(f"{key} is no longer declared by any file; kept on the server (--prune deletes it).")

    def _apply(self, plan: Plan, *, quiet: bool) -> ApplyReport:
        report = engine.sync(plan, self.conn, self.settings, on_result=None if quiet else self.view.result, stop=self.stop)
        unanswered = engine.record(self.state.remote, report)
        if unanswered:
            message = next(r.message for r in report.results if r.transient)
            self._unreachable(ServerUnreachable(message), unanswered)
        return report

    def _failed(self, error: KestraSyncError, keys: set[Key]) -> None:
        if isinstance(error, ServerUnreachable):
            self._unreachable(error, keys)
        else:
            self.view.problem(error)

    def _unreachable(self, error: ServerUnreachable, keys: set[Key]) -> None:
        self.state.pending |= keys
        now = time.monotonic()
        if self.state.outage is None:
            self.state.outage = _Outage(since=now)
            self.view.notice(f"{error} Changes are kept and will be applied when it answers.")
        outage = self.state.outage
        outage.retry_at = now + RETRY_DELAYS[min(outage.retries, len(RETRY_DELAYS) - 1)]
        outage.retries += 1

    def _answered(self) -> None:
        if self.state.outage is not None:
            self.state.outage = None
            self.view.notice(f"The server at {self.conn.url} answers again.")

    def _retry(self) -> None:
        if not self.state.synced:
            self._full_sync()
        else:
            self._sync(set(self.state.pending))

