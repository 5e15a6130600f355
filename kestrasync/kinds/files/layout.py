"""Where a repository keeps namespace files, and which remote path each local file becomes.

Two layouts, which mix: the convention (a folder holding one subfolder per namespace, `_files/` by
default, as Kestra's Git plugin names its folder: `_files/company.team/etl/load.py` is `etl/load.py`
of namespace `company.team`), and mappings (a local folder, its namespace, and the remote folder it
goes under). A file's remote path follows Kestra's rules: relative, normalised, never under `_flows/`
(Kestra turns YAML uploaded there into flows, and refuses every other request on it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kestrasync.errors import ConfigError, FileError
from kestrasync.model import NAMESPACE, Key, Local, SourceLocation
from kestrasync.scancache import Result
from kestrasync.walk import ScanOptions, display_path

KIND = "file"
CONVENTION = "_files"  # the folder of the convention, when `files.paths` does not name others
IGNORE_FILE = ".kestraignore"  # gitignore syntax, at a mapping's root, as Kestra's own upload honours it
FLOWS_FOLDER = "_flows"  # Kestra's: uploads under it become flows; every other request on it is "Forbidden path"
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class FolderMapping:
    """A local folder whose files go to `namespace`, under the remote folder `remote` ("" for the
    namespace's root)."""

    namespace: str
    local: Path
    remote: str = ""
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()
    where: SourceLocation | None = None  # where it is configured, for messages

    def holds(self, path: str) -> bool:
        """Whether a remote path is under this mapping's remote folder (what its prune may delete)."""
        return not self.remote or path.startswith(self.remote + "/")


@dataclass(frozen=True)
class FileOptions:
    """The `files` section of kestra-sync.yaml: convention folders (`paths`; empty: `_files/` when it
    exists), explicit mappings, and the size limit. Globs filter the convention's files."""

    root: Path = Path(".")
    paths: tuple[Path, ...] = ()
    mappings: tuple[FolderMapping, ...] = ()
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ("**/__pycache__/**",)  # Python's compiled scripts: never the repository's
    max_file_bytes: int = MAX_FILE_BYTES
    adopted: tuple[str, ...] = ()  # namespaces mapped by the convention even with no folder yet (pull)
    server_names: Callable[[str], str] | None = None  # what the server calls a namespace (an environment's)
    section: str = field(default="files", init=False)

    def resolved(self) -> tuple[FolderMapping, ...]:
        """Every mapping: the configured ones, then one per namespace folder of the convention (and per
        namespace adopted)."""
        found = list(self.mappings)
        convention = self.paths[0] if self.paths else self.root / CONVENTION
        folders = {mapping.namespace for mapping in found}
        found += [FolderMapping(namespace, convention / namespace, "", self.include, self.exclude)
                  for namespace in self.adopted if namespace not in folders and not (convention / namespace).is_dir()]
        for folder in self.paths or (self.root / CONVENTION,):
            if not folder.is_dir():
                if self.paths:
                    raise ConfigError(f"files.paths: {display_path(folder)} is not a directory")
                continue
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                shown = display_path(entry.path)
                if not entry.is_dir():
                    raise ConfigError(f"{shown}: a file directly in {display_path(folder)} belongs to no namespace; "
                                      "put it in a folder named after its namespace")
                if not NAMESPACE.fullmatch(entry.name):
                    raise ConfigError(f"{shown}: folder '{entry.name}' is not a valid Kestra namespace "
                                      "(each folder of the namespace files convention is named after a namespace)")
                found.append(FolderMapping(entry.name, Path(entry.path), "", self.include, self.exclude, SourceLocation(shown)))
        return tuple(found)

    def folders(self) -> dict[str, tuple[str, ...]]:
        """The remote folders mapped in each namespace, by the server's name for it ("" for all of it)."""
        mapped: dict[str, list[str]] = {}
        named = self.server_names or (lambda namespace: namespace)
        for mapping in self.resolved():
            mapped.setdefault(named(mapping.namespace), []).append(mapping.remote)
        return {namespace: tuple(folders) for namespace, folders in mapped.items()}

    def placement(self, namespace: str, path: str) -> Path | None:
        """Where the repository keeps the file `path` of `namespace`: under the first mapping that holds
        it (None when none does)."""
        for mapping in self.resolved():
            if mapping.namespace == namespace and mapping.holds(path):
                return mapping.local / (path[len(mapping.remote) + 1:] if mapping.remote else path)
        return None

    def scan_options(self, mapping: FolderMapping) -> ScanOptions:
        return ScanOptions(section=self.section, max_file_bytes=self.max_file_bytes, root=mapping.local,
                           include=mapping.include, exclude=mapping.exclude, ignore_file=IGNORE_FILE, confine=self.root)


def remote_folder(value: str) -> str:
    """A configured remote folder, normalised (`/etl/` -> `etl`); ValueError when Kestra would not
    take it."""
    folder = value.strip("/")
    if not folder:
        return ""
    if "\\" in folder or any(part in ("", ".", "..") for part in folder.split("/")):
        raise ValueError(f"'{value}' is not a plain folder path (no '..', '.', '\\' or empty parts)")
    problem = forbidden(folder + "/")
    if problem:
        raise ValueError(problem)
    return folder


# Characters Kestra 1.x does not keep in a path (it URL-encodes the path, then reads it as a URI: a
# space becomes `+`, `#` and `?` end it, `%XX` is decoded): the file would land under another name.
HIDDEN_SUFFIX = ".metadata"  # 1.x's local storage hides such names from listings, search and export
MAX_NAME_BYTES = 255  # per file or folder name: what file systems (so Kestra's storage) take
UNSAFE_CHARACTERS = re.compile(r"[ #?%\\\x00-\x1f\x7f]")


def forbidden(path: str) -> str | None:
    """Why Kestra would not store a file at `path` (relative to the namespace) as that path, or None."""
    if path.split("/")[0] == FLOWS_FOLDER:  # Kestra's guard: `/_flows` and what is under it
        return (f"Kestra turns files uploaded under /{FLOWS_FOLDER}/ into flows and refuses every other request there "
                "(Forbidden path); keep flows in the flows folder")
    if len(path) > MAX_NAME_BYTES // 4 and any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in path.split("/")):
        return f"a file or folder name in its path is longer than {MAX_NAME_BYTES} bytes, which Kestra's storage refuses"
    if path.endswith(HIDDEN_SUFFIX):
        return f"Kestra 1.x keeps its own metadata in files named *{HIDDEN_SUFFIX} and never lists them; rename it"
    unsafe = UNSAFE_CHARACTERS.search(path)
    if unsafe:
        return (f"its path holds {unsafe.group()!r}, which Kestra 1.x does not keep in a path (it would store the file "
                "under another name); rename it")
    return None


@dataclass(frozen=True)
class FileParse:
    """How a local file of one mapping reads: its bytes, as the resource at its remote path. (A
    symbolic link out of the repository never gets here: the walk refuses it, see `confine`.)"""

    namespace: str
    below: str  # the mapping's folder, absolute, with a trailing separator
    remote: str
    cwd: str  # what shown paths are relative to: asked once, not per file

    def __call__(self, data: bytes, shown: str) -> tuple[None, Result]:
        path = shown if os.path.isabs(shown) else os.path.join(self.cwd, shown)
        if not path.startswith(self.below):
            return None, ([], [])  # named outside this mapping's folder (validate PATH): not one of its files
        location = SourceLocation(shown)
        relative = path[len(self.below):]
        if os.sep != "/":
            relative = relative.replace(os.sep, "/")
        name = f"{self.remote}/{relative}" if self.remote else relative
        problem = forbidden(name)
        if problem:
            return None, ([], [FileError(location, f"would be namespace file {self.namespace}/{name}: {problem}")])
        return None, ([Local(Key(KIND, self.namespace, name), data, location)], [])


def parse_for(mapping: FolderMapping) -> FileParse:
    return FileParse(mapping.namespace, os.path.join(os.path.abspath(mapping.local), ""), mapping.remote, os.getcwd())
