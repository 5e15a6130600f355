"""817 real flow files (../shared/corpus/flows, when present) against the emulator.

Each file is classified by an oracle written here from the references (kestra-flow-model.md §1-2,
kestra-api.md §6) with PyYAML's own composer, independently of the emulator's parser. A file the oracle
accepts must be created, read back byte for byte (`source=true` and export) and updated with the same text
without a new revision; a file it refuses must get a 422 in Kestra's envelope naming the same problem.
"""

from __future__ import annotations

import io
import re
import zipfile

import httpx
import pytest
import yaml
from support import AUTH, CORPUS, YAML

# Top-level Flow properties accepted by 0.24/1.0 (kestra-flow-model.md §1), server-controlled ones included.
KNOWN = {"id", "namespace", "tasks", "description", "labels", "inputs", "outputs", "variables", "errors", "triggers",
         "concurrency", "retry", "sla", "disabled", "finally", "afterExecution", "pluginDefaults", "taskDefaults",
         "listeners", "workerGroup", "revision", "tenantId", "deleted"}
RESERVED = {"pause", "resume", "force-run", "change-status", "kill", "executions", "search", "source", "disable",
            "enable", "text"}
NULL = "tag:yaml.org,2002:null"
PHRASES = ("Unrecognized field", "Invalid type", "Invalid Flow")  # named in the message; other problems by path
# Files Kestra 1.0 refuses for what its core plugin classes declare, read by hand in kestra-io/kestra v1.0.3
# (baa07dd02b8d); the structural oracle below cannot see plugin properties. Kestra's own `invalids` fixtures
# are among them, which is the point of those fixtures.
PLUGIN_REFUSALS = {
    "examples/blueprints/48.yml": "triggers[0].key",  # Webhook.key is @NotNull
    "examples/examples/flows/notifications/slack/runtimeSLA.yml": "Unrecognized field",  # Fail has no executionId
    "kestra/core/src/test/resources/flows/invalids/invalid-property.yaml": "Unrecognized field",  # Return.invalid
    "kestra/core/src/test/resources/flows/invalids/invalid-task.yaml": "Invalid type",  # no debug.MissingTwo class
    "kestra/core/src/test/resources/flows/invalids/workingdirectory-no-tasks.yaml": "tasks[0].tasks",  # @NotEmpty
    "kestra/webserver/src/test/resources/flows/simpleInvalidFlow.yaml": "Unrecognized field",  # Return.badProperties
    "kestra/webserver/src/test/resources/flows/validateMultipleInvalidFlows.yaml": "Unrecognized field",  # Log.unknownProp
}


def _files() -> list:
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.rglob("*") if path.is_file())


def _scalar(node) -> str | None:
    if node is None or not isinstance(node, yaml.ScalarNode) or (node.tag == NULL and not node.style):
        return None
    return node.value


def _pairs(node) -> dict:
    return {key.value: value for key, value in node.value} if isinstance(node, yaml.MappingNode) else {}


