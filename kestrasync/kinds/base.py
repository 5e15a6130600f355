"""The protocol every resource kind implements, and the values it gives.

A kind is one module-level object (see kestrasync.kinds.flows) holding everything specific to one
kind of Kestra resource: which local files hold it and how they read (trees, from the kind's own
section of the settings), Kestra's no-op rule
for it (same), what an update changes in its own terms (describe), what it references, and its API
calls. Everything else (planner, applier, lock, engine, renderers) is written once for all kinds and
looks a kind up by the name in its keys (kestrasync.kinds.get). ARCHITECTURE.md says how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from kestrasync.http import Connection
from kestrasync.model import Change, Detail, Diagnostic, Key, KindInfo, Local, Remote, UpdateKind, Version
from kestrasync.walk import Parse, ScanOptions


@dataclass(frozen=True)
class Tree:
    """A part of the repository that holds a kind's files, and how one file reads.

    `rules` stamps the scan cache (bump it when `parse` changes what the same bytes give); None
    when the kind's files are not worth caching. `pooled`: parsing costs enough CPU to be worth
    sending the bytes to a process pool.
    """

    options: ScanOptions
    parse: Parse
    rules: str | None = None
    pooled: bool = True


@dataclass(frozen=True)
class Update:
    """What an update changes, as the kind sees it."""

    update_kind: UpdateKind
    summary: tuple[Detail, ...]
    diff: str


class Fetched(Protocol):
    """A kind's resources as received from the server, decoded only as far as a plan needs."""

    def remotes(self, local: Mapping[Key, Local]) -> dict[Key, Remote]:
        """Every resource read, matched against the repository's (`local`): called once."""


class Kind(Protocol):
    info: KindInfo

    def trees(self, options) -> tuple[Tree, ...]:
        """Where the kind's files are in the repository, given its settings (Settings.of_kind)."""

    def same(self, local: Local, remote: Remote) -> bool:
        """Kestra's no-op rule: writing `local` over `remote` would change nothing."""

    def describe(self, local: Local, remote: Remote) -> Update:
        """What an update changes (only called when not `same`)."""

    def references(self, remote: Remote) -> tuple[Key, ...]:
        """What a resource on the server references (deletes go referencing resources first)."""

    def owner(self, remote: Remote) -> str | None:
        """The repository that manages a resource on the server, by its label (kinds whose `info` is
        `labelled`); None when it carries none."""

    def renamed(self, local: Local, remote: Remote) -> bool:
        """Whether `local` is `remote` under another name (a flow whose id changed, a file moved)."""

    def active(self, remote: Remote) -> tuple[str, ...]:
        """What a resource does on its own while it stays on the server (a flow's enabled triggers)."""

    def in_environment(self, local: Local, namespace: Callable[[str], str | None], overlay) -> tuple[Local, tuple[str, ...]]:
        """The resource as an environment has it: its namespaces mapped (`namespace` gives None for one
        outside the repository's, which stays as it is) and the kind's `overlay` (None: nothing)
        applied; with the outside namespaces it names. FileError, located, when it cannot be."""

    def on_server(self, options, namespace: Callable[[str], str]):
        """The kind's settings with the namespaces they name as the server calls them (in an
        environment): what fetch and versions read."""

    def adopting(self, options, namespaces: Sequence[str]):
        """The kind's settings, extended to read what the server holds in `namespaces` even where the
        repository has no folder for it yet (pull)."""

    def placement(self, key: Key, options) -> Path | None:
        """The file a resource new to the repository goes to (pull); None when the settings give none."""

    def fetch(self, conn: Connection, scopes: Sequence[str], options, parallelism: int) -> Fetched:
        """Every live resource under the namespace prefixes `scopes`, in bulk (`options`: the kind's
        section of the settings, as for trees)."""

    def get(self, conn: Connection, key: Key) -> Remote | None:
        """One resource read fresh (watch), or None when the server has none."""

    def versions(self, conn: Connection, scopes: Sequence[str], options, parallelism: int) -> Mapping[Key, Version]:
        """The version of every live resource under `scopes`: what a saved plan is checked against."""

    def write(self, conn: Connection, change: Change) -> Version | None:
        """Make one change on the server; the version it leaves (None after a delete)."""

    def validate(self, conn: Connection, writes: Sequence[Local], created: frozenset[Key]) -> tuple[Diagnostic, ...]:
        """The server's warnings on what a plan writes (`created` are its creates); raises
        ValidationFailed when it refuses any."""



T = TypeVar("T")
I = TypeVar("I")


def parallel(conn: Connection, read: Callable[[I], T], items: Sequence[I], parallelism: int) -> list[T]:
    """`read(item)` of each item, `parallelism` at a time, in order: the kinds' bulk reads, each
    item a request or a few, told to the connection's tally as they are known and done."""
    tally = conn.tally
    if tally is None:
        counted = read
    else:
        tally.expect(len(items))

        def counted(item: I) -> T:
            try:
                return read(item)
            finally:
                tally.advance()

    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(items) or 1))) as pool:
        return list(pool.map(counted, items))
