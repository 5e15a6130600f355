"""Scan results remembered by file content, so an unchanged repository is read but not parsed again.

Composing YAML is most of a scan's time (about 2 s of CPU for 10,000 flows); reading and hashing
the same files takes a tenth of that. An entry is keyed by the BLAKE2 digest of a file's bytes and
holds what the scan found in them (resources as offsets into the text, or problems as line:column
and message), never a path, so renaming or moving a file still hits. The file lives in the user's
cache directory (`$KESTRA_SYNC_CACHE_DIR`, else `$XDG_CACHE_HOME/kestra-sync`, else
`~/.cache/kestra-sync`), one per repository root and kind; it is JSON, written atomically, and
discarded whole when kestra-sync's version or the kind's rules differ. An unreadable cache is
simply ignored. It serves kinds whose resources are slices of a file's UTF-8 text.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from kestrasync import __version__
from kestrasync.errors import FileError
from kestrasync.files import write_atomically
from kestrasync.model import Caveat, Key, Local, SourceLocation

Result = tuple[list[Local], list[FileError]]


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def cache_directory() -> Path | None:
    """Where caches go; None when KESTRA_SYNC_CACHE_DIR is set empty (caching off)."""
    configured = os.environ.get("KESTRA_SYNC_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kestra-sync"


class ScanCache:
    """Digest -> scan result, for one kind. Entries not used by a scan are dropped when it saves, so
    the file stays the size of the repository."""

    def __init__(self, path: Path, kind: str, rules: str):
        self.path = path
        self.kind = kind
        self.stamp = f"{__version__}/{kind}/{rules}"
        self._old: dict[str, list] = self._load()
        self._new: dict[str, list] = {}

    @classmethod
    def for_root(cls, root: Path, kind: str, rules: str) -> ScanCache | None:
        """The cache of one kind in the repository at `root`, or None when caching is off."""
        directory = cache_directory()
        if directory is None:
            return None
        name = hashlib.blake2b(f"{root.absolute()}\0{kind}".encode(), digest_size=8).hexdigest()
        return cls(directory / f"scan-{name}.json", kind, rules)

    def _load(self) -> dict[str, list]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("stamp") != self.stamp or not isinstance(data.get("entries"), dict):
            return {}
        return data["entries"]

    def lookup(self, key: str, data: bytes, shown: str) -> Result | None:
        """The remembered result for these bytes, located in the file shown as `shown`."""
        entry = self._new.get(key) or self._old.get(key)
        if entry is None:
            return None
        self._new[key] = entry
        found, items = entry
        if found == "errors":
            return [], [FileError(SourceLocation(shown, line, column), message) for line, column, message in items]
        text = data.decode("utf-8")
        return [
            Local(
                Key(self.kind, namespace, name),
                text[start:end],
                SourceLocation(shown, line),
                tuple([Key(*reference) for reference in references]) if references else (),
                tuple([Caveat((major, minor), SourceLocation(shown, at, column), message) for major, minor, at, column, message in caveats])
                if caveats else (),
            )
            for namespace, name, start, end, line, references, caveats in items
        ], []

    def add(self, key: str, entry: list) -> None:
        self._new[key] = entry

    def save(self) -> None:
        """Write the entries this scan used, atomically; a cache that cannot be written is skipped."""
        if self._new == self._old:
            return
        data = json.dumps({"stamp": self.stamp, "entries": self._new}, separators=(",", ":")).encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, data)
        except OSError:
            pass


def entry_for(text: str | None, result: Result) -> list:
    """The cache entry for a file's scan result (JSON-ready: lists only)."""
    resources, errors = result
    if errors:
        return ["errors", [[e.location.line, e.location.column, e.problem] for e in errors]]
    items, position = [], 0
    for local in resources:  # documents are consecutive slices of the text
        start = text.index(local.content, position)
        position = start + len(local.content)
        references = [list(r) for r in local.references]
        caveats = [[*c.since, c.location.line, c.location.column, c.message] for c in local.caveats]
        items.append([local.key.namespace, local.key.name, start, position, local.location.line, references, caveats])
    return ["resources", items]
