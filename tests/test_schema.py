"""kestra-sync.yaml's JSON Schema: generated from the loader's own key definitions, committed as
package data, and in agreement with the loader on every example config and on the bad ones."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from support import run

from kestrasync.applier import PARALLELISM
from kestrasync.config import json_schema, load_settings
from kestrasync.errors import ConfigError
from kestrasync.http import ServerOptions
from kestrasync.kinds.files.layout import FileOptions
from kestrasync.kinds.flows.parse import FLOW_FILES
from kestrasync.lock import LockOptions
from kestrasync.planner import PruneOptions

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "kestrasync" / "schema" / "kestra-sync.schema.json"
VALIDATOR = jsonschema.Draft7Validator(json_schema())
TOP_KEYS = set(json_schema()["properties"])


def test_the_committed_schema_is_the_generated_one():
    printed = run("schema", env={}).stdout
    assert SCHEMA_FILE.read_text() == printed, (
        "kestrasync/schema/kestra-sync.schema.json is stale: regenerate it with "
        "`kestra-sync schema > kestrasync/schema/kestra-sync.schema.json`")


def test_the_schema_is_draft_07_with_a_description_for_every_key():
    jsonschema.Draft7Validator.check_schema(json_schema())
    undescribed = []

    def walk(schema: dict, where: str) -> None:
        for name, spec in schema.get("properties", {}).items():
            if not spec.get("description"):
                undescribed.append(where + name)
            walk(spec, f"{where}{name}.")
        for nested in ("items", "additionalProperties"):
            if isinstance(schema.get(nested), dict):
                walk(schema[nested], f"{where}[{nested}].")

    walk(json_schema(), "")
    assert undescribed == []


def test_defaults_are_the_option_objects():
    top = json_schema()["properties"]
    assert top["server"]["properties"]["timeout"]["default"] == ServerOptions().timeout
    assert top["server"]["properties"]["retries"]["default"] == ServerOptions().retry.attempts
    assert top["flows"]["properties"]["layout"]["default"] == FLOW_FILES.layout
    assert top["files"]["properties"]["exclude"]["default"] == list(FileOptions().exclude)
    assert top["prune"]["properties"]["protected_namespaces"]["default"] == list(PruneOptions().protected)
    assert top["lock"]["properties"]["ttl"]["default"] == LockOptions().ttl_seconds
    assert top["apply"]["properties"]["parallelism"]["default"] == PARALLELISM
    assert top["ownership"]["properties"]["by"]["enum"] == ["namespace", "label"]
    environment = top["environments"]["additionalProperties"]["properties"]
    assert "default" not in environment["prune"]["properties"]["max_deletes"]  # unset: the top level's value


def readme_configs() -> list[str]:
    """The README's YAML blocks that are kestra-sync.yaml files (not CI workflows or flows)."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [block for block in blocks if isinstance(yaml.safe_load(block), dict) and set(yaml.safe_load(block)) <= TOP_KEYS]


