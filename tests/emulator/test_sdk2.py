"""The official SDK kestrapy 2.0.3 against the 2.0 mode (issue 13, point 13), flows and namespace files.

kestrapy 1.0.10 is this environment's SDK (test_sdk.py); two versions cannot share one environment, so this
test builds a venv holding kestrapy==2.0.3 once, under the user cache (KESTRA_SYNC_SDK2_VENV overrides the
place), reuses it when present, and runs tests/emulator/sdk2/lifecycle.py with it. Building needs the package
index; a failed build fails the test.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support import AUTH

from kestrasync.emulator import EmulatorConfig, EmulatorServer

SDK = "kestrapy==2.0.3"
SCRIPT = Path(__file__).parent / "sdk2" / "lifecycle.py"
NSFILES = Path(__file__).parent / "sdk2" / "nsfiles.py"
TOKEN = "sdk2-test-token"


def _venv() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kestra-sync" / "kestrapy-2.0.3"
    return Path(os.environ.get("KESTRA_SYNC_SDK2_VENV") or default)


@pytest.fixture(scope="module")
def sdk2_python() -> Path:
    venv = _venv()
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = venv / ".kestrapy-2.0.3-ready"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        # kestrapy imports `regex` without declaring it (as 1.0.10 does).
        subprocess.run([str(python), "-m", "pip", "install", "-q", SDK, "regex"], check=True, timeout=600)
        marker.write_text(SDK + "\n")
    return python


@pytest.fixture(scope="module")
def kestra2():
    with EmulatorServer(EmulatorConfig(kestra_version="2.0", token=TOKEN)) as server:
        yield server


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_sdk_2_0_3_lifecycle(sdk2_python, kestra2, auth):
    namespace, flow_id = "company.team", f"hello-{auth}"
    credentials = ["basic", *AUTH] if auth == "basic" else ["token", TOKEN]
    run = subprocess.run([str(sdk2_python), str(SCRIPT), kestra2.url, *credentials, namespace, flow_id],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert (result["created"], result["updated"], result["draft"]) == (1, 2, False)
    assert result["source"].endswith("# v2\n")
    with httpx.Client(base_url=kestra2.url, auth=AUTH) as client:
        stored = client.get(f"/api/v1/main/executions/{result['execution']}")
    assert stored.status_code == 200
    assert (stored.json()["flowRevision"], stored.json()["inputs"], result["state"]) == (2, {"name": "sdk"}, "SUCCESS")


def test_sdk_2_0_3_refuses_a_wrong_password(sdk2_python, kestra2):
    run = subprocess.run([str(sdk2_python), str(SCRIPT), kestra2.url, "basic", AUTH[0], "wrong", "company.team", "x"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "401" in run.stderr


def test_sdk_2_0_3_namespace_file_round_trip(sdk2_python, kestra2):
    """`client.files`: upload twice, read the latest and revision 1, list the revisions (kestrapy 1.0.10 has
    no files API, so test_sdk.py has no such case)."""
    run = subprocess.run([str(sdk2_python), str(NSFILES), kestra2.url, *AUTH, "company.team", "/data/blob.bin"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert base64.b64decode(result["latest"]) == b"\x00second\xff"
    assert base64.b64decode(result["first"]) == bytes(range(256))
    assert (result["revisions"], result["size"], result["type"]) == ([1, 2], 8, "File")
