"""The package's contracts: its public names, its independence from the rest of kestra-sync, lazy imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import kestrasync.emulator as emulator

PACKAGE = Path(emulator.__file__).parent


def test_public_api_is_pinned():
    assert emulator.__all__ == ["EmulatorConfig", "EmulatorServer", "create_app"]
    assert all(getattr(emulator, name) for name in emulator.__all__)


def test_the_emulator_imports_nothing_from_the_rest_of_kestra_sync():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                assert name.startswith("kestrasync.emulator") or not name.startswith("kestrasync"), \
                    f"{path.name} imports {name}"


def test_package_and_pytest_plugin_import_without_starlette_or_uvicorn():
    code = ("import sys, kestrasync.emulator, kestrasync.emulator.testing; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'multipart') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
