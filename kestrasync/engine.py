"""The wiring, and the library API: config -> scan -> read server -> diff -> plan -> validate -> lock ->
fresh? -> apply, the same for every kind.

This is the only module that joins the others; the CLI, the watcher and other programs call these
functions. Nothing here prints, and nothing here starts a process: a caller that wants parallel scans
passes a process pool (kestrasync.cli makes one).

    settings = load_settings()
    with engine.connect(settings) as conn:
        plan = engine.plan(settings, engine.PlanRequest(prune=True), conn)
        report = engine.apply(plan, conn, settings)   # lock, freshness check, writes
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from kestrasync import kinds
from kestrasync.applier import ResultCallback, apply_plan
from kestrasync.config import Settings
from kestrasync.errors import ConfigError, FileError, PlanFileError, ScanFailed, StalePlan, UnmanagedFound, ValidationFailed
from kestrasync.environments import ENVIRONMENT_VARIABLE
from kestrasync.files import file_mode, write_atomically
from kestrasync.gitstate import uncommitted
from kestrasync.http import Connection
from kestrasync.lock import ApplyLock
from kestrasync.model import (
    Action, ApplyReport, Diagnostic, FileWrite, Key, Local, Plan, PullPlan, Remote, ResultStatus, Severity, SourceLocation, in_namespace,
)
from kestrasync.planner import Ownership, PlanOptions, PruneOptions, make_plan, read_scopes
from kestrasync.pull import Edits
from kestrasync.pull import edits as pull_edits
from kestrasync.server import Kestra, detect, namespaces
from kestrasync.walk import display_path
from kestrasync.kinds.base import Kind
from kestrasync.workspace import Workspace, configured_roots, files_noun, in_use, parse_as, read_by, scan, watched_roots

__all__ = [  # the library API (the scan stage comes from kestrasync.workspace)
    "PlanRequest", "Workspace", "addressed", "admit", "apply", "check_fresh", "check_managed", "check_watchable", "destroy_plan", "configured_roots", "connect", "files_noun", "identify", "plan",
    "on_server", "plan_against", "plan_options", "read_by_repository", "prune_paused", "PullRequest", "pull_plan", "require_environment", "read", "record", "refresh", "remember", "scan", "sync",
    "server_namespaces", "suggested_namespaces", "undeclared", "validate", "validate_plan", "watch_plan", "watched_roots", "write_pulled",
]

PRUNE_PAUSED = "Prune is paused while a file has errors."  # said while prune_paused


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked of one plan, beyond the settings."""

    prune: bool = False
    selected_namespaces: tuple[str, ...] = ()  # --namespace
    targets: frozenset[Key] | None = None  # --target (see addressed); None: everything
    ignore_cosmetic: bool = False
    validate: bool = True


def addressed(addresses: Iterable[str]) -> frozenset[Key]:
    """The keys `namespace/name` addresses (`--target`) may mean, in any kind; ValueError when one is
    not of that form."""
    return frozenset(Key.parse(address, kind.info.name) for address in addresses for kind in kinds.ranked())


def connect(settings: Settings, stop: threading.Event | None = None) -> Connection:
    """A connection to the configured server; refuses when no URL is configured. Once `stop` is set,
    failed requests are no longer retried."""
    return Connection(settings.server, max_connections=max(settings.parallelism, 8), stop=stop)


# ---------------------------------------------------------------------------------------------
# The server


def identify(conn: Connection, settings: Settings) -> Kestra:
    """The server's version and edition, asked once per connection (unless the settings give it):
    the kinds choose what differs between versions from it."""
    if conn.kestra is None:
        conn.kestra = detect(conn, settings.server.kestra_version)
    return conn.kestra


def read(conn: Connection, settings: Settings, scopes: Sequence[str], local: Iterable[Local]) -> dict[Key, Remote]:
    """Every live resource of every kind under the namespace prefixes `scopes`, in bulk."""
    return _decode(_fetch(conn, settings, scopes), localize(settings, list(local))[0])


