"""Flow revisions of one tenant, stored the way Kestra's JDBC repository stores them.

Every save appends a row `{revision, source, deleted, disabled}`; nothing is ever rewritten. The current
flow is the row with the highest revision, deleted or not, and a flow is *live* when that row is not a
tombstone. Revisions are `max + 1` over all rows (tombstones included), so they are never reused and
revision N is always row N-1. Saving the same text again is a no-op (Kestra's `isSameWithSource`, which in
2.x also compares `draft`). A 2.x draft row is the flow's head like any other (GET returns it); `published`
finds the last non-draft row, which executions and the export use.

Live flows are also kept in a sorted list of `(namespace, id)` so that a namespace, a namespace prefix
(`ns == p or ns.startswith(p + ".")`) or a page of results is found by bisection: listing, searching and
exporting cost what they return, not the size of the store. `rows_visited` counts the rows those scans
touch, so tests can check that claim without timing anything.

The store is plain data with no locking: the emulator mutates it only from its event loop, in handlers that
do not await between reading and writing.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, insort
from dataclasses import dataclass
from itertools import chain
from typing import Callable, Iterator

FlowKey = tuple  # (namespace, id)

_REVISION_LINE = re.compile(r"(?m)^revision: [0-9]+\n?")


def source_without_revision(source: str) -> str:
    """Kestra's `FlowService.cleanupSource`: drop the first `revision: N` line before comparing sources."""
    return _REVISION_LINE.sub("", source, count=1)


@dataclass(slots=True)
class Revision:
    """One stored row. `rendered` caches the Flow JSON of the current row only (memory stays modest);
    `updated` is the save time (1.3+ serve it), `draft` the 2.x `?draft=` flag of that save."""

    revision: int
    source: str
    deleted: bool
    disabled: bool
    draft: bool = False
    updated: float = 0.0
    rendered: str | None = None


