"""The GitHub Action and the CI recipes in examples/ci: every action pinned, every kestra-sync command
they run one the CLI takes, the Action's own step run for real, its dependencies pinned."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
import yaml
from forge_api import ForgeServer
from packaging.requirements import Requirement
from support import child_env, flow_yaml
from test_ci import REPOSITORY, github_env, ours

from kestrasync.cli import main

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
RECIPES = sorted((ROOT / "examples" / "ci").glob("*.yml"))
OUR_ACTION = "kestra-sync/kestra-sync@"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def parses(args: list[str]) -> None:
    """The command line as `kestra-sync` would take it (click resolves every option)."""
    main.commands[args[0]].make_context(args[0], list(args[1:]))


def steps(document: dict):
    for job in (document.get("jobs") or {}).values():
        yield from job.get("steps", ())


def test_every_action_used_is_pinned_to_a_commit():
    used = [step["uses"] for step in ACTION["runs"]["steps"] if "uses" in step]
    for recipe in RECIPES:
        used += [step["uses"] for step in steps(yaml.safe_load(recipe.read_text())) if "uses" in step]
    assert used
    for reference in used:
        if not reference.startswith(OUR_ACTION):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", reference), reference


def test_the_action_uses_only_inputs_it_declares_and_pastes_none_into_a_script():
    declared = set(ACTION["inputs"])
    for step in ACTION["runs"]["steps"]:
        for value in [step.get("run", ""), *(step.get("env") or {}).values(), *(step.get("with") or {}).values(), step.get("working-directory", "")]:
            for expression in EXPRESSION.findall(str(value)):
                if expression.startswith("inputs."):
                    assert expression.removeprefix("inputs.") in declared, expression
        assert not EXPRESSION.search(step.get("run", "")), "inputs reach scripts as variables only"


def test_every_kestra_sync_command_in_the_recipes_is_one_the_cli_takes():
    commands = []
    for recipe in RECIPES:
        document = yaml.safe_load(recipe.read_text())
        for step in steps(document):
            if step.get("uses", "").startswith(OUR_ACTION):
                given = step["with"]
                commands.append(["ci", given["command"], *shlex.split(given.get("args", "")),
                                 *(["--env", given["environment"]] if given.get("environment") else [])])
        for job in document.values():
            for line in job.get("script", ()) if isinstance(job, dict) else ():
                if line.startswith("kestra-sync "):
                    commands.append(shlex.split(line)[1:])
    assert len(commands) >= 4
    for args in commands:
        parses(args)


def test_the_actions_dependencies_are_pinned_within_the_packages_ranges():
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#"))
    declared = [Requirement(r) for r in distribution("kestra-sync").requires if "extra ==" not in r]
    for requirement in declared:
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement.specifier}"
        for indirect in distribution(requirement.name).requires or ():
            needed = Requirement(indirect)
            if needed.marker is None or needed.marker.evaluate({"extra": ""}):
                assert needed.name.lower().replace("_", "-") in pins, f"{needed.name} (needed by {name}) is not pinned"


@pytest.fixture
def forge():
    with ForgeServer() as stand_in:
        yield stand_in


def test_the_actions_own_step_plans_and_comments(repo, server, forge, tmp_path):
    """The Action's kestra-sync step, run by bash as GitHub runs it, with its inputs as GitHub passes them."""
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    step = next(s for s in ACTION["runs"]["steps"] if "ci" in s.get("run", ""))
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    inputs.update({"github-token": forge.api.token, "args": "--prune --out 'my plan.json'"})
    values = {f"inputs.{name}": value for name, value in inputs.items()}
    env = {name: EXPRESSION.sub(lambda m: values[m[1]], str(value)) for name, value in step["env"].items()}
    env = child_env(server, {**github_env(forge, tmp_path), **env, "KESTRA_SYNC_BIN": str(Path(sys.executable).parent)})
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=repo.root, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    [comment] = ours(forge.api, (REPOSITORY, 7))
    assert "company.team/a" in comment.body
    assert (repo.root / "my plan.json").is_file()