def _fetch(conn: Connection, settings: Settings, scopes: Sequence[str]) -> dict[str, object]:
    """Every kind's bulk read, received; the server's version is asked meanwhile (what is read does
    not depend on it, only how it is decoded and written)."""
    with ThreadPoolExecutor(max_workers=1) as asking:
        identified = asking.submit(identify, conn, settings)
        fetched = {kind.info.name: kind.fetch(conn, scopes, _server_options(settings, kind), settings.parallelism)
                   for kind in in_use(settings)}
        identified.result()
    return fetched


def _decode(fetched: Mapping[str, object], local: Iterable[Local]) -> dict[Key, Remote]:
    by_kind: dict[str, dict[Key, Local]] = {name: {} for name in fetched}
    for resource in local:
        by_kind[resource.key.kind][resource.key] = resource
    remote: dict[Key, Remote] = {}
    for name, received in fetched.items():
        remote.update(received.remotes(by_kind[name]))
    return remote


def refresh(conn: Connection, settings: Settings, keys: Iterable[Key]) -> dict[Key, Remote | None]:
    """Each resource read fresh (None: the server has none), `parallelism` at a time."""
    identify(conn, settings)
    keys = list(keys)
    with ThreadPoolExecutor(max_workers=max(1, settings.parallelism)) as pool:
        return dict(zip(keys, pool.map(lambda key: kinds.get(key.kind).get(conn, key), keys)))


def remember(remote: dict[Key, Remote], read: Mapping[Key, Remote | None]) -> None:
    """Fold fresh reads into a kept picture of the server (watch)."""
    for key, resource in read.items():
        if resource is None:
            remote.pop(key, None)
        else:
            remote[key] = resource


def record(remote: dict[Key, Remote], report: ApplyReport) -> set[Key]:
    """Fold what an apply wrote into a kept picture of the server (watch); the keys whose write
    failed because the server did not answer (worth trying again)."""
    unanswered = set()
    for result in report.results:
        change = result.change
        if result.status is ResultStatus.APPLIED:
            if change.after is None:
                remote.pop(change.key, None)
            else:
                remote[change.key] = Remote(change.key, change.after.content, result.version_after)
        elif result.transient:
            unanswered.add(change.key)
    return unanswered


# ---------------------------------------------------------------------------------------------
# Planning


def plan_options(settings: Settings, request: PlanRequest, workspace: Workspace) -> PlanOptions:
    """The planner's options: owned namespaces as configured, else those the files declared (since
    a watch started, so that deleting the last file of a namespace still prunes its flow), as the
    selected environment names them. A workspace with broken files never prunes: they may declare
    what cannot be seen."""
    prune = replace(settings.prune, enabled=(request.prune or settings.prune.enabled) and not workspace.broken)
    named = _named_on_server(settings, workspace.seen_namespaces)
    return PlanOptions(
        ownership=Ownership.of(_server_scopes(settings), {named(n) for n in workspace.seen_namespaces}),
        kinds=tuple(kind.info.name for kind in in_use(settings)),
        prune=prune,
        selected_namespaces=tuple(map(named, request.selected_namespaces)),
        targets=None if request.targets is None else frozenset(k._replace(namespace=named(k.namespace)) for k in request.targets),
        ignore_cosmetic=request.ignore_cosmetic,
        owner=settings.owner,
    )


# ---------------------------------------------------------------------------------------------
# Environments


def _named_on_server(settings: Settings, declared: Iterable[str]) -> Callable[[str], str]:
    """What a namespace is called on the server: the selected environment maps the repository's own
    (owned, or declared by its files); any other stays as it is."""
    environment = settings.environment
    if environment is None or not environment.maps:
        return lambda namespace: namespace
    owns = Ownership.of(settings.owned_namespaces, declared).owns
    return lambda namespace: environment.namespace(namespace) if owns(namespace) else namespace


