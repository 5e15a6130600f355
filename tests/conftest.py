"""Shared test helpers: a repository in a temporary directory, the CLI run against the emulator,
and a probe that reads the emulator's state over HTTP without going through kestra-sync's client."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from kestrasync.cli import main

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "flows"
PASSWORD = "Admin1234"


def flow_yaml(namespace: str, flow_id: str, *, message: str = "hello", extra: str = "") -> str:
    """A small valid flow, as a user would write it."""
    return (
        f"id: {flow_id}\nnamespace: {namespace}\n{extra}"
        "tasks:\n"
        "  - id: log\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        f"    message: {message}\n"
    )


@dataclass
class Repo:
    """A flow repository on disk, with its kestra-sync.yaml."""

    root: Path

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return path

    def config(self, text: str) -> None:
        self.write("kestra-sync.yaml", textwrap.dedent(text))


@dataclass
class Probe:
    """Reads the server the way an independent client would (plain httpx, no kestra-sync code)."""

    url: str
    auth: tuple[str, str]

    def _get(self, path: str, **params) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1/main{path}", params=params, auth=self.auth, timeout=10)

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
        return self._get(f"/flows/{namespace}/{flow_id}/revisions").json()

    def create(self, source: str) -> dict:
        response = httpx.post(
            f"{self.url}/api/v1/main/flows",
            content=source.encode(),
            headers={"Content-Type": "application/x-yaml"},
            auth=self.auth,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def update(self, namespace: str, flow_id: str, source: str) -> dict:
        response = httpx.put(
            f"{self.url}/api/v1/main/flows/{namespace}/{flow_id}",
            content=source.encode(),
            headers={"Content-Type": "application/x-yaml"},
            auth=self.auth,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Repo:
    """An empty repository, made the working directory, with a config owning `company`."""
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    for variable in ("KESTRA_URL", "KESTRA_HOST", "KESTRA_TENANT", "KESTRA_USERNAME", "KESTRA_PASSWORD", "KESTRA_API_TOKEN", "NO_COLOR"):
        monkeypatch.delenv(variable, raising=False)
    repository = Repo(root)
    repository.config(
        """\
        flows:
          paths: [flows]
        namespaces: [company]
        """
    )
    return repository


@pytest.fixture
def server(kestra_emulator):
    """The emulator, fresh for each test."""
    return kestra_emulator


@pytest.fixture
def probe(server) -> Probe:
    return Probe(server.url, (server.config.username, server.config.password))


@pytest.fixture
def cli(server, repo):
    """Run kestra-sync in the repository against the emulator: cli("plan", "--prune")."""

    def run(*args: str, env: dict | None = None, input: str | None = None) -> Result:
        environment = {
            "KESTRA_URL": server.url,
            "KESTRA_USERNAME": server.config.username,
            "KESTRA_PASSWORD": server.config.password,
            **(env or {}),
        }
        return CliRunner().invoke(main, list(args), env=environment, input=input, catch_exceptions=False)

    return run


def output_json(result: Result) -> dict:
    return json.loads(result.stdout)
