"""Differences between two texts, for any kind: a unified diff, and the changes a diff shows badly.

A change of line endings, of trailing spaces or of the final newline makes every line of a unified
diff look alike; `layout_only` and `line_endings` name it in words instead.
"""

from __future__ import annotations

import difflib


def unified_diff(before: str, after: str, before_name: str, after_name: str, context: int = 3) -> str:
    """A unified diff of two texts; a missing final newline is shown as git shows it."""
    lines = difflib.unified_diff(_lines(before), _lines(after), fromfile=before_name, tofile=after_name, n=context)
    return "".join(lines)


def layout_only(before: str, after: str) -> str | None:
    """What differs, in words, when it is only line endings or trailing whitespace; else None."""
    if before.replace("\r\n", "\n") == after.replace("\r\n", "\n"):
        return "line endings only (CRLF/LF)"
    if before.rstrip() == after.rstrip():
        return "trailing whitespace or final newline only"
    return None


def line_endings(text: str) -> str:
    """`CRLF`, `LF`, `mixed`, or `none` (a single line)."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    return "none" if not crlf and not lf else "CRLF" if not lf else "LF" if not crlf else "mixed"


def _lines(text: str) -> list[str]:
    *complete, last = text.split("\n")
    lines = [line + "\n" for line in complete]
    if last:
        lines.append(last + "\n\\ No newline at end of file\n")
    return lines
