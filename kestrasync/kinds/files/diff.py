"""What an update of a namespace file changes: sizes and hashes for binary content; for text, the
diff and words textdiff.text_change gives, and the lines the diff adds and removes counted."""

from __future__ import annotations

import hashlib

from kestrasync.kinds.base import Update
from kestrasync.model import Detail, UpdateKind, as_text
from kestrasync.textdiff import text_change


def describe(before: bytes, after: bytes, before_name: str, after_name: str) -> Update:
    """Every change to a file is semantic: a script's line endings or final newline can matter to
    what reads it (a shell script with CRLF endings does not run)."""
    old, new = as_text(before), as_text(after)
    if old is None or new is None:
        what = "binary content" if old is None and new is None else "content (text to binary, or back)"
        summary = Detail(f"{what} changed", parts=(f"{_size(before)} → {_size(after)}", f"sha256 {_hash(before)} → {_hash(after)}"))
        return Update(UpdateKind.SEMANTIC, (summary,), "")
    text = text_change(old, new, before_name, after_name)
    notes = tuple(map(Detail, text.notes))
    if text.diff:
        added = sum(1 for line in text.diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
        removed = sum(1 for line in text.diff.splitlines() if line.startswith("-") and not line.startswith("---"))
        notes = (Detail("content changed", parts=(f"{added} line(s) added", f"{removed} removed")), *notes)
    return Update(UpdateKind.SEMANTIC, notes, text.diff)


def _size(content: bytes) -> str:
    return f"{len(content):,} bytes"


def _hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]
