"""(local resources, remote resources, options) -> Plan. Pure: no I/O, no clock; the same for every kind.

The planner decides what to write and in which order, and enforces the guardrails of pruning, per
kind: deletes only inside the owned namespaces, never in protected ones, never more than
`max_deletes`, never emptying a namespace unless allowed. Order: writes by kind rank (what others
read first), each resource after the resources it references when they change in the same plan;
deletes last, in the reverse order. What differs, and how, is the kind's to say.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from kestrasync import kinds
from kestrasync.errors import PlanRefused
from kestrasync.kinds.base import Kind
from kestrasync.model import Action, Change, Detail, Diagnostic, Key, Local, Plan, Remote, Severity, Unmanaged, UpdateKind, in_namespace


def read_scopes(namespaces: Iterable[str]) -> tuple[str, ...]:
    """The fewest namespace prefixes whose subtrees cover `namespaces`: one server read each."""
    scopes: list[str] = []
    for namespace in sorted(set(namespaces)):
        if not any(in_namespace(namespace, s) for s in scopes):
            scopes.append(namespace)
    return tuple(scopes)


@dataclass(frozen=True)
class Ownership:
    """Which namespaces this repository owns: configured prefixes, or exactly the namespaces its
    files declare (`declared`; the watcher passes every namespace it saw this session).

    A declared namespace does not own its children: another team's flows in `company.team.other`
    must never be pruned because a file declares a flow in `company.team`.
    """

    prefixes: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()

    @classmethod
    def of(cls, owned_namespaces: Iterable[str], declared: Iterable[str]) -> Ownership:
        owned_namespaces = tuple(owned_namespaces)
        if owned_namespaces:
            return cls(prefixes=owned_namespaces)
        return cls(exact=frozenset(declared))

    def owns(self, namespace: str) -> bool:
        return namespace in self.exact or any(in_namespace(namespace, p) for p in self.prefixes)

    @property
    def scopes(self) -> tuple[str, ...]:
        return read_scopes((*self.prefixes, *self.exact))


@dataclass(frozen=True)
class PruneOptions:
    enabled: bool = False
    max_deletes: int = 10  # per kind
    allow_empty: bool = False
    protected: tuple[str, ...] = ("system",)

    def is_protected(self, namespace: str) -> bool:
        return any(in_namespace(namespace, p) for p in self.protected)


@dataclass(frozen=True)
class PlanOptions:
    ownership: Ownership
    prune: PruneOptions = field(default_factory=PruneOptions)
    selected_namespaces: tuple[str, ...] = ()  # --namespace: only resources under these prefixes
    targets: frozenset[Key] | None = None  # only these resources (--target, a watch batch); None: all
    ignore_cosmetic: bool = False
    kinds: tuple[str, ...] | None = None  # the kinds planned; None: those of the resources given
    owner: str | None = None  # ownership by label: of a labelled kind, only this owner's resources may be deleted

    def selects(self, key: Key) -> bool:
        return (not self.selected_namespaces or any(in_namespace(key.namespace, n) for n in self.selected_namespaces)) and (
            self.targets is None or key in self.targets
        )


def change_for(local: Local | None, remote: Remote | None, kind: Kind) -> Change | None:
    """The change that makes the server hold `local` (None: delete `remote`); None when nothing would change."""
    if remote is None:
        return Change(Action.CREATE, local.key, None, local, summary=(Detail(f"new {kind.info.noun}"),))
    same = local is not None and kind.same(local, remote)
    if same and remote.note is None:
        return None
    if remote.version is None:  # only a resource the repository holds unchanged is read without it
        raise ValueError(f"{remote.key} differs from the repository but its version was not read")
    noted = (Detail(remote.note),) if remote.note else ()
    if local is None:
        return Change(Action.DELETE, remote.key, remote, None, summary=(Detail("no file declares it"), *noted))
    if same:  # the content matches, the state does not: written again, for its note
        return Change(Action.UPDATE, local.key, remote, local, UpdateKind.SEMANTIC, noted, "")
    update = kind.describe(local, remote)
    return Change(Action.UPDATE, local.key, remote, local, update.update_kind, noted + update.summary, update.diff)


def make_plan(
    local: Iterable[Local],
    remote: Mapping[Key, Remote],
    options: PlanOptions,
    *,
    server: str,
    tenant: str,
    created_at: str = "",
) -> Plan:
    """Compare and order the resources of every kind."""
    local_by_key = {f.key: f for f in local}
    present = {key.kind for key in local_by_key} | {key.kind for key in remote}
    wanted = present if options.kinds is None else set(options.kinds)
    planned = [kind for kind in kinds.ranked() if kind.info.name in wanted]
    namespaces = {k.namespace for k in local_by_key} | {k.namespace for k in remote}
    owned = {namespace for namespace in namespaces if options.ownership.owns(namespace)}
    outside = [f for f in local_by_key.values() if f.key.namespace not in owned]
    if outside:
        first = outside[0]
        raise PlanRefused(
            f"{first.location}: {kinds.get(first.key.kind).info.noun} {first.key} is outside the namespaces this "
            f"repository owns ({', '.join(options.ownership.prefixes)}); add its namespace to `namespaces` in kestra-sync.yaml"
        )
    remote = {k: r for k, r in remote.items() if k.namespace in owned}
    writes, deletes, skipped, unchanged, notes, left = [], [], [], Counter(), [], []
    for key in sorted(local_by_key.keys() | remote.keys()):
        if not options.selects(key):
            continue
        local_resource = local_by_key.get(key)
        if local_resource is None and options.owner is not None:
            kind = kinds.get(key.kind)
            mark = kind.owner(remote[key]) if kind.info.labelled else None
            if mark not in (None, options.owner):
                continue  # another repository's
            if mark is None:  # no repository's (or of a kind without labels): shown, never deleted
                left.append(remote[key])
                continue
        if local_resource is None and (not options.prune.enabled or options.prune.is_protected(key.namespace)):
            if remote[key].note:  # left alone, but said: it is in no state to be left alone unseen
                notes.append(Diagnostic(Severity.WARNING, f"{remote[key].note}; no file declares it (--prune deletes it)", key))
            left.append(remote[key])
            continue
        change = change_for(local_resource, remote.get(key), kinds.get(key.kind))
        if change is None:
            unchanged[key.kind] += 1
        elif change.update_kind is UpdateKind.COSMETIC and options.ignore_cosmetic:
            skipped.append(key)
        elif change.action is Action.DELETE:
            deletes.append(change)
        else:
            writes.append(change)
    refusals = [refusal for kind in planned for refusal in _check_prune(kind, deletes, writes, remote, options.prune)]
    if options.owner is not None:
        notes += _taken_over(writes, options.owner)
    notes += _still_referenced(deletes, local_by_key, remote)
    references = {c.key: c.after.references for c in writes}
    ordered = _order(writes, references, reverse=False)
    references = {c.key: kinds.get(c.key.kind).references(c.before) for c in deletes}
    ordered += _order(deletes, references, reverse=True)
    plan = Plan(
        server=server,
        tenant=tenant,
        scope=options.ownership.scopes,
        kinds=tuple(kind.info for kind in planned),
        changes=tuple(ordered),
        unchanged={kind.info.name: unchanged[kind.info.name] for kind in planned},
        prune=options.prune.enabled,
        skipped_cosmetic=tuple(skipped),
        diagnostics=tuple(notes),
        created_at=created_at,
        unmanaged=_unmanaged(left, [c.after for c in writes if c.action is Action.CREATE]),
    )
    if refusals:
        raise PlanRefused(" ".join(refusals), plan)
    return plan


def _still_referenced(deletes: list[Change], local: Mapping[Key, Local], remote: Mapping[Key, Remote]) -> list[Diagnostic]:
    """A warning for each delete that resources staying on the server still reference (a flow whose
    Subflow calls it, or whose Flow trigger listens to it)."""
    deleted = {change.key for change in deletes}
    if not deleted:
        return []
    referencing: dict[Key, set[Key]] = {}
    for key, resource in local.items():
        for target in resource.references:
            referencing.setdefault(target, set()).add(key)
    for key, resource in remote.items():
        if key not in deleted and key not in local:
            for target in kinds.get(key.kind).references(resource):
                referencing.setdefault(target, set()).add(key)
    notes = []
    for key in sorted(deleted):
        users = sorted(referencing.get(key, set()) - deleted)
        if users:
            noun = kinds.get(key.kind).info.noun
            notes.append(Diagnostic(Severity.WARNING, f"{noun} {key} is deleted, but {', '.join(map(str, users))} still "
                                    "call or listen to it", key))
    return notes


def _taken_over(writes: list[Change], owner: str) -> list[Diagnostic]:
    """A warning for each update of a resource another repository's label claims (ownership by label)."""
    notes = []
    for change in writes:
        kind = kinds.get(change.key.kind)
        mark = kind.owner(change.before) if change.before is not None and kind.info.labelled else None
        if mark not in (None, owner):
            notes.append(Diagnostic(Severity.WARNING, f"repository {mark} manages this {kind.info.noun} (its label); applying "
                                    f"makes it {owner}'s", change.key, change.after.location))
    return notes


