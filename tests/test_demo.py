"""The README's first command: `kestra-sync demo` on the example repository, against its own emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import child_env

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_creates_flows_and_their_files_then_shows_no_changes(tmp_path):
    env = {**child_env(), "KESTRA_SYNC_CACHE_DIR": str(tmp_path), "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "kestrasync", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    first, applied, second = result.stdout.split("$ kestra-sync ")[1:]
    assert "+ company.team/scripts/aggregate.py" in first
    assert first.index("Namespace files to write:") < first.index("Flows to write:")
    assert "Apply complete: 8 applied, 0 failed, 0 not attempted." in applied
    assert "No changes. 2 namespace file(s) and 6 flow(s) match the server." in second
    assert "Done: the second plan shows no changes" in result.stdout
