"""The namespace-file kind's pure parts: where local files go, Kestra's path rules, what an update says."""

from __future__ import annotations

import pytest

from kestrasync.errors import ConfigError
from kestrasync.kinds.files.diff import describe
from kestrasync.kinds.files.layout import FileOptions, FolderMapping, forbidden, parse_for, remote_folder
from kestrasync.model import Key, UpdateKind, as_text
from kestrasync.textdiff import line_endings


def test_the_convention_maps_each_namespace_folder_to_its_namespace_root(tmp_path):
    (tmp_path / "_files/company.team/etl").mkdir(parents=True)
    (tmp_path / "_files/company.data").mkdir()
    (tmp_path / "_files/.git-keep").mkdir()  # hidden: not a namespace
    mappings = FileOptions(root=tmp_path).resolved()
    assert [(m.namespace, m.local.name, m.remote) for m in mappings] == [("company.data", "company.data", ""), ("company.team", "company.team", "")]


def test_no_convention_folder_means_no_files_unless_paths_name_one(tmp_path):
    assert FileOptions(root=tmp_path).resolved() == ()
    with pytest.raises(ConfigError, match="is not a directory"):
        FileOptions(root=tmp_path, paths=(tmp_path / "missing",)).resolved()


def test_a_file_becomes_its_path_under_the_remote_folder(tmp_path):
    (tmp_path / "scripts/sub").mkdir(parents=True)
    target = tmp_path / "scripts/sub/load.py"
    target.write_bytes(b"x")
    parse = parse_for(FolderMapping("company.team", tmp_path / "scripts", "etl"))
    _, ([local], problems) = parse(b"x", str(target))
    assert problems == []
    assert local.key == Key("file", "company.team", "etl/sub/load.py")
    assert local.content == b"x"


def test_a_file_outside_the_mapping_is_not_its_own(tmp_path):
    parse = parse_for(FolderMapping("company.team", tmp_path / "scripts"))
    assert parse(b"x", str(tmp_path / "flows/a.yml")) == (None, ([], []))


@pytest.mark.parametrize("folder", ["_flows", "_flows/sub"])
def test_kestras_flows_folder_is_forbidden(folder):
    assert forbidden(folder + "/a.yml") is not None
    with pytest.raises(ValueError, match="Forbidden path"):
        remote_folder(folder)
    assert forbidden("_flowsx/a.yml") is None  # Kestra's pattern is the folder itself


@pytest.mark.parametrize("name", ["my file.sql", "a#b.py", "what?.txt", "100%.csv"])
def test_names_kestra_1x_would_change_are_refused(name):
    assert "another name" in forbidden(f"etl/{name}")


def test_names_kestra_1x_would_hide_are_refused():
    assert "never lists them" in forbidden("etl/table.metadata")


@pytest.mark.parametrize(("given", "normalised"), [("/etl/", "etl"), ("a/b", "a/b"), ("", ""), ("/", "")])
def test_remote_folders_are_normalised(given, normalised):
    assert remote_folder(given) == normalised


@pytest.mark.parametrize("given", ["../up", "a/../b", "a//b", "a\\b", "./a"])
def test_remote_folders_that_escape_or_are_ambiguous_are_refused(given):
    with pytest.raises(ValueError):
        remote_folder(given)


def test_text_and_binary_are_told_apart_as_git_does():
    assert as_text(b"plain\n") == "plain\n"
    assert as_text(b"nul\x00byte") is None
    assert as_text(b"\xff\xfe") is None
    assert [line_endings(t) for t in ("a\nb\n", "a\r\nb\r\n", "a\r\nb\n", "one")] == ["LF", "CRLF", "mixed", "none"]


def test_a_text_update_is_a_counted_unified_diff():
    update = describe(b"a\nb\nc\n", b"a\nB\nc\nd\n", "server", "local")
    assert update.update_kind is UpdateKind.SEMANTIC
    assert [str(d) for d in update.summary] == ["content changed (2 line(s) added, 1 removed)"]
    assert "-b\n+B\n" in update.diff


def test_line_endings_alone_are_said_without_a_diff():
    update = describe(b"a\nb\n", b"a\r\nb\r\n", "server", "local")
    assert [str(d) for d in update.summary] == ["line endings only: LF → CRLF (2 lines)"]
    assert update.diff == ""


def test_line_endings_with_an_edit_diff_only_the_edit():
    update = describe(b"a\nb\nc\n", b"a\r\nB\r\nc\r\n", "server", "local")
    assert [str(d) for d in update.summary] == ["content changed (1 line(s) added, 1 removed)", "line endings changed too: LF → CRLF"]
    assert update.diff.count("\n-") == 1 and "-b\n+B\n" in update.diff


def test_a_final_newline_is_said():
    assert [str(d) for d in describe(b"a\n", b"a", "s", "l").summary] == ["final newline removed"]
    assert [str(d) for d in describe(b"a", b"a\n", "s", "l").summary] == ["final newline added"]


def test_binary_updates_give_sizes_and_hashes():
    [detail] = describe(b"\x00" * 10, b"\x00" * 12, "s", "l").summary
    assert str(detail).startswith("binary content changed (10 bytes → 12 bytes, sha256 ")


def test_a_name_longer_than_storage_takes_is_refused():
    assert "longer than 255 bytes" in forbidden("etl/" + "x" * 300 + ".txt")
    assert forbidden("a" * 150 + "/" + "a" * 150 + ".txt") is None