def _server_scopes(settings: Settings) -> tuple[str, ...]:
    """The owned namespace prefixes as the server has them (a rename inside one is a scope of its own)."""
    environment = settings.environment
    if environment is None or not environment.maps:
        return settings.owned_namespaces
    owns = Ownership(prefixes=settings.owned_namespaces).owns
    sources = [*settings.owned_namespaces, *(source for source, _ in environment.renames if owns(source))]
    return tuple(dict.fromkeys(environment.namespace(source) for source in sources))


def _server_options(settings: Settings, kind: Kind):
    """A kind's settings as the server sees them: the namespaces they name, the environment's."""
    options = settings.of_kind(kind.info.name)
    environment = settings.environment
    if environment is None or not environment.maps:
        return options
    owns = Ownership(prefixes=settings.owned_namespaces).owns if settings.owned_namespaces else lambda namespace: True
    return kind.on_server(options, lambda namespace: environment.namespace(namespace) if owns(namespace) else namespace)


def require_environment(settings: Settings, command: str) -> None:
    """Refuse to guess where writes go: with environments defined, `command` needs one chosen."""
    if settings.environment is None and settings.environments:
        raise ConfigError(f"kestra-sync.yaml defines environments ({', '.join(settings.environments)}); {command} needs one: "
                          f"pass --env NAME or set {ENVIRONMENT_VARIABLE}")


def destroy_plan(settings: Settings, conn: Connection, pool: Executor | None = None) -> Plan:
    """A plan deleting everything a preview holds (--namespace-prefix): every flow and mapped
    namespace file under its namespaces, nothing else; the prune guardrails hold but the one against
    emptying a namespace (emptying them is the point)."""
    environment = settings.environment
    if environment is None or not environment.preview:
        raise ConfigError("destroy deletes a preview only: pass --namespace-prefix (with --env when kestra-sync.yaml defines "
                          "environments)")
    declared = set() if settings.owned_namespaces else {r.key.namespace for r in scan(settings, pool).resources()}
    named = _named_on_server(settings, declared)
    scopes = read_scopes(_server_scopes(settings) or {named(namespace) for namespace in declared})
    if not scopes:
        raise ConfigError("nothing to destroy: the repository declares no namespace (`namespaces` in kestra-sync.yaml)")
    identify(conn, settings)
    remote = _decode(_fetch(conn, settings, scopes), [])
    options = PlanOptions(ownership=Ownership(prefixes=scopes), kinds=tuple(kind.info.name for kind in kinds.ranked()),
                          prune=replace(settings.prune, enabled=True, allow_empty=True), owner=settings.owner)
    return plan_against([], remote, options, conn, validate=False, settings=settings)


def localize(settings: Settings, local: Sequence[Local]) -> tuple[list[Local], list[Diagnostic]]:
    """The resources as the selected environment has them (each kind applying its overlay), and a
    warning for each namespace outside the repository's that one names (left as it is). ScanFailed,
    located, for what cannot be rewritten."""
    environment = settings.environment
    if environment is None and not settings.overlays:
        return list(local), []
    named = _named_on_server(settings, {resource.key.namespace for resource in local})
    owns = Ownership.of(settings.owned_namespaces, {resource.key.namespace for resource in local}).owns
    found, notes, problems = [], [], []
    for resource in local:
        try:
            mapped, outside = kinds.get(resource.key.kind).in_environment(
                resource, lambda namespace: named(namespace) if owns(namespace) else None, settings.overlays.get(resource.key.kind))
        except FileError as error:
            problems.append(error)
            continue
        found.append(mapped)
        if environment is not None and environment.maps:
            notes += [Diagnostic(Severity.WARNING, f"names namespace '{namespace}', which environment {environment.name} leaves as it "
                                 "is (not one of the repository's, or computed when the flow runs)", mapped.key, resource.location)
                      for namespace in outside]
    if problems:
        raise ScanFailed(problems, files_noun(settings))
    return found, notes


