"""kestra-sync watch: a real watcher in a subprocess against the emulator on a real socket."""

from __future__ import annotations

import os
import re
import signal
import socket

import pytest

from support import Probe, WatchProcess, flow_yaml
from kestrasync.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture
def watch(repo, server):
    started: list[WatchProcess] = []

    def start(*args: str, url: str | None = None) -> WatchProcess:
        process = WatchProcess(repo.root, url or server.url, *args)
        started.append(process)
        process.wait_for(r"Watching .* for changes")
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def test_initial_sync_then_edit_create_and_ui_edit(repo, watch, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    probe.create(flow_yaml("company", "b", message="stale"))
    repo.write("flows/b.yml", flow_yaml("company", "b"))
    watcher = watch()
    assert "Apply complete: 2 applied, 0 failed, 0 not attempted." in "\n".join(watcher.lines)
    assert probe.flows()["company/b"] == (2, flow_yaml("company", "b"))

    repo.write("flows/a.yml", flow_yaml("company", "a", message="edited"))
    line = watcher.wait_for(r"^updated company/a")
    assert re.fullmatch(r"updated company/a rev 1 → 2 \(task `log` changed \(message\)\) \d+ ms", line)
    assert probe.flows()["company/a"] == (2, flow_yaml("company", "a", message="edited"))

    repo.write("flows/new/c.yml", flow_yaml("company", "c"))
    watcher.wait_for(r"^created company/c rev – → 1 \(new flow\)")

    # Edited in the UI meanwhile: the next save of the file shows it and overwrites it.
    probe.update("company", "a", flow_yaml("company", "a", message="from the UI"))
    repo.write("flows/a.yml", flow_yaml("company", "a", message="edited"))
    watcher.wait_for(r"^updated company/a rev 3 → 4")
    assert probe.flows()["company/a"] == (4, flow_yaml("company", "a", message="edited"))
    assert watcher.stop() == 0


def test_editor_save_through_temporary_file_and_rename(repo, watch, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    watcher = watch()
    temporary = repo.root / "flows" / ".a.yml.swp"
    temporary.write_text(flow_yaml("company", "a", message="via rename"))
    os.replace(temporary, repo.root / "flows" / "a.yml")
    watcher.wait_for(r"^updated company/a rev 1 → 2")
    assert probe.flows()["company/a"][1] == flow_yaml("company", "a", message="via rename")
    assert not [line for line in watcher.drain() if "company/a" in line]  # applied once


def test_deleted_file_deletes_only_with_prune(repo, watch, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    repo.write("flows/b.yml", flow_yaml("company", "b"))
    watcher = watch()
    (repo.root / "flows/b.yml").unlink()
    watcher.wait_for(r"company/b is no longer declared by any file; kept on the server \(--prune deletes it\)")
    assert "company/b" in probe.flows()
    watcher.stop()

    pruning = watch("--prune")  # its first sync deletes it
    assert re.search(r"^delete  company/b  1 → –", "\n".join(pruning.lines), re.MULTILINE)
    (repo.root / "flows/a.yml").unlink()
    pruning.wait_for(r"Prune would delete every flow of namespace 'company'")
    assert set(probe.flows()) == {"company/a"}


def test_renamed_flow_id_creates_new_and_deletes_old_only_with_prune(repo, watch, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    repo.write("flows/keep.yml", flow_yaml("company", "keep"))
    watcher = watch()
    repo.write("flows/a.yml", flow_yaml("company", "renamed"))
    watcher.wait_for(r"^created company/renamed")
    watcher.wait_for(r"company/a is no longer declared by any file; kept on the server")
    assert {"company/a", "company/renamed"} <= set(probe.flows())
    watcher.stop()

    pruning = watch("--prune")
    assert re.search(r"^delete  company/a ", "\n".join(pruning.lines), re.MULTILINE)
    repo.write("flows/a.yml", flow_yaml("company", "again"))
    pruning.wait_for(r"^created company/again")
    pruning.wait_for(r"^deleted company/renamed")
    assert set(probe.flows()) == {"company/again", "company/keep"}


def test_burst_of_50_files_all_applied_once(repo, watch, probe):
    for n in range(50):
        repo.write(f"flows/f{n:02d}.yml", flow_yaml("company", f"f{n:02d}"))
    watcher = watch()
    for n in range(50):  # as a `git checkout` would: all at once
        repo.write(f"flows/f{n:02d}.yml", flow_yaml("company", f"f{n:02d}", message="v2"))
    for _ in range(50):
        watcher.wait_for(r"^updated company/f\d\d rev 1 → 2")
    assert not [line for line in watcher.drain(1.5) if line.startswith("updated")]
    assert all(revision == 2 for revision, _ in probe.flows().values())
    updated = [line.split()[1] for line in watcher.lines if line.startswith("updated")]
    assert sorted(updated) == sorted(set(updated)) and len(updated) == 50


def test_bad_save_is_located_server_untouched_then_fix_applies(repo, watch, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    watcher = watch()
    repo.write("flows/a.yml", "id: a\nnamespace: company\ntasks: [\n")
    watcher.wait_for(r"^flows/a\.yml:4:1: YAML syntax error")
    repo.write("flows/a.yml", flow_yaml("company", "a", extra="bogus: 1\n"))
    watcher.wait_for(r"^flows/a\.yml:3:1: unknown flow property `bogus`")
    assert probe.flows()["company/a"] == (1, flow_yaml("company", "a"))
    repo.write("flows/a.yml", flow_yaml("company", "a", message="fixed"))
    watcher.wait_for(r"^updated company/a rev 1 → 2")


def test_server_refusal_is_shown_and_watching_goes_on(repo, watch, probe, server):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    watcher = watch()
    server.add_fault(route="/api/v1/{tenant}/flows/{namespace}/{id}", method="PUT", status=422, count=1)
    repo.write("flows/a.yml", flow_yaml("company", "a", message="v2"))
    watcher.wait_for(r"^failed to update company/a: flows/a\.yml:1:1: .*answered 422")
    repo.write("flows/a.yml", flow_yaml("company", "a", message="v3"))
    watcher.wait_for(r"^updated company/a rev 1 → 2")


def test_dry_run_writes_nothing(repo, watch, probe, server):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    watcher = watch("--dry-run")
    assert "Plan: 1 to create" in "\n".join(watcher.lines)
    repo.write("flows/a.yml", flow_yaml("company", "a", message="v2"))
    watcher.wait_for(r"^would create company/a \(new flow\) \[dry run\]")
    assert probe.flows() == {}
    writes = {k for k in server.request_counts() if not k.startswith("GET") and not k.endswith("/validate")}
    assert writes == set()


def test_server_down_then_back(repo, tmp_path):
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    config = EmulatorConfig(state_file=str(tmp_path / "state.json"))
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    first = EmulatorServer(config, port=port).start()
    watcher = WatchProcess(repo.root, first.url)
    try:
        watcher.wait_for(r"Watching .* for changes")
        first.stop()
        repo.write("flows/a.yml", flow_yaml("company", "a", message="while down"))
        watcher.wait_for(r"Cannot reach the Kestra server at http://127\.0\.0\.1:\d+.*Changes are kept", timeout=60)
        repo.write("flows/a.yml", flow_yaml("company", "a", message="latest"))
        with EmulatorServer(config, port=port) as second:
            watcher.wait_for(r"answers again", timeout=30)
            watcher.wait_for(r"^updated company/a rev 1 → 2")
            state = Probe(second.url, ("admin@kestra.io", "Admin1234")).flows()
            assert state["company/a"] == (2, flow_yaml("company", "a", message="latest"))
            assert watcher.stop() == 0
    finally:
        if watcher.process.poll() is None:
            watcher.process.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_clean_exit_on_signal(repo, watch, signum):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    watcher = watch()
    assert watcher.stop(signum) == 0
    output = "\n".join(watcher.lines)
    assert "Traceback" not in output and "Stopped watching." in output


def test_a_flow_the_server_refuses_at_start_does_not_hold_back_the_others(repo, watch, probe):
    repo.write("flows/good.yml", flow_yaml("company", "good"))
    bad = flow_yaml("company", "bad", extra="labels:\n  system.team: x\n")  # the scanner cannot know; Kestra refuses it
    repo.write("flows/bad.yml", bad)
    watcher = watch()
    output = "\n".join(watcher.lines)
    assert "flows/bad.yml:4:3: Invalid Flow: System labels" in output
    assert set(probe.flows()) == {"company/good"}
    repo.write("flows/bad.yml", flow_yaml("company", "bad"))
    watcher.wait_for(r"^created company/bad rev – → 1")


def test_a_flow_declared_twice_is_refused_where_it_is(repo, watch, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    watcher = watch()
    repo.write("flows/copy.yml", flow_yaml("company", "a", message="copy"))
    watcher.wait_for(r"^flows/copy\.yml:1:1: flow company/a is defined twice \(first at flows/a\.yml:1:1\)")
    repo.write("flows/a.yml", flow_yaml("company", "a", message="edited"))
    watcher.wait_for(r"^updated company/a rev 1 → 2")
    assert probe.flows()["company/a"][1] == flow_yaml("company", "a", message="edited")


def test_prune_deletes_the_flow_of_the_last_file_of_a_namespace(repo, watch, probe):
    repo.config("flows:\n  paths: [flows]\nprune:\n  allow_empty: true\n")  # ownership: the namespaces of the files
    repo.write("flows/lonely.yml", flow_yaml("company.alone", "lonely"))
    repo.write("flows/other.yml", flow_yaml("company.other", "other"))
    watcher = watch("--prune")
    (repo.root / "flows/lonely.yml").unlink()
    watcher.wait_for(r"^deleted company\.alone/lonely rev 1 → –")
    assert set(probe.flows()) == {"company.other/other"}


def test_start_up_reads_the_repository_as_plan_does(repo, watch, scan_cache_dir):
    """watch loads the files through the repository scan (cache, parse pool), not one file at a time:
    its start-up then grows with the repository as plan's does (benchmarks/bench_watch.py --startup)."""
    for n in range(30):
        repo.write(f"flows/f{n:02d}.yml", flow_yaml("company", f"f{n:02d}"))
    repo.write("flows/zz-copy.yml", flow_yaml("company", "f00", message="a copy"))
    watcher = watch()
    [cache] = scan_cache_dir.glob("scan-*.json")
    assert '"resources"' in cache.read_text()
    output = "\n".join(watcher.lines)
    assert "flows/zz-copy.yml:1:1: flow company/f00 is defined twice (first at flows/f00.yml:1:1)" in output
    assert "Apply complete: 30 applied" in output
