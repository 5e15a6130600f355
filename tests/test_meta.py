"""The project's shape: every command documented with an example, and the module layering kept."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kestrasync.cli import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kestrasync"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"kestra-sync {name}" in (ROOT / "README.md").read_text()


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "kestrasync", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("kestra-sync, version ")


def imports_of(path: Path) -> set[str]:
    """The kestrasync modules a file imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith(("kestrasync", "."))}


def test_only_the_cli_starts_the_emulator():
    users = {p.relative_to(ROOT).as_posix() for p in PACKAGE.glob("*.py") if any(m.startswith("kestrasync.emulator") for m in imports_of(p))}
    assert users == {"kestrasync/cli.py"}


def test_the_emulator_imports_nothing_from_the_tool():
    for path in (PACKAGE / "emulator").glob("*.py"):
        assert all(m.startswith((".", "kestrasync.emulator")) for m in imports_of(path)), path


def test_renderers_depend_on_the_model_only():
    """The JSON renderer prints the plan file's format, which kestrasync.planfile owns."""
    for path in (PACKAGE / "render").glob("*.py"):
        allowed = {"kestrasync.model", "kestrasync.render.common"} | ({"kestrasync.planfile"} if path.name == "json.py" else set())
        assert imports_of(path) <= allowed, path


def test_logic_never_prints():
    allowed = {"cli.py"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in allowed or "emulator" in path.parts or "examples" in path.parts:  # examples: the demo's data
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
        names = {getattr(c.func, "id", None) or getattr(c.func, "attr", None) for c in calls}
        assert not names & {"print", "echo", "secho"}, path
