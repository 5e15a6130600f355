"""Finding and reading the repository's files, for any kind: paths, globs, bytes, the scan cache.

A kind says which files are its own (ScanOptions) and how one file's bytes become resources (a
parse function); this module finds the files, reads each once, asks the scan cache, and parses the
rest, in the process pool the caller passes when there are many. It knows no kind and starts no
process: the command line makes the pool (a library call must not, see kestrasync.cli).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import pathspec

from kestrasync.errors import FileError
from kestrasync.model import SourceLocation
from kestrasync.scancache import Result, ScanCache, digest, entry_for

# From this many files to parse on, a scan uses the process pool it was given.
PARALLEL_SCAN_FILES = 2000
# Processes of a parse pool (the command line makes it; see kestrasync.cli).
WORKERS = min(os.cpu_count() or 1, 8)

# bytes and the path shown to the user -> (the decoded text or None, what the file holds). A
# module-level function, so that a process pool can run it.
Parse = Callable[[bytes, str], "tuple[str | None, Result]"]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Which files hold one kind's resources: globs relative to `root` (the directory of
    kestra-sync.yaml), under `paths`. `section` names the kind's section of kestra-sync.yaml, for
    messages; the kind gives it and its size limit (kestrasync.kinds)."""

    section: str
    max_file_bytes: int
    root: Path = Path(".")
    paths: tuple[Path, ...] = ()  # empty: the root
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore_file: str | None = None  # a file in gitignore syntax at the root, whose patterns exclude too
    confine: Path | None = None  # symbolic links must lead inside this folder (the repository)
    layout: str = ""  # where `pull` puts a resource new to the repository: a template under the first root

    @property
    def roots(self) -> tuple[Path, ...]:
        return self.paths or (self.root,)


def scan(
    paths: Sequence[Path],
    options: ScanOptions,
    parse: Parse,
    cache: ScanCache | None = None,
    pool: Executor | None = None,
) -> tuple[dict[str, Result], list[FileError]]:
    """What each file under `paths` holds, by path as found (files named explicitly are always taken),
    and the problems of finding them (missing paths, unreadable directories, link loops)."""
    errors: list[FileError] = []
    files = find(paths, options, errors)
    results = read_all(files, parse, options, cache, pool)
    if cache is not None:
        cache.save()
    return dict(zip(files, results)), errors


def read_all(files: list[str], parse: Parse, options: ScanOptions, cache: ScanCache | None, pool: Executor | None) -> list[Result]:
    """Every file's result, in order, each file read once. Files the cache knows are not parsed;
    the others are parsed in `pool` when there are many (composing YAML holds the GIL)."""
    results: list[Result | None] = [None] * len(files)
    unknown: list[tuple[int, str | None, bytes, str]] = []  # index, digest, bytes, shown path
    here = os.path.join(os.getcwd(), "")
    for index, file in enumerate(files):
        shown = file[len(here) :] if file.startswith(here) else (file if os.path.isabs(file) else display_path(file))
        try:
            data = read_bytes(file, shown, options)
        except FileError as error:
            results[index] = ([], [error])
            continue
        key = digest(data) if cache is not None else None
        results[index] = cache.lookup(key, data, shown) if cache is not None else None
        if results[index] is None:
            unknown.append((index, key, data, shown))
    parsed = _parse_all(parse, [(data, shown) for _, _, data, shown in unknown], cache is not None, pool)
    for (index, key, _, _), (result, entry) in zip(unknown, parsed):
        results[index] = result
        if cache is not None:
            cache.add(key, entry)
    return results


