"""(the repository's files, the server's resources) -> the file writes of a pull; the same for every kind.

A resource a file declares is updated in that file, and only its span is replaced: a file holding
several resources keeps the others byte for byte. A resource no file declares goes where the kind
places it (flows: `flows.layout`). Nothing here writes: the engine checks each new file reads back
as the server's resources, asks Git what would be overwritten, and writes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kestrasync import kinds
from kestrasync.errors import FileError
from kestrasync.model import Action, Content, Diagnostic, FileWrite, Key, Local, Remote, Severity, as_text
from kestrasync.textdiff import text_change


@dataclass
class Edits:
    """What a pull would write, before the engine's checks."""

    writes: list[FileWrite] = field(default_factory=list)
    unchanged: Counter = field(default_factory=Counter)
    missing: list[Key] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    expected: dict[str, dict[Key, Content]] = field(default_factory=dict)  # per written path: what it must read back as


def edits(
    files: Mapping[str, tuple[Local, ...]],
    remote: Mapping[Key, Remote],
    *,
    root: Path,
    selects: Callable[[Key], bool],
    placement: Callable[[Key], Path | None],
    read: Callable[[str], bytes],
    shown: Callable[[str], str],
    prune: bool,
    sent: Mapping[Key, Local] | None = None,
) -> Edits:
    """The writes that make the repository hold `remote`, the server's resources the pull `selects`
    (the files' other resources are left as they are). `sent`: a resource as apply sends it, where
    that differs from its file (a label the settings add): what the server's copy is compared with."""
    found = Edits()
    declared: set[Key] = set()
    for path, locals_ in sorted(files.items()):
        declared.update(local.key for local in locals_)
        covered = [local for local in locals_ if selects(local.key)]
        if not covered:
            continue
        current = read(path)
        replacements, keys = [], []
        expected = {local.key: local.content for local in locals_}
        for local in covered:
            server = remote.get(local.key)
            if server is None:
                if not prune:
                    found.missing.append(local.key)
                    continue
                replacements.append((local, _empty(local.content)))
                expected.pop(local.key)
            elif kinds.get(local.key.kind).same((sent or {}).get(local.key, local), server):
                found.unchanged[local.key.kind] += 1
                continue
            else:
                replacements.append((local, server.content))
                expected[local.key] = server.content
            keys.append(local.key)
        if not replacements:
            continue
        after = _splice(current, replacements)
        removed = not expected and not after.strip()
        found.writes.append(_write(path, shown(path), Action.DELETE if removed else Action.UPDATE, tuple(keys), current,
                                   None if removed else after))
        if not removed:
            found.expected[path] = expected
    placed: dict[str, Key] = {}
    for key in sorted(set(remote) - declared):
        target = placement(key)
        noun = kinds.get(key.kind).info.noun
        if target is None:
            found.diagnostics.append(Diagnostic(Severity.WARNING, f"no folder of the repository holds {noun} {key}; not pulled", key))
            continue
        path = str(target)
        if not os.path.realpath(target).startswith(os.path.join(os.path.realpath(root), "")):
            found.diagnostics.append(Diagnostic(Severity.WARNING, f"{noun} {key} would go to {path}, outside the repository; not pulled", key))
            continue
        if path in placed or path in files or target.exists() or target.is_symlink():
            other = f"{noun} {placed[path]} goes there too" if path in placed else "a file is already there"
            found.diagnostics.append(Diagnostic(
                Severity.WARNING, f"{noun} {key} would go to {shown(path)}, but {other}; not pulled (move that file, or "
                "change the layout in kestra-sync.yaml)", key))
            continue
        placed[path] = key
        content = remote[key].content
        found.writes.append(_write(path, shown(path), Action.CREATE, (key,), None, _bytes(content)))
        found.expected[path] = {key: content}
    return found


def _write(path: str, shown: str, action: Action, keys: tuple[Key, ...], before: bytes | None, after: bytes | None) -> FileWrite:
    """A file write with its diff: sizes for binary content; for text, what textdiff.text_change says
    in words, in parentheses (as the sizes are), over the diff of the real lines."""
    old, new = as_text(before or b""), as_text(after or b"")
    if old is None or new is None:
        diff = f"(binary content: {len(before or b''):,} bytes → {len(after or b''):,} bytes)\n"
    else:
        text = text_change(old, new, f"{shown} (now)" if before is not None else "/dev/null",
                           f"{shown} (from the server)" if after is not None else "/dev/null")
        diff = "".join(f"({note})\n" for note in text.notes) + text.diff
    return FileWrite(path, shown, action, keys, before, after, diff)


def _splice(current: bytes, replacements: Iterable[tuple[Local, Content]]) -> bytes:
    """The file with each resource's span replaced: a text resource's span starts at its line and runs
    over its content (the file's text, decoded); a binary one is the whole file."""
    replacements = list(replacements)
    if all(isinstance(local.content, bytes) for local, _ in replacements):
        return _bytes(replacements[-1][1])
    changed = "the file changed while the pull read it; pull again"
    try:
        text = current.decode("utf-8")
    except UnicodeDecodeError:
        raise FileError(replacements[0][0].location, changed) from None
    spans = []
    for local, new in replacements:
        start = _line_start(text, local.location.line)
        if start is None or not text.startswith(local.content, start):
            raise FileError(local.location, changed)
        spans.append((start, start + len(local.content), new))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text.encode("utf-8")


def _line_start(text: str, line: int) -> int | None:
    """Where a 1-based line starts; None when the text has fewer lines."""
    position = 0
    for _ in range(line - 1):
        position = text.find("\n", position) + 1
        if position == 0:
            return None
    return position


def _empty(content: Content) -> Content:
    return b"" if isinstance(content, bytes) else ""


def _bytes(content: Content) -> bytes:
    return content if isinstance(content, bytes) else content.encode("utf-8")