def plan(
    settings: Settings, request: PlanRequest, conn: Connection, pool: Executor | None = None, workspace: Workspace | None = None
) -> Plan:
    """Scan the files (unless a `workspace` scanned already), read the server, and plan (validated by
    the server unless asked not to).

    When the owned namespaces are configured, the server is read while the files are scanned: one
    waits on the network, the other on the CPU. What was read is decoded against the files, so that
    versions are decoded only when a resource may change.
    """
    if workspace is not None:
        local, notes = localize(settings, workspace.resources())
        options = plan_options(settings, request, workspace)
        fetched = _fetch(conn, settings, options.ownership.scopes)
    elif settings.owned_namespaces:
        with ThreadPoolExecutor(max_workers=1) as reader:
            scopes = Ownership(prefixes=_server_scopes(settings)).scopes
            fetching = reader.submit(_fetch, conn, settings, scopes)
            workspace = scan(settings, pool)
            local, notes = localize(settings, workspace.resources())
            fetched = fetching.result()
        options = plan_options(settings, request, workspace)
    else:
        workspace = scan(settings, pool)
        local, notes = localize(settings, workspace.resources())
        options = plan_options(settings, request, workspace)
        fetched = _fetch(conn, settings, options.ownership.scopes)
    local = admit(local, settings, conn.kestra)
    remote = _decode(fetched, local)
    _check_selection(request, options, {resource.key for resource in local} | set(remote))
    result = plan_against(local, remote, options, conn, request.validate, settings)
    return replace(result, diagnostics=result.diagnostics + tuple(notes)) if notes else result


def _check_selection(request: PlanRequest, options: PlanOptions, keys: set[Key]) -> None:
    """A --namespace or --target that matches nothing, in the files or on the server, is a mistake
    (a typo), not "No changes"."""
    for asked, namespace in zip(request.selected_namespaces, options.selected_namespaces):
        if not any(in_namespace(key.namespace, namespace) for key in keys):
            raise ConfigError(f"--namespace {asked} matches no file and nothing on the server")
    if request.targets is not None and options.targets is not None:
        wanted = {(key.namespace, key.name) for key in options.targets}
        found = {(key.namespace, key.name) for key in keys}
        for namespace, name in sorted(wanted - found):
            raise ConfigError(f"--target {namespace}/{name} matches no file and nothing on the server")


def plan_against(local: Sequence[Local], remote: Mapping[Key, Remote], options: PlanOptions, conn: Connection, validate: bool = True,
                 settings: Settings | None = None) -> Plan:
    """Plan from resources already read (the watcher keeps the server's state between saves)."""
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result = make_plan(local, remote, options, server=conn.url, tenant=conn.tenant, created_at=created_at)
    if conn.kestra is not None:
        result = replace(result, kestra=str(conn.kestra).removeprefix("Kestra "))
    if settings is not None and settings.environment is not None:
        result = replace(result, environment=settings.environment.label)
    return validate_plan(result, conn) if validate else result


def watch_plan(
    settings: Settings, request: PlanRequest, workspace: Workspace, remote: Mapping[Key, Remote], conn: Connection, validate: bool
) -> tuple[Plan, ValidationFailed | None]:
    """A plan of the workspace as it stands (watch), and what the server refused in validation.

    What the server refuses is left out of the plan (with pruning, since a refused file may declare
    what would be deleted) until its file is saved again, so that one bad flow does not hold back
    the others. Pruning is also paused while a file is broken (see prune_paused).
    """
    options = plan_options(settings, request, workspace)
    local = admit(localize(settings, workspace.current())[0], settings, conn.kestra)
    try:
        return plan_against(local, remote, options, conn, validate, settings), None
    except ValidationFailed as refused:
        bad = {d.key for d in refused.diagnostics}
        rest = frozenset({r.key for r in local} | set(remote)) - bad
        options = replace(options, targets=rest if options.targets is None else options.targets & rest,
                          prune=replace(options.prune, enabled=False))
        return plan_against(local, remote, options, conn, False, settings), refused


