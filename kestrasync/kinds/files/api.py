"""Kestra's namespace-file routes, over kestrasync.http: what the requests are and how their answers read.

Reads are bulk: one export ZIP per mapped namespace, never a request per file; only where the
server refuses the export are files listed folder by folder and read one by one. Writes are one
file per request (a multipart upload, or a delete). A file's version is a hash of its bytes: Kestra
answers an upload with nothing, and its revisions (where it has them) cost a request per file.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping

from kestrasync.archive import DAMAGED, Refused, zip_entries
from kestrasync.errors import ApiError
from kestrasync.http import Connection, Fields, segment
from kestrasync.kinds.base import parallel
from kestrasync.kinds.files.layout import FLOWS_FOLDER, KIND
from kestrasync.model import Key, Local, Remote

MAX_EXPORT_BYTES = 1024 * 1024 * 1024  # one namespace's export (or one file), received and inflated
MAX_LISTED = 100_000  # entries of one folder listing
# Answers to the export that mean "not here": list and read the files one by one instead.
EXPORT_MISSING = frozenset({404, 405, 500, 501})
OCTET_STREAM = "application/octet-stream"


def version_of(content: bytes) -> str:
    """A file's version: what a saved plan's freshness is checked against."""
    return _version(hashlib.sha256(content))


def _version(digest) -> str:
    """16 hex digits of a SHA-256 (computed whole, or while a member inflates)."""
    return "sha256:" + digest.hexdigest()[:16]


def _files(namespace: str) -> str:
    return f"/namespaces/{segment(namespace)}/files"


def fetch(conn: Connection, folders: Mapping[str, tuple[str, ...]], parallelism: int) -> FetchedFiles:
    """Every file under the mapped `folders` of each namespace: its content, or for a file too large
    to keep, its hash (computed as it inflates)."""
    read = parallel(conn, lambda namespace: _received(conn, namespace, folders[namespace], parallelism), sorted(folders), parallelism)
    return FetchedFiles(conn, {key: found for namespace in read for key, found in namespace.items()})


def versions(conn: Connection, folders: Mapping[str, tuple[str, ...]], parallelism: int) -> dict[Key, str]:
    return {key: version or version_of(content) for key, (version, content) in fetch(conn, folders, parallelism).received.items()}


def get(conn: Connection, key: Key) -> Remote | None:
    """The file as the server holds it now, or None when it has none."""
    content = _content(conn, key.namespace, key.name)
    return None if content is None else Remote(key, content, version_of(content))


def upload(conn: Connection, local: Local) -> str:
    """One file, created or replaced. The part is never named `*.zip`: Kestra extracts an upload
    whose part's file name ends so, whatever the path. Sending the same bytes twice is harmless, so a
    lost answer is simply retried."""
    name = posixpath.basename(local.key.name)
    part = name if not name.lower().endswith(".zip") else name + ".bin"
    conn.send("POST", _files(local.key.namespace), params={"path": "/" + local.key.name},
              files={"fileContent": (part, local.content, OCTET_STREAM)})
    return version_of(local.content)


def delete(conn: Connection, key: Key) -> None:
    """Kestra deletes a file, and the folders it leaves empty; a file already gone is not an error."""
    conn.send("DELETE", _files(key.namespace), params={"path": "/" + key.name}, allow={404})


# ---------------------------------------------------------------------------------------------
# Reading in bulk

# Contents kept from a bulk read up to this size; a bigger file keeps only its hash, and is read
# again alone if it differs from the repository's. Memory then grows with the largest file, not
# with the namespace.
KEEP_BYTES = 1024 * 1024
CHUNK_BYTES = 256 * 1024
SMALL_EXPORT_BYTES = KEEP_BYTES  # an export up to this size is read in memory, with its members whole
# A file's content when kept, and its version when it was not (a kept content is hashed only if a
# plan or a freshness check needs its version: most are equal to the repository's, which is cheaper
# to compare than to hash).
Received = tuple["str | None", "bytes | None"]


def _received(conn: Connection, namespace: str, folders: tuple[str, ...], parallelism: int) -> dict[Key, Received]:
    """The mapped files of a namespace: its export ZIP, received into a temporary file and read member
    by member (a large one hashed as it inflates); or, where the server refuses the export, each file listed
    and read alone. Kestra's `_flows/` entries (the namespace's flows, in its export) are not files."""
    path = _files(namespace) + "/export"
    below = _below(folders)
    found: dict[Key, Received] = {}

    def add(name: str, received: Received) -> None:
        key = Key(KIND, namespace, name.lstrip("/"))
        if "\\" in key.name or any(part in ("", ".", "..") for part in key.name.split("/")):
            raise conn.unexpected("GET", path, f"an export holding a file named {name!r}")
        if key in found:
            raise conn.unexpected("GET", path, f"an export holding {key.name} twice")
        found[key] = received

    def add_whole(name: str, content: bytes) -> None:
        add(name, (None, content) if len(content) <= KEEP_BYTES else (version_of(content), None))

    with tempfile.SpooledTemporaryFile(max_size=SMALL_EXPORT_BYTES) as archive:
        try:
            conn.send("GET", path, max_bytes=MAX_EXPORT_BYTES, into=archive)
        except ApiError as error:
            if error.status not in EXPORT_MISSING:
                raise
            names = [name for name in _listed(conn, namespace, "") if _mapped(name, below)]
            for name, content in zip(names, parallel(conn, lambda name: _content(conn, namespace, name), names, parallelism)):
                if content is not None:
                    add_whole(name, content)
            return found
        if archive.tell() <= SMALL_EXPORT_BYTES:
            # Small, as most are: sliced and inflated directly, ten times faster than through
            # zipfile; a member too large for that is read the streaming way below.
            archive.seek(0)
            try:
                for name, content in zip_entries(archive.read(), SMALL_EXPORT_BYTES, MAX_EXPORT_BYTES):
                    if not name.endswith("/") and _mapped(name, below):
                        add_whole(name, content)
                return found
            except Refused:
                found.clear()
            except DAMAGED as error:
                raise conn.unexpected("GET", path, f"an unreadable export ({error})") from None
        try:
            with zipfile.ZipFile(archive) as export:
                inflated = 0
                for member in export.infolist():
                    if member.is_dir() or not _mapped(member.filename, below):
                        continue
                    version, content, size = _inflate(export, member, MAX_EXPORT_BYTES - inflated)
                    inflated += size
                    add(member.filename, (None, content) if content is not None else (version, None))
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
            raise conn.unexpected("GET", path, f"an unreadable export ({error})") from None
    return found


def _inflate(export: zipfile.ZipFile, member: zipfile.ZipInfo, allowed: int) -> tuple[str, bytes | None, int]:
    """A member's version, its content when small enough to keep, and its size: read a chunk at a
    time, never past `allowed` bytes whatever sizes the archive claims (zipfile checks the CRC)."""
    digest, kept, size = hashlib.sha256(), [], 0
    with export.open(member) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            size += len(chunk)
            if size > allowed:
                raise zipfile.BadZipFile(f"its members inflate to more than {MAX_EXPORT_BYTES:,} bytes")
            digest.update(chunk)
            if size <= KEEP_BYTES:
                kept.append(chunk)
    content = b"".join(kept) if size <= KEEP_BYTES else None
    return _version(digest), content, size


def _below(folders: tuple[str, ...]) -> tuple[str, ...]:
    """What the paths of the files under `folders` start with ("": the namespace's root)."""
    return tuple(folder + "/" if folder else "" for folder in folders)


def _mapped(name: str, below: tuple[str, ...]) -> bool:
    """A file under one of the mapped folders (see _below), and not one of Kestra's `_flows/`."""
    return name.startswith(below) and not (name == FLOWS_FOLDER or name.startswith(FLOWS_FOLDER + "/"))


def _listed(conn: Connection, namespace: str, folder: str) -> Iterator[str]:
    """The paths of every file below `folder`, folder by folder (Kestra lists one level at a time)."""
    path = _files(namespace) + "/directory"
    response = conn.send("GET", path, params={"path": "/" + folder}, allow={404})
    if response.status_code == 404:  # gone since its folder was listed
        return
    answer = conn.json(response, "GET", path)
    if not isinstance(answer, list) or len(answer) > MAX_LISTED:
        raise conn.unexpected("GET", path, "a folder listing that is not a list of files")
    for number, item in enumerate(answer, 1):
        entry = Fields(conn, "GET", path, item, f"entry {number} of a folder listing")
        name = entry.text("fileName")
        if "/" in name or name in (".", ".."):
            raise conn.unexpected("GET", path, f"a folder listing with the file name {name!r}")
        child = f"{folder}/{name}" if folder else name
        kind = entry.text("type")
        if kind == "Directory":
            if child != FLOWS_FOLDER:
                yield from _listed(conn, namespace, child)
        elif kind == "File":
            yield child
        else:
            raise conn.unexpected("GET", path, f"a folder listing with an entry of type {kind!r}")


def _content(conn: Connection, namespace: str, name: str) -> bytes | None:
    response = conn.send("GET", _files(namespace), params={"path": "/" + name}, allow={404}, max_bytes=MAX_EXPORT_BYTES)
    return None if response.status_code == 404 else response.content


class FetchedFiles:
    """The files of a read, by key: their versions, and the contents a plan needs. An unchanged file
    shares the repository's bytes; a changed one too big to have been kept is read again alone."""

    def __init__(self, conn: Connection, received: dict[Key, Received]):
        self._conn = conn
        self.received = received

    def remotes(self, local: Mapping[Key, Local]) -> dict[Key, Remote]:
        found: dict[Key, Remote] = {}
        for key, (version, content) in self.received.items():
            mine = local.get(key)
            if mine is not None and (mine.content == content if content is not None else version_of(mine.content) == version):
                found[key] = Remote(key, mine.content, None)  # unchanged: no version needed
                continue
            if content is None:
                content = _content(self._conn, key.namespace, key.name)
                if content is None:
                    continue  # deleted since the export: absent (a plan creating it again is refused as stale)
            found[key] = Remote(key, content, version_of(content))
        self.received = {}
        return found
