"""Point 1: running the emulator in a thread (clean start/stop), as a pytest fixture, and as `kestra-sync emulator`."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from support import AUTH

from kestrasync.emulator import EmulatorConfig, EmulatorServer, create_app


def test_server_stops_cleanly_leaving_no_thread_nor_socket(tmp_path):
    threads_before = set(threading.enumerate())
    server = EmulatorServer(EmulatorConfig(state_file=str(tmp_path / "state.json"))).start()
    port = server.port
    created = httpx.post(f"{server.url}/api/v1/main/flows", auth=AUTH, headers={"Content-Type": "application/x-yaml"},
                         content="id: a\nnamespace: b\ntasks:\n  - id: t\n    type: x.Y\n")  # the state file is written
    assert created.status_code == 200
    server.stop()
    assert (tmp_path / "state.json").exists()
    assert set(threading.enumerate()) == threads_before
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", port))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/configs")


def test_url_has_no_credentials_and_default_credentials_work():
    with EmulatorServer() as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.config.username == "admin@kestra.io" and server.config.password == "Admin1234"
        assert httpx.get(f"{server.url}/api/v1/main/flows/search", auth=AUTH).status_code == 200


def test_two_servers_have_separate_stores():
    with EmulatorServer() as one, EmulatorServer() as two:
        assert one.port != two.port
        httpx.post(f"{one.url}/api/v1/main/flows", auth=AUTH, headers={"Content-Type": "application/x-yaml"},
                   content="id: a\nnamespace: b\ntasks:\n  - id: t\n    type: x.Y\n")
        assert httpx.get(f"{two.url}/api/v1/main/flows/search", auth=AUTH).json()["total"] == 0


def test_session_fixture_is_shared_and_function_fixture_is_reset(kestra_emulator_server, kestra_emulator):
    assert kestra_emulator is kestra_emulator_server
    assert kestra_emulator.request_counts() == {}


def test_create_app_builds_independent_asgi_apps():
    assert create_app() is not create_app(EmulatorConfig(kestra_version="2.0"))


def test_config_refuses_contradictory_options():
    base = dict(username=None, password=None, no_auth=False, token=None, state_file=None, latency_ms=0,
                multi_tenant=False, kestra_version="1.0")
    assert EmulatorConfig.from_options(**base).username == "admin@kestra.io"
    assert EmulatorConfig.from_options(**{**base, "no_auth": True}).auth_enabled is False
    for bad in ({"no_auth": True, "username": "a@b.c", "password": "x"}, {"username": "a@b.c"},
                {"no_auth": True, "token": "t"}):
        with pytest.raises(ValueError):
            EmulatorConfig.from_options(**{**base, **bad})


def test_cli_announces_serves_and_exits_0_on_sigint(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "kestrasync", "emulator", "--port", "0", "--username", "ops@example.com",
         "--password", "Secret123", "--state", str(tmp_path / "state.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, lines = None, []
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        assert url, f"no URL announced: {lines}"
        assert any("ops@example.com" in line and "Secret123" in line for line in lines + [process.stdout.readline()])
        assert httpx.get(f"{url}/api/v1/main/flows/search", auth=("ops@example.com", "Secret123")).status_code == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
