"""Namespace files: the scripts, queries and data that flows read, the second resource kind.

A file's key is ("file", namespace, path), its path relative to the namespace's root
(`etl/load.py`); its content is its exact bytes, its version a hash of them. Which local files are
which remote paths is layout.py's (the `_files/` convention and mappings); its routes are api.py's,
its diff diff.py's. Files rank before flows: a namespace's files are written before the flows that
read them, and deleted after the flows that stop reading them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from kestrasync.http import Connection
from kestrasync.kinds.base import Tree, Update
from kestrasync.kinds.files import api
from kestrasync.kinds.files.diff import describe
from kestrasync.kinds.files.layout import KIND, FileOptions, parse_for
from kestrasync.model import Action, Change, Diagnostic, Key, KindInfo, Local, Remote, Version, in_namespace


class FileKind:
    info = KindInfo(name=KIND, noun="namespace file", plural="namespace files", rank=10, files="namespace files",
                    version="version")

    def trees(self, options: FileOptions) -> tuple[Tree, ...]:
        # Bytes are the resource: nothing to cache, and nothing worth a process pool.
        return tuple(Tree(options.scan_options(mapping), parse_for(mapping), pooled=False)
                     for mapping in options.resolved())

    def same(self, local: Local, remote: Remote) -> bool:
        return local.content == remote.content

    def describe(self, local: Local, remote: Remote) -> Update:
        return describe(remote.content, local.content, f"{remote.key} (server)", local.location.path)

    def references(self, remote: Remote) -> tuple[Key, ...]:
        return ()

    def owner(self, remote: Remote) -> str | None:
        return None  # files carry no labels

    def renamed(self, local: Local, remote: Remote) -> bool:
        return local.content == remote.content

    def active(self, remote: Remote) -> tuple[str, ...]:
        return ()

    def in_environment(self, local: Local, namespace: Callable[[str], str | None], overlay) -> tuple[Local, tuple[str, ...]]:
        """A file keeps its bytes; only its namespace is the environment's."""
        return replace(local, key=local.key._replace(namespace=namespace(local.key.namespace) or local.key.namespace)), ()

    def on_server(self, options: FileOptions, namespace: Callable[[str], str]) -> FileOptions:
        return replace(options, server_names=namespace)

    def adopting(self, options: FileOptions, namespaces: Sequence[str]) -> FileOptions:
        return replace(options, adopted=tuple(namespaces))

    def placement(self, key: Key, options: FileOptions) -> Path | None:
        return options.placement(key.namespace, key.name)

    def fetch(self, conn: Connection, scopes: Sequence[str], options: FileOptions, parallelism: int) -> api.FetchedFiles:
        return api.fetch(conn, _folders(scopes, options), parallelism)

    def get(self, conn: Connection, key: Key) -> Remote | None:
        return api.get(conn, key)

    def versions(self, conn: Connection, scopes: Sequence[str], options: FileOptions, parallelism: int) -> dict[Key, str]:
        return api.versions(conn, _folders(scopes, options), parallelism)

    def write(self, conn: Connection, change: Change) -> Version | None:
        if change.action is Action.DELETE:
            api.delete(conn, change.key)
            return None
        return api.upload(conn, change.after)

    def validate(self, conn: Connection, writes: Sequence[Local], created: frozenset[Key]) -> tuple[Diagnostic, ...]:
        """Kestra has no validation of files: its rules on paths are checked when the files are read."""
        return ()


def _folders(scopes: Sequence[str], options: FileOptions) -> dict[str, tuple[str, ...]]:
    """The mapped remote folders of each namespace under `scopes`: only those are read, and only
    what is under them can be pruned (a file put elsewhere in a namespace is someone else's)."""
    return {namespace: folders for namespace, folders in options.folders().items()
            if any(in_namespace(namespace, scope) for scope in scopes)}


FILES = FileKind()
