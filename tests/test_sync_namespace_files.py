"""Namespace files through the CLI against the emulator (both modes): planned and applied with flows."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
import sys

import pytest

import hostile
from support import AUTH, WatchProcess, child_env, flow_yaml, output_json, run_measured

FLOW = flow_yaml("company.team", "etl", message="extract")
SCRIPT = b"import sys\nprint('load')\n"
PARQUET = bytes(range(256)) * 8 + b"\x00PAR1"  # not UTF-8, with NUL bytes: binary
EXPORT = "GET /api/v1/{tenant}/namespaces/{namespace}/files/export"
FILE = "/api/v1/{tenant}/namespaces/{namespace}/files"


@pytest.fixture(autouse=True)
def flows_folder(repo):
    """The repository's configured flows folder, which most of these tests leave empty."""
    (repo.root / "flows").mkdir(exist_ok=True)


def report_rows(output: str) -> list[tuple[str, str]]:
    """(verb, address) of each result apply told, in the order it told them."""
    return re.findall(r"^(created|updated|deleted) (\S+) ", output, re.MULTILINE)


def test_files_are_created_before_flows_then_unchanged_with_one_export_per_namespace(repo, cli, probe, server):
    repo.write("flows/etl.yml", FLOW)
    repo.write("_files/company.team/etl/load.py", SCRIPT)
    repo.write("_files/company.team/samples/orders.parquet", PARQUET)
    repo.write("_files/company.data/query.sql", "select 1;\n")

    plan = cli("plan")
    assert plan.exit_code == 0, plan.output
    text = plan.stdout
    assert text.index("Namespace files to write:") < text.index("Flows to write:")
    assert "+ company.team/etl/load.py  _files/company.team/etl/load.py" in text
    assert "Namespace files: 3 to create, 0 to update, 0 to delete, 0 unchanged." in text
    assert "Flows: 1 to create, 0 to update, 0 to delete, 0 unchanged." in text

    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    rows = report_rows(applied.stdout)
    assert sorted(key for _, key in rows[:3]) == ["company.data/query.sql", "company.team/etl/load.py", "company.team/samples/orders.parquet"]
    assert rows[3] == ("created", "company.team/etl")  # files first: the flow reads them
    assert probe.files("company.team") == {"etl/load.py": SCRIPT, "samples/orders.parquet": PARQUET}
    assert probe.files("company.data") == {"query.sql": b"select 1;\n"}

    server.reset(store=False, counters=True, faults=False)
    again = cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes. 3 namespace file(s) and 1 flow(s) match the server." in again.stdout
    counts = server.request_counts()
    assert counts[EXPORT] == 2  # one per namespace, never one per file
    assert f"GET {FILE}" not in counts


def test_an_update_shows_a_text_diff_and_binary_sizes_and_hashes(repo, cli):
    repo.write("_files/company.team/etl/load.py", SCRIPT)
    repo.write("_files/company.team/data.bin", PARQUET)
    assert cli("apply", "--auto-approve").exit_code == 0
    repo.write("_files/company.team/etl/load.py", SCRIPT.replace(b"'load'", b"'load v2'"))
    repo.write("_files/company.team/data.bin", PARQUET + b"\x01")

    plan = output_json(cli("plan", "--format", "json"))
    by_address = {change["address"]: change for change in plan["changes"]}
    script = by_address["company.team/etl/load.py"]
    assert (script["kind"], script["action"]) == ("file", "update")
    assert "-print('load')\n+print('load v2')\n" in script["diff"]
    binary = by_address["company.team/data.bin"]
    assert binary["diff"] == ""
    hashes = [hashlib.sha256(content).hexdigest()[:12] for content in (PARQUET, PARQUET + b"\x01")]
    assert binary["summary"] == [f"binary content changed ({len(PARQUET):,} bytes → {len(PARQUET) + 1:,} bytes, "
                                 f"sha256 {hashes[0]} → {hashes[1]})"]
    assert plan["summary_by_kind"]["file"]["update"] == 2


