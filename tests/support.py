"""Helpers shared by every test, the emulator's included (fixtures live in the conftest.py files): flow
texts, a repository on disk, a probe that reads the emulator over plain HTTP without kestra-sync's
code, the CLI in-process or in a subprocess, and a tiny recording HTTP server."""

from __future__ import annotations

import http.server
import io
import json
import os
import queue
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from kestrasync.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peak  # noqa: E402  (benchmarks/peak.py: a child's own peak memory)

# <repo>/../shared/corpus/flows: real flows written by others; absent from a fresh clone.
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "flows"
AUTH = ("admin@kestra.io", "Admin1234")  # the emulator's default credentials
YAML = {"Content-Type": "application/x-yaml"}


def flow_yaml(
    namespace: str = "company.team", flow_id: str = "hello", *, message: str = "hello", extra: str = "", task_id: str = "log"
) -> str:
    """A small valid flow, as a user would write it."""
    return (
        f"id: {flow_id}\nnamespace: {namespace}\n{extra}"
        "tasks:\n"
        f"  - id: {task_id}\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        f"    message: {message}\n"
    )


def flow_trigger(namespace: str, flow_id: str, kestra_version: str) -> str:
    """A Flow trigger on another flow's executions, as the version writes it: `preconditions` in 1.x,
    `dependsOn` in 2.x (which removed the former)."""
    if kestra_version.startswith("2"):
        return (f"triggers:\n  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n    dependsOn:\n"
                f"      - namespace: {namespace}\n        flowId: {flow_id}\n")
    return (f"triggers:\n  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n    preconditions:\n      id: p\n"
            f"      flows:\n        - namespace: {namespace}\n          flowId: {flow_id}\n")


