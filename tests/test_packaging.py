"""A release is one command: `python -m build` makes an sdist and a wheel that `twine check --strict`
passes, the wheel holding the package data and the sdist all that a build from it needs."""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = ["kestrasync/schema/kestra-sync.schema.json", "kestrasync/examples/kestra-sync.yaml",
                "kestrasync/examples/_files/company.team/scripts/aggregate.py",
                "kestrasync/examples/_files/company.team/samples/regions.csv.gz",
                "kestrasync/examples/flows/company/team/etl_daily.yml"]


def test_twine_check_strict_passes_on_the_sdist_and_the_wheel(release):
    artifacts = sorted(str(path) for path in release.iterdir())
    assert sorted(Path(name).suffix for name in artifacts) == [".gz", ".whl"]
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *artifacts], capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def test_the_wheel_holds_the_package_data_and_pypi_metadata(release):
    wheel = zipfile.ZipFile(next(release.glob("kestra_sync-*.whl")))
    names = set(wheel.namelist())
    assert set(PACKAGE_DATA) <= names
    assert not any(name.startswith("tests/") for name in names)
    shipped = wheel.read("kestrasync/schema/kestra-sync.schema.json")
    assert shipped == (ROOT / "kestrasync/schema/kestra-sync.schema.json").read_bytes()
    metadata = email.message_from_bytes(wheel.read(next(name for name in names if name.endswith(".dist-info/METADATA"))))
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "Repository" in " ".join(metadata.get_all("Project-URL"))
    assert any(value.startswith("Programming Language :: Python :: 3.10") for value in metadata.get_all("Classifier"))
    assert "kestra-sync = kestrasync.cli:main" in wheel.read(next(name for name in names if name.endswith("entry_points.txt"))).decode()


def test_the_sdist_holds_what_a_build_from_it_needs(release):
    """Every module and data file of the package, and the project files the build reads (the wheel is
    built from this sdist: a missing one would fail the build or leave the wheel short)."""
    sdist = next(release.glob("kestra_sync-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {name.removeprefix(top + "/") for name in archive.getnames()}
    assert {"pyproject.toml", "README.md", "PKG-INFO", *PACKAGE_DATA} <= names
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "kestrasync").rglob("*.py") if "__pycache__" not in path.parts}
    assert modules - names == set()
