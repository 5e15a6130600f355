"""kestra-sync at scale, side by side with the way other tools do it, against the same emulator.

One run generates a realistic repository (N flows over M namespaces, see flowgen.py), starts the
emulator in its own process, and measures each step as a real `kestra-sync` process: wall time,
requests made (the emulator's counters) and peak RSS. In the same run, at the same latency:

- the Terraform provider's way to plan: for each flow a validate and a `GET ?source=true`, 10 at a time;
- kestractl's way to deploy: for each flow a GET, then a PUT or POST, one at a time.

    .venv/bin/python benchmarks/bench_sync.py                      # N=10000, M=100, 20 ms
    .venv/bin/python benchmarks/bench_sync.py --flows 2000 --namespaces 20 --results -

It prints a table and whether each target holds, and writes benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import peak  # noqa: E402
from flowgen import flow_text, generate, namespace_of  # noqa: E402

USER, PASSWORD = "admin@kestra.io", "Admin1234"


@dataclass
class Step:
    name: str
    seconds: float
    requests: int
    rss_mb: float | None = None
    note: str = ""


@dataclass
class Run:
    flows: int
    namespaces: int
    latency_ms: int
    workdir: Path
    steps: dict[str, Step] = field(default_factory=dict)
    scopes: int = 1
    search_pages: int = 1

    def add(self, step: Step) -> Step:
        self.steps[step.name] = step
        return step

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a measured process. Its bytecode goes to a cache of the run's own: with
        PYTHONDONTWRITEBYTECODE set (as on the machines this was written on), pip installs without
        bytecode and every process would compile each module it imports, a third of a second that
        no ordinary installation pays."""
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(self.workdir / "pycache"),
               "KESTRA_SYNC_CACHE_DIR": str(self.workdir / "cache"), **extra}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env


class Emulator:
    """The emulator in its own process (so it never competes for kestra-sync's GIL)."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kestrasync", "emulator", "--port", "0", "--username", USER, "--password", PASSWORD],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for line in self.process.stdout:
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise SystemExit("the emulator did not start")
        self.hooks = httpx.Client(base_url=f"{self.url}/__emulator", timeout=60)

    def latency(self, ms: int) -> None:
        self.hooks.put("/latency", json={"ms": ms}).raise_for_status()

    def reset_counters(self) -> None:
        self.hooks.post("/reset", json={"store": False, "counters": True, "faults": False}).raise_for_status()

    def requests(self) -> int:
        return self.hooks.get("/requests").json()["total"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def run_cli(run: Run, emulator: Emulator, cwd: Path, *args: str) -> tuple[float, float, str]:
    """Run kestra-sync; returns wall seconds, its peak RSS in MB (see peak.py) and output."""
    report = run.workdir / "peak-rss"
    env = peak.environment(run.env(KESTRA_URL=emulator.url, KESTRA_USERNAME=USER, KESTRA_PASSWORD=PASSWORD, NO_COLOR="1"), report)
    started = time.perf_counter()
    process = subprocess.run(peak.command(list(args)), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    output = process.stdout.decode()
    if process.returncode not in (0, 2):
        raise SystemExit(f"kestra-sync {' '.join(args)} failed ({process.returncode}):\n{output[-3000:]}")
    return seconds, peak.peak_mb(report), output


def measure(run: Run, emulator: Emulator, cwd: Path, name: str, *args: str, note: str = "") -> Step:
    emulator.reset_counters()
    seconds, rss, _ = run_cli(run, emulator, cwd, *args)
    return run.add(Step(name, seconds, emulator.requests(), rss, note))


def best_of(runs: list[Step]) -> Step:
    """The fastest of several runs of a short step (timeit's convention: on a shared machine a run of a
    second varies by a fifth, always upwards); the note keeps the median."""
    best = min(runs, key=lambda step: step.seconds)
    median = sorted(step.seconds for step in runs)[len(runs) // 2]
    best.note = f"best of {len(runs)} (median {median:.2f} s)"
    return best


def terraform_plan(run: Run, emulator: Emulator, keys: list[tuple[str, str, str]]) -> Step:
    """The Terraform provider's refresh: per flow, a validate and a GET with source; 10 in parallel."""
    emulator.reset_counters()
    with httpx.Client(base_url=f"{emulator.url}/api/v1/main", auth=(USER, PASSWORD), timeout=60,
                      limits=httpx.Limits(max_connections=10)) as http:
        def refresh(item):
            namespace, flow_id, source = item
            http.post("/flows/validate", content=source.encode(), headers={"Content-Type": "application/x-yaml"}).raise_for_status()
            http.get(f"/flows/{namespace}/{flow_id}", params={"source": "true"}).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(refresh, keys))
        seconds = time.perf_counter() - started
    return run.add(Step("baseline: Terraform-style plan", seconds, emulator.requests(), note="validate + GET per flow, 10 parallel"))