def check_managed(plan: Plan, settings: Settings) -> None:
    """Refuse a plan that leaves resources on the server no file declares, when the settings say so
    (fail_on_unmanaged): what CI fails on, after the plan is shown."""
    if settings.fail_on_unmanaged and plan.unmanaged:
        raise UnmanagedFound(" ".join(plan.unmanaged_lines()) + " (fail_on_unmanaged: declare, adopt or prune them)")


def prune_paused(settings: Settings, request: PlanRequest, workspace: Workspace) -> bool:
    """Pruning was asked for but is off while a file has problems (it may declare what cannot be seen)."""
    return bool(workspace.broken) and (request.prune or settings.prune.enabled)


def admit(local: Sequence[Local], settings: Settings, kestra: Kestra | None) -> Sequence[Local]:
    """The resources, unless some cannot be sent: what the server's version refuses (each kind's
    caveats), and a file holding the credentials kestra-sync uses (a plan shows and saves what it
    writes, and whatever leaves the process is redacted). ScanFailed names every one where it is."""
    problems = [
        FileError(caveat.location, caveat.message)
        for resource in local
        for caveat in resource.caveats
        if kestra is not None and kestra.release >= caveat.since
    ]
    secrets = [secret.encode() for secret in settings.server.credentials.secrets()]
    for resource in local if secrets else ():
        content = resource.content if isinstance(resource.content, bytes) else resource.content.encode("utf-8")
        for secret in secrets:
            if secret in content:
                line = resource.location.line + content[: content.index(secret)].count(b"\n")
                problems.append(FileError(SourceLocation(resource.location.path, line), CREDENTIAL_IN_FILE))
                break
    if problems:
        ordered = sorted(problems, key=lambda e: (e.location.path, e.location.line, e.location.column))
        raise ScanFailed(ordered, files_noun(settings))
    return local


CREDENTIAL_IN_FILE = (
    "holds the password or API token kestra-sync signs in with; keep credentials out of the repository "
    "(a Kestra secret can hold them: {{ secret('NAME') }})"
)


def validate_plan(plan: Plan, conn: Connection) -> Plan:
    """Ask the server to validate everything the plan writes; errors refuse the plan (ValidationFailed),
    warnings stay in it."""
    created = frozenset(c.key for c in plan.changes if c.action is Action.CREATE)
    warnings: list[Diagnostic] = []
    for kind in kinds.ranked():
        writes = [c.after for c in plan.changes if c.action is not Action.DELETE and c.key.kind == kind.info.name]
        warnings += kind.validate(conn, writes, created)
    return replace(plan, diagnostics=plan.diagnostics + tuple(warnings))


def validate(local: Sequence[Local], conn: Connection, settings: Settings) -> tuple[Diagnostic, ...]:
    """What the server's version refuses (ScanFailed), then the server's warnings on every resource;
    raises ValidationFailed on any refusal."""
    admit(local, settings, identify(conn, settings))
    together = frozenset(resource.key for resource in local)  # a subflow validated with its caller is no missing one
    found: list[Diagnostic] = []
    try:
        for kind in kinds.ranked():
            found += kind.validate(conn, [r for r in local if r.key.kind == kind.info.name], together)
    except ValidationFailed as refused:
        raise ValidationFailed(refused.diagnostics, applying=False) from None
    return tuple(found)


def undeclared(settings: Settings, keys: Iterable[Key], workspace: Workspace, remote: Mapping[Key, Remote]) -> list[Key]:
    """Of `keys` (the repository's names), those still on the server that no file declares any more
    (kept without --prune), as the server names them."""
    declared = on_server(settings, workspace, (local.key for local in workspace.current()))
    return sorted(key for key in on_server(settings, workspace, keys) if key not in declared and key in remote)


