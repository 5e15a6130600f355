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


def test_the_demo_runs_from_an_installed_package(tmp_path, release):
    """The example repository is package data: a wheel holds it, and the demo runs from the install
    (here, the release's wheel installed into a folder put first on the path), anywhere."""
    import zipfile

    wheel = next(release.glob("kestra_sync-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "kestrasync/examples/kestra-sync.yaml" in names
    assert "kestrasync/examples/_files/company.team/scripts/aggregate.py" in names
    assert any(name.startswith("kestrasync/examples/flows/company/") for name in names)
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**child_env(), "KESTRA_SYNC_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1", "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-m", "kestrasync", "demo"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(target / "kestrasync" / "examples") in result.stdout  # the installed copy, not the clone
    assert "No changes. 2 namespace file(s) and 6 flow(s) match the server." in result.stdout