def kestractl_deploy(run: Run, emulator: Emulator, keys: list[tuple[str, str, str]]) -> Step:
    """kestractl's deploy: per flow a GET, then a PUT (or a POST when missing), one at a time."""
    emulator.reset_counters()
    headers = {"Content-Type": "application/x-yaml"}
    with httpx.Client(base_url=f"{emulator.url}/api/v1/main", auth=(USER, PASSWORD), timeout=60) as http:
        started = time.perf_counter()
        for namespace, flow_id, source in keys:
            if http.get(f"/flows/{namespace}/{flow_id}").status_code == 404:
                http.post("/flows", content=source.encode(), headers=headers).raise_for_status()
            else:
                http.put(f"/flows/{namespace}/{flow_id}", content=source.encode(), headers=headers).raise_for_status()
        seconds = time.perf_counter() - started
    return run.add(Step("baseline: kestractl-style deploy of the 1%", seconds, emulator.requests(), note="GET + PUT per flow, one at a time"))


def edit(paths: list[Path], run: Run, fraction: float, variant: int) -> list[tuple[str, str, str]]:
    """Change a message in every k-th flow (a semantic change); returns (namespace, id, new text)."""
    step = max(1, round(1 / fraction))
    changed = []
    for index in range(0, run.flows, step):
        namespace = namespace_of(index % run.namespaces)
        text = flow_text(index, namespace, random.Random(index), big=index % 1000 == 999, variant=variant)
        paths[index].write_text(text, encoding="utf-8")
        changed.append((namespace, f"flow{index:05d}", text))
    return changed


def scan_seconds(run: Run, cwd: Path, cache: bool) -> float:
    """A scan alone, as the command line makes it (with its parse pool), in a fresh process (cold: no
    scan cache; warm: the cache of the previous run)."""
    code = (
        "import time\nfrom kestrasync.cli import ParsePool\nfrom kestrasync.config import load_settings\n"
        "from kestrasync.engine import scan\nsettings = load_settings(); started = time.perf_counter()\n"
        "with ParsePool() as pool:\n    scan(settings, pool).resources()\nprint(time.perf_counter() - started)"
    )
    env = run.env() if cache else run.env(KESTRA_SYNC_CACHE_DIR="")
    return float(subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout)


