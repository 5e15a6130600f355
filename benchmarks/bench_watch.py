"""watch: the latency from a file save to the server holding the new revision, and the start-up of
a large repository.

Latency: starts the emulator, a repository of flows and a real `kestra-sync watch` process, then
saves one file at a time (SAVES times) and polls the server until it holds the saved text. Prints
p50 / p95 and whether the targets hold (p50 <= 500 ms, p95 <= 1 s with the default debounce).

Start-up (`--startup`): for repositories of 1,000, 2,000 and 4,000 flows already on the server,
the time from starting `kestra-sync watch` to its "Watching" line, against `kestra-sync plan` on the
same repository in the same state (both with an empty scan cache: each parses every file). Target:
watch start-up within 1.5x of plan's at 4,000 files (both do the same scan, read and plan; watch
then starts its file watcher), and growing with the repository as plan does.

    .venv/bin/python benchmarks/bench_watch.py [--saves 50] [--flows 20]
    .venv/bin/python benchmarks/bench_watch.py --startup [--sizes 1000,2000,4000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from flowgen import generate  # noqa: E402

from kestrasync.emulator import EmulatorServer  # noqa: E402

TARGET_P50, TARGET_P95 = 0.5, 1.0
TARGET_STARTUP_RATIO = 1.5  # watch start-up / plan, at the largest size


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def environment(emulator: EmulatorServer, workdir: Path, **extra: str) -> dict[str, str]:
    """A measured process's environment: the emulator's URL and credentials, a bytecode cache of its
    own (see benchmarks/README.md) and the scan cache given."""
    env = {**os.environ, "KESTRA_URL": emulator.url, "KESTRA_USERNAME": emulator.config.username,
           "KESTRA_PASSWORD": emulator.config.password, "PYTHONPYCACHEPREFIX": str(workdir / "pycache"), "NO_COLOR": "1", **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def start_watch(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """A `kestra-sync watch` process, once live; and how long it took to get there."""
    started = time.perf_counter()
    watcher = subprocess.Popen([sys.executable, "-m", "kestrasync", "watch"], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in watcher.stdout:
        if line.startswith("Watching "):
            return watcher, time.perf_counter() - started
    raise SystemExit(f"watch did not start:\n{watcher.stdout.read()}")


def latency(saves: int, flows: int) -> int:
    with tempfile.TemporaryDirectory() as directory, EmulatorServer() as emulator:
        root = Path(directory)
        paths = generate(root, flows, 2)
        watcher, _ = start_watch(root, environment(emulator, root))
        try:
            auth = (emulator.config.username, emulator.config.password)
            http = httpx.Client(base_url=f"{emulator.url}/api/v1/main", auth=auth)
            latencies = []
            for save in range(saves):
                path = paths[save % len(paths)]
                text = path.read_text().replace("description: ", f"description: save {save} - ", 1)
                namespace, flow_id = path.parent.name, path.stem
                started = time.perf_counter()
                path.write_text(text)
                while http.get(f"/flows/{namespace}/{flow_id}", params={"source": "true"}).json()["source"] != text:
                    if time.perf_counter() - started > 10:
                        watcher.terminate()
                        raise SystemExit(f"save {save} never reached the server:\n{watcher.stdout.read()}")
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)  # a person does not save twice within 50 ms
        finally:
            watcher.terminate()
            watcher.wait(timeout=15)
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"watch latency over {len(latencies)} saves: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")
    ok = p50 <= TARGET_P50 and p95 <= TARGET_P95
    print(f"targets p50 <= {TARGET_P50 * 1000:.0f} ms and p95 <= {TARGET_P95 * 1000:.0f} ms: {'hold' if ok else 'MISSED'}")
    return 0 if ok else 1


def startup_seconds(flows: int, repeat: int = 3) -> tuple[float, float]:
    """(watch start-up, plan) in seconds for a repository of `flows` flows already on the server; the
    best of `repeat` runs each, every run with an empty scan cache."""
    with tempfile.TemporaryDirectory() as directory, EmulatorServer() as emulator:
        root = Path(directory)
        generate(root, flows, max(1, flows // 100))
        cache = root / "cache"

        def run(*args: str) -> float:
            shutil.rmtree(cache, ignore_errors=True)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "kestrasync", *args], cwd=root, check=True, capture_output=True,
                           env=environment(emulator, root, KESTRA_SYNC_CACHE_DIR=str(cache)))
            return time.perf_counter() - started

        run("apply", "--auto-approve", "--parallelism", "16")  # the server holds the repository
        plans, watches = [], []
        for _ in range(repeat):
            plans.append(run("plan"))
            shutil.rmtree(cache, ignore_errors=True)
            watcher, seconds = start_watch(root, environment(emulator, root, KESTRA_SYNC_CACHE_DIR=str(cache)))
            watcher.terminate()
            watcher.wait(timeout=15)
            watches.append(seconds)
    return min(watches), min(plans)


def startup(sizes: list[int]) -> int:
    print("| Flows | watch start-up (s) | plan (s) | ratio |\n|---:|---:|---:|---:|")
    ratio = 0.0
    for flows in sizes:
        watch, plan = startup_seconds(flows)
        ratio = watch / plan
        print(f"| {flows} | {watch:.2f} | {plan:.2f} | {ratio:.2f} |", flush=True)
    ok = ratio <= TARGET_STARTUP_RATIO
    print(f"target: watch start-up <= {TARGET_STARTUP_RATIO}x plan at {sizes[-1]} flows: {'holds' if ok else 'MISSED'} ({ratio:.2f}x)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=50)
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--startup", action="store_true", help="Measure start-up on large repositories instead.")
    parser.add_argument("--sizes", default="1000,2000,4000", help="Repository sizes for --startup.")
    args = parser.parse_args()
    if args.startup:
        return startup([int(size) for size in args.sizes.split(",")])
    return latency(args.saves, args.flows)


if __name__ == "__main__":
    sys.exit(main())
