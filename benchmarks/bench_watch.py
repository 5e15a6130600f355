"""Watch latency: from a file save to the server holding the new revision.

Starts the emulator, a repository of flows and a real `kestra-sync watch` process, then saves one
file at a time (SAVES times) and polls the server until it holds the saved text. Prints p50 / p95 and
whether the targets hold (p50 <= 500 ms, p95 <= 1 s with the default debounce).

    .venv/bin/python benchmarks/bench_watch.py [--saves 50] [--flows 20]
"""

from __future__ import annotations

import argparse
import os
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=50)
    parser.add_argument("--flows", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory, EmulatorServer() as emulator:
        root = Path(directory)
        paths = generate(root, args.flows, 2)
        auth = (emulator.config.username, emulator.config.password)
        env = {**os.environ, "KESTRA_URL": emulator.url, "KESTRA_USERNAME": auth[0], "KESTRA_PASSWORD": auth[1]}
        watcher = subprocess.Popen(
            [sys.executable, "-m", "kestrasync", "watch"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            for line in watcher.stdout:  # wait until the watcher is live
                if line.startswith("Watching "):
                    break
            http = httpx.Client(base_url=f"{emulator.url}/api/v1/main", auth=auth)
            latencies = []
            for save in range(args.saves):
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


if __name__ == "__main__":
    sys.exit(main())
