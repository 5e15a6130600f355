"""Namespace files of one tenant, as each Kestra version keeps them: NamespaceFileController and its storage.

- **1.x** (`LocalFiles`; v1.0.3 `LocalStorage`): a file system. Writing a file makes its parent directories,
  overwriting replaces it (no history), deleting a directory deletes what it holds, a move is a `rename(2)`.
  Failures are the JDK's: a missing file is `FileNotFoundException("<path> (No such file or directory)")`,
  with the storage's absolute path in it. Times are the file's mtime (Java 21 on Linux reports it as the
  creation time too); a directory's size is the file system's (4096).
- **2.x** (`IndexedFiles`; develop c94e7743 `InternalNamespace` + the JDBC metadata repository): a table of
  rows, one per path and save. Every save of a file adds a revision (`GET /files/revisions`, `?revision=`),
  numbers go on across deletes, a delete only marks rows deleted, a directory is a row of its own (writing a
  file adds the missing parents; `POST /files/directory` does not), and a move copies every revision to the
  new path, then marks the old one deleted and drops its objects.

Methods take the parameters as the controller receives them and raise `ApiError` as Kestra fails; contents
are kept as the bytes received and handed out as they are (never copied). Like the flow store, this is
plain data mutated only from the event loop.
"""

from __future__ import annotations

import base64
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from .errors import ApiError, illegal_argument, internal, not_found
from .nspaths import (STORAGE_BASE, TERMINATORS, guard_forbidden, java_path, java_split, local_key,
                      namespace_prefix, normalize, parent_path, uri_argument, uri_path)
from .ziparchive import read_entries

FLOW_FILE = re.compile(f"/_flows/[^{TERMINATORS}]*")  # `filePath.matches("/_flows/.*")`
# `replaceFirst("(?m)^namespace: .*$", ...)`: Java's `^` and `.` know more line terminators than Python's.
FLOW_NAMESPACE = re.compile(f"(?:^|(?<=[{TERMINATORS}]))namespace: [^{TERMINATORS}]*")
MAX_NAME = 255  # bytes per file name on ext4 (ENAMETOOLONG); 2.x also refuses more characters up front
ENOENT, ENOTDIR, ENAMETOOLONG = "No such file or directory", "Not a directory", "File name too long"


@dataclass(slots=True)
class Revision:
    number: int
    data: bytes | None  # None once a 2.x move has purged the object
    deleted: bool = False  # 2.x: the row was the last one when its file was deleted


@dataclass(slots=True)
class Entry:
    """A file or directory at one path; a 1.x file has a single revision, rewritten in place."""

    directory: bool
    created: float
    updated: float
    size: int = 0
    revisions: list[Revision] = field(default_factory=list)
    deleted: bool = False

    def content(self, number: int) -> bytes | None:
        """The newest object at or below revision `number` (2.x `resolveExistingRevisionUri`)."""
        return next((r.data for r in reversed(self.revisions) if r.number <= number and r.data is not None), None)


def _within(name: str, top: str) -> bool:
    return name == top or top == "/" or name.startswith(top + "/")


