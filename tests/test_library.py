"""kestra-sync as a library: the README's example as a plain script, and engine.apply's safety."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support import child_env, flow_yaml
from kestrasync import engine
from kestrasync.config import Overrides, load_settings
from kestrasync.errors import LockHeld, StalePlan

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Library use", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_a_plain_script_on_a_large_repository(repo, server):
    """No main guard, 2,500 files: a library call that started a process pool would break here."""
    for n in range(2500):
        repo.write(f"flows/f{n:04d}.yml", flow_yaml("company", f"f{n:04d}"))
    script = repo.root / "sync.py"
    script.write_text(readme_example() + "print('applied', report.ok, len(report.results))\n")
    result = subprocess.run([sys.executable, str(script)], cwd=repo.root, env=child_env(server), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "applied True 2500" in result.stdout
    total = httpx.get(f"{server.url}/api/v1/main/flows/search", params={"size": 1}, auth=(server.config.username, server.config.password))
    assert total.json()["total"] == 2500


@pytest.fixture
def settings(repo, server):
    return load_settings(overrides=Overrides(url=server.url, username=server.config.username, password=server.config.password))


def test_library_apply_refuses_a_stale_plan(repo, settings, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    with engine.connect(settings) as conn:
        plan = engine.plan(settings, engine.PlanRequest(), conn)
        probe.create(flow_yaml("company", "a", message="created meanwhile"))
        with pytest.raises(StalePlan):
            engine.apply(plan, conn, settings)
    assert probe.flows()["company/a"] == (1, flow_yaml("company", "a", message="created meanwhile"))


def test_library_apply_takes_the_lock(repo, settings, probe, server):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    lock = f"{server.url}/api/v1/main/namespaces/system/kv/kestra-sync-lock"
    auth = (server.config.username, server.config.password)
    held = {"holder": "ci@runner pid 7", "token": "other", "acquired": "2099-01-01T00:00:00+00:00", "expires": "2099-01-01T01:00:00+00:00"}
    httpx.put(lock, content=json.dumps(held), headers={"Content-Type": "text/plain"}, auth=auth).raise_for_status()
    with engine.connect(settings) as conn:
        plan = engine.plan(settings, engine.PlanRequest(), conn)
        with pytest.raises(LockHeld, match="ci@runner pid 7"):
            engine.apply(plan, conn, settings)
        assert probe.flows() == {}
        httpx.delete(lock, auth=auth)
        report = engine.apply(plan, conn, settings)
    assert report.ok and set(probe.flows()) == {"company/a"}
    assert httpx.get(lock, auth=auth).status_code == 404  # given back