def free_port() -> int:
    """A port nothing listens on (a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, env: dict[str, str]) -> Result:
    """kestra-sync in-process, with `env` (which may empty variables) over this process's environment."""
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def child_env(server=None, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a kestra-sync subprocess: none of this one's KESTRA_* variables (but the scan
    cache's), the emulator's URL and credentials when given, then `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KESTRA_") or k == "KESTRA_SYNC_CACHE_DIR"}
    if server is not None:
        base.update(KESTRA_URL=server.url, KESTRA_USERNAME=server.config.username, KESTRA_PASSWORD=server.config.password)
    return {**base, **(env or {}), "PYTHONUNBUFFERED": "1"}


@dataclass
class Repo:
    """A flow repository on disk, with its kestra-sync.yaml."""

    root: Path

    def write(self, relative: str, text: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return path

    def config(self, text: str) -> None:
        self.write("kestra-sync.yaml", textwrap.dedent(text))


class Probe:
    """Reads the server the way an independent client would (plain httpx, no kestra-sync code), over
    one kept-alive connection pool (a new httpx client per call costs ~40 ms of TLS setup)."""

    def __init__(self, url: str, auth: tuple[str, str]):
        self.url = url
        self.auth = auth
        self.http = httpx.Client(base_url=f"{url}/api/v1/main", auth=auth, timeout=10)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, **params) -> httpx.Response:
        return self.http.get(path, params=params)

    def flows(self) -> dict[str, tuple[int, str]]:
        """'namespace/id' -> (revision, source) of every live flow."""
        found = {}
        page = 1
        while True:
            body = self._get("/flows/search", page=page, size=500).json()
            for item in body["results"]:
                flow = self._get(f"/flows/{item['namespace']}/{item['id']}", source="true").json()
                found[f"{item['namespace']}/{item['id']}"] = (flow["revision"], flow["source"])
            if page * 500 >= body["total"]:
                return found
            page += 1

    def revisions(self, namespace: str, flow_id: str) -> list[dict]:
        """Every revision, tombstones included (1.x lists them; 2.x when asked: allowDelete)."""
        return self._get(f"/flows/{namespace}/{flow_id}/revisions", allowDelete="true").json()

    def refuses(self, source: str) -> bool:
        """Whether the server's validation refuses a single-flow text."""
        response = self.http.post("/flows/validate", content=source.encode(), headers=YAML)
        response.raise_for_status()
        return any(result.get("constraints") for result in response.json())

    def files(self, namespace: str) -> dict[str, bytes]:
        """path -> bytes of every namespace file (Kestra's `_flows/` entries left out), from the export."""
        response = self._get(f"/namespaces/{namespace}/files/export")
        response.raise_for_status()
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return {name: archive.read(name) for name in archive.namelist()
                    if not name.endswith("/") and not name.startswith("_flows/")}

    def upload(self, namespace: str, path: str, content: bytes) -> None:
        response = self.http.post(f"/namespaces/{namespace}/files", params={"path": "/" + path},
                                  files={"fileContent": ("upload", content, "application/octet-stream")})
        response.raise_for_status()

    def create(self, source: str) -> dict:
        return self._write("POST", "/flows", source)

    def update(self, namespace: str, flow_id: str, source: str) -> dict:
        return self._write("PUT", f"/flows/{namespace}/{flow_id}", source)

    def _write(self, method: str, path: str, source: str) -> dict:
        response = self.http.request(method, path, content=source.encode(), headers={"Content-Type": "application/x-yaml"})
        response.raise_for_status()
        return response.json()


def output_json(result: Result) -> dict:
    return json.loads(result.stdout)


class WatchProcess:
    """`kestra-sync watch` in a subprocess; its output lines are collected as they come."""

    def __init__(self, repo_root: Path, url: str, *args: str):
        env = child_env(env={"KESTRA_URL": url, "KESTRA_USERNAME": AUTH[0], "KESTRA_PASSWORD": AUTH[1]})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kestrasync", "watch", *args],
            cwd=repo_root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 15.0) -> str:
        """The first new line matching `pattern`; fails with everything seen so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; output:\n" + "\n".join(self.lines))

    def drain(self, quiet: float = 1.0) -> list[str]:
        """Lines that arrive until `quiet` seconds pass without any."""
        new = []
        while True:
            try:
                new.append(self._queue.get(timeout=quiet))
            except queue.Empty:
                self.lines += new
                return new

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=15)
        self.drain(0.2)
        return code


def run_on_terminal(args: list[str], env: dict, cwd: Path, answer: str | None = None, timeout: float = 30) -> tuple[int, str]:
    """Run `python -m kestrasync ARGS` on a pseudo-terminal; type `answer` when it asks something.

    Returns the exit code and everything it wrote (stdout and stderr share the terminal).
    """
    import pty

    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))  # a terminal's size: 120 columns
    process = subprocess.Popen([sys.executable, "-m", "kestrasync", *args], stdin=follower, stdout=follower,
                               stderr=follower, env=env, cwd=cwd)
    os.close(follower)
    output, answered = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the program exits
            break
        if not chunk:
            break
        output += chunk
        if answer is not None and not answered and b"?" in output.rsplit(b"\n", 1)[-1]:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    code = process.wait(timeout=timeout)
    os.close(leader)
    return code, output.decode(errors="replace")


class Recorder(http.server.ThreadingHTTPServer):
    """A tiny HTTP server in a thread; `answer(handler)` answers every request, which is recorded."""

    daemon_threads = True

    def __init__(self, host: str, answer):
        self.requests: list[dict] = []
        self.answer = answer

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                self.server.requests.append(
                    {"line": self.requestline, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                self.server.answer(self)

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        super().__init__((host, 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def run_measured(args: list[str], cwd, env: dict[str, str], timeout: float = 30.0, address_space_mb: int | None = None):
    """`python -m kestrasync ARGS` in a child process: (exit code, stdout, stderr, seconds, peak RSS in MB).

    The peak is the child's own (benchmarks/peak.py; inf when it was killed before it could say). A
    watchdog kills it after `timeout`; `address_space_mb` caps its memory, so a bomb that does go off
    cannot take the machine.
    """

    def cap() -> None:
        if address_space_mb:
            limit = address_space_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        report = Path(tempfile.mkdtemp()) / "peak-rss"
        process = subprocess.Popen(peak.command(list(args)), cwd=cwd, env=peak.environment(env, report), stdout=out, stderr=err,
                                   preexec_fn=cap)
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, _ = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        finally:
            watchdog.cancel()
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        measured = peak.peak_mb(report)
        os.rmdir(report.parent)
        return process.returncode, out.read().decode(), err.read().decode(), seconds, float("inf") if measured is None else measured
