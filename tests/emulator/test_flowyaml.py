"""YAML read as Kestra's Jackson mapper reads it (kestra-flow-model.md §2.2), and Kestra's body splitting."""

from __future__ import annotations

import pytest

from kestrasync.emulator.flowyaml import (
    BULK_SEPARATOR,
    CODE_POINT_LIMIT,
    VALIDATE_SEPARATOR,
    YamlError,
    java_trim,
    read_document,
    resolve,
    split_java,
)


def _read(text: str) -> object:
    return resolve(read_document(text))


def test_duplicate_keys_are_refused_at_any_depth_with_their_line():
    with pytest.raises(YamlError) as error:
        read_document("a:\n  b: 1\n  c: 2\n  b: 3\n")
    assert (error.value.message, error.value.line) == ("Duplicate field 'b'", 4)


def test_aliases_are_not_resolved_but_read_as_the_anchor_name():
    assert _read("base: &defaults {x: 1}\nuse: *defaults\n") == {"base": {"x": 1}, "use": "defaults"}


def test_merge_key_is_an_ordinary_key():
    assert _read("a: &x {k: v}\nb:\n  <<: *x\n  k2: v2\n") == {"a": {"k": "v"}, "b": {"<<": "x", "k2": "v2"}}


def test_yaml_1_1_scalars_in_untyped_places_but_keys_stay_strings():
    assert _read("on: yes\nOff: NO\ny: n\nint: 0x1F\noctal: 017\nfloat: 1.5e3\nnull: ~\nempty:\n") == {
        "on": True, "Off": False, "y": "n", "int": 31, "octal": 15, "float": 1500.0, "null": None, "empty": None}


def test_dates_are_not_resolved_and_quoted_scalars_stay_strings():
    assert _read("date: 2024-01-01\nstamp: 2024-01-01T10:00:00Z\nquoted: 'yes'\nnumber: \"1\"\n") == {
        "date": "2024-01-01", "stamp": "2024-01-01T10:00:00Z", "quoted": "yes", "number": "1"}


def test_only_the_first_document_is_read():
    assert _read("---\nid: first\n---\nid: [never parsed\n") == {"id": "first"}


def test_empty_and_comment_only_documents_have_no_content():
    for text in ("", "# nothing\n", "\n\n"):
        with pytest.raises(YamlError, match="No content to map due to end-of-input"):
            read_document(text)


def test_a_bom_is_skipped_and_tabs_cannot_indent():
    assert _read("\ufeffid: x\n") == {"id": "x"}
    with pytest.raises(YamlError) as error:
        read_document("a:\n\tb: 1\n")
    assert error.value.line == 2


def test_documents_over_the_code_point_limit_are_refused():
    with pytest.raises(YamlError, match="exceeds the limit: 3145728 code points"):
        read_document("a: " + "x" * CODE_POINT_LIMIT)


def test_bulk_split_is_a_literal_java_split():
    assert split_java("a---b", BULK_SEPARATOR) == ["a", "b"]
    assert split_java("---\na\n---\n", BULK_SEPARATOR) == ["", "\na\n", "\n"]
    assert split_java("x: '# ---'", BULK_SEPARATOR) == ["x: '# ", "'"]
    assert split_java("a---", BULK_SEPARATOR) == ["a"]  # Java drops trailing empty pieces
    assert split_java("", BULK_SEPARATOR) == [""]


def test_validate_split_needs_newlines_around_the_dashes():
    assert split_java("a: 1\n---\nb: 2\n\n---\n\nc: 3", VALIDATE_SEPARATOR) == ["a: 1", "\nb: 2", "\n\nc: 3"]
    assert split_java("a: '---'", VALIDATE_SEPARATOR) == ["a: '---'"]


def test_java_trim_strips_control_characters_but_not_unicode_spaces():
    assert java_trim("\t\n id: x \r\n") == "id: x"
    assert java_trim("\u00a0id\u00a0") == "\u00a0id\u00a0"
