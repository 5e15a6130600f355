"""The wiring, and the library API: config -> scan -> read server -> diff -> plan -> validate -> apply.

This is the only module that joins the others; the CLI, the watcher and other programs call these
functions. Nothing here prints.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from kestrasync.applier import ResultCallback, apply_plan
from kestrasync.client import Credentials, KestraClient, RetryPolicy
from kestrasync.config import Settings
from kestrasync.errors import ConfigError, PlanFileError, StalePlan, ValidationFailed
from kestrasync.lock import ApplyLock, LockOptions
from kestrasync.model import Action, ApplyReport, Diagnostic, FlowKey, LocalFlow, Plan, RemoteFlow, Severity, SourceLocation
from kestrasync.planner import Ownership, PlanOptions, make_plan
from kestrasync.scancache import ScanCache
from kestrasync.scanner import SCAN_RULES, read_flow_text, scan
from kestrasync.yamltext import YamlProblem

# Kestra's warning for a Subflow whose target does not exist (yet).
_MISSING_SUBFLOW = re.compile(r"The subflow '([^']+)' not found in namespace '([^']+)'")


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked of one plan, beyond the settings."""

    prune: bool = False
    namespaces: tuple[str, ...] = ()
    targets: frozenset[FlowKey] | None = None  # None: every flow
    ignore_cosmetic: bool = False
    validate: bool = True


def connect(settings: Settings, stop: threading.Event | None = None) -> KestraClient:
    """A client for the configured server; refuses when no URL is configured. Once `stop` is set,
    failed requests are no longer retried."""
    if not settings.url:
        raise ConfigError("no Kestra server URL: set KESTRA_URL, pass --url, or set server.url in kestra-sync.yaml")
    verify: bool | ssl.SSLContext = settings.verify_tls
    if settings.ca_cert:
        try:
            verify = ssl.create_default_context(cafile=settings.ca_cert)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"the CA bundle {settings.ca_cert} cannot be used: {error}") from None
    return KestraClient(
        settings.url,
        tenant=settings.tenant,
        credentials=Credentials(settings.username, settings.password, settings.token),
        timeout=settings.timeout,
        retry=RetryPolicy(attempts=settings.retries, base_delay=settings.retry_backoff),
        verify=verify,
        max_connections=max(settings.parallelism, 8),
        stop=stop,
    )


def apply_lock(
    settings: Settings,
    client: KestraClient,
    warn: Callable[[str], None],
    stop: threading.Event | None = None,
    plan: Plan | None = None,
) -> ApplyLock | nullcontext:
    """The advisory lock an apply holds (none with `lock.enabled: false` or --no-lock); waiting for it
    ends when `stop` is set. A `plan` is checked fresh under the lock (StalePlan otherwise), while the
    lock settles."""
    check = (lambda: check_fresh(plan, client)) if plan is not None else None
    if not settings.lock:
        if check:
            check()
        return nullcontext()
    options = LockOptions(settings.lock_namespace, settings.lock_key, settings.lock_ttl, settings.lock_timeout)
    return ApplyLock(client, options, warn=warn, stop=stop, meanwhile=check)


def scan_repository(settings: Settings, paths: Sequence[Path] | None = None) -> tuple[LocalFlow, ...]:
    """The repository's flows (ScanFailed lists every problem); unchanged files come from the scan cache."""
    return scan(paths or settings.paths, settings.scan_options, ScanCache.for_root(settings.root, SCAN_RULES))


def plan_options(settings: Settings, request: PlanRequest, local: Sequence[LocalFlow]) -> PlanOptions:
    return PlanOptions(
        ownership=Ownership.of(settings.namespaces, local),
        prune=request.prune or settings.prune,
        namespaces=request.namespaces,
        targets=request.targets,
        protected=settings.protected,
        max_deletes=settings.max_deletes,
        allow_empty=settings.allow_empty,
        ignore_cosmetic=request.ignore_cosmetic,
    )


