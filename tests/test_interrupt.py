"""SIGINT / SIGTERM during apply: stop scheduling, finish what is in flight, say what was and was not
applied, exit 130 / 143; applying again converges. A real signal to a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from support import flow_yaml


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_apply_stops_cleanly_and_rerun_converges(repo, cli, server, probe, signum, code):
    for n in range(20):
        repo.write(f"flows/f{n:02d}.yml", flow_yaml("company", f"f{n:02d}"))
    server.set_latency(150)
    env = {**os.environ, "KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username,
           "KESTRA_PASSWORD": server.config.password}
    process = subprocess.Popen(
        [sys.executable, "-m", "kestrasync", "apply", "--auto-approve", "--parallelism", "2"],
        cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while len(probe.flows()) < 2:  # let it apply a few flows first
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == code, out + err
    assert "Traceback" not in out + err
    assert f"Received {signal.Signals(signum).name}: finishing requests in flight, starting no more." in err
    summary = re.search(r"Apply interrupted: (\d+) applied, (\d+) failed, (\d+) not attempted\.", out)
    assert summary, out
    applied, failed, skipped = map(int, summary.groups())
    assert applied >= 2 and skipped >= 1 and applied + failed + skipped == 20
    assert len(probe.flows()) == applied  # what it says is what the server holds
    assert len(re.findall(r"^not attempted: create ", out, re.MULTILINE)) == skipped

    server.set_latency(0)
    assert cli("apply", "--auto-approve").exit_code == 0
    assert len(probe.flows()) == 20
    assert "No changes. 20 flow(s) match the server." in cli("plan").stdout