class NamespaceFiles:
    """What both versions share: the upload (ZIP extraction, `_flows/`), persistence and reset."""

    def __init__(self, tenant: str, on_change: Callable[[], None] | None = None) -> None:
        self.tenant = tenant
        self._spaces: dict[str, dict[str, Entry]] = {}
        self._on_change = on_change

    def upload(self, namespace: str, path: str, filename: str, data: bytes, import_flow: Callable[[str], None]) -> None:
        """POST /files: a part whose *file name* ends in `.zip` is extracted (the `path` is then unused):
        every entry but directories is put at `/<entry name>`, one after the other (an error leaves the
        earlier ones stored). java.util.zip finds no entry in what is not a ZIP, so that stores nothing."""
        if not filename.lower().endswith(".zip"):
            return self._put(namespace, self._query_path(path), data, import_flow)
        try:
            entries = read_entries(data)
        except ValueError:
            entries = []
        for name, content in entries:
            if not name.endswith("/"):
                self._put(namespace, self._entry_path(name), content, import_flow)

    def _put(self, namespace: str, path: str, data: bytes, import_flow: Callable[[str], None]) -> None:
        """putNamespaceFile: a file right under `/_flows/` is a flow, imported into this namespace (its first
        `namespace: ` line at a line start rewritten) and not stored; other paths under `_flows` are refused."""
        if FLOW_FILE.fullmatch(path):
            if len(java_split(path, "/")) != 3:
                raise illegal_argument(f"Invalid flow file path: {path}")
            source = data.decode("utf-8", errors="replace")
            import_flow(FLOW_NAMESPACE.sub(lambda _: f"namespace: {namespace}", source, count=1))
            return
        guard_forbidden(path)
        self._store(namespace, path, data)

    def _entries(self, namespace: str) -> dict[str, Entry]:
        return self._spaces.setdefault(namespace, {})

    def _changed(self) -> None:
        if self._on_change:
            self._on_change()

    def clear(self) -> None:
        self._spaces.clear()
        self._changed()

    def dump(self) -> list:
        """Every entry: [namespace, path, directory, created, updated, size, deleted, [[n, base64|None, deleted]]]."""
        return [[ns, name, e.directory, e.created, e.updated, e.size, e.deleted,
                 [[r.number, None if r.data is None else base64.b64encode(r.data).decode(), r.deleted] for r in e.revisions]]
                for ns, entries in self._spaces.items() for name, e in entries.items()]

    def load(self, dumped: list) -> None:
        self._spaces = {}
        for ns, name, directory, created, updated, size, deleted, revisions in dumped:
            rows = [Revision(n, None if data is None else base64.b64decode(data), gone) for n, data, gone in revisions]
            self._entries(ns)[name] = Entry(directory, created, updated, size, rows, deleted)

    def _shown(self, namespace: str, name: str) -> str:
        """The absolute storage path the JDK names in its messages."""
        return java_path(f"{STORAGE_BASE}/{self.tenant}{namespace_prefix(namespace)}{name}")


