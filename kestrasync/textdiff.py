"""Differences between two texts, for any kind: a unified diff, and the changes a diff shows badly.

A change of line endings, of the final newline or of trailing whitespace makes a unified diff whose
lines look alike (or, for line endings, every line removed and added again). `text_change` is the
one place that decides how a change of text is shown: those changes said in words, and the diff
kept for the lines that really changed.

Trailing whitespace is named by line ("trailing spaces added on lines 3, 7") rather than drawn as
`·` or `␠`: git shows it only by colour (its whitespace-error highlight), which plain text, a
Markdown comment and JSON cannot carry, and a diff whose lines read differently from the file's
misleads whoever copies from it; difftastic does not show it at all.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

_BLANKS = " \t"  # the trailing whitespace editors strip and diffs hide
_LINES_NAMED = 8  # line numbers named before "and N more"


@dataclass(frozen=True, slots=True)
class TextChange:
    """How a change of text is shown: `notes`, the changes said in words, and `diff`, a unified diff
    of the texts with their line endings made alike ("" when the notes say everything)."""

    notes: tuple[str, ...]
    diff: str


def text_change(before: str, after: str, before_name: str, after_name: str) -> TextChange:
    """A change of text shown as a reader expects it: line endings, the final newline and trailing
    whitespace said in words when nothing else changed; otherwise the diff of the normalised texts,
    with a note when the line endings changed too."""
    old, new = before.replace("\r\n", "\n"), after.replace("\r\n", "\n")
    endings = line_endings(before), line_endings(after)
    changed_endings = "none" not in endings and (endings[0] != endings[1] or (old == new and before != after))
    layout = _layout(old, new)
    if layout is None:
        noted = (f"line endings changed too: {endings[0]} → {endings[1]}",) if changed_endings else ()
        return TextChange(noted, unified_diff(old, new, before_name, after_name))
    if changed_endings:
        count = sum(a.endswith("\r") != b.endswith("\r") for a, b in zip(before.split("\n")[:-1], after.split("\n")[:-1]))
        head = "line endings only" if not layout else "line endings"
        layout = [f"{head}: {endings[0]} → {endings[1]} ({_plural(count, 'line')})", *layout]
    return TextChange(tuple(layout), "")


def unified_diff(before: str, after: str, before_name: str, after_name: str, context: int = 3) -> str:
    """A unified diff of two texts; a missing final newline is shown as git shows it."""
    lines = difflib.unified_diff(_lines(before), _lines(after), fromfile=before_name, tofile=after_name, n=context)
    return "".join(lines)


def line_endings(text: str) -> str:
    """`CRLF`, `LF`, `mixed`, or `none` (a single line)."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    return "none" if not crlf and not lf else "CRLF" if not lf else "LF" if not crlf else "mixed"


def _layout(old: str, new: str) -> list[str] | None:
    """What differs between two texts with LF endings, in words, when it is only newlines at the end
    or whitespace at the ends of lines; None when anything else differs."""
    old_body, new_body = old.rstrip("\n"), new.rstrip("\n")
    old_lines, new_lines = old_body.split("\n"), new_body.split("\n")
    if len(old_lines) != len(new_lines) or any(a.rstrip(_BLANKS) != b.rstrip(_BLANKS) for a, b in zip(old_lines, new_lines)):
        return None
    notes = []
    ends = len(old) - len(old_body), len(new) - len(new_body)  # newlines after the last line
    if (ends[0] > 0) != (ends[1] > 0):
        notes.append("final newline " + ("added" if ends[1] else "removed"))
    blank = max(ends[0] - 1, 0), max(ends[1] - 1, 0)
    if blank[0] != blank[1]:
        more = blank[1] > blank[0]
        notes.append(f"{_plural(abs(blank[1] - blank[0]), 'blank line')} {'added at' if more else 'removed from'} the end")
    lines: dict[tuple[str, str], list[int]] = {}  # (what, verb) -> line numbers
    for number, (a, b) in enumerate(zip(old_lines, new_lines), 1):
        if a != b:
            tails = a[len(a.rstrip(_BLANKS)):], b[len(b.rstrip(_BLANKS)):]
            blanks = set("".join(tails))
            what = "spaces" if blanks == {" "} else "tabs" if blanks == {"\t"} else "whitespace"
            verb = "added" if not tails[0] else "removed" if not tails[1] else "changed"
            lines.setdefault((what, verb), []).append(number)
    notes += [f"trailing {what} {verb} on {_numbered(numbers)}" for (what, verb), numbers in lines.items()]
    return notes


def _numbered(numbers: list[int]) -> str:
    """`line 3`, `lines 3, 7`, `lines 1, 2, 3, 4, 5, 6, 7, 8 and 4 more`."""
    shown = ", ".join(map(str, numbers[:_LINES_NAMED]))
    rest = f" and {len(numbers) - _LINES_NAMED} more" if len(numbers) > _LINES_NAMED else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{rest}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _lines(text: str) -> list[str]:
    *complete, last = text.split("\n")
    lines = [line + "\n" for line in complete]
    if last:
        lines.append(last + "\n\\ No newline at end of file\n")
    return lines