def _has_duplicate_keys(node) -> bool:
    if isinstance(node, yaml.MappingNode):
        keys = [key.value for key, _ in node.value]
        return len(keys) != len(set(keys)) or any(_has_duplicate_keys(v) for _, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return any(_has_duplicate_keys(item) for item in node.value)
    return False


def _nested_task_ids(node, found: list) -> None:
    """Ids of every mapping with an id and a type, at any depth below the task lists (allTasksWithChilds)."""
    if isinstance(node, yaml.MappingNode):
        fields = _pairs(node)
        if "id" in fields and "type" in fields and _scalar(fields["id"]) is not None:
            found.append(_scalar(fields["id"]))
        for _, value in node.value:
            _nested_task_ids(value, found)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _nested_task_ids(item, found)


def expected_problem(text: str) -> str | None:
    """None when Kestra (without plugins) accepts the flow, else what the 422 must name: an error path
    (`yaml`, `id`, `tasks[0].id`...) or one of PHRASES."""
    try:
        root = next(yaml.compose_all(text, Loader=yaml.SafeLoader), None)
    except yaml.YAMLError:
        return "yaml"
    if not isinstance(root, yaml.MappingNode) or _has_duplicate_keys(root):
        return "yaml"
    fields = _pairs(root)
    if set(fields) - KNOWN:
        return "Unrecognized field"
    lists = {name: fields[name].value for name in ("tasks", "errors", "finally", "afterExecution", "triggers")
             if isinstance(fields.get(name), yaml.SequenceNode)}
    if any(_scalar(_pairs(item).get("type")) is None for items in lists.values() for item in items):
        return "Invalid type"
    flow_id, namespace = _scalar(fields.get("id")), _scalar(fields.get("namespace"))
    if flow_id is None or not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9._-]*", flow_id) or len(flow_id) > 100:
        return "id"
    if namespace is None or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", namespace) or len(namespace) > 150:
        return "namespace"
    if not lists.get("tasks"):
        return "tasks"
    for name, items in lists.items():
        for index, item in enumerate(items):
            item_id = _scalar(_pairs(item).get("id"))
            if item_id is None or not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]*", item_id):
                return f"{name}[{index}].id"
    ids: list = []
    for name in ("tasks", "errors", "finally", "afterExecution"):
        _nested_task_ids(fields.get(name), ids)
    if len(ids) != len(set(ids)) or flow_id in RESERVED:
        return "Invalid Flow"
    return None


@pytest.fixture(scope="module")
def corpus_client(kestra_emulator_server):
    kestra_emulator_server.reset()
    with httpx.Client(base_url=kestra_emulator_server.url, auth=AUTH, timeout=30) as client:
        yield client
    kestra_emulator_server.reset()


def test_corpus_round_trips_or_is_refused_like_kestra(corpus_client):
    files = _files()
    if not files:
        pytest.skip(f"corpus not found at {CORPUS}")
    accepted = refused = 0
    for path in files:
        raw = path.read_bytes()
        problem = expected_problem(raw.decode("utf-8")) or PLUGIN_REFUSALS.get(str(path.relative_to(CORPUS)))
        response = corpus_client.post("/api/v1/main/flows", content=raw, headers=YAML)
        label = path.relative_to(CORPUS)
        if problem is None:
            assert response.status_code == 200, f"{label}: {response.text}"
            _check_round_trip(corpus_client, response.json(), raw, label)
            accepted += 1
        else:
            assert response.status_code == 422, f"{label}: expected a 422 naming {problem!r}, got {response.text}"
            body = response.json()
            paths = [error.get("path") for error in body["_embedded"]["errors"]]
            assert body["message"].startswith("Invalid entity: "), f"{label}: {body}"
            assert problem in (body["message"] if problem in PHRASES else paths), f"{label}: {body}"
            refused += 1
    assert accepted + refused == len(files) and accepted > 700


def _check_round_trip(client: httpx.Client, created: dict, raw: bytes, label) -> None:
    namespace, flow_id, revision = created["namespace"], created["id"], created["revision"]
    path = f"/api/v1/main/flows/{namespace}/{flow_id}"
    assert created["source"].encode() == raw, label
    if created["deleted"]:
        # `deleted: true` in the YAML is stored as is (kestra-flow-model.md §1.1; Kestra's own test flow
        # getflowsbynamespace/deleted.yaml relies on it): the flow exists only as a tombstone.
        assert client.get(path).status_code == 404, label
        tombstone = client.get(path, params={"source": "true", "allowDeleted": "true"}).json()
        assert tombstone["source"].encode() == raw, label
        return
    assert client.get(path, params={"source": "true"}).json()["source"].encode() == raw, label
    export = client.get("/api/v1/main/flows/export/by-query",
                        params={"filters[namespace][EQUALS]": namespace, "filters[flowId][EQUALS]": flow_id})
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        assert archive.read(f"{namespace}-{flow_id}.yml") == raw, label
    same = client.put(path, content=raw, headers=YAML)
    assert (same.status_code, same.json()["revision"]) == (200, revision), label
    assert client.delete(path).status_code == 204  # (namespace, id) pairs repeat across files
