"""The repository's resources of every kind, read into a Workspace: the scan stage.

A scan reads each kind's files (kestrasync.kinds: which trees, how a file reads) through the walk
and the scan cache, and records what each file declares; a resource declared twice is a problem of
the file that declares it second. For watch, the workspace is kept current file by file: `update`
rescans only what changed, checked against an index of the rest, so a save costs what its file
costs, whatever the size of the repository.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from kestrasync import kinds, walk
from kestrasync.config import Settings
from kestrasync.errors import FileError, ScanFailed
from kestrasync.kinds.base import Kind, Tree
from kestrasync.model import Key, Local
from kestrasync.scancache import ScanCache


@dataclass
class Workspace:
    """The repository's resources of every kind, by file, with the problems found reading them.

    Kept current file by file for watch: `update` rescans only what changed, and checks a rescanned
    file's resources against an index of the others (a resource declared twice is a problem).
    """

    settings: Settings
    files: dict[str, tuple[Local, ...]] = field(default_factory=dict)  # absolute path -> what it declares
    broken: set[str] = field(default_factory=set)  # files whose last version has problems
    problems: list[FileError] = field(default_factory=list)  # of the last scan or update
    seen_namespaces: set[str] = field(default_factory=set)  # every namespace a file declared since loading
    _declared: dict[Key, Local] = field(default_factory=dict)

    def resources(self) -> tuple[Local, ...]:
        """Every resource, sorted by key; ScanFailed listing every problem when there is one."""
        if self.problems:
            raise ScanFailed(self.problems, files_noun(self.settings))
        return tuple(sorted(self._declared.values(), key=lambda local: local.key))

    def current(self) -> list[Local]:
        """What the files that scan declare now (a broken file keeps its last good version)."""
        return list(self._declared.values())

    def _add(self, path: str, found: list[Local], problems: list[FileError]) -> bool:
        """Record a file's scan, unless it has problems (or declares what another file does)."""
        if not problems and len(found) == 1 and path not in self.files and found[0].key not in self._declared:
            local = found[0]  # most files of a scan: one new resource
            self.files[path] = (local,)
            self._declared[local.key] = local
            self.seen_namespaces.add(local.key.namespace)
            return True
        own = self._keys(path) if path in self.files else ()
        first: dict[Key, Local] = {}
        for local in found:
            earlier = first.get(local.key) or (self._declared.get(local.key) if local.key not in own else None)
            if earlier is not None:
                noun = kinds.get(local.key.kind).info.noun
                problems = problems + [FileError(local.location, f"{noun} {local.key} is defined twice (first at {earlier.location})")]
            first.setdefault(local.key, local)
        if problems:
            self.problems += problems
            self.broken.add(path)
            return False
        for key in self._keys(path):
            del self._declared[key]
        self.broken.discard(path)
        self.files[path] = tuple(found)
        self._declared.update((local.key, local) for local in found)
        self.seen_namespaces.update(local.key.namespace for local in found)
        return True

    def _keys(self, path: str) -> set[Key]:
        return {local.key for local in self.files.get(path, ())}

    def update(self, paths: Iterable[Path | str]) -> set[Key]:
        """Rescan the files behind `paths` (a directory stands for the files below it); the keys they
        declared before or declare now. A file with problems keeps its last good version."""
        self.problems = []
        affected: set[Key] = set()
        for path in sorted(self._expand(paths)):
            before = self._keys(path)
            if not os.path.isfile(path):
                for key in before:
                    del self._declared[key]
                self.files.pop(path, None)
                self.broken.discard(path)
                affected |= before
                continue
            found, problems = [], []
            for tree in _trees(self.settings):
                if _accepts(tree, path):
                    results, errors = walk.scan([path], tree.options, tree.parse)
                    for resources, file_problems in results.values():
                        found += resources
                        problems += file_problems
                    problems += errors
            if self._add(path, found, problems):
                affected |= before | self._keys(path)
        return affected

    def changed_since(self, moment: float) -> set[str]:
        """Files added, removed or modified since `moment` (with a second of slack for coarse clocks)."""
        current = {_absolute(f) for tree in _trees(self.settings) for f in walk.find(tree.options.roots, tree.options, [])}
        gone = set(self.files) - current
        return gone | {f for f in current if f not in self.files or _modified_at(f) >= moment - 1}

    def _expand(self, paths: Iterable[Path | str]) -> set[str]:
        files: set[str] = set()
        for path in map(_absolute, map(os.fspath, paths)):
            below = os.path.join(path, "")
            files |= {f for f in (*self.files, *self.broken) if f == path or f.startswith(below)}
            if os.path.isdir(path):
                for tree in _trees(self.settings):
                    files |= {_absolute(f) for f in walk.find([path], tree.options, [])}
            elif any(_accepts(tree, path) for tree in _trees(self.settings)):
                files.add(path)
        return files


