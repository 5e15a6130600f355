"""Long applies say how far they are: results told as they happen, a progress bar on a terminal
(gone when done), a line every few seconds in a CI log; JSON output stays one document."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from support import child_env, flow_yaml, run_on_terminal

FLOWS = 10


def slow_repository(repo, server):
    for n in range(FLOWS):
        repo.write(f"flows/f{n:02d}.yaml", flow_yaml("company.team", f"f{n:02d}"))
    server.set_latency(150)


def test_in_a_ci_log_results_stream_and_progress_lines_come_every_few_seconds(repo, server, probe):
    slow_repository(repo, server)
    env = child_env(server, {"KESTRA_SYNC_PROGRESS_SECONDS": "0.3"})
    process = subprocess.Popen([sys.executable, "-m", "kestrasync", "apply", "--auto-approve", "--parallelism", "1"],
                               cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (line := process.stdout.readline()).startswith("created "):
            assert line and time.monotonic() < deadline, "no result line"
        on_server_when_told = len(probe.flows())
        out, err = process.communicate(timeout=60)
    finally:
        server.set_latency(0)
    assert process.returncode == 0, err
    assert on_server_when_told < FLOWS  # the first line came while the others were still being written
    assert len(re.findall(r"^created company\.team/f\d\d ", line + out, re.MULTILINE)) == FLOWS
    counts = [int(done) for done in re.findall(rf"^applying (\d+)/{FLOWS} \(\d+/s, about \d+ s left\)$", err, re.MULTILINE)]
    assert counts and counts == sorted(counts) and max(counts) < FLOWS, err
    assert "\r" not in err + out  # no terminal redraws in a log


def test_on_a_terminal_a_bar_shows_how_far_and_is_gone_when_done(repo, server):
    slow_repository(repo, server)
    try:
        code, output = run_on_terminal(["apply", "--auto-approve", "--parallelism", "1"], child_env(server), repo.root, timeout=60)
    finally:
        server.set_latency(0)
    assert code == 0, output
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)  # colours (on a terminal) apart
    bars = re.findall(rf"applying:\s+\d+%\|[^|]*\| (\d+)/{FLOWS} \[", output)
    assert bars, output
    assert len(re.findall(r"(?:^|\r)created company\.team/f\d\d ", output, re.MULTILINE)) == FLOWS  # above the bar
    assert len(set(bars)) >= 3  # it moved
    tail = output.rsplit("Apply complete", 1)[0].rsplit("created company.team", 1)[1]
    assert "applying:" not in tail.rsplit("\r", 2)[-1]  # erased before the verdict: leave=False
    assert output.rstrip().endswith("Apply complete: 10 applied, 0 failed, 0 not attempted.")


def test_json_output_stays_one_document(repo, server):
    slow_repository(repo, server)
    env = child_env(server, {"KESTRA_SYNC_PROGRESS_SECONDS": "0.2"})
    try:
        result = subprocess.run([sys.executable, "-m", "kestrasync", "apply", "--auto-approve", "--parallelism", "1", "--format", "json"],
                                cwd=repo.root, env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.set_latency(0)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["applied"] == FLOWS
    assert re.search(rf"^applying \d+/{FLOWS} ", result.stderr, re.MULTILINE)  # progress on stderr only


def test_long_reads_say_how_far_they_are(repo, server, probe):
    """A namespace's files are one export each: a plan of many namespaces counts them as it reads."""
    (repo.root / "flows").mkdir()
    for n in range(8):
        repo.write(f"_files/company.n{n}/a.txt", f"{n}\n")
        probe.upload(f"company.n{n}", "a.txt", f"{n}\n".encode())
    server.set_latency(150)
    try:
        result = subprocess.run([sys.executable, "-m", "kestrasync", "plan", "--parallelism", "1"], cwd=repo.root,
                                env=child_env(server, {"KESTRA_SYNC_PROGRESS_SECONDS": "0.2"}), capture_output=True, text=True, timeout=60)
    finally:
        server.set_latency(0)
    assert result.returncode == 0, result.stderr
    assert "No changes. 8 namespace file(s)" in result.stdout
    done = [(int(a), int(b)) for a, b in re.findall(r"^reading the server (\d+)/(\d+) \(", result.stderr, re.MULTILINE)]
    assert done and all(0 < a < b for a, b in done) and max(b for _, b in done) >= 8, result.stderr
