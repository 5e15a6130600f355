"""Namespace files at scale, side by side with reading them one by one, against the same emulator.

One run generates a repository of N namespace files over M namespaces (`_files/<namespace>/...`,
sizes around a median of 2 KB, and a few of 5 MB), starts the emulator in its own process, and
measures each step as a real `kestra-sync` process (wall time, requests, its own peak RSS). In the
same run, at the same latency:

- per-file reading, the way a tool without a bulk read plans: a GET per file, 10 at a time;
- uploading 1,000 changed files at parallelism 16 and at parallelism 1;
- the peak RSS of a plan against the same repository without its large files: what reading costs
  grows with the largest file, not with the total.

    .venv/bin/python benchmarks/bench_files.py                        # N=10000, M=100, 20 ms
    .venv/bin/python benchmarks/bench_files.py --files 1000 --namespaces 10 --results -

It prints a table and whether each target holds, and writes benchmarks/RESULTS-files.md.
"""

from __future__ import annotations

import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_sync import PASSWORD, USER, Emulator, Run, Step, Target, best_of, command_line, measure, parallel_applies, run_cli  # noqa: E402

LARGE = 5 * 1024 * 1024
LARGE_FILES = 4
CHANGED = 1000


def generate(root: Path, files: int, namespaces: int, large: bool = True) -> list[Path]:
    """N files over M namespaces, sizes log-normal around 2 KB (text), the last LARGE_FILES of 5 MB
    (random bytes: binary, and incompressible, as a parquet sample is); without them, in namespaces
    of their own."""
    team = "team" if large else "small"
    rng = random.Random(7)
    (root / "kestra-sync.yaml").write_text("namespaces: [company]\n")
    paths = []
    for index in range(files):
        path = root / "_files" / f"company.{team}{index % namespaces:03d}" / f"dir{index % 7}" / f"file{index:05d}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        if index >= files - LARGE_FILES:
            if large:
                path.with_suffix(".bin").write_bytes(rng.randbytes(LARGE))
                paths.append(path.with_suffix(".bin"))
            continue
        size = min(200_000, int(rng.lognormvariate(7.6, 0.6)))  # median e^7.6 ≈ 2,000 bytes
        line = f"select {index} as id, 'row' as name from orders where day = current_date;\n"
        path.write_text((line * (size // len(line) + 1))[:size])
        paths.append(path)
    return paths


def per_file_reads(run: Run, emulator: Emulator, keys: list[tuple[str, str]]) -> Step:
    """Planning by reading every file: a GET each, 10 in parallel."""
    emulator.reset_counters()
    with httpx.Client(base_url=f"{emulator.url}/api/v1/main", auth=(USER, PASSWORD), timeout=60,
                      limits=httpx.Limits(max_connections=10)) as http:
        def read(item):
            namespace, path = item
            http.get(f"/namespaces/{namespace}/files", params={"path": "/" + path}).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(read, keys))
        seconds = time.perf_counter() - started
    return run.add(Step("baseline: a GET per file", seconds, emulator.requests(), note="10 parallel"))


def edit(paths: list[Path], count: int, variant: int) -> None:
    for path in [p for p in paths if p.suffix == ".sql"][:count]:
        path.write_text(path.read_text().split("\n-- v", 1)[0] + f"\n-- v{variant}\n")


def benchmark(files: int, namespaces: int, latency_ms: int, workdir: Path, repeat: int = 3) -> Run:
    run = Run(files, namespaces, latency_ms, workdir)
    repository, small = workdir / "repo", workdir / "small"
    repository.mkdir()
    small.mkdir()
    paths = generate(repository, files, namespaces)
    generate(small, files, namespaces, large=False)
    emulator = Emulator()
    try:
        emulator.latency(0)
        measure(run, emulator, repository, "first apply: all as creates (0 ms)", "apply", "--auto-approve", "--parallelism", "16")
        run_cli(run, emulator, small, "apply", "--auto-approve", "--parallelism", "16")
        emulator.latency(latency_ms)

        def plan(name: str, where: Path = repository) -> Step:
            return run.add(best_of([measure(run, emulator, where, name, "plan") for _ in range(repeat)]))

        plan(f"plan, no changes ({latency_ms} ms)")
        keys = [(p.relative_to(repository / "_files").parts[0], "/".join(p.relative_to(repository / "_files").parts[1:]))
                for p in paths]
        per_file_reads(run, emulator, keys)
        plan(f"plan of the repository without its {LARGE_FILES} large files ({latency_ms} ms)", small)

        variants = iter(range(1, 100))
        parallel_applies(run, emulator, repository, f"apply of {CHANGED} changed files",
                         lambda: edit(paths, CHANGED, next(variants)), repeat)
    finally:
        emulator.stop()
    return run


def targets(run: Run) -> list[Target]:
    s, lat = run.steps, run.latency_ms
    plan = s[f"plan, no changes ({lat} ms)"]
    baseline = s["baseline: a GET per file"]
    without = s[f"plan of the repository without its {LARGE_FILES} large files ({lat} ms)"]
    p16 = s[f"apply of {CHANGED} changed files, parallelism 16 ({lat} ms)"]
    p1 = s[f"apply of {CHANGED} changed files, parallelism 1 ({lat} ms)"]
    growth = plan.rss_mb - without.rss_mb
    local = LARGE_FILES * LARGE / 2**20  # the repository's own large files, which the scan holds
    return [
        Target(f"requests of a plan with no changes <= 1 per namespace + the version, the flows' search and export "
               f"({run.namespaces + 3})", str(plan.requests), plan.requests <= run.namespaces + 3),
        Target(f"plan at {lat} ms >= 20x faster than a GET per file", f"{baseline.seconds / plan.seconds:.0f}x",
               baseline.seconds / plan.seconds >= 20),
        Target(f"peak RSS added by {LARGE_FILES} files of 5 MB <= what the scan holds of them ({local:.0f} MB) + 3 of them read",
               f"{growth:.0f} MB", growth <= local + 3 * LARGE / 2**20),
        Target(f"upload of {CHANGED} files at parallelism 16 >= 8x faster than one at a time", f"{p1.seconds / p16.seconds:.1f}x",
               p1.seconds / p16.seconds >= 8),
    ]


def main() -> int:
    return command_line(__doc__, "files", "RESULTS-files.md", "Namespace-file benchmark results", benchmark, targets)


if __name__ == "__main__":
    raise SystemExit(main())