def test_line_endings_and_final_newline_are_said_not_diffed(repo, cli):
    repo.write("_files/company.team/run.sh", b"set -e\necho one\necho two\n")
    repo.write("_files/company.team/notes.txt", b"alpha\nbeta\n")
    repo.write("_files/company.team/load.py", b"import sys\nprint('load')\n")
    assert cli("apply", "--auto-approve").exit_code == 0
    repo.write("_files/company.team/run.sh", b"set -e\r\necho one\r\necho two\r\n")
    repo.write("_files/company.team/notes.txt", b"alpha  \nbeta")
    repo.write("_files/company.team/load.py", b"import sys\r\nprint('load v2')\r\n")
    crlf = "line endings only: LF → CRLF (3 lines)"

    result = cli("plan", "--diff")
    assert f"semantic: {crlf}\n" in result.stdout
    assert "semantic: final newline removed; trailing spaces added on line 1\n" in result.stdout
    assert "semantic: content changed (1 line(s) added, 1 removed); line endings changed too: LF → CRLF" in result.stdout
    assert "-echo one" not in result.stdout and "-import sys" not in result.stdout  # only the real line diffed
    assert "-print('load')\n      +print('load v2')\n" in result.stdout

    markdown = cli("plan", "--format", "markdown").stdout
    assert f"<code>company.team/run.sh</code> (update, semantic)</summary>\n\nsemantic: {crlf}\n</details>" in markdown
    assert "-print('load')\n+print('load v2')\n```" in markdown

    changes = {c["address"]: c for c in output_json(cli("plan", "--format", "json"))["changes"]}
    assert (changes["company.team/run.sh"]["summary"], changes["company.team/run.sh"]["diff"]) == ([crlf], "")
    assert changes["company.team/notes.txt"]["summary"] == ["final newline removed", "trailing spaces added on line 1"]
    assert changes["company.team/load.py"]["summary"][1] == "line endings changed too: LF → CRLF"
    assert "\r" not in changes["company.team/load.py"]["diff"]
    assert cli("apply", "--auto-approve").exit_code == 0
    assert cli("plan", "--detailed-exitcode").exit_code == 0


def test_a_mapping_sends_a_folder_under_a_remote_folder_and_prunes_only_there(repo, cli, probe):
    repo.config(
        """\
        flows:
          paths: [flows]
        files:
          mappings:
            - namespace: company.team
              from: scripts
              to: /etl
              exclude: ["**/*.pyc"]
        namespaces: [company]
        """
    )
    repo.write("scripts/load.py", SCRIPT)
    repo.write("scripts/old.py", b"old\n")
    repo.write("scripts/cache.pyc", b"\x00compiled")
    probe.upload("company.team", "reports/by-hand.md", b"someone else's\n")  # outside the mapped folder

    assert cli("apply", "--auto-approve").exit_code == 0
    assert probe.files("company.team") == {"etl/load.py": SCRIPT, "etl/old.py": b"old\n", "reports/by-hand.md": b"someone else's\n"}

    (repo.root / "scripts/old.py").unlink()
    kept = cli("plan")
    assert "No changes." in kept.stdout  # without --prune nothing is deleted
    pruned = cli("apply", "--prune", "--auto-approve")
    assert pruned.exit_code == 0, pruned.output
    assert "company.team/etl/old.py" in pruned.stdout
    assert probe.files("company.team") == {"etl/load.py": SCRIPT, "reports/by-hand.md": b"someone else's\n"}


def test_prune_guardrails_count_files_apart_from_flows(repo, cli, probe):
    repo.write("flows/etl.yml", FLOW)
    for n in range(3):
        repo.write(f"_files/company.team/part{n}.sql", f"select {n};\n")
    repo.write("_files/company.team/keep.sql", "select 'keep';\n")
    assert cli("apply", "--auto-approve").exit_code == 0
    for n in range(3):
        (repo.root / f"_files/company.team/part{n}.sql").unlink()

    refused = cli("plan", "--prune", "--max-deletes", "2")
    assert refused.exit_code == 1
    assert "Prune would delete 3 namespace files, more than max_deletes (2)" in refused.output
    assert cli("plan", "--prune", "--max-deletes", "3").exit_code == 0  # the flow is not counted

    (repo.root / "_files/company.team/keep.sql").unlink()
    (repo.root / "_files/company.team").mkdir(exist_ok=True)  # the folder stays, empty: the namespace is still mapped
    emptied = cli("plan", "--prune", "--max-deletes", "10")
    assert emptied.exit_code == 1
    assert "Prune would delete every namespace file of namespace 'company.team'" in emptied.output
    assert len(probe.files("company.team")) == 4