def _parse_all(parse: Parse, items: list[tuple[bytes, str]], with_entries: bool, pool: Executor | None) -> list[tuple[Result, list | None]]:
    if pool is None or len(items) < PARALLEL_SCAN_FILES:
        return _parse_chunk(parse, items, with_entries)
    size = -(-len(items) // (WORKERS * 4))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    count = len(chunks)
    return [item for chunk in pool.map(_parse_chunk, [parse] * count, chunks, [with_entries] * count) for item in chunk]


def _parse_chunk(parse: Parse, items: list[tuple[bytes, str]], with_entries: bool) -> list[tuple[Result, list | None]]:
    """Each file's result, with its scan-cache entry when asked."""
    parsed = []
    for data, shown in items:
        text, result = parse(data, shown)
        parsed.append((result, entry_for(text, result) if with_entries else None))
    return parsed


def display_path(path: Path | str) -> str:
    """The path as the user should see it: relative to the working directory when inside it."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if absolute.startswith(cwd + os.sep):
        return absolute[len(cwd) + 1 :]
    return str(path)


def read_bytes(path: Path | str, shown: str, options: ScanOptions) -> bytes:
    """The file's bytes, refused over the size limit; never more than the limit in memory.

    os.read with the size from fstat is several times faster than open().read() on small files,
    which shows when a repository holds thousands of them.
    """
    limit = options.max_file_bytes
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            data = os.read(fd, min(size, limit) + 1)
            while len(data) < min(size, limit) and (more := os.read(fd, limit + 1 - len(data))):
                data += more  # a file system that answered in parts, or a file that grew since fstat
        finally:
            os.close(fd)
    except OSError as error:
        raise FileError(SourceLocation(shown), f"cannot read file: {error.strerror}") from None
    if len(data) > limit:
        raise FileError(
            SourceLocation(shown),
            f"file is over the {limit:,}-byte limit ({options.section}.max_file_size in kestra-sync.yaml)",
        )
    return data


# ---------------------------------------------------------------------------------------------
# Finding files


def _globs_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of the globs (none: a regex that matches nothing)."""
    return re.compile("|".join(f"(?:{_glob_regex(p)})" for p in patterns) or "(?!)")


def _glob_regex(pattern: str) -> str:
    """A glob with `**` (any directories), `*` and `?` (within one path segment)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


class FileFilter:
    """Include/exclude globs, matched against paths relative to the scan root, and the root's ignore
    file (read once, when the filter is made)."""

    def __init__(self, options: ScanOptions):
        self.root = os.path.abspath(options.root)
        self._prefix = os.path.join(self.root, "")
        self._include = _globs_regex(options.include).fullmatch
        self._exclude = _globs_regex(options.exclude).fullmatch
        self._ignored = _ignore_spec(os.path.join(self.root, options.ignore_file)) if options.ignore_file else None
        self._inside = os.path.join(os.path.realpath(options.confine), "") if options.confine else None

    def escapes(self, path: str) -> str | None:
        """Where a symbolic link leads when that is outside the confining folder; else None. Called only
        for links (scandir tells them apart at no cost), so a scan pays nothing for this."""
        if self._inside is None:
            return None
        real = os.path.realpath(path)
        return None if os.path.join(real, "").startswith(self._inside) else real

    def relative(self, path: Path | str) -> str:
        """Relative to the root with `/` separators ("" for the root itself); an absolute path when outside it."""
        path = os.path.abspath(path)
        if path == self.root:
            return ""
        if path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        return path if os.sep == "/" else path.replace(os.sep, "/")

    def accepts(self, relative: str) -> bool:
        """A wanted file, by its path relative to the root: matched by an include, by no exclude, in no
        hidden directory."""
        hidden = not relative.startswith("/") and ("/." in relative or relative.startswith("."))
        return not hidden and self._include(relative) is not None and not self.excludes(relative, directory=False)

    def excludes(self, relative: str, directory: bool = True) -> bool:
        if self._exclude(relative) is not None:
            return True
        return self._ignored is not None and self._ignored.match_file(relative + "/" if directory else relative)


def _ignore_spec(path: str) -> pathspec.GitIgnoreSpec | None:
    """The patterns of an ignore file (gitignore syntax, as Kestra reads .kestraignore); None when
    there is none. pathspec gives git's exact rules (negation, anchoring, directory patterns)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            return pathspec.GitIgnoreSpec.from_lines(lines)
    except OSError:
        return None


def find(paths: Sequence[Path | str], options: ScanOptions, errors: list[FileError]) -> list[str]:
    """The wanted files under `paths`, as path strings (each path as given, joined with the names found
    below it: a Path per file would cost a large scan a tenth of its time). A file named explicitly is
    always taken; directories are walked (hidden ones skipped, symbolic links followed, loops reported)
    and filtered by the globs."""
    wanted = FileFilter(options)
    files: list[str] = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            files.extend(_walk(path, wanted.relative(path), wanted, errors, ancestors=()))
        elif os.path.isfile(path):
            if not _escaped(path, wanted, errors):
                files.append(path)
        else:
            errors.append(FileError(SourceLocation(display_path(path)), _missing_reason(path)))
    return files


def _escaped(path: str, wanted: FileFilter, errors: list[FileError]) -> bool:
    """Whether `path` is a symbolic link out of the confining folder (reported)."""
    outside = wanted.escapes(path) if os.path.islink(path) else None
    if outside is not None:
        errors.append(FileError(SourceLocation(display_path(path)), f"is a symbolic link to {outside}, outside the repository"))
    return outside is not None


def _missing_reason(path: str) -> str:
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop"
        if error.errno == errno.ENOENT:
            return "no such file or directory" if not os.path.islink(path) else "broken symbolic link"
        return f"cannot read: {error.strerror}"
    return "not a regular file or directory"


def _walk(directory: str, relative: str, wanted: FileFilter, errors: list[FileError], ancestors: tuple) -> Iterator[str]:
    """The wanted files below `directory`, whose path relative to the scan root is `relative` (absolute
    when the directory is not inside the root: then each entry's is worked out, as it may be inside)."""
    try:
        st = os.stat(directory)
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as error:
        errors.append(FileError(SourceLocation(display_path(directory)), f"cannot read directory: {error.strerror}"))
        return
    identity = (st.st_dev, st.st_ino)
    if identity in ancestors:
        errors.append(FileError(SourceLocation(display_path(directory)), "symbolic link loop: this directory contains itself"))
        return
    outside = os.path.isabs(relative)
    prefix = f"{relative}/" if relative else ""
    for entry in entries:
        if entry.name.startswith("."):
            continue
        child = wanted.relative(entry.path) if outside else prefix + entry.name
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError:  # a symbolic link to itself: following it fails
            is_dir = is_file = False
        if is_dir:
            if not wanted.excludes(child) and not (entry.is_symlink() and _escaped(entry.path, wanted, errors)):
                yield from _walk(entry.path, child, wanted, errors, ancestors + (identity,))
        elif is_file:
            if wanted.accepts(child) and not (entry.is_symlink() and _escaped(entry.path, wanted, errors)):
                yield entry.path
        elif entry.is_symlink() and wanted.accepts(child):
            errors.append(FileError(SourceLocation(display_path(entry.path)), _missing_reason(entry.path)))
