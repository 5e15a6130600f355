"""Constants and flow texts shared by the emulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

AUTH = ("admin@kestra.io", "Admin1234")
YAML = {"Content-Type": "application/x-yaml"}
# <repo>/../shared/corpus/flows: real flows, present on the team's machines but not in a fresh clone.
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "flows"


def flow_yaml(flow_id: str = "hello", namespace: str = "company.team", extra: str = "", *, task_id: str = "log") -> str:
    """A small valid flow, as a user would write it."""
    return (f"id: {flow_id}\nnamespace: {namespace}\n{extra}"
            f"tasks:\n  - id: {task_id}\n    type: io.kestra.plugin.core.log.Log\n    message: Hello\n")