def on_server(settings: Settings, workspace: Workspace, keys: Iterable[Key]) -> set[Key]:
    """The keys as the server names them (in the selected environment)."""
    named = _named_on_server(settings, workspace.seen_namespaces)
    return {key._replace(namespace=named(key.namespace)) for key in keys}


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def check_watchable(settings: Settings) -> None:
    """watch writes every save at once: to a local server, or where the environment says it may."""
    host = urlsplit(settings.server.url or "").hostname or ""
    if host in LOCAL_HOSTS or host.endswith(".localhost") or (settings.environment is not None and settings.environment.watch):
        return
    where = f"environment {settings.environment.name} does not say `watch: true`" if settings.environment else "no environment is chosen"
    raise ConfigError(f"watch writes every save to the server at once, so it runs against a local server only: {host} is not "
                      f"local and {where} (an environment with `watch: true` in kestra-sync.yaml, chosen with --env, allows it)")


# ---------------------------------------------------------------------------------------------
# Applying


def check_fresh(plan: Plan, conn: Connection, settings: Settings) -> None:
    """Refuse a plan made for another server or tenant, or whose resources moved on the server since."""
    if (plan.server, plan.tenant) != (conn.url, conn.tenant):
        raise PlanFileError(
            f"the saved plan was made for {plan.server} (tenant {plan.tenant}), "
            f"not {conn.url} (tenant {conn.tenant}); nothing was applied"
        )
    current: dict[Key, object] = {}
    identify(conn, settings)
    for info in plan.kinds:
        kind = kinds.get(info.name)
        current.update(kind.versions(conn, plan.scope, _server_options(settings, kind), settings.parallelism))
    moved = {c.key: (c.version_before, current.get(c.key)) for c in plan.changes if current.get(c.key) != c.version_before}
    if moved:
        raise StalePlan(moved)


def apply(
    plan: Plan,
    conn: Connection,
    settings: Settings,
    *,
    warn: Callable[[str], None] = lambda text: None,
    on_result: ResultCallback | None = None,
    stop: threading.Event | None = None,
) -> ApplyReport:
    """Apply a plan safely: take the apply lock (unless `lock.enabled` is false), check that none of
    the plan's resources moved since it was made (StalePlan: nothing written), then write.

    The freshness check runs while the lock settles (between writing it and reading it back). Waiting
    for another apply's lock ends when `stop` is set (Interrupted: nothing written).
    """
    if not plan.has_changes:
        return ApplyReport()
    chosen = settings.environment.label if settings.environment else ""
    if plan.environment != chosen:
        made = f"environment {plan.environment}" if plan.environment else "no environment"
        this = f"environment {chosen}" if chosen else "no environment"
        raise PlanFileError(f"this plan was made for {made} and this apply is for {this} (--env); nothing was applied. "
                            "Make the plan again for the environment you mean.")
    fresh = lambda: check_fresh(plan, conn, settings)  # noqa: E731
    if settings.lock.enabled:
        holding = ApplyLock(conn, settings.lock, warn=warn, stop=stop, meanwhile=fresh)
    else:
        fresh()
        holding = nullcontext()
    with holding:
        return apply_plan(plan, conn, parallelism=settings.parallelism, on_result=on_result, stop=stop)


def sync(plan: Plan, conn: Connection, settings: Settings, *, on_result: ResultCallback | None = None, stop: threading.Event | None = None) -> ApplyReport:
    """Apply what watch just planned against fresh reads: no lock, and each change independent of
    the others (one refused resource must not hold back the other saves)."""
    return apply_plan(plan, conn, parallelism=settings.parallelism, on_result=on_result, stop=stop, keep_going=True)



# ---------------------------------------------------------------------------------------------
# Pull: the server into the repository


def read_by_repository(settings: Settings, path: Path | str) -> bool:
    """Whether the repository's scan reads this file (a pre-commit hook is given every staged file)."""
    return read_by(settings, str(path))


