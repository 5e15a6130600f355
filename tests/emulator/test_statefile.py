"""Point 7 (safety): the state file survives restarts and kills, and is never half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import httpx
from support import AUTH, YAML, flow_yaml

from kestrasync.emulator import EmulatorConfig, EmulatorServer


def _client(server: EmulatorServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=AUTH, timeout=10)


def test_store_survives_a_restart(tmp_path):
    config = EmulatorConfig(state_file=str(tmp_path / "state.json"))
    with EmulatorServer(config) as server, _client(server) as client:
        client.post("/api/v1/main/flows", content=flow_yaml(flow_id="kept"), headers=YAML)
        client.post("/api/v1/main/flows", content=flow_yaml(flow_id="gone"), headers=YAML)
        client.delete("/api/v1/main/flows/company.team/gone")
        client.put("/api/v1/main/namespaces/company.team/kv/lock", content='"me"',
                   headers={"Content-Type": "application/json"})
    with EmulatorServer(config) as server, _client(server) as client:
        assert client.get("/api/v1/main/flows/company.team/kept", params={"source": "true"}).json()["source"] == \
            flow_yaml(flow_id="kept")
        assert [r["deleted"] for r in client.get("/api/v1/main/flows/company.team/gone/revisions").json()] == [False, True]
        assert client.post("/api/v1/main/flows", content=flow_yaml(flow_id="gone"), headers=YAML).json()["revision"] == 3
        assert client.get("/api/v1/main/namespaces/company.team/kv/lock").json() == {"type": "STRING", "value": "me"}


def test_writes_are_coalesced(tmp_path):
    config = EmulatorConfig(state_file=str(tmp_path / "state.json"))
    with EmulatorServer(config) as server, _client(server) as client:
        for index in range(60):
            client.post("/api/v1/main/flows", content=flow_yaml(flow_id=f"f{index}"), headers=YAML)
        writer = server.app.state.emulator.writer
    assert 1 <= writer.writes < 60
    saved = json.loads((tmp_path / "state.json").read_text())
    assert len(saved["tenants"]["main"]["flows"]) == 60


def test_store_survives_a_kill_once_written(tmp_path):
    state = tmp_path / "state.json"
    process = subprocess.Popen([sys.executable, "-m", "kestrasync", "emulator", "--port", "0", "--state", str(state)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = process.stdout.readline().split(" on ")[-1].strip()
        with httpx.Client(base_url=url, auth=AUTH) as client:
            client.post("/api/v1/main/flows", content=flow_yaml(flow_id="durable"), headers=YAML)
        deadline = time.monotonic() + 10
        while not (state.exists() and "durable" in state.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    with EmulatorServer(EmulatorConfig(state_file=str(state))) as server, _client(server) as client:
        assert client.get("/api/v1/main/flows/company.team/durable").status_code == 200


WRITER = textwrap.dedent("""
    import sys
    from kestrasync.emulator.statefile import write_atomic
    path = sys.argv[1]
    payloads = [(("{\\"n\\": %d, \\"pad\\": \\"" % i) + "x" * 3_000_000 + "\\"}").encode() for i in range(2)]
    print("ready", flush=True)
    i = 0
    while True:
        write_atomic(path, payloads[i % 2])
        i += 1
""")


def test_a_crash_in_the_middle_of_a_write_never_leaves_a_half_file(tmp_path):
    state = tmp_path / "state.json"
    state.write_text('{"n": -1}')
    interrupted = 0
    for attempt in range(6):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(state)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.037 * attempt)  # land at different points of the write loop
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        content = json.loads(state.read_text())  # always complete JSON
        assert content["n"] in (-1, 0, 1)
        assert content["n"] == -1 or len(content["pad"]) == 3_000_000
        leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
        assert all(name.startswith(".state.json.") for name in leftovers)  # only the writer's temporary file
        interrupted += bool(leftovers)
        for name in leftovers:
            os.unlink(tmp_path / name)
    assert interrupted, "no kill landed inside a write; the test proved nothing"


def test_leftover_temporary_files_are_removed_at_start(tmp_path):
    state = tmp_path / "state.json"
    (tmp_path / ".state.json.abc123.tmp").write_text('{"half')
    (tmp_path / "other.tmp").write_text("not ours")
    with EmulatorServer(EmulatorConfig(state_file=str(state))):
        pass
    assert os.listdir(tmp_path) == ["other.tmp"]  # nothing changed, so nothing was written either