def benchmark(flows: int, namespaces: int, latency_ms: int, workdir: Path, repeat: int = 3) -> Run:
    """Every step, against one emulator. The short steps are the best of `repeat` runs: the plans, and
    the parallel apply (with a fresh edit each time); the long ones, bound by latency, run once."""
    run = Run(flows, namespaces, latency_ms, workdir)
    run.search_pages = -(-flows // 1000)
    paths = generate(workdir, flows, namespaces)
    emulator = Emulator()
    try:
        subprocess.run([sys.executable, "-m", "kestrasync", "--help"], env=run.env(), capture_output=True, check=True)
        run.add(Step("scan (cold, no cache)", min(scan_seconds(run, workdir, cache=False) for _ in range(repeat)), 0))
        emulator.latency(0)
        measure(run, emulator, workdir, "first apply: all as creates (0 ms)", "apply", "--auto-approve", "--parallelism", "16")
        run.add(Step("scan (warm cache)", min(scan_seconds(run, workdir, cache=True) for _ in range(repeat)), 0))

        def plan(name: str) -> Step:
            return run.add(best_of([measure(run, emulator, workdir, name, "plan") for _ in range(repeat)]))

        plan("plan, no changes (0 ms)")
        emulator.latency(latency_ms)
        plan(f"plan, no changes ({latency_ms} ms)")
        sources = [(namespace_of(i % namespaces), f"flow{i:05d}", p.read_text()) for i, p in enumerate(paths)]
        terraform_plan(run, emulator, sources)

        one_percent = edit(paths, run, 0.01, variant=1)
        plan(f"plan, 1% changed ({latency_ms} ms)")
        measure(run, emulator, workdir, f"apply of the 1% ({latency_ms} ms)", "apply", "--auto-approve")
        kestractl_deploy(run, emulator, [(ns, i, text.replace("(v1)", "(v9)")) for ns, i, text in one_percent])
        emulator.latency(0)
        run_cli(run, emulator, workdir, "apply", "--auto-approve")  # back in line with the files

        emulator.latency(latency_ms)
        variants = iter(range(10, 100))  # (v9) is the kestractl-style edit
        parallel_applies(run, emulator, workdir, "apply plan of 10% updates", lambda: edit(paths, run, 0.1, variant=next(variants)), repeat)
    finally:
        emulator.stop()
    return run


def parallel_applies(run: Run, emulator: Emulator, cwd: Path, what: str, change: Callable[[], object], repeat: int) -> None:
    """A saved plan of a fresh `change` applied at parallelism 16 (best of `repeat`) and at 1 (once:
    one at a time is bound by latency)."""
    for parallelism, runs in ((16, repeat), (1, 1)):
        name = f"{what}, parallelism {parallelism} ({run.latency_ms} ms)"
        steps = []
        for _ in range(runs):
            change()
            run_cli(run, emulator, cwd, "plan", "--out", "plan.json")
            steps.append(measure(run, emulator, cwd, name, "apply", "plan.json", "--parallelism", str(parallelism)))
        run.add(best_of(steps) if runs > 1 else steps[0])


@dataclass
class Target:
    text: str
    value: str
    holds: bool


def targets(run: Run) -> list[Target]:
    s, lat = run.steps, run.latency_ms
    plan0 = s["plan, no changes (0 ms)"]
    plan_lat = s[f"plan, no changes ({lat} ms)"]
    terraform = s["baseline: Terraform-style plan"]
    p16 = s[f"apply plan of 10% updates, parallelism 16 ({lat} ms)"]
    p1 = s[f"apply plan of 10% updates, parallelism 1 ({lat} ms)"]
    rss = max(step.rss_mb for step in s.values() if step.rss_mb is not None)
    allowed = 1 + 2 * run.scopes + run.search_pages - 1
    return [
        Target("plan with no changes at 0 ms <= 3 s", f"{plan0.seconds:.2f} s", plan0.seconds <= 3),
        Target(f"its requests <= the server's version + 2 per scope + search pages ({allowed})", str(plan0.requests),
               plan0.requests <= allowed),
        Target(f"plan at {lat} ms >= 50x faster than Terraform-style", f"{terraform.seconds / plan_lat.seconds:.0f}x",
               terraform.seconds / plan_lat.seconds >= 50),
        Target(f"apply of {run.flows // 10} updates at parallelism 16 >= 10x faster than one at a time",
               f"{p1.seconds / p16.seconds:.1f}x", p1.seconds / p16.seconds >= 10),
        Target("peak RSS <= 250 MB", f"{rss:.0f} MB", rss <= 250),
        Target(f"scanning {run.flows} files <= 1.5 s (cold)", f"{s['scan (cold, no cache)'].seconds:.2f} s",
               s["scan (cold, no cache)"].seconds <= 1.5),
    ]


def report(run: Run, command: str, checks: list[Target] | None = None, counted: str = "flows") -> str:
    """The run as Markdown: its steps, then whether each target (`checks`, by default this benchmark's) holds."""
    rows = [
        "| Step | Wall (s) | Requests | Peak RSS (MB) | Note |",
        "|---|---:|---:|---:|---|",
    ]
    for step in run.steps.values():
        rss = f"{step.rss_mb:.0f}" if step.rss_mb is not None else ""
        rows.append(f"| {step.name} | {step.seconds:.2f} | {step.requests} | {rss} | {step.note} |")
    held = ["| Target | Measured | Holds |", "|---|---:|---|"]
    held += [f"| {t.text} | {t.value} | {'yes' if t.holds else '**no**'} |" for t in (targets(run) if checks is None else checks)]
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    return "\n".join([
        f"N = {run.flows} {counted} over M = {run.namespaces} namespaces, latency {run.latency_ms} ms per request.",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}  ",
        f"Date: {datetime.date.today().isoformat()}",
        "",
        *rows,
        "",
        *held,
        "",
    ])


def main() -> int:
    return command_line(__doc__, "flows", "RESULTS.md", "Benchmark results", benchmark, targets)


def command_line(doc: str, counted: str, results: str, title: str, run_benchmark, checks) -> int:
    """A benchmark's command: `--<counted> N --namespaces M --latency-ms L --results FILE`; prints the
    report, writes it to `results` (beside this file) and exits 1 when a target does not hold."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(f"--{counted}", type=int, default=10_000)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--results", default=str(Path(__file__).parent / results), help="Markdown file to write, or - for none.")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kestra-sync-bench-"))
    try:
        run = run_benchmark(getattr(args, counted), args.namespaces, args.latency_ms, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    held = checks(run)
    text = report(run, "python " + " ".join([sys.argv[0], *sys.argv[1:]]), held, counted.replace("files", "namespace files"))
    print(text)
    if args.results != "-":
        Path(args.results).write_text(f"# {title}\n\n" + text, encoding="utf-8")
    return 0 if all(t.holds for t in held) else 1


if __name__ == "__main__":
    sys.exit(main())