class LocalFiles(NamespaceFiles):
    """Kestra 1.x (and 0.24): namespace files straight on the local storage."""

    @staticmethod
    def _query_path(path: str) -> str:
        """`new URI(URLEncoder.encode(path))`: decoded again at once, but a space has become `+` for good."""
        return path.replace(" ", "+")

    @staticmethod
    def _entry_path(name: str) -> str:
        try:
            return uri_path("/" + name)  # URI.create: `#`, `?` and a space fail or cut the name
        except ValueError as error:
            raise illegal_argument(str(error)) from None

    def _resolve(self, namespace: str, path: str) -> tuple[str, str]:
        key, shown = local_key(namespace, path)
        return key, f"{STORAGE_BASE}/{self.tenant}{shown}"

    def _walk(self, namespace: str, key: str) -> tuple[Entry | None, str | None]:
        """What path resolution finds at `key`: the entry, or the errno text that stopped it."""
        entries = self._entries(namespace)
        root = entries.get("/")
        if root is None or key == "/":
            return root, None if root else ENOENT
        current, parts, entry = "", key[1:].split("/"), root
        for index, part in enumerate(parts):
            if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME:
                return None, ENAMETOOLONG
            current += "/" + part
            entry = entries.get(current)
            if entry is None:
                return None, ENOENT
            if not entry.directory and index < len(parts) - 1:
                return None, ENOTDIR
        return entry, None

    # --- routes ---------------------------------------------------------------------------------------

    def content(self, namespace: str, path: str, revision: int | None = None) -> bytes:
        """GET /files: `FileInputStream` on the storage file (1.x has no revisions, `revision` is ignored)."""
        path = self._query_path(path)
        guard_forbidden(path)
        key, shown = self._resolve(namespace, path)
        entry, reason = self._walk(namespace, key)
        if reason or entry.directory:
            raise not_found(f"{shown} ({reason or 'Is a directory'})")
        return entry.revisions[-1].data

    def stats(self, namespace: str, path: str | None) -> dict:
        """GET /files/stats: no path (or an empty one) is the namespace root, created if missing."""
        if not path:
            return self._attributes("/", self._make(namespace, "/", strict=True))
        path = self._query_path(path)
        guard_forbidden(path)
        key, shown = self._resolve(namespace, path)
        entry, reason = self._walk(namespace, key)
        if reason == ENOENT:
            raise not_found(shown)  # NoSuchFileException's message is the bare path
        if reason:
            raise internal(f"{shown}: {reason}")
        return self._attributes(key, entry)

    def listing(self, namespace: str, path: str | None) -> list[dict]:
        """GET /files/directory: `Files.list`, hiding `*.metadata` names (the storage's own side files)."""
        if path is not None:
            path = self._query_path(path)
            guard_forbidden(path)
        if path is None or java_path(path) == "/":
            if self._walk(namespace, "/")[0] is None:
                self._make(namespace, "/", strict=True)
                return []
        key, shown = self._resolve(namespace, "/" if path is None else path)
        entry, reason = self._walk(namespace, key)
        if reason == ENOENT:
            raise not_found(shown)
        if reason == ENAMETOOLONG:
            raise internal(f"{shown}: {reason}")
        if reason or not entry.directory:
            raise internal(shown)  # NotDirectoryException
        entries = self._entries(namespace)
        return [self._attributes(name, entries[name]) for name in sorted(entries)
                if name != "/" and name.rsplit("/", 1)[0] == key.rstrip("/") and not name.endswith(".metadata")]

    def make_directory(self, namespace: str, path: str | None) -> None:
        """POST /files/directory: `mkdirs`, a no-op on anything that exists, even a file."""
        if path is not None:
            path = self._query_path(path)
            guard_forbidden(path)
        key, _ = self._resolve(namespace, "/" if path is None else path)
        self._make(namespace, key, strict=True)

    def _store(self, namespace: str, path: str, data: bytes) -> None:
        key, shown = self._resolve(namespace, path)
        if key == "/":
            raise not_found(f"{shown} (Is a directory)")
        parent, name = key.rsplit("/", 1)
        parent = parent or "/"
        self._make(namespace, parent, strict=False)  # `parent.mkdirs()`, its result ignored
        folder, reason = self._walk(namespace, parent)
        if reason is None and not folder.directory:
            reason = ENOTDIR
        if reason is None and len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
            reason = ENAMETOOLONG
        entries = self._entries(namespace)
        existing = entries.get(key)
        if reason or (existing is not None and existing.directory):
            raise not_found(f"{shown} ({reason or 'Is a directory'})")  # FileOutputStream
        now = time.time()
        if existing is None:
            entries[key] = Entry(False, now, now, len(data), [Revision(1, data)])
            folder.updated = now
        else:
            existing.revisions, existing.size, existing.updated = [Revision(1, data)], len(data), now
        self._changed()

    def search(self, namespace: str, q: str) -> list[str]:
        """GET /files/search: every file whose `/path` contains `q` (case-sensitive), in reverse URI order."""
        return [name for name in self._all(namespace, directories=False) if q in name]

    def export(self, namespace: str) -> list[tuple[str, bytes]]:
        """The stored files of GET /files/export, named without the leading slash; empty directories are lost."""
        entries = self._entries(namespace)
        return [(name[1:], entries[name].revisions[-1].data) for name in self._all(namespace, directories=False)]

    def move(self, namespace: str, source: str, target: str) -> None:
        """PUT /files: `Files.move(..., ATOMIC_MOVE)`, i.e. `rename(2)` with its errors."""
        source, target = uri_argument("from", source), uri_argument("to", target)
        guard_forbidden(source)
        guard_forbidden(target)
        (old, old_shown), (new, new_shown) = self._resolve(namespace, source), self._resolve(namespace, target)
        message = f"{old_shown} -> {new_shown}"
        entry, reason = self._walk(namespace, old)
        parent, name = new.rsplit("/", 1) if new != "/" else ("/", "")
        folder, folder_reason = self._walk(namespace, parent or "/")
        reason = reason or folder_reason or (None if folder.directory else ENOTDIR)
        if reason == ENOENT:
            raise not_found(message)
        if reason is None and len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
            reason = ENAMETOOLONG
        entries = self._entries(namespace)
        existing = entries.get(new)
        if reason is None and old != new:
            if _within(new, old):
                reason = "Invalid argument"
            elif existing is not None and entry.directory != existing.directory:
                reason = "Is a directory" if existing.directory else ENOTDIR
            elif existing is not None and existing.directory and any(_within(n, new) and n != new for n in entries):
                reason = "Directory not empty"
        if reason:
            raise internal(f"{message}: {reason}")
        if old == new:
            return
        moved = {name: entries.pop(name) for name in [n for n in entries if _within(n, old)]}
        entries.pop(new, None)
        for name, moving in moved.items():
            entries[new + name[len(old):]] = moving
        now = time.time()
        for touched in (old, new):
            entries[touched.rsplit("/", 1)[0] or "/"].updated = now
        self._changed()

    def delete(self, namespace: str, path: str) -> None:
        """DELETE /files: a directory goes with its content; a missing path is fine.

        First the "zombie folder" rule of the controller: while the parent folder holds (at any depth) at
        most one path, that path is dropped and the parent is deleted instead. The count does not look at
        which path it is, so deleting a missing `/dir/x` deletes `/dir` when it holds one other file.
        """
        path = self._query_path(path if path.startswith("/") else "/" + path)
        guard_forbidden(path)
        remaining = set(self._all(namespace, directories=True))
        while path != "/":
            parent = path[:path.rindex("/") + 1]
            if parent == "/":
                break
            inside = {name for name in remaining if len(name) > len(parent) and name.startswith(parent)}
            if len(inside) > 1:
                break
            remaining -= inside
            path = parent[:-1]
        key, shown = self._resolve(namespace, path)
        entry, reason = self._walk(namespace, key)
        if reason == ENOENT:
            return
        if reason:
            raise internal(f"{shown}: {reason}")
        entries = self._entries(namespace)
        for name in [n for n in entries if _within(n, key)] if entry.directory else [key]:
            del entries[name]
        if key != "/":
            entries[key.rsplit("/", 1)[0] or "/"].updated = time.time()
        self._changed()

    # --- internals ------------------------------------------------------------------------------------

    def _make(self, namespace: str, key: str, strict: bool) -> Entry | None:
        """`File.mkdirs()` up to `key`: each missing directory in turn, stopping at the first that cannot
        be made (a file in the way, a name too long); `strict` raises then, as `createDirectory` does."""
        entries = self._entries(namespace)
        now, current, entry = time.time(), "", entries.get("/")
        if entry is None:
            entry = entries["/"] = Entry(True, now, now)
            self._changed()
        for part in key[1:].split("/") if key != "/" else []:
            parent, current = entry, current + "/" + part
            entry = entries.get(current)
            if entry is None and len(part.encode("utf-8", "surrogatepass")) <= MAX_NAME and parent.directory:
                entry = entries[current] = Entry(True, now, now)
                parent.updated = now
                self._changed()
            elif entry is None or not parent.directory:
                if strict:
                    raise internal(f"Cannot create directory: {self._shown(namespace, key)}")
                return None
        return entry

    def _all(self, namespace: str, directories: bool) -> list[str]:
        """`allByPrefix` under the root: `/path` of every file (and directory), in reverse URI order. Each
        storage path goes through `URI.create`, so one stored name a URI refuses (a space or `%` that got in
        through an escaped `%20` or `%25`) makes the whole listing fail with 422."""
        entries = self._entries(namespace)
        found = []
        for name in sorted(entries, reverse=True):
            entry = entries[name]
            if name == "/" or (entry.directory and not directories) or (not entry.directory and name.endswith(".metadata")):
                continue
            try:
                uri_path(self._shown(namespace, name) + ("/" if entry.directory else ""))
            except ValueError as error:
                raise illegal_argument(str(error)) from None
            found.append(name)
        return found

    def load(self, dumped: list) -> None:
        """A 2.x state file read in 1.x mode keeps what is live (a downgrade Kestra itself does not offer)."""
        super().load(dumped)
        for entries in self._spaces.values():
            for name in [n for n, e in entries.items() if e.deleted]:
                del entries[name]

    @staticmethod
    def _attributes(name: str, entry: Entry) -> dict:
        """LocalFileAttributes: `metadata` is null (no side file), so Jackson (`non_null`) leaves it out."""
        modified = int(entry.updated * 1000)
        return {"fileName": name.rsplit("/", 1)[-1] or "_files", "lastModifiedTime": modified,
                "creationTime": modified, "type": "Directory" if entry.directory else "File",
                "size": 4096 if entry.directory else entry.size}


