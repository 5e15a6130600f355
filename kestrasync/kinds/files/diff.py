"""What an update of a namespace file changes: a unified diff for text, sizes and hashes for binary
content, and the changes a diff shows badly (line endings, the final newline) said in words."""

from __future__ import annotations

import hashlib

from kestrasync.kinds.base import Update
from kestrasync.model import Detail, UpdateKind, as_text
from kestrasync.textdiff import line_endings, unified_diff


def describe(before: bytes, after: bytes, before_name: str, after_name: str) -> Update:
    """Every change to a file is semantic: a script's line endings or final newline can matter to
    what reads it (a shell script with CRLF endings does not run)."""
    old, new = as_text(before), as_text(after)
    if old is None or new is None:
        what = "binary content" if old is None and new is None else "content (text to binary, or back)"
        summary = Detail(f"{what} changed", parts=(f"{_size(before)} → {_size(after)}", f"sha256 {_hash(before)} → {_hash(after)}"))
        return Update(UpdateKind.SEMANTIC, (summary,), "")
    details = []
    endings = line_endings(old), line_endings(new)
    if endings[0] != endings[1] and "none" not in endings:
        details.append(Detail(f"line endings changed from {endings[0]} to {endings[1]}"))
        old, new = old.replace("\r\n", "\n"), new.replace("\r\n", "\n")
    if old.endswith("\n") != new.endswith("\n") and old.rstrip("\n") == new.rstrip("\n"):
        details.append(Detail("final newline " + ("added" if new.endswith("\n") else "removed")))
        return Update(UpdateKind.SEMANTIC, tuple(details), "")
    diff = unified_diff(old, new, before_name, after_name) if old != new else ""
    if diff:
        added = sum(1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
        removed = sum(1 for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
        details.append(Detail("content changed", parts=(f"{added} line(s) added", f"{removed} removed")))
    return Update(UpdateKind.SEMANTIC, tuple(details), diff)


def _size(content: bytes) -> str:
    return f"{len(content):,} bytes"


def _hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]