def _unmanaged(left: list[Remote], creates: list[Local]) -> tuple[Unmanaged, ...]:
    """The resources left on the server, each with the create that looks like it renamed (same kind and
    namespace, same content but for the name), and then what it still does on its own."""
    candidates: dict[tuple[str, str], list[Local]] = {}
    for local in creates:
        candidates.setdefault((local.key.kind, local.key.namespace), []).append(local)
    found = []
    for remote in left:
        kind = kinds.get(remote.key.kind)
        renamed = next((local.key for local in candidates.get((remote.key.kind, remote.key.namespace), ())
                        if kind.renamed(local, remote)), None)
        found.append(Unmanaged(remote.key, renamed, kind.active(remote) if renamed else ()))
    return tuple(found)


def _check_prune(kind: Kind, deletes: list[Change], writes: list[Change], remote: Mapping[Key, Remote], prune: PruneOptions) -> list[str]:
    """The guardrails, counted within one kind: a plan may delete up to `max_deletes` flows and as
    many files, and never the last resource of its kind in a namespace. What each one refuses, in a
    sentence naming what would go."""
    name, noun = kind.info.name, kind.info.noun
    deleted = sorted(c.key for c in deletes if c.key.kind == name)
    if len(deleted) > prune.max_deletes:
        return [f"Prune would delete {len(deleted)} {kind.info.plural}, more than max_deletes ({prune.max_deletes}): "
                f"{', '.join(map(str, deleted))}; nothing was applied. If that is intended, pass --max-deletes {len(deleted)}."]
    if prune.allow_empty:
        return []
    created = {c.key.namespace for c in writes if c.action is Action.CREATE and c.key.kind == name}
    for namespace in sorted({k.namespace for k in deleted}):
        survivors = [k for k in remote if k.kind == name and k.namespace == namespace and k not in deleted]
        if not survivors and namespace not in created:
            gone = ", ".join(str(k) for k in deleted if k.namespace == namespace)
            return [f"Prune would delete every {noun} of namespace '{namespace}' ({gone}); nothing was applied. "
                    "If that is intended, pass --allow-empty."]
    return []