class IndexedFiles(NamespaceFiles):
    """Kestra 2.x: namespace files behind a metadata index, with revisions and soft deletes."""

    def __init__(self, tenant: str, on_change: Callable[[], None] | None = None) -> None:
        super().__init__(tenant, on_change)
        # Live rows per parent path, over every namespace of the tenant: the delete's zombie-folder query
        # filters on the parent path alone.
        self._children: Counter[str] = Counter()

    @staticmethod
    def _query_path(path: str) -> str:
        return path

    @staticmethod
    def _entry_path(name: str) -> str:
        return "/" + name

    def _live(self, namespace: str, name: str) -> Entry | None:
        entry = self._entries(namespace).get(name)
        return entry if entry is not None and not entry.deleted else None

    def _not_found(self, namespace: str, name: str, revision: int | None = None) -> ApiError:
        what = "File" if revision is None else f"Revision {revision} of file"
        return not_found(f"{what} '{name}' was not found in namespace '{namespace}'.")

    # --- routes ---------------------------------------------------------------------------------------

    def content(self, namespace: str, path: str, revision: int | None = None) -> bytes:
        """GET /files: the latest live revision, or `revision` if that row is not deleted; an older object
        stands in when the one asked for is gone."""
        guard_forbidden(path)
        name = normalize(path)
        entry = self._entries(namespace).get(name)
        if revision is None:
            if entry is None or entry.deleted:
                raise self._not_found(namespace, name)
            if entry.directory:
                raise not_found(f"{self._shown(namespace, name)} (Is a directory)")
            revision = entry.revisions[-1].number
        elif entry is None or not any(r.number == revision and not r.deleted for r in entry.revisions):
            raise self._not_found(namespace, name, revision)
        return self._read(namespace, name, entry, revision)

    def _read(self, namespace: str, name: str, entry: Entry, revision: int) -> bytes:
        data = entry.content(revision)
        if data is None:
            raise self._not_found(namespace, name, revision)
        return data

    def stats(self, namespace: str, path: str | None) -> dict:
        if path is not None:
            guard_forbidden(path)
        if not path:
            return self._attributes("/", self._live(namespace, "/") or self._directory(namespace, "/"))
        name = normalize(path)
        entry = self._live(namespace, name)
        if entry is None:
            raise self._not_found(namespace, name)
        return self._attributes(name, entry)

    def revisions(self, namespace: str, path: str | None) -> list[dict]:
        """GET /files/revisions: `[{revision}]` of every row at exactly that path (deleted ones too), unless
        the last is deleted. A file's rows are at `/a`, a directory's at `/a/` (it keeps revision 1)."""
        if path is not None:
            guard_forbidden(path)
        wanted = "/" if path is None else path
        directory = wanted.endswith("/")
        entry = self._entries(namespace).get((wanted[:-1] or "/") if directory else wanted)
        if entry is not None and not entry.deleted and entry.directory == directory:
            return [{"revision": 1}] if directory else [{"revision": r.number} for r in entry.revisions]
        raise not_found(f"File not found: {wanted}")

    def listing(self, namespace: str, path: str | None) -> list[dict]:
        """GET /files/directory: the live rows whose parent is the directory (a row, not implied by paths)."""
        if path is not None:
            guard_forbidden(path)
        shown = java_path("/" if path is None else path)
        if shown == "/" and self._live(namespace, "/") is None:
            self._directory(namespace, "/")
        elif self._live(namespace, normalize(shown)) is None:
            raise not_found(f"Directory not found: {shown}")
        folder = normalize(shown)
        folder = folder if folder == "/" else folder + "/"
        entries = self._entries(namespace)
        return [self._attributes(name, entries[name]) for name in sorted(entries)
                if not entries[name].deleted and parent_path(name) == folder]

    def make_directory(self, namespace: str, path: str | None) -> None:
        """POST /files/directory: one row, parents not made."""
        if path is not None:
            guard_forbidden(path)
        name = normalize("/" if path is None else path)
        self._directory(namespace, name)
        if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME for part in name.split("/")):
            raise internal(f"Cannot create directory: {self._shown(namespace, name)}")  # the row is saved first

    def _store(self, namespace: str, path: str, data: bytes) -> None:
        for part in java_path(path).split("/"):
            if len(part.encode("utf-16-le")) // 2 > MAX_NAME:
                raise illegal_argument(f"A file or folder name exceeds the maximum length of {MAX_NAME} characters.")
        name = normalize(path)
        if name == "/" or any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME for part in name.split("/")):
            reason = "Is a directory" if name == "/" else ENAMETOOLONG
            raise not_found(f"{self._shown(namespace, name)} ({reason})")
        self._write(namespace, name, data)

    def _write(self, namespace: str, name: str, data: bytes) -> None:
        """InternalNamespace.putFile (overwrite): a new revision, or a new file; a path that is (or was) a
        directory stays one, only its size changes. Missing parents get their rows, up to the first that exists."""
        entries, now = self._entries(namespace), time.time()
        entry = entries.get(name)
        if entry is None:
            entry = entries[name] = Entry(False, now, now, deleted=True)
        if not entry.directory:
            entry.revisions.append(Revision(entry.revisions[-1].number + 1 if entry.revisions else 1, data))
        entry.size, entry.updated = len(data), now
        self._revive(name, entry)
        parent = parent_path(name)
        while parent is not None and self._live(namespace, normalize(parent)) is None:
            self._directory(namespace, normalize(parent))
            parent = parent_path(normalize(parent))
        self._changed()

    def search(self, namespace: str, q: str) -> list[str]:
        """GET /files/search: the repository's full-text condition on the path (H2: every word of `q`, cut on
        punctuation, symbols and spaces, found case-insensitively; `*` and `/` match all; no word, nothing)."""
        spaced = "".join(" " if unicodedata.category(char)[0] in "PSZ" else char for char in q)
        words = [] if q in ("*", "/") else spaced.split()
        if q not in ("*", "/") and not words:
            return []
        entries = self._entries(namespace)
        return [name for name in sorted(entries) if name != "/" and not entries[name].deleted
                and not entries[name].directory and all(w.lower() in name.lower() for w in words)]

    def export(self, namespace: str) -> list[tuple[str, bytes]]:
        entries = self._entries(namespace)
        return [(name[1:], self._read(namespace, name, entries[name], entries[name].revisions[-1].number))
                for name in sorted(entries) if name != "/" and not entries[name].deleted and not entries[name].directory]

    def move(self, namespace: str, source: str, target: str) -> None:
        """PUT /files: copy every revision of the source (only the latest of what a directory holds) to the
        target in revision order, then mark the source deleted and drop the copied objects. A target that
        exists is an IOException (500); a source that does not is nothing to do."""
        source, target = uri_argument("from", source), uri_argument("to", target)
        guard_forbidden(source)
        guard_forbidden(target)
        old, new = normalize(source), normalize(target)
        if self._live(namespace, new) is not None:
            raise internal(f"File '{new}' already exists in namespace '{namespace}'.")
        entries = self._entries(namespace)
        entry = entries.get(old)
        copies: list[tuple[str, int, bool]] = []  # (path, revision, directory)
        if entry is not None:
            copies += [(old, 1, True)] if entry.directory else [(old, r.number, False) for r in entry.revisions]
            if entry.directory:
                copies += [(name, 1 if e.directory else e.revisions[-1].number, e.directory)
                           for name, e in entries.items() if not e.deleted and name != old and self._under(name, old)]
        copies.sort(key=lambda copy: copy[1])
        done: list[tuple[str, int, bool, str]] = []
        for name, number, directory in copies:
            moved = normalize(new + name[len(old):])
            if directory:
                self._directory(namespace, moved)
            else:
                data = next((r.data for r in entries[name].revisions if r.number == number), None)
                if data is None:
                    for _, _, was_directory, created in sorted(done, key=lambda d: len(d[3]), reverse=True):
                        last = 1 if was_directory else entries[created].revisions[-1].number
                        self._purge(namespace, created, last, was_directory)
                    raise internal(f"Failed to move '{old}' to '{new}' in namespace '{namespace}'. "
                                   "All changes have been rolled back.")
                self._write(namespace, moved, data)
            done.append((name, number, directory, moved))
        for name, number, directory, _ in sorted(done, key=lambda d: len(d[0]), reverse=True):
            self._purge(namespace, name, number, directory)

    def delete(self, namespace: str, path: str) -> None:
        """DELETE /files: soft-deletes the path and everything under it.

        First the "zombie folder" rule: while the parent folder has exactly one live row as direct child,
        the parent is deleted instead. The count spans every namespace of the tenant (the query filters on
        the parent path alone), and it does not check that the child is the path asked for.
        """
        path = path if path.startswith("/") else "/" + path
        guard_forbidden(path)
        parent = parent_path(path)
        while parent is not None and parent != "/" and self._children[parent] == 1:
            path, parent = parent, parent_path(parent)
        name = normalize(path)
        entries = self._entries(namespace)
        for doomed in [n for n, e in entries.items() if not e.deleted and (n == name or self._under(n, name))]:
            self._bury(doomed, entries[doomed])
        self._changed()

    # --- internals ------------------------------------------------------------------------------------

    @staticmethod
    def _under(name: str, folder: str) -> bool:
        """`children(folder, recursive)`: the parent path starts with `folder/`."""
        parent = parent_path(name)
        return parent is not None and parent.startswith(folder if folder.endswith("/") else folder + "/")

    def _directory(self, namespace: str, name: str) -> Entry:
        """InternalNamespace.createDirectory: a live directory row at `name` (over whatever was there)."""
        entries, now = self._entries(namespace), time.time()
        entry = entries.get(name)
        if entry is None:
            entry = entries[name] = Entry(True, now, now, deleted=True)
        entry.directory, entry.size, entry.updated = True, 0, now
        self._revive(name, entry)
        self._changed()
        return entry

    def _purge(self, namespace: str, name: str, number: int, directory: bool) -> None:
        """The move's purge: the row marked deleted, the revision's object removed."""
        entry = self._entries(namespace)[name]
        if not entry.deleted:
            self._bury(name, entry)
        if not directory:
            next(r for r in entry.revisions if r.number == number).data = None
        self._changed()

    def _revive(self, name: str, entry: Entry) -> None:
        if entry.deleted:
            entry.deleted = False
            if name != "/":
                self._children[parent_path(name)] += 1

    def _bury(self, name: str, entry: Entry) -> None:
        entry.deleted, entry.updated = True, time.time()
        if entry.revisions and not entry.directory:
            entry.revisions[-1].deleted = True
        if name != "/":
            self._children[parent_path(name)] -= 1

    def clear(self) -> None:
        self._children.clear()
        super().clear()

    def load(self, dumped: list) -> None:
        super().load(dumped)
        self._children = Counter(parent_path(name) for entries in self._spaces.values()
                                 for name, entry in entries.items() if not entry.deleted and name != "/")

    @staticmethod
    def _attributes(name: str, entry: Entry) -> dict:
        """NamespaceFileAttributes: times from the row, an empty metadata map."""
        return {"fileName": name.rsplit("/", 1)[-1] or "_files", "lastModifiedTime": int(entry.updated * 1000),
                "creationTime": int(entry.created * 1000), "type": "Directory" if entry.directory else "File",
                "size": entry.size, "metadata": {}}


def namespace_files(tenant: str, kestra_version: str, on_change: Callable[[], None] | None = None) -> NamespaceFiles:
    return (IndexedFiles if kestra_version.startswith("2") else LocalFiles)(tenant, on_change)
