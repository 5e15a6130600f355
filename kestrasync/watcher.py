"""watch: keep a development server in line with the files while they are edited.

First a full sync (what `apply --auto-approve` does), then a watchfiles loop: each batch of changed
paths (debounced, so an editor's save-through-rename or a `git checkout` of many files arrives as one
batch) is rescanned alone, the affected flows are read fresh from the server (so an edit made in the
Kestra UI shows as a change, and is overwritten), and the difference is applied. A file that does
not scan is reported and left alone on the server until it is fixed. When the server does not
answer, the affected flows are kept and retried with backoff. Nothing here prints: a WatchView does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import watchfiles

from kestrasync import engine
from kestrasync.applier import apply_plan
from kestrasync.client import KestraClient
from kestrasync.config import Settings
from kestrasync.errors import ConfigError, FlowFileError, KestraSyncError, ScanFailed, ServerUnreachable, ValidationFailed
from kestrasync.model import ApplyReport, ApplyResult, Change, FlowKey, LocalFlow, Plan, RemoteFlow, ResultStatus
from kestrasync.planner import Ownership, PlanOptions
from kestrasync.scanner import FileFilter, find_files, read_flow_file

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
    namespaces: tuple[str, ...] = ()
    debounce_ms: int = DEBOUNCE_MS
    step_ms: int = STEP_MS


@dataclass
class _State:
    files: dict[Path, tuple[LocalFlow, ...]] = field(default_factory=dict)  # last flows that scanned, by file
    broken: set[Path] = field(default_factory=set)  # files whose last version does not scan
    remote: dict[FlowKey, RemoteFlow] = field(default_factory=dict)  # last known server state
    pending: set[FlowKey] = field(default_factory=set)  # to sync once the server answers
    namespaces: set[str] = field(default_factory=set)  # every namespace a file declared this session
    synced: bool = False  # the initial full sync happened

    def local(self) -> list[LocalFlow]:
        return [flow for flows in self.files.values() for flow in flows]


def _modified_at(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile: it changed
        return float("inf")


class Watcher:
    """The watch loop's state and steps; `run` blocks until `stop` is set."""

    def __init__(self, settings: Settings, client: KestraClient, options: WatchOptions, view: WatchView, stop: threading.Event):
        self.settings = settings
        self.client = client
        self.options = options
        self.view = view
        self.stop = stop
        self.filter = FileFilter(settings.scan_options)
        self.state = _State()
        self._unreachable_since: float | None = None
        self._retry_at = 0.0
        self._retries = 0

    def run(self) -> None:
        """Sync everything, then follow the files until `stop` is set."""
        roots = [p for p in self.settings.paths if p.exists()]
        if not roots:
            raise ConfigError(f"nothing to watch: {', '.join(map(str, self.settings.paths))} does not exist")
        loaded_at = time.time()
        self._load_all()
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
            if not watching:  # the watcher is live only now: catch saves made while it started
                watching = True
                self.view.notice(f"Watching {', '.join(str(p) for p in roots)} for changes (Ctrl-C to stop).")
                changes = changes | {(None, str(p)) for p in self._changed_since(loaded_at)}
            if changes:
                self.handle_paths({Path(path) for _, path in changes})
            elif self._unreachable_since is not None and time.monotonic() >= self._retry_at:
                self._retry()

    def _changed_since(self, moment: float) -> set[Path]:
        """Files added, removed or modified since `moment` (with a second of slack for coarse clocks)."""
        current = {p.absolute() for p in find_files(self.settings.paths, self.settings.scan_options, [])}
        gone = set(self.state.files) - current
        return gone | {p for p in current if p not in self.state.files or _modified_at(p) >= moment - 1}

    # -----------------------------------------------------------------------------------------
    # Files

    def _load_all(self) -> None:
        errors: list[FlowFileError] = []
        for path in find_files(self.settings.paths, self.settings.scan_options, errors):
            self._read(path.absolute())
        if errors:
            self.view.problem(ScanFailed(errors))

    def _read(self, path: Path) -> set[FlowKey]:
        """Rescan one file; returns the keys it declared before or declares now."""
        before = {f.key for f in self.state.files.get(path, ())}
        if not path.is_file():
            self.state.files.pop(path, None)
            self.state.broken.discard(path)
            return before
        flows, errors = read_flow_file(path, self.settings.max_file_size)
        declared = {f.key: f for other, fl in self.state.files.items() if other != path for f in fl}
        errors += [
            FlowFileError(f.location, f"flow {f.key} is defined twice (first at {declared[f.key].location})")
            for f in flows
            if f.key in declared
        ]
        if errors:
            self.view.problem(ScanFailed(errors))
            self.state.broken.add(path)
            return set()  # the server keeps what the last good version put there
        self.state.broken.discard(path)
        self.state.files[path] = tuple(flows)
        self.state.namespaces.update(f.key.namespace for f in flows)
        return before | {f.key for f in flows}

    def handle_paths(self, paths: Iterable[Path]) -> None:
        """One debounced batch: rescan what changed, then sync the flows it touched."""
        affected: set[FlowKey] = set()
        for path in self._expand(paths):
            affected |= self._read(path)
        if not self.state.synced:
            self._full_sync()
            return
        self._sync(affected | self.state.pending)

    def _expand(self, paths: Iterable[Path]) -> set[Path]:
        """The flow files behind a batch of paths: a directory stands for the files below it
        (a `git checkout` may create or remove whole directories)."""
        files: set[Path] = set()
        for path in (p.absolute() for p in paths):
            known = {f for f in self.state.files if f == path or path in f.parents}
            files |= known | ({path} if path in self.state.broken else set())
            if path.is_dir():
                files |= {f.absolute() for f in find_files([path], self.settings.scan_options, [])}
            elif self.filter.wants(path):
                files.add(path)
        return files

    # -----------------------------------------------------------------------------------------
    # Server

    def _full_sync(self) -> None:
        """The first sync: read the whole owned scope, plan with validation, apply what passes."""
        local = self.state.local()
        options = self._plan_options(local, None)
        try:
            self.state.remote = dict(self.client.read_flows(options.ownership.scopes, self.settings.parallelism))
            plan = self._validated_plan(local, options)
        except KestraSyncError as error:
            self._failed(error, set())
            self.state.synced = not isinstance(error, ServerUnreachable)
            return
        self._reachable()
        self.state.synced = True
        self.view.plan(plan)
        if not self.options.dry_run and plan.has_changes:
            self.view.report(self._apply(plan, quiet=True))

    def _validated_plan(self, local: Sequence[LocalFlow], options: PlanOptions) -> Plan:
        """A validated plan; flows the server refuses are reported and left out until their file is saved again."""
        try:
            return engine.plan_against(local, self.state.remote, self.settings, options, self.client)
        except ValidationFailed as refused:
            self.view.problem(refused)
            bad = {d.key for d in refused.diagnostics}
            rest = frozenset({f.key for f in local} | set(self.state.remote)) - bad
            options = replace(options, targets=rest, prune=False if bad else options.prune)
            return engine.plan_against(local, self.state.remote, self.settings, options, self.client, validate=False)

    def _sync(self, keys: set[FlowKey]) -> None:
        """Bring the flows `keys` in line: read them fresh, plan without validation (a write that the
        server refuses is reported by its answer), apply each independently of the others."""
        if not keys:
            return
        local = self.state.local()
        options = self._plan_options(local, frozenset(keys))
        try:
            self._refresh(keys)
            plan = engine.plan_against(local, self.state.remote, self.settings, options, self.client, validate=False)
        except KestraSyncError as error:
            self._failed(error, keys)
            return
        self._reachable()
        self.state.pending -= keys
        if self.options.dry_run:
            for change in plan.changes:
                self.view.would(change)
        else:
            self._apply(plan, quiet=False)
        declared = {f.key for f in local}
        for key in sorted(keys - declared):
            if key in self.state.remote and not options.prune:
                self.view.notice(f"{key} is no longer declared by any file; kept on the server (--prune deletes it).")

    def _failed(self, error: KestraSyncError, keys: set[FlowKey]) -> None:
        if isinstance(error, ServerUnreachable):
            self._unreachable(error, keys)
        else:
            self.view.problem(error)

    def _plan_options(self, local: Sequence[LocalFlow], targets: frozenset[FlowKey] | None) -> PlanOptions:
        request = engine.PlanRequest(prune=self.options.prune, namespaces=self.options.namespaces, targets=targets)
        options = engine.plan_options(self.settings, request, local)
        if not self.settings.namespaces:
            # Owned: every namespace a file declared this session, so that deleting the last file of a
            # namespace still deletes its flow with --prune (guardrails permitting).
            options = replace(options, ownership=Ownership(exact=frozenset(self.state.namespaces)))
        if self.state.broken and options.prune:
            # A broken file may still declare flows we cannot see: never prune on a partial picture.
            self.view.notice("Prune is paused while a file has errors.")
            options = replace(options, prune=False)
        return options

    def _refresh(self, keys: set[FlowKey]) -> None:
        """Read the affected flows fresh, so an edit made in the UI since is seen (and overwritten)."""
        with ThreadPoolExecutor(max_workers=self.settings.parallelism) as pool:
            for key, flow in zip(keys, pool.map(self.client.get_flow, keys)):
                if flow is None:
                    self.state.remote.pop(key, None)
                else:
                    self.state.remote[key] = flow

    def _apply(self, plan: Plan, *, quiet: bool) -> ApplyReport:
        report = apply_plan(
            plan,
            self.client,
            parallelism=self.settings.parallelism,
            on_result=None if quiet else self.view.result,
            stop=self.stop,
            keep_going=True,  # one refused flow must not hold back the other saves
        )
        for result in report.results:
            self._record(result)
        return report

    def _record(self, result: ApplyResult) -> None:
        change = result.change
        if result.status is ResultStatus.APPLIED:
            if change.after is None:
                self.state.remote.pop(change.key, None)
            else:
                self.state.remote[change.key] = RemoteFlow(change.key, change.after.source, result.revision_after)
        elif result.transient:
            self.state.pending.add(change.key)
            self._unreachable(ServerUnreachable(result.message), set())

    def _unreachable(self, error: ServerUnreachable, keys: set[FlowKey]) -> None:
        self.state.pending |= keys
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
            self._retries = 0
            self.view.notice(f"{error} Changes are kept and will be applied when it answers.")
        self._retry_at = now + RETRY_DELAYS[min(self._retries, len(RETRY_DELAYS) - 1)]
        self._retries += 1

    def _reachable(self) -> None:
        if self._unreachable_since is not None:
            self._unreachable_since = None
            self.view.notice(f"The server at {self.client.url} answers again.")

    def _retry(self) -> None:
        if not self.state.synced:
            self._full_sync()
        else:
            self._sync(set(self.state.pending))