def test_deletes_go_flows_first_then_the_files_they_read(repo, cli):
    repo.write("flows/etl.yml", FLOW)
    repo.write("_files/company.team/etl/load.py", SCRIPT)
    repo.write("_files/company.team/other.py", SCRIPT)
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    assert cli("apply", "--auto-approve").exit_code == 0
    (repo.root / "flows/etl.yml").unlink()
    (repo.root / "_files/company.team/etl/load.py").unlink()
    applied = cli("apply", "--prune", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert report_rows(applied.stdout) == [("deleted", "company.team/etl"), ("deleted", "company.team/etl/load.py")]


def test_kestraignore_is_honoured_as_kestra_reads_it(repo, cli, probe):
    repo.write("_files/company.team/.kestraignore", "*.log\nbuild/\n!important.log\n")
    repo.write("_files/company.team/main.py", SCRIPT)
    repo.write("_files/company.team/debug.log", "noise\n")
    repo.write("_files/company.team/important.log", "kept\n")
    repo.write("_files/company.team/build/out.txt", "built\n")
    assert cli("apply", "--auto-approve").exit_code == 0
    assert sorted(probe.files("company.team")) == ["important.log", "main.py"]


def test_a_zip_file_is_uploaded_as_it_is_not_extracted(repo, cli, probe):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("inner.txt", "inside\n")
    repo.write("_files/company.team/bundle.zip", archive.getvalue())
    assert cli("apply", "--auto-approve").exit_code == 0
    assert probe.files("company.team") == {"bundle.zip": archive.getvalue()}
    assert cli("plan", "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_is_refused_when_a_file_moved_on_the_server(repo, cli, probe):
    repo.write("_files/company.team/load.py", SCRIPT)
    assert cli("apply", "--auto-approve").exit_code == 0
    repo.write("_files/company.team/load.py", SCRIPT + b"# v2\n")
    assert cli("plan", "--out", "plan.json").exit_code == 0
    saved = json.loads((repo.root / "plan.json").read_text())
    assert [change["kind"] for change in saved["changes"]] == ["file"]
    probe.upload("company.team", "load.py", b"changed by hand\n")

    stale = cli("apply", "plan.json", "--auto-approve")
    assert stale.exit_code == 1
    assert "company.team/load.py" in stale.output
    assert probe.files("company.team") == {"load.py": b"changed by hand\n"}


def test_the_export_refused_falls_back_to_listing_and_reading_each_file(repo, cli, server):
    repo.write("_files/company.team/a/one.txt", "one\n")
    repo.write("_files/company.team/two.bin", PARQUET)
    assert cli("apply", "--auto-approve").exit_code == 0
    server.add_fault(route=EXPORT.split(" ", 1)[1], method="GET", status=405)
    server.reset(store=False, counters=True, faults=False)
    result = cli("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes. 2 namespace file(s)" in result.stdout
    assert server.request_counts()[f"GET {FILE}"] == 2


def test_markdown_groups_namespace_files_apart_from_flows(repo, cli):
    repo.write("flows/etl.yml", FLOW)
    repo.write("_files/company.team/load.py", SCRIPT)
    markdown = cli("plan", "--format", "markdown").stdout
    assert "Namespace files" in markdown and "Flows" in markdown
    assert markdown.index("company.team/load.py") < markdown.index("company.team/etl")


@pytest.mark.parametrize(
    ("path", "content", "config", "expected"),
    [
        ("_files/company.team/_flows/x.yml", b"id: x\n", None, "_files/company.team/_flows/x.yml:1:1: would be namespace file company.team/_flows/x.yml: Kestra turns files uploaded under /_flows/"),
        ("_files/company.team/big.bin", b"x" * 2048, "files:\n  max_file_size: 1024\n", "_files/company.team/big.bin:1:1: file is over the 1,024-byte limit (files.max_file_size"),
        ("_files/Company_Team/a.txt", b"a\n", None, "folder 'Company_Team' is not a valid Kestra namespace"),
        ("_files/stray.txt", b"a\n", None, "_files/stray.txt: a file directly in _files belongs to no namespace"),
    ],
    ids=["flows-folder", "too-big", "bad-namespace", "no-namespace"],
)
def test_bad_files_are_refused_located_before_anything_is_sent(repo, cli, server, path, content, config, expected):
    if config:
        repo.config("flows:\n  paths: [flows]\nnamespaces: [company]\n" + config)
    repo.write("_files/company.team/fine.txt", "fine\n")
    repo.write(path, content)
    server.reset(store=False, counters=True, faults=False)
    result = cli("apply", "--auto-approve")
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not [route for route in server.request_counts() if not route.startswith("GET")]


def test_two_mappings_sending_different_files_to_one_path_are_refused(repo, cli, server):
    repo.config(
        """\
        files:
          mappings:
            - {namespace: company.team, from: a}
            - {namespace: company.team, from: b}
        namespaces: [company]
        """
    )
    repo.write("a/load.py", b"one\n")
    repo.write("b/load.py", b"two\n")
    result = cli("plan")
    assert result.exit_code == 1
    assert "namespace file company.team/load.py is defined twice (first at a/load.py" in result.output


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_symbolic_link_out_of_the_repository_is_refused(repo, cli, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not in git\n")
    (repo.root / "_files/company.team").mkdir(parents=True)
    os.symlink(outside, repo.root / "_files/company.team/link.txt")
    result = cli("plan")
    assert result.exit_code == 1
    assert "_files/company.team/link.txt:1:1: is a symbolic link to" in result.output
    assert "outside the repository" in result.output


def test_a_remote_folder_kestra_forbids_is_refused_in_the_config(repo, cli):
    repo.config("files:\n  mappings:\n    - {namespace: company.team, from: a, to: _flows/x}\nnamespaces: [company]\n")
    result = cli("plan")
    assert result.exit_code == 1
    assert "kestra-sync.yaml:3:7: 'files.mappings[1].to': Kestra turns files uploaded under /_flows/" in result.output


def test_watch_uploads_a_saved_file(repo, server, probe):
    repo.write("_files/company.team/load.py", SCRIPT)
    watch = WatchProcess(repo.root, server.url)
    try:
        watch.wait_for(r"^create\s+company\.team/load\.py .* applied")
        watch.wait_for(r"^Watching ")
        repo.write("_files/company.team/load.py", SCRIPT + b"# saved\n")
        watch.wait_for(r"updated company\.team/load\.py")
        assert probe.files("company.team") == {"load.py": SCRIPT + b"# saved\n"}
    finally:
        watch.stop()


def _bomb() -> bytes:
    """An export of one file that inflates to 2 GiB of zeros (about 2 MB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb.bin", "w", force_zip64=True) as member:
            chunk = bytes(1 << 24)
            for _ in range(128):
                member.write(chunk)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("answer", "phrase"),
    [
        (lambda: hostile.answer_with(200, b"PK\x03\x04 not a zip", "application/octet-stream"), "an unreadable export"),
        (lambda: hostile.answer_with(200, _bomb(), "application/octet-stream"), "inflate to more than 1,073,741,824 bytes"),
    ],
    ids=["damaged", "bomb"],
)
def test_a_bad_export_is_one_sentence_in_bounded_memory(repo, server, answer, phrase):
    repo.write("_files/company.team/load.py", SCRIPT)
    with hostile.HostileProxy(server.url) as proxy:
        proxy.add("GET", r"/namespaces/company\.team/files/export$", answer())
        env = child_env(env={"KESTRA_URL": proxy.url, "KESTRA_USERNAME": AUTH[0], "KESTRA_PASSWORD": AUTH[1]})
        code, out, err, seconds, megabytes = run_measured(["plan"], repo.root, env, timeout=60, address_space_mb=2048)
    assert code == 1, out + err
    assert phrase in err and "GET /namespaces/company.team/files/export" in err
    assert "Traceback" not in err
    assert megabytes < 250