def scan(settings: Settings, pool: Executor | None = None, paths: Sequence[Path] | None = None, missing_ok: bool = False) -> Workspace:
    """Every kind's files (or those under `paths`), read once; unchanged files come from the scan
    cache, the others are parsed in `pool` when there are many. Problems are kept in the workspace:
    Workspace.resources() raises them. `missing_ok`: a configured folder that does not exist yet holds
    nothing (pull creates it), rather than being a problem."""
    workspace = Workspace(settings)
    by_path: dict[str, tuple[list[Local], list[FileError]]] = {}
    for tree, kind in _trees_with_kinds(settings):
        cache = ScanCache.for_root(settings.root, kind.info.name, tree.rules) if tree.rules else None
        roots = paths or [root for root in tree.options.roots if not missing_ok or root.exists()]
        results, errors = walk.scan(roots, tree.options, tree.parse, cache, pool if tree.pooled else None)
        workspace.problems += errors
        for path, result in results.items():
            path = _absolute(path)
            if path in by_path:  # a file that two kinds read
                result = (by_path[path][0] + result[0], by_path[path][1] + result[1])
            by_path[path] = result
    for path, (found, problems) in by_path.items():
        workspace._add(path, found, problems)
    return workspace


def read_by(settings: Settings, path: str) -> bool:
    """Whether a scan of the repository reads the file `path` (under a kind's folders, taken by its
    globs and ignore file)."""
    return any(_takes(tree, os.path.abspath(path)) for tree in _trees(settings))


def _takes(tree: Tree, path: str) -> bool:
    below = any(path == str(root.absolute()) or path.startswith(os.path.join(root.absolute(), "")) for root in tree.options.roots)
    return below and _accepts(tree, path)


def parse_as(settings: Settings, path: str, data: bytes) -> tuple[list[Local], list[FileError]] | None:
    """What `data` would declare as the file `path`, read by the kinds whose folders take that path;
    None when none does (kestra-sync would not read the file)."""
    found: list[Local] = []
    problems: list[FileError] = []
    read = False
    for tree in _trees(settings):
        if _takes(tree, path):
            read = True
            _, (resources, errors) = tree.parse(data, walk.display_path(path))
            found += resources
            problems += errors
    return (found, problems) if read else None


def _absolute(path: str) -> str:
    """The path the workspace knows a file by, as watch reports it (found paths mostly are already)."""
    return path if os.path.isabs(path) else os.path.abspath(path)


def configured_roots(settings: Settings) -> list[Path]:
    """The folders (or files) that hold the repository's resources, as configured."""
    return list(dict.fromkeys(root for tree in _trees(settings) for root in tree.options.roots))


def watched_roots(settings: Settings) -> list[Path]:
    return [root for root in configured_roots(settings) if root.exists()]


def files_noun(settings: Settings) -> str:
    """What the repository's files are called in messages: `flow files`."""
    return " and ".join(kind.info.files for kind in in_use(settings))


def in_use(settings: Settings) -> list[Kind]:
    """The kinds this repository has files of (whose trees are configured or found): what it plans."""
    return [kind for kind, trees in _kinds_and_trees(settings) if trees]


def _kinds_and_trees(settings: Settings) -> list[tuple[Kind, tuple[Tree, ...]]]:
    return [(kind, kind.trees(settings.of_kind(kind.info.name))) for kind in kinds.ranked()]


def _modified_at(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:  # removed meanwhile: it changed
        return float("inf")


def _trees_with_kinds(settings: Settings) -> list[tuple[Tree, Kind]]:
    return [(tree, kind) for kind, trees in _kinds_and_trees(settings) for tree in trees]


def _trees(settings: Settings) -> list[Tree]:
    return [tree for tree, _ in _trees_with_kinds(settings)]


def _accepts(tree: Tree, path: str) -> bool:
    wanted = _filter(tree.options)
    return wanted.accepts(wanted.relative(path))


@functools.lru_cache(maxsize=16)
def _filter(options: walk.ScanOptions) -> walk.FileFilter:
    return walk.FileFilter(options)