def server_namespaces(conn: Connection) -> list[str]:
    """Every namespace the server knows (init suggests from them)."""
    return namespaces(conn)


def suggested_namespaces(found: Iterable[str], prune: PruneOptions) -> list[str]:
    """The namespaces a first configuration owns: the top of each tree the server holds (`company` for
    `company.team`), never a protected one (Kestra's `system`)."""
    return sorted({namespace.split(".")[0] for namespace in found if not prune.is_protected(namespace)})


@dataclass(frozen=True)
class PullRequest:
    """What the user asked of one pull."""

    namespaces: tuple[str, ...] = ()  # --namespace: only under these prefixes
    targets: frozenset[Key] | None = None  # --target
    kinds: tuple[str, ...] = ()  # --kind; empty: every kind
    prune: bool = False  # remove what the server no longer holds


def pull_plan(settings: Settings, request: PullRequest, conn: Connection, pool: Executor | None = None) -> PullPlan:
    """The file writes that make the repository hold the server's resources under the owned (or
    selected) namespaces: each checked to read back as the server's text, and Git asked which of
    them would overwrite uncommitted work (PullPlan.conflicts)."""
    if settings.environment is not None:
        raise ConfigError(f"pull writes the repository's own namespaces, not an environment's (--env {settings.environment.name} "
                          f"or {ENVIRONMENT_VARIABLE}); run it without one")
    workspace = scan(settings, pool, missing_ok=True)
    local = workspace.resources()
    scopes = _pull_scopes(settings, request, {resource.key.namespace for resource in local})
    pulled = [kinds.get(name) for name in request.kinds] if request.kinds else kinds.ranked()
    identify(conn, settings)
    known = sorted(set(namespaces(conn, scopes)) | {n for n in request.namespaces} | {r.key.namespace for r in local})
    adopted = settings
    for kind in pulled:
        adopted = adopted.with_kind(kind.info.name, kind.adopting(settings.of_kind(kind.info.name), known))
    fetched = {kind.info.name: kind.fetch(conn, scopes, adopted.of_kind(kind.info.name), settings.parallelism) for kind in pulled}

    declared = {resource.key for resource in local}

    def selects(key: Key) -> bool:
        return (key.kind in fetched and any(in_namespace(key.namespace, scope) for scope in scopes)
                and (request.targets is None or key in request.targets))

    def theirs(resource: Remote) -> bool:
        """Another repository's, by its label (ownership by label): never adopted."""
        kind = kinds.get(resource.key.kind)
        return (settings.owner is not None and kind.info.labelled and resource.key not in declared
                and kind.owner(resource) not in (None, settings.owner))

    remote = {key: resource for key, resource in _decode(fetched, [r for r in local if r.key.kind in fetched]).items()
              if selects(key) and not theirs(resource)}
    # A resource in a state of its own (a 2.x draft) is read alone: the bulk read may hold another text
    # of it (the export has a draft's published revision), and a pull takes what the server shows.
    noted = [key for key, resource in remote.items() if resource.note]
    remote.update((key, replace(fresh, note=fresh.note or remote[key].note))
                  for key, fresh in refresh(conn, settings, noted).items() if fresh is not None)
    sent = {resource.key: resource for resource in localize(settings, local)[0]}
    found = pull_edits(workspace.files, remote, root=settings.root, selects=selects, prune=request.prune, sent=sent,
                       placement=lambda key: kinds.get(key.kind).placement(key, adopted.of_kind(key.kind)),
                       read=_read_file, shown=display_path)
    writes = _read_back(adopted, found, remote)
    diagnostics = found.diagnostics + [
        Diagnostic(Severity.WARNING, f"{remote[key].note}; pulled as the server holds it", key)
        for write in writes for key in write.keys if key in remote and remote[key].note
    ]
    writes = _with_conflicts(settings.root, writes)
    return PullPlan(server=conn.url, tenant=conn.tenant, scope=scopes, kinds=tuple(kind.info for kind in pulled),
                    writes=tuple(writes), unchanged={kind.info.name: found.unchanged[kind.info.name] for kind in pulled},
                    missing=tuple(found.missing), diagnostics=tuple(diagnostics))


