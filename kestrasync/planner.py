"""(local flows, remote flows, options) -> Plan. Pure: no I/O, no clock.

The planner decides what to write and in which order, and enforces the guardrails of pruning:
deletes only inside the owned namespaces, never in protected ones, never more than `max_deletes`,
never emptying a namespace unless allowed. Order: a flow is written after the flows it references
(Subflow, ForEachItem, Flow trigger) when they change in the same plan; deletes come last,
referencing flows first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from kestrasync.differ import diff_flow
from kestrasync.errors import PlanRefused
from kestrasync.model import Action, Change, FlowKey, LocalFlow, Plan, RemoteFlow, UpdateKind


def in_namespace(namespace: str, prefix: str) -> bool:
    """Kestra's namespace prefix rule: the namespace itself or any namespace below it."""
    return namespace == prefix or namespace.startswith(prefix + ".")


def read_scopes(namespaces: Iterable[str]) -> tuple[str, ...]:
    """The fewest namespace prefixes whose subtrees cover `namespaces`: one server read each."""
    scopes: list[str] = []
    for namespace in sorted(set(namespaces)):
        if not any(in_namespace(namespace, s) for s in scopes):
            scopes.append(namespace)
    return tuple(scopes)


@dataclass(frozen=True)
class Ownership:
    """Which namespaces this repository owns: configured prefixes, or exactly the namespaces of its files.

    A namespace found in the files does not own its children by default: another team's flows in
    `company.team.other` must never be pruned because a file declares a flow in `company.team`.
    """

    prefixes: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()

    @classmethod
    def of(cls, configured: Iterable[str], local: Iterable[LocalFlow]) -> Ownership:
        configured = tuple(configured)
        if configured:
            return cls(prefixes=configured)
        return cls(exact=frozenset(f.key.namespace for f in local))

    def owns(self, namespace: str) -> bool:
        return namespace in self.exact or any(in_namespace(namespace, p) for p in self.prefixes)

    @property
    def scopes(self) -> tuple[str, ...]:
        return read_scopes((*self.prefixes, *self.exact))


@dataclass(frozen=True)
class PlanOptions:
    ownership: Ownership
    prune: bool = False
    namespaces: tuple[str, ...] = ()  # --namespace: only flows under these prefixes
    targets: frozenset[FlowKey] | None = None  # only these flows (--target); None: all
    protected: tuple[str, ...] = ("system",)
    max_deletes: int = 10
    allow_empty: bool = False
    ignore_cosmetic: bool = False

    def selects(self, key: FlowKey) -> bool:
        return (not self.namespaces or any(in_namespace(key.namespace, n) for n in self.namespaces)) and (
            self.targets is None or key in self.targets
        )

    def is_protected(self, namespace: str) -> bool:
        return any(in_namespace(namespace, p) for p in self.protected)


def make_plan(
    local: Iterable[LocalFlow],
    remote: Mapping[FlowKey, RemoteFlow],
    options: PlanOptions,
    *,
    server: str,
    tenant: str,
    remote_references: Mapping[FlowKey, tuple[FlowKey, ...]] | None = None,
    created_at: str = "",
) -> Plan:
    """Compare and order. `remote_references` gives the references of flows that may be deleted,
    so deletes can go referencing flows first."""
    local_by_key = {f.key: f for f in local}
    namespaces = {k.namespace for k in local_by_key} | {k.namespace for k in remote}
    owned = {namespace for namespace in namespaces if options.ownership.owns(namespace)}
    outside = [f for f in local_by_key.values() if f.key.namespace not in owned]
    if outside:
        first = outside[0]
        raise PlanRefused(
            f"{first.location}: flow {first.key} is outside the namespaces this repository owns "
            f"({', '.join(options.ownership.prefixes)}); add its namespace to `namespaces` in kestra-sync.yaml"
        )
    remote = {k: r for k, r in remote.items() if k.namespace in owned}
    writes, deletes, skipped, unchanged = [], [], [], 0
    for key in sorted(local_by_key.keys() | remote.keys()):
        if not options.selects(key):
            continue
        local_flow = local_by_key.get(key)
        if local_flow is None and (not options.prune or options.is_protected(key.namespace)):
            continue
        change = diff_flow(local_flow, remote.get(key))
        if change is None:
            unchanged += 1
        elif change.kind is UpdateKind.COSMETIC and options.ignore_cosmetic:
            skipped.append(key)
        elif change.action is Action.DELETE:
            deletes.append(change)
        else:
            writes.append(change)
    _check_prune(deletes, writes, remote, options)
    ordered = _order(writes, {c.key: c.after.references for c in writes}, reverse=False)
    ordered += _order(deletes, remote_references or {}, reverse=True)
    return Plan(
        server=server,
        tenant=tenant,
        scope=options.ownership.scopes,
        changes=tuple(ordered),
        unchanged=unchanged,
        prune=options.prune,
        skipped_cosmetic=tuple(skipped),
        created_at=created_at,
    )


def _check_prune(deletes: list[Change], writes: list[Change], remote: Mapping[FlowKey, RemoteFlow], options: PlanOptions) -> None:
    if len(deletes) > options.max_deletes:
        raise PlanRefused(
            f"Prune would delete {len(deletes)} flows, more than max_deletes ({options.max_deletes}); "
            f"nothing was applied. If that is intended, pass --max-deletes {len(deletes)}."
        )
    if options.allow_empty:
        return
    deleted = {c.key for c in deletes}
    created = {c.key.namespace for c in writes if c.action is Action.CREATE}
    for namespace in sorted({k.namespace for k in deleted}):
        survivors = [k for k in remote if k.namespace == namespace and k not in deleted]
        if not survivors and namespace not in created:
            raise PlanRefused(
                f"Prune would delete every flow of namespace '{namespace}'; nothing was applied. "
                "If that is intended, pass --allow-empty."
            )


def _order(changes: list[Change], references: Mapping[FlowKey, tuple[FlowKey, ...]], *, reverse: bool) -> list[Change]:
    """Topological order: referenced flows first (or last, for deletes), ties broken by key.

    Each change records the changes it must wait for; on a reference cycle the remaining flows go
    in key order and only edges that agree with that order are kept, so apply never deadlocks.
    """
    by_key = {c.key: c for c in changes}
    # edges: `first` must be applied before `then`.
    edges = [
        (ref, key) if not reverse else (key, ref)
        for key in by_key
        for ref in references.get(key, ())
        if ref in by_key and ref != key
    ]
    waiting = {key: 0 for key in by_key}
    followers: dict[FlowKey, list[FlowKey]] = {key: [] for key in by_key}
    for first, then in edges:
        waiting[then] += 1
        followers[first].append(then)
    ready = [key for key, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[FlowKey] = []
    while ready:
        key = heapq.heappop(ready)
        order.append(key)
        for then in followers[key]:
            waiting[then] -= 1
            if waiting[then] == 0:
                heapq.heappush(ready, then)
    placed = set(order)
    order += sorted(k for k in by_key if k not in placed)  # a reference cycle: key order
    position = {key: i for i, key in enumerate(order)}
    depends: dict[FlowKey, list[FlowKey]] = {key: [] for key in by_key}
    for first, then in edges:
        if position[first] < position[then]:
            depends[then].append(first)
    return [replace(by_key[key], depends_on=tuple(sorted(set(depends[key])))) for key in order]