def plan(settings: Settings, request: PlanRequest, client: KestraClient, local: Sequence[LocalFlow] | None = None) -> Plan:
    """Scan the files (unless `local` flows are given), read the server, and plan (validated by the
    server unless asked not to).

    When the owned namespaces are configured, the server is read while the files are scanned:
    one waits on the network, the other on the CPU. What was read is decoded against the files, so
    that revisions are decoded only when a flow may change.
    """
    if local is None and settings.namespaces:
        with ThreadPoolExecutor(max_workers=1) as pool:
            fetching = pool.submit(client.fetch_flows, Ownership(prefixes=settings.namespaces).scopes, settings.parallelism)
            local = scan_repository(settings)
            fetched = fetching.result()
        options = plan_options(settings, request, local)
    else:
        local = scan_repository(settings) if local is None else local
        options = plan_options(settings, request, local)
        fetched = client.fetch_flows(options.ownership.scopes, settings.parallelism)
    remote = fetched.flows({f.key: f.source for f in local})
    return plan_against(local, remote, settings, options, client, request.validate)


def plan_against(
    local: Sequence[LocalFlow],
    remote: Mapping[FlowKey, RemoteFlow],
    settings: Settings,
    options: PlanOptions,
    client: KestraClient,
    validate: bool = True,
) -> Plan:
    """Plan from flows already read (the watcher keeps the server's state between saves)."""
    local_keys = {f.key for f in local}
    references = {}
    if options.prune:  # deletes go referencing flows first: read what the doomed flows reference
        references = {k: _references(r) for k, r in remote.items() if k not in local_keys}
    result = make_plan(
        local,
        remote,
        options,
        server=client.url,
        tenant=client.tenant,
        remote_references=references,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return validate_plan(result, client) if validate else result


def _references(flow: RemoteFlow) -> tuple[FlowKey, ...]:
    try:
        return read_flow_text(flow.source, SourceLocation(str(flow.key))).references
    except YamlProblem:
        return ()


def validate_plan(plan: Plan, client: KestraClient) -> Plan:
    """Ask the server to validate every source the plan writes; errors refuse the plan, warnings stay in it."""
    writes = [c.after for c in plan.changes if c.action is not Action.DELETE]
    created = {c.key for c in plan.changes if c.action is Action.CREATE}
    warnings = validate_flows(writes, client, created) if writes else ()
    return replace(plan, diagnostics=plan.diagnostics + warnings)


def validate_flows(
    flows: Sequence[LocalFlow], client: KestraClient, created: frozenset[FlowKey] | set[FlowKey] = frozenset()
) -> tuple[Diagnostic, ...]:
    """The server's warnings on `flows`; raises ValidationFailed on any constraint violation.

    A warning that a subflow does not exist is dropped when that subflow is in `created`: the
    apply writes it first.
    """
    errors, warnings = [], []
    for flow, result in zip(flows, client.validate([f.source for f in flows])):
        for line in (result.get("constraints") or "").splitlines():
            if line.strip():
                errors.append(Diagnostic(Severity.ERROR, line.strip(), flow.key, flow.location))
        for warning in result.get("warnings") or ():
            missing = _MISSING_SUBFLOW.search(str(warning))
            if missing and FlowKey(missing.group(2), missing.group(1)) in created:
                continue
            warnings.append(Diagnostic(Severity.WARNING, str(warning), flow.key, flow.location))
    if errors:
        raise ValidationFailed(errors)
    return tuple(warnings)


def check_fresh(plan: Plan, client: KestraClient) -> None:
    """Refuse a plan made for another server or tenant, or whose flows moved on the server since."""
    if (plan.server, plan.tenant) != (client.url, client.tenant):
        raise PlanFileError(
            f"the saved plan was made for {plan.server} (tenant {plan.tenant}), "
            f"not {client.url} (tenant {client.tenant}); nothing was applied"
        )
    current = client.read_revisions(plan.scope)
    moved = {
        c.key: (c.revision_before, current.get(c.key))
        for c in plan.changes
        if current.get(c.key) != c.revision_before
    }
    if moved:
        raise StalePlan(moved)


def apply(
    plan: Plan,
    client: KestraClient,
    settings: Settings,
    *,
    on_result: ResultCallback | None = None,
    stop: threading.Event | None = None,
) -> ApplyReport:
    return apply_plan(plan, client, parallelism=settings.parallelism, on_result=on_result, stop=stop)