def _pull_scopes(settings: Settings, request: PullRequest, declared: set[str]) -> tuple[str, ...]:
    """What a pull reads: the selected namespaces (which must be owned), else the owned ones, else
    those the files declare."""
    if request.namespaces:
        outside = [n for n in request.namespaces if settings.owned_namespaces
                   and not any(in_namespace(n, owned) for owned in settings.owned_namespaces)]
        if outside:
            raise ConfigError(f"--namespace {outside[0]} is outside the namespaces this repository owns "
                              f"({', '.join(settings.owned_namespaces)}); add it to `namespaces` in kestra-sync.yaml")
        return read_scopes(request.namespaces)
    scopes = read_scopes(settings.owned_namespaces or declared)
    if not scopes:
        raise ConfigError("nothing to pull: list the namespaces this repository owns under `namespaces` in "
                          "kestra-sync.yaml (kestra-sync init writes it), or pass --namespace")
    return scopes


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise FileError(SourceLocation(display_path(path)), f"cannot read file: {error.strerror}") from None


def _read_back(settings: Settings, found: Edits, remote: Mapping[Key, Remote]) -> list[FileWrite]:
    """The writes whose new text kestra-sync reads back as what the pull meant: the server's resources
    where they were pulled, the file's others unchanged. A file that would read otherwise is left as
    it is, said why; a server text kestra-sync would refuse is written all the same (the server holds
    it), said so."""
    kept = []
    for write in found.writes:
        expected = found.expected.get(write.path)
        if expected is None:  # a removed file
            kept.append(write)
            continue
        read = parse_as(settings, write.path, write.after)
        if read is None:
            found.diagnostics.append(Diagnostic(Severity.WARNING, f"{write.shown} would not be read by kestra-sync (its folders, "
                                                "include and exclude in kestra-sync.yaml); not pulled", write.keys[0]))
            continue
        resources, problems = read
        got = {resource.key: resource.content for resource in resources}
        if problems and len(expected) == 1:
            kept.append(write)
            found.diagnostics.append(Diagnostic(Severity.WARNING, f"pulled as the server holds it, but kestra-sync refuses "
                                                f"it: {problems[0]}", write.keys[0]))
        elif problems or got.keys() != expected.keys() or any(got[key] != content for key, content in expected.items()):
            found.diagnostics.append(Diagnostic(
                Severity.WARNING, f"{write.shown} cannot take the server's text in place (the file would not read back as "
                "its resources); not pulled: move the resource to a file of its own", write.keys[0]))
        else:
            kept.append(write)
    return kept


def _with_conflicts(root, writes: list[FileWrite]) -> list[FileWrite]:
    """Each write that would overwrite or remove uncommitted changes, with the diff of those changes."""
    existing = [write.path for write in writes if write.before is not None]
    changed = uncommitted(root, existing) if existing else {}
    if not changed:
        return writes
    return [replace(write, conflict=changed.get(os.path.realpath(write.path), "")) for write in writes]


def write_pulled(plan: PullPlan, *, force: bool = False) -> list[FileWrite]:
    """Write the pull's files (the conflicting ones only when `force`); the writes made, in order."""
    done = []
    for write in plan.writes:
        if write.conflict and not force:
            continue
        path = Path(write.path)
        try:
            if write.after is None:
                path.unlink()  # a symbolic link goes, not what it points to
            else:
                target = Path(os.path.realpath(path))  # a link's file is rewritten, the link kept
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(target, write.after, mode=file_mode(target))
        except OSError as error:
            raise FileError(SourceLocation(write.shown), f"cannot write: {error.strerror}; the files listed before it were written") from None
        done.append(write)
    return done
