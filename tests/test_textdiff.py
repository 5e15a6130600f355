"""textdiff.text_change: what a change of text shows, words or a diff, for any kind."""

from __future__ import annotations

import pytest

from kestrasync.textdiff import TextChange, text_change

LINES = "".join(f"line {n}\n" for n in range(1, 43))


def change(before: str, after: str) -> TextChange:
    return text_change(before, after, "server", "local")


@pytest.mark.parametrize(
    "before, after, notes",
    [
        (LINES, LINES.replace("\n", "\r\n"), "line endings only: LF → CRLF (42 lines)"),
        (LINES.replace("\n", "\r\n"), LINES, "line endings only: CRLF → LF (42 lines)"),
        ("a\r\nb\nc\r\n", "a\nb\nc\n", "line endings only: mixed → LF (2 lines)"),
        ("a\nb\n", "a\r\nb\n", "line endings only: LF → mixed (1 line)"),
        ("a\r\nb\n", "a\nb\r\n", "line endings only: mixed → mixed (2 lines)"),
        ("a\nb\n", "a\nb", "final newline removed"),
        ("a\nb", "a\nb\n", "final newline added"),
        ("a\n", "a\n\n\n", "2 blank lines added at the end"),
        ("a\n\n", "a\n", "1 blank line removed from the end"),
        ("a\nb\nc\n", "a \nb\nc   \n", "trailing spaces added on lines 1, 3"),
        ("a\t\nb\n", "a\nb\n", "trailing tabs removed on line 1"),
        ("a \nb\n", "a\t\nb\n", "trailing whitespace changed on line 1"),
        (LINES, LINES.replace("\n", " \n"), "trailing spaces added on lines 1, 2, 3, 4, 5, 6, 7, 8 and 34 more"),
    ],
)
def test_a_change_of_layout_alone_is_said_in_words_without_a_diff(before, after, notes):
    assert change(before, after) == TextChange((notes,), "")


def test_changes_of_layout_together_are_each_said():
    assert change("a\nb\n", "a\t\r\nb").notes == ("line endings: LF → CRLF (1 line)", "final newline removed", "trailing tabs added on line 1")
    assert change("a", "a\n\n").notes == ("final newline added", "1 blank line added at the end")


def test_a_real_change_with_new_line_endings_diffs_only_the_real_lines():
    before = LINES
    after = LINES.replace("line 20\n", "line twenty\n").replace("\n", "\r\n")
    result = change(before, after)
    assert result.notes == ("line endings changed too: LF → CRLF",)
    assert "\r" not in result.diff
    assert [line for line in result.diff.splitlines() if line[:1] in "+-"] == ["--- server", "+++ local", "-line 20", "+line twenty"]


def test_a_real_change_keeps_line_endings_out_of_the_diff_when_they_did_not_change():
    result = change("a\r\nb\r\n", "a\r\nB\r\n")
    assert result.notes == ()
    assert result.diff == "--- server\n+++ local\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n"


def test_a_real_change_at_the_end_shows_the_missing_newline_as_git_does():
    result = change("a\nb\n", "a\nc")
    assert result.notes == ()
    assert result.diff.endswith("-b\n+c\n\\ No newline at end of file\n")


def test_a_single_line_has_no_line_endings_to_compare():
    assert change("a\r\n", "a").notes == ("final newline removed",)
    result = change("a", "b\r\n")
    assert result.notes == () and result.diff.endswith("+b\n")