def _order(changes: list[Change], references: Mapping[Key, tuple[Key, ...]], *, reverse: bool) -> list[Change]:
    """Topological order: referenced resources first (or last, for deletes), ties broken by kind
    rank (ascending for writes, descending for deletes), then key.

    Each change records the changes it must wait for; on a reference cycle the remaining resources go
    in that tie order and only edges that agree with the order are kept, so apply never deadlocks.
    """
    by_key = {c.key: c for c in changes}
    sign = -1 if reverse else 1
    ranks = {key: (sign * kinds.get(key.kind).info.rank, key) for key in by_key}
    # edges: `first` must be applied before `then`.
    edges = [
        (ref, key) if not reverse else (key, ref)
        for key in by_key
        for ref in references.get(key, ())
        if ref in by_key and ref != key
    ]
    waiting = {key: 0 for key in by_key}
    followers: dict[Key, list[Key]] = {key: [] for key in by_key}
    for first, then in edges:
        waiting[then] += 1
        followers[first].append(then)
    ready = [ranks[key] for key, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[Key] = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(key)
        for then in followers[key]:
            waiting[then] -= 1
            if waiting[then] == 0:
                heapq.heappush(ready, ranks[then])
    placed = set(order)
    order += sorted((k for k in by_key if k not in placed), key=ranks.__getitem__)  # a reference cycle
    position = {key: i for i, key in enumerate(order)}
    depends: dict[Key, list[Key]] = {key: [] for key in by_key}
    for first, then in edges:
        if position[first] < position[then]:
            depends[then].append(first)
    return [replace(by_key[key], depends_on=tuple(sorted(set(depends[key])))) for key in order]
