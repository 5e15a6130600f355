"""Transient faults: retried with backoff, creates settled by reading back, nothing lost, nothing doubled."""

from __future__ import annotations

import time

import pytest

from support import WatchProcess, flow_yaml, output_json

CREATE = "/api/v1/{tenant}/flows"
FLOW = "/api/v1/{tenant}/flows/{namespace}/{id}"
SEARCH = "/api/v1/{tenant}/flows/search"


@pytest.fixture
def fast_retries(repo):
    """Retries as in production, but with a 10 ms first backoff so the tests stay quick."""
    repo.config("server:\n  retry_backoff: 0.01\nflows:\n  paths: [flows]\nnamespaces: [company]\n")


def write_flows(repo, count: int, message: str = "hello") -> None:
    for n in range(count):
        repo.write(f"flows/f{n:02d}.yml", flow_yaml("company", f"f{n:02d}", message=message))


def test_apply_converges_with_10_percent_503_and_dropped_connections(repo, cli, server, probe, fast_retries):
    write_flows(repo, 30)
    server.add_fault(status=503, fraction=0.1, seed=7)
    server.add_fault(route=CREATE, method="POST", action="drop", phase="after", count=3)
    result = cli("apply", "--auto-approve", "--parallelism", "4")
    assert result.exit_code == 0, result.output
    server.clear_faults()  # the probe reads without faults
    assert {key: revision for key, (revision, _) in probe.flows().items()} == {f"company/f{n:02d}": 1 for n in range(30)}

    write_flows(repo, 30, message="v2")
    server.add_fault(status=503, fraction=0.1, seed=8)
    server.add_fault(route=FLOW, method="PUT", action="drop", phase="after", count=3)
    result = cli("apply", "--auto-approve", "--parallelism", "4")
    assert result.exit_code == 0, result.output
    server.clear_faults()
    state = probe.flows()
    assert all(revision == 2 for revision, _ in state.values())  # a PUT sent twice made no extra revision
    assert all(source == flow_yaml("company", key.split("/")[1], message="v2") for key, (_, source) in state.items())
    server.reset(store=False, counters=True, faults=True)
    assert "No changes. 30 flow(s) match the server." in cli("plan").stdout


def test_a_create_whose_answer_is_lost_is_settled_by_reading_it_back(repo, cli, server, probe, fast_retries):
    write_flows(repo, 1)
    server.add_fault(route=CREATE, method="POST", action="drop", phase="after", count=1)
    result = cli("apply", "--auto-approve", "--format", "json")
    assert result.exit_code == 0, result.output
    assert output_json(result)["results"][0]["version_after"] == 1
    counts = server.request_counts()
    assert counts[f"POST {CREATE}"] == 1  # never sent twice
    assert counts[f"GET {FLOW}"] == 1  # read back instead
    assert [r["revision"] for r in probe.revisions("company", "f00")] == [1]


def test_a_create_whose_last_answer_is_lost_is_read_back_too(repo, cli, server, probe):
    """With no retry left (server.retries: 0), a lost answer is still settled by reading the flow back."""
    repo.config("server:\n  retries: 0\nflows:\n  paths: [flows]\nnamespaces: [company]\n")
    write_flows(repo, 1)
    server.add_fault(route=CREATE, method="POST", status=502, phase="after", count=1)
    result = cli("apply", "--auto-approve", "--format", "json")
    assert result.exit_code == 0, result.output
    assert output_json(result)["results"][0]["version_after"] == 1
    counts = server.request_counts()
    assert (counts[f"POST {CREATE}"], counts[f"GET {FLOW}"]) == (1, 1)


def test_a_lost_create_that_did_not_happen_is_sent_again(repo, cli, server, probe, fast_retries):
    write_flows(repo, 1)
    server.add_fault(route=CREATE, method="POST", action="drop", phase="before", count=1)
    assert cli("apply", "--auto-approve").exit_code == 0
    assert server.request_counts()[f"POST {CREATE}"] == 2  # read back: absent, so sent again
    assert probe.flows()["company/f00"][0] == 1


def test_plan_converges_with_faults_on_reads(repo, cli, server, fast_retries):
    write_flows(repo, 5)
    assert cli("apply", "--auto-approve").exit_code == 0
    server.add_fault(route=SEARCH, status=502, count=2)
    server.add_fault(route="/api/v1/{tenant}/flows/export/by-query", action="drop", count=1)
    result = cli("plan")
    assert result.exit_code == 0, result.output
    assert "No changes. 5 flow(s) match the server." in result.stdout


def test_429_retry_after_is_honoured(repo, cli, server, fast_retries):
    write_flows(repo, 1)
    server.add_fault(route=SEARCH, status=429, retry_after="1", count=1)
    started = time.monotonic()
    result = cli("plan")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.0


def test_server_down_gives_a_clear_error_after_the_retries(repo, cli, server, fast_retries, probe):
    write_flows(repo, 1)
    server.add_fault(route=SEARCH, status=503, count=100)
    result = cli("apply", "--auto-approve")
    assert result.exit_code == 1
    assert server.request_counts()[f"GET {SEARCH}"] == 5  # one try and four retries (the default)
    assert f"The Kestra server at {server.url} answered 503 to GET /flows/search" in result.stderr
    server.clear_faults()
    assert probe.flows() == {}


def test_other_4xx_are_not_retried(repo, cli, server, fast_retries):
    write_flows(repo, 1)
    server.add_fault(route=SEARCH, status=400, count=1)
    result = cli("plan")
    assert result.exit_code == 1
    assert server.request_counts()[f"GET {SEARCH}"] == 1


def test_retries_are_configurable(repo, cli, server):
    repo.config("server:\n  retries: 1\n  retry_backoff: 0.01\nflows:\n  paths: [flows]\nnamespaces: [company]\n")
    write_flows(repo, 1)
    server.add_fault(route=SEARCH, status=503, count=100)
    assert cli("plan").exit_code == 1
    assert server.request_counts()[f"GET {SEARCH}"] == 2


def test_watch_converges_with_10_percent_503(repo, server, probe, fast_retries):
    write_flows(repo, 10)
    server.add_fault(status=503, fraction=0.1, seed=3)
    watcher = WatchProcess(repo.root, server.url)
    try:
        watcher.wait_for(r"Watching .* for changes", timeout=30)
        write_flows(repo, 10, message="v2")
        for _ in range(10):
            watcher.wait_for(r"^updated company/f\d\d rev 1 → 2", timeout=30)
        server.clear_faults()
        assert all(source.endswith("message: v2\n") and revision == 2 for revision, source in probe.flows().values())
        assert watcher.stop() == 0
    finally:
        if watcher.process.poll() is None:
            watcher.process.kill()
