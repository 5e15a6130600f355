"""Fixtures for the kestra-sync tests: a repository in a temporary directory made the working
directory, the emulator (fresh for each test), and the CLI run against it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support import Probe, Repo

from kestrasync.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def scan_cache_dir(tmp_path, monkeypatch) -> Path:
    """Scan caches go to the test's own directory, never to the user's."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("KESTRA_SYNC_CACHE_DIR", str(directory))
    return directory


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


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    """The folder holding this checkout's sdist and wheel, as `python -m build` makes them for a release
    (the wheel built from the sdist, so a file the sdist lacks is missing from the wheel too); built
    once per session for the tests that need either."""
    folder = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(folder), str(ROOT)], capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return folder


# Every test of the tool that asks for `server` runs against the emulator in each mode it imitates.
KESTRA_VERSIONS = ("1.0", "2.0")


@pytest.fixture(scope="session", params=KESTRA_VERSIONS, ids=lambda version: f"kestra{version}")
def emulator_server(request):
    from kestrasync.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(kestra_version=request.param)) as emulator:
        yield emulator


@pytest.fixture
def server(emulator_server):
    """The emulator (in 1.0 and in 2.0 mode), fresh for each test."""
    emulator_server.reset(store=True, counters=True, faults=True)
    return emulator_server


@pytest.fixture
def probe(server):
    reader = Probe(server.url, (server.config.username, server.config.password))
    yield reader
    reader.close()


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