class FlowStore:
    """All revision rows of one tenant, plus a sorted index of its live flows."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._rows: dict[FlowKey, list[Revision]] = {}
        self._live: list[FlowKey] = []
        self._namespaces: dict[str, int] = {}
        self._on_change = on_change
        self.rows_visited = 0

    # --- reading one flow ---------------------------------------------------------------------------

    def revisions(self, namespace: str, flow_id: str) -> list[Revision]:
        """Every row of a flow in ascending order, tombstones included (empty when unknown)."""
        return list(self._rows.get((namespace, flow_id), ()))

    def latest(self, namespace: str, flow_id: str) -> Revision | None:
        rows = self._rows.get((namespace, flow_id))
        return rows[-1] if rows else None

    def live(self, namespace: str, flow_id: str) -> Revision | None:
        """The current row when it is not a tombstone: what Kestra's `findById` returns."""
        row = self.latest(namespace, flow_id)
        return row if row is not None and not row.deleted else None

    def at(self, namespace: str, flow_id: str, revision: int) -> Revision | None:
        rows = self._rows.get((namespace, flow_id), ())
        return rows[revision - 1] if 1 <= revision <= len(rows) else None

    def published(self, namespace: str, flow_id: str) -> Revision | None:
        """The last non-draft row of a live flow (`fromLastNonDraftRevision`), or None."""
        if self.live(namespace, flow_id) is None:
            return None
        return next((row for row in reversed(self._rows[(namespace, flow_id)]) if not row.draft), None)

    def last_revision(self, namespace: str, flow_id: str) -> int:
        row = self.latest(namespace, flow_id)
        return row.revision if row else 0

    # --- writing ------------------------------------------------------------------------------------

    def save(self, namespace: str, flow_id: str, source: str, *, disabled: bool,
             deleted: bool = False, draft: bool = False) -> tuple[Revision, bool]:
        """Append a revision unless the live flow already holds the same text; return (row, is_new)."""
        key = (namespace, flow_id)
        rows = self._rows.setdefault(key, [])
        current = rows[-1] if rows else None
        if current is not None and _same(current, source, disabled, deleted) and current.draft == draft:
            return current, False
        row = Revision(current.revision + 1 if current else 1, source, deleted, disabled, draft, time.time())
        self._append(key, rows, row)
        return row, True

    def delete(self, namespace: str, flow_id: str) -> Revision:
        """Write the tombstone of a live flow: a copy of its current row at revision + 1, marked deleted."""
        key = (namespace, flow_id)
        rows = self._rows[key]
        current = rows[-1]
        if current.deleted:
            raise KeyError(key)
        tombstone = Revision(current.revision + 1, current.source, True, current.disabled, current.draft, time.time())
        self._append(key, rows, tombstone)
        return tombstone

    def _append(self, key: FlowKey, rows: list[Revision], row: Revision) -> None:
        was_live = bool(rows) and not rows[-1].deleted
        if rows:
            rows[-1].rendered = None
        rows.append(row)
        if was_live and row.deleted:
            self._unindex(key)
        elif not was_live and not row.deleted:
            self._index(key)
        if self._on_change:
            self._on_change()

    def _index(self, key: FlowKey) -> None:
        insort(self._live, key)
        self._namespaces[key[0]] = self._namespaces.get(key[0], 0) + 1

    def _unindex(self, key: FlowKey) -> None:
        del self._live[bisect_left(self._live, key)]
        count = self._namespaces.pop(key[0]) - 1
        if count:
            self._namespaces[key[0]] = count

    def clear(self) -> None:
        self._rows.clear()
        self._live.clear()
        self._namespaces.clear()
        if self._on_change:
            self._on_change()

    # --- scanning live flows ------------------------------------------------------------------------

    def scan(self, *, namespace: str | None = None, prefix: str | None = None,
             starts_with: str | None = None) -> Iterator[tuple[FlowKey, Revision]]:
        """Live flows in (namespace, id) order: all of them, exactly `namespace`, the namespace `prefix`
        and its children, or namespaces whose text `starts_with` a string. Counts `rows_visited`."""
        for key in chain.from_iterable(self._slices(namespace, prefix, starts_with)):
            self.rows_visited += 1
            yield key, self._rows[key][-1]

    def count(self, *, namespace: str | None = None, prefix: str | None = None,
              starts_with: str | None = None) -> int:
        """How many flows `scan` would yield, found by bisection without visiting them."""
        return sum(len(part) for part in self._slices(namespace, prefix, starts_with))

    def page(self, offset: int, size: int, **where: str | None) -> Iterator[tuple[FlowKey, Revision]]:
        """One page of `scan(**where)`: skips by arithmetic and visits only the rows of that page."""
        remaining = size
        for part in self._slices(**where):
            if remaining <= 0:
                break
            if offset >= len(part):
                offset -= len(part)
                continue
            for key in part.window(offset, offset + remaining):
                remaining -= 1
                self.rows_visited += 1
                yield key, self._rows[key][-1]
            offset = 0

    def _slices(self, namespace=None, prefix=None, starts_with=None) -> list[_Slice]:
        if prefix is not None:
            return [_Slice(self._live, *self._bounds(prefix, None)),
                    _Slice(self._live, *self._bounds(None, prefix + "."))]
        return [_Slice(self._live, *self._bounds(namespace, starts_with))]

    def _bounds(self, namespace: str | None, starts_with: str | None) -> tuple[int, int]:
        if namespace is not None:
            return bisect_left(self._live, (namespace,)), bisect_left(self._live, (namespace + "\0",))
        if starts_with is not None:
            return bisect_left(self._live, (starts_with,)), bisect_left(self._live, (starts_with + "\U0010ffff",))
        return 0, len(self._live)

    def namespaces(self) -> list[str]:
        """Distinct namespaces of live flows, sorted."""
        return sorted(self._namespaces)

    def __len__(self) -> int:
        return len(self._live)

    # --- persistence --------------------------------------------------------------------------------

    def dump(self) -> list:
        """Every row as JSON-ready lists: [namespace, id, [[revision, source, deleted, disabled, draft, updated], ...]]."""
        return [[ns, fid, [[r.revision, r.source, r.deleted, r.disabled, r.draft, r.updated] for r in rows]]
                for (ns, fid), rows in self._rows.items()]

    def load(self, dumped: list) -> None:
        """Replace the content with `dump()` output (rows of older files lack draft and updated), rebuilding
        the index in one sort."""
        self._rows = {(ns, fid): [Revision(*row) for row in rows] for ns, fid, rows in dumped}
        self._live = sorted(key for key, rows in self._rows.items() if rows and not rows[-1].deleted)
        self._namespaces = {}
        for ns, _ in self._live:
            self._namespaces[ns] = self._namespaces.get(ns, 0) + 1


class _Slice:
    """A lazy [lo, hi) view of the sorted index: iterating it copies nothing up front."""

    __slots__ = ("_keys", "_lo", "_hi")

    def __init__(self, keys: list, lo: int, hi: int) -> None:
        self._keys, self._lo, self._hi = keys, lo, hi

    def __len__(self) -> int:
        return max(0, self._hi - self._lo)

    def __iter__(self) -> Iterator[FlowKey]:
        return self.window(0, len(self))

    def window(self, start: int, stop: int) -> Iterator[FlowKey]:
        keys = self._keys
        for index in range(self._lo + start, min(self._lo + stop, self._hi)):
            yield keys[index]


def _same(current: Revision, source: str, disabled: bool, deleted: bool) -> bool:
    """Kestra's `isSameWithSource` against the current row, which must be live."""
    return (not current.deleted and current.deleted == deleted and current.disabled == disabled
            and source_without_revision(current.source) == source_without_revision(source))
