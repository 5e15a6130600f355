"""Rough timings of the emulator over HTTP (not a test; run it by hand).

    .venv/bin/python benchmarks/bench_emulator.py [--flows 10000] [--subprocess]

Creates N small flows one request at a time, then exports them all and fetches them in one search page.
With --subprocess the emulator runs as `kestra-sync emulator` in its own process (as a CI job would use it);
otherwise it runs in a thread of this process, sharing its interpreter with the client.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import time
import zipfile

import httpx

from kestrasync.emulator import EmulatorServer

AUTH = ("admin@kestra.io", "Admin1234")


def source(index: int) -> str:
    return (f"id: flow{index}\nnamespace: bench.ns{index % 50}\nlabels:\n  team: data\n"
            f"tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: Hello {index}\n")


@contextlib.contextmanager
def emulator(in_subprocess: bool):
    if not in_subprocess:
        with EmulatorServer() as server:
            yield server.url
        return
    process = subprocess.Popen([sys.executable, "-m", "kestrasync", "emulator", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().split(" on ")[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--subprocess", action="store_true")
    options = parser.parse_args()
    with emulator(options.subprocess) as url, httpx.Client(base_url=url, auth=AUTH, timeout=120) as client:
        started = time.perf_counter()
        for index in range(options.flows):
            response = client.post("/api/v1/main/flows", content=source(index),
                                   headers={"Content-Type": "application/x-yaml"})
            response.raise_for_status()
        created = time.perf_counter() - started
        started = time.perf_counter()
        export = client.get("/api/v1/main/flows/export/by-query")
        exported = time.perf_counter() - started
        entries = len(zipfile.ZipFile(io.BytesIO(export.content)).namelist())
        started = time.perf_counter()
        total = client.get("/api/v1/main/flows/search", params={"size": options.flows}).json()["total"]
        searched = time.perf_counter() - started
    print(f"create {options.flows} flows, one request each: {created:.2f} s ({created / options.flows * 1000:.2f} ms each)")
    print(f"export {entries} flows as one ZIP ({len(export.content)} bytes): {exported:.3f} s")
    print(f"search one page of {total} flows: {searched:.3f} s")


if __name__ == "__main__":
    main()
