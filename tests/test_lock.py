"""One apply at a time: the advisory lock in Kestra's KV store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from support import flow_yaml

LOCK_PATH = "/api/v1/main/namespaces/system/kv/kestra-sync-lock"


@pytest.fixture
def kv(server):
    auth = (server.config.username, server.config.password)

    class KV:
        def put(self, value: dict) -> None:
            httpx.put(f"{server.url}{LOCK_PATH}", content=json.dumps(value), headers={"Content-Type": "text/plain"}, auth=auth).raise_for_status()

        def get(self):
            response = httpx.get(f"{server.url}{LOCK_PATH}", auth=auth)
            return None if response.status_code == 404 else response.json()["value"]

        def delete(self) -> None:
            httpx.delete(f"{server.url}{LOCK_PATH}", auth=auth)

    return KV()


def lock_value(holder: str, expires_in: float) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "holder": holder,
        "token": "someone-else",
        "acquired": (now - timedelta(minutes=5)).isoformat(timespec="seconds"),
        "expires": (now + timedelta(seconds=expires_in)).isoformat(timespec="seconds"),
    }


def test_apply_takes_and_releases_the_lock(repo, cli, server, kv):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    assert cli("apply", "--auto-approve").exit_code == 0
    counts = server.request_counts()
    assert counts["PUT /api/v1/{tenant}/namespaces/{namespace}/kv/{key}"] == 1
    assert counts["DELETE /api/v1/{tenant}/namespaces/{namespace}/kv/{key}"] == 1
    assert kv.get() is None


def test_a_stale_plan_is_refused_under_the_lock_and_leaves_no_lock(repo, cli, server, probe, kv):
    # The freshness check runs while the lock settles; refusing the plan gives the lock back.
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    assert cli("apply", "--auto-approve").exit_code == 0
    repo.write("flows/a.yml", flow_yaml("company", "a", message="planned"))
    assert cli("plan", "--out", "plan.json").exit_code == 0
    probe.update("company", "a", flow_yaml("company", "a", message="edited in the UI"))
    server.reset(store=False, counters=True, faults=True)
    result = cli("apply", "plan.json")
    assert result.exit_code == 1 and "The plan is stale" in result.stderr
    assert kv.get() is None
    counts = server.request_counts()
    assert counts["PUT /api/v1/{tenant}/namespaces/{namespace}/kv/{key}"] == 1
    assert counts["DELETE /api/v1/{tenant}/namespaces/{namespace}/kv/{key}"] == 1
    assert "PUT /api/v1/{tenant}/flows/{namespace}/{id}" not in counts


def test_a_held_lock_refuses_apply_and_names_its_holder(repo, cli, probe, kv):
    kv.put(lock_value("ci@runner-7 pid 42", expires_in=600))
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    result = cli("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "Another apply holds the lock system/kestra-sync-lock: ci@runner-7 pid 42 since" in result.stderr
    assert "--lock-timeout" in result.stderr
    assert probe.flows() == {}
    assert kv.get()["holder"] == "ci@runner-7 pid 42"  # untouched


def test_lock_timeout_waits_for_the_holder(repo, cli, probe, kv):
    kv.put(lock_value("ci@runner-7 pid 42", expires_in=600))
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    threading.Timer(1.5, kv.delete).start()
    started = time.monotonic()
    result = cli("apply", "--auto-approve", "--lock-timeout", "20")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.4
    assert "company/a" in probe.flows()


def test_an_expired_lock_is_taken_over_with_a_warning(repo, cli, probe, kv):
    kv.put(lock_value("crashed@laptop pid 1", expires_in=-60))
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    result = cli("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Warning: taking over the apply lock system/kestra-sync-lock, held by crashed@laptop pid 1" in result.stderr
    assert "company/a" in probe.flows() and kv.get() is None


def test_no_lock_ignores_it_and_plan_never_takes_it(repo, cli, server, probe, kv):
    kv.put(lock_value("ci@runner-7 pid 42", expires_in=600))
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    server.reset(store=False, counters=True, faults=False)
    assert cli("plan").exit_code == 0
    assert not [route for route in server.request_counts() if "/kv/" in route]
    assert cli("apply", "--auto-approve", "--no-lock").exit_code == 0
    assert "company/a" in probe.flows()


def test_lock_namespace_and_key_are_configurable(repo, cli, server):
    repo.config("flows:\n  paths: [flows]\nnamespaces: [company]\nlock:\n  namespace: company.ops\n  key: deploy-lock\n  ttl: 60\n")
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    auth = (server.config.username, server.config.password)
    held = {"holder": "x", "token": "t", "acquired": "2026-01-01T00:00:00+00:00", "expires": "2999-01-01T00:00:00+00:00"}
    httpx.put(f"{server.url}/api/v1/main/namespaces/company.ops/kv/deploy-lock", content=json.dumps(held),
              headers={"Content-Type": "text/plain"}, auth=auth).raise_for_status()
    result = cli("apply", "--auto-approve")
    assert result.exit_code == 1 and "holds the lock company.ops/deploy-lock" in result.stderr


def test_two_applies_do_not_interleave(repo, server, probe):
    """Two real processes: the second finds the first's lock and refuses; nothing of its own is written."""
    for n in range(6):
        repo.write(f"flows/f{n}.yml", flow_yaml("company", f"f{n}"))
    server.set_latency(150)
    env = {**os.environ, "KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username,
           "KESTRA_PASSWORD": server.config.password}
    command = [sys.executable, "-m", "kestrasync", "apply", "--auto-approve", "--parallelism", "1"]
    first = subprocess.Popen(command, cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # the first holds the lock and is applying, one slow request at a time
    second = subprocess.run(command, cwd=repo.root, env=env, capture_output=True, text=True, timeout=60)
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert second.returncode == 1
    assert "Another apply holds the lock" in second.stderr
    assert all(revision == 1 for revision, _ in probe.flows().values()) and len(probe.flows()) == 6


def test_a_lock_that_cannot_be_released_does_not_hide_the_report(repo, cli, server, probe):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    server.add_fault(route="/api/v1/{tenant}/namespaces/{namespace}/kv/{key}", method="DELETE", status=500, count=1)
    result = cli("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 1 applied" in result.stdout
    assert "Warning: the apply lock system/kestra-sync-lock could not be released" in result.stderr
    assert "company/a" in probe.flows()


def test_ctrl_c_while_waiting_for_the_lock_exits_130(repo, server, probe, kv):
    kv.put(lock_value("ci@runner-7 pid 42", expires_in=600))
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    env = {**os.environ, "KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username,
           "KESTRA_PASSWORD": server.config.password}
    process = subprocess.Popen([sys.executable, "-m", "kestrasync", "apply", "--auto-approve", "--lock-timeout", "60"],
                               cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert time.monotonic() - started < 5
    assert "Stopped while waiting for the apply lock; nothing was applied." in err
    assert probe.flows() == {}