def test_configs() -> list[str]:
    """The config texts the tests write with Repo.config (literal strings only)."""
    found = []
    for path in sorted(ROOT.glob("tests/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "config" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.append(textwrap.dedent(node.args[0].value))
    return found


test_configs.__test__ = False  # a collector, not a test


def loader_accepts(text: str, folder: Path) -> ConfigError | None:
    """What the loader says of the text as kestra-sync.yaml (None: it takes it)."""
    (folder / "kestra-sync.yaml").write_text(text)
    try:
        load_settings(folder / "kestra-sync.yaml", cwd=folder, environ={}, search=False)
    except ConfigError as error:
        return error
    return None


def schema_errors(text: str) -> list[str]:
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in VALIDATOR.iter_errors(yaml.safe_load(text) or {})]


EXAMPLES = {
    "kestra-sync.yaml": (ROOT / "kestra-sync.yaml").read_text(),
    "kestrasync/examples/kestra-sync.yaml": (ROOT / "kestrasync/examples/kestra-sync.yaml").read_text(),
    **{f"README.md block {number}": text for number, text in enumerate(readme_configs(), 1)},
}


def test_the_readme_shows_the_configs_it_explains():
    assert len(readme_configs()) >= 3  # the configuration, namespace files and environments


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_config_is_valid_for_the_schema_and_the_loader(name, tmp_path):
    assert schema_errors(EXAMPLES[name]) == []
    assert loader_accepts(EXAMPLES[name], tmp_path) is None


@pytest.mark.parametrize("args", [["--namespace", "company", "--namespace", "sales"], ["--url", "http://localhost:8080",
                                                                                      "--namespace", "company"], []])
def test_init_writes_a_config_the_schema_takes(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", *args, env={"KESTRA_URL": ""})
    assert result.exit_code == 0, result.output
    assert schema_errors((tmp_path / "kestra-sync.yaml").read_text()) == []


# What only the loader checks: a URL's parts, Kestra's versions and path rules, folders on disk.
LOADER_ONLY = re.compile(r"the server URL|kestra_version|files\.mappings\[\d+\]\.to'|outside the repository")


def test_the_schema_and_the_loader_agree_on_the_tests_configs(tmp_path):
    """What the loader takes the schema takes; what the loader refuses, the schema refuses too but for
    what only the loader checks."""
    texts = test_configs()
    assert len(texts) >= 20
    for text in texts:
        refused, errors = loader_accepts(text, tmp_path), schema_errors(text)
        if refused is None:
            assert errors == [], text
        else:
            assert errors or LOADER_ONLY.search(str(refused)), (text, refused)


# Bad configs: what the loader says, and the schema refuses each as well.
BAD = [
    ("server:\n  url: http://x\n  passwd: 1\n", "unknown key 'server.passwd'"),
    ("server:\n  password: hunter2\n", "credentials do not belong in kestra-sync.yaml"),
    ("colour: blue\n", "unknown key 'colour'"),
    ("server:\n  timeout: soon\n", "'server.timeout' must be a number"),
    ("server:\n  tenant: 5\n", "'server.tenant' must be a text value"),
    ("apply:\n  parallelism: true\n", "'apply.parallelism' must be a whole number"),
    ("apply:\n  parallelism: 0\n", "'apply.parallelism' must be greater than 0"),
    ("prune:\n  max_deletes: -1\n", "'prune.max_deletes' must be 0 or more"),
    ("flows:\n  paths: {a: b}\n", "'flows.paths' must be a list of text values"),
    ("flows:\n  layout: flows/{namespace}.yaml\n", "'flows.layout': a layout names"),
    ("flows:\n  layout: ../{id}.yaml\n", "must be a relative path without '..'"),
    ("flows:\n  layout: '{team}/{id}.yaml'\n", "'flows.layout': a layout names"),
    ("flows:\n  layout: '{namespace}/{{id}}.yaml'\n", "'flows.layout': a layout names"),  # the text "{id}", not the id
    ("namespaces: [Company]\n", "namespace 'Company' is not a valid Kestra namespace"),
    ("server: [1]\n", "'server' must be a mapping"),
    ("ownership:\n  by: team\n", "'ownership.by' must be `namespace`"),
    ("ownership:\n  by: label\n", "'ownership.name' is needed with `by: label`"),
    ("files:\n  mappings:\n    - {namespace: company, to: /etl}\n", "needs `from`"),
    ("files:\n  mappings:\n    - {namespace: company, from: x, into: y}\n", "unknown key 'files.mappings[1].into'"),
    ("files:\n  mappings:\n    - {namespace: Company, from: x}\n", "'Company' is not a valid Kestra namespace"),
    ("environments:\n  dev:\n    flows: {paths: [x]}\n", "unknown key 'environments.dev.flows'"),
    ("environments:\n  dev:\n    namespace_prefix: Dev\n", "'Dev' is not a valid Kestra namespace"),
    ("environments:\n  dev:\n    triggers: {disabled: yes please}\n", "must be true or false"),
    ("environments:\n  dev:\n    namespace_rename: {company: Company}\n", "must rename a namespace to a namespace"),
    ("environments:\n  dev:\n    labels: {team: [a]}\n", "must be a single value"),
    ("environments:\n  'dev env': {}\n", "environment name 'dev env' must be"),
    ("environments:\n  dev: []\n", "'environments.dev' must be a mapping"),
]


@pytest.mark.parametrize("text, said", BAD, ids=[said for _, said in BAD])
def test_the_schema_refuses_what_the_loader_refuses(text, said, tmp_path):
    refused = loader_accepts(text, tmp_path)
    assert refused is not None and said in str(refused), refused
    assert schema_errors(text), "the schema takes it"
