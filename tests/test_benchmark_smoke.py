"""Small runs of benchmarks/bench_sync.py and bench_files.py, so the benchmarks cannot rot: request counts are exact."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_sync import benchmark, report, targets  # noqa: E402


LOCK = 5  # apply's advisory lock: read, write, read back; on release read and delete
FRESH = 1  # under the lock, the freshness check: one search page for the one scope
VERSION = 1  # each command asks the server's version once (GET /api/v1/configs), while it reads


def test_benchmark_smoke_counts_requests_exactly(tmp_path):
    run = benchmark(flows=200, namespaces=4, latency_ms=2, workdir=tmp_path)
    requests = {name: step.requests for name, step in run.steps.items()}
    assert requests["first apply: all as creates (0 ms)"] == VERSION + LOCK + FRESH + 1 + 1 + 200 // 50 + 200  # search, export, validate, POSTs
    assert requests["plan, no changes (0 ms)"] == VERSION + 2  # one scope (`company`): one search page and one export
    assert requests["plan, no changes (2 ms)"] == VERSION + 2
    assert requests["baseline: Terraform-style plan"] == 2 * 200
    assert requests["plan, 1% changed (2 ms)"] == VERSION + 2 + 1  # and one validation batch
    assert requests["apply of the 1% (2 ms)"] == VERSION + LOCK + FRESH + 2 + 1 + 2  # plan, then one PUT per changed flow
    assert requests["baseline: kestractl-style deploy of the 1%"] == 2 * 2
    for parallelism in (16, 1):  # the version and the freshness check (one search page), then 20 PUTs
        assert requests[f"apply plan of 10% updates, parallelism {parallelism} (2 ms)"] == VERSION + LOCK + FRESH + 20
    assert all(step.rss_mb is None or step.rss_mb < 250 for step in run.steps.values())
    text = report(run, "bench_sync.py --flows 200")
    assert text.count("| yes |") + text.count("| **no** |") == len(targets(run))


def test_files_benchmark_smoke_counts_requests_exactly(tmp_path):
    from bench_files import LARGE_FILES, benchmark as files_benchmark, targets as files_targets

    run = files_benchmark(files=120, namespaces=3, latency_ms=2, workdir=tmp_path, repeat=1)
    requests = {name: step.requests for name, step in run.steps.items()}
    assert requests["plan, no changes (2 ms)"] == VERSION + 3 + 2  # an export per namespace; the flows' search and export
    assert requests["baseline: a GET per file"] == 120  # every file, the large ones too
    for parallelism in (16, 1):  # the version, the lock, the freshness check (the flows' search page, an export per
        # namespace), then an upload per changed file: every small one
        assert requests[f"apply of 1000 changed files, parallelism {parallelism} (2 ms)"] == VERSION + LOCK + FRESH + 3 + 120 - LARGE_FILES
    assert len(files_targets(run)) == 4
