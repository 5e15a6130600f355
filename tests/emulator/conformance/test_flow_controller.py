"""FlowControllerTest, translated (1.x v1.0.3 and 2.x develop c94e7743, see conftest.py).

Kestra loads its test flows (`TestsUtils.loads`, core/src/test/resources/flows/valids) before each test; the
cases here that count them load a small set of their own through the API instead and count that
(`Helpers.FLOWS_COUNT` becomes `len(LOADED)`). The helpers `generateFlow*` are translated to the YAML they
serialize to. Cases needing plugins at run time (graph, task, dependencies from the topology repository,
validate/task and validate/trigger) are not translated: the emulator has no plugin classes to run.
"""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from conftest import YAML

NS = "io.kestra.unittest"
LOADED = [("io.kestra.tests", "full"), ("io.kestra.tests", "each-object"), ("io.kestra.tests", "webhook"),
          ("io.kestra.tests", "task-flow"), ("io.kestra.tests.subnamespace", "sub"), ("io.kestra.tests2", "other")]


def flow_as_string(flow_id: str, namespace: str, fmt: str) -> str:
    """FlowControllerTest.generateFlowAsString (both versions)."""
    return (f"id: {flow_id}\n# Comment i added\nnamespace: {namespace}\ninputs:\n  - id: {fmt}\n    type: STRING\n"
            "tasks:\n  - id: test\n    type: io.kestra.plugin.core.debug.Return\n    format: test\n"
            "disabled: false\ndeleted: false\n")


def random_id() -> str:
    return uuid.uuid4().hex[:22]


@pytest.fixture
def loaded(client):
    for namespace, flow_id in LOADED:
        source = (f"id: {flow_id}\nnamespace: {namespace}\n#triggers:\ntasks:\n  - id: t\n"
                  "    type: io.kestra.plugin.core.debug.Return\n    format: x\n")
        assert client.post("/api/v1/main/flows", content=source, headers=YAML).status_code == 200
    return LOADED


def test_idNoSource(client, loaded):
    assert "source" not in client.get("/api/v1/main/flows/io.kestra.tests/full").json()
    result = client.get("/api/v1/main/flows/io.kestra.tests/full?source=true").json()
    assert "#triggers:" in result["source"]


def test_idNotFound(client, loaded):
    assert client.get("/api/v1/main/flows/io.kestra.tests/notFound").status_code == 404


@pytest.mark.kestra("2.0")  # c94e7743 searchFlowsAll (v1.0.3 has only the legacy findAll, below)
def test_searchFlowsAll(client, loaded):
    flows = client.get("/api/v1/main/flows/search?filters[q][EQUALS]=*").json()
    assert flows["total"] == len(loaded)
    old_parameters = client.get("/api/v1/main/flows/search?q=*").json()
    assert old_parameters["total"] == len(loaded)


@pytest.mark.kestra("1.0")
def test_searchFlowsAll_1x(client, loaded):
    """v1.0.3 searchFlowsAll: the same two requests and totals."""
    assert client.get("/api/v1/main/flows/search?filters[q][EQUALS]=*").json()["total"] == len(loaded)
    assert client.get("/api/v1/main/flows/search?q=*").json()["total"] == len(loaded)


def test_searchFlowsByNamespacePrefix(client, loaded):
    assert client.get("/api/v1/main/flows/search?filters[namespace][PREFIX]=io.kestra.tests2").json()["total"] == 1
    assert client.get("/api/v1/main/flows/search?filters[namespace][PREFIX]=io.kestra.tests").json()["total"] == len(loaded) - 1


def test_updateFlowFlowsInNamespaceAsString(client):
    flows = "---\n".join(flow_as_string(f"flow{i}", "io.kestra.updatenamespace", "a") for i in (1, 2, 3))
    updated = client.post("/api/v1/main/flows/io.kestra.updatenamespace", content=flows, headers=YAML)
    assert len(updated.json()) == 3
    for i in (1, 2, 3):
        client.delete(f"/api/v1/main/flows/io.kestra.updatenamespace/flow{i}")


def test_bulk(client):
    flows = "---\n".join(flow_as_string(f"flow{i}", "io.kestra.bulk", "a") for i in (1, 2, 3))
    updated = client.post("/api/v1/main/flows/bulk?namespace=io.kestra.bulk", content=flows, headers=YAML).json()
    assert len(updated) == 3
    # resend the same request, should not add revision
    updated = client.post("/api/v1/main/flows/bulk?namespace=io.kestra.bulk", content=flows, headers=YAML).json()
    assert len(updated) == 3
    assert len({flow["revision"] for flow in updated}) == 1
    assert {flow["revision"] for flow in updated} == {1}


def test_deletedFlow(client):
    flow_id = random_id()
    result = client.post("/api/v1/main/flows", content=flow_as_string(flow_id, NS, "a"), headers=YAML).json()
    assert (result["id"], result["revision"]) == (flow_id, 1)
    assert client.delete(f"/api/v1/main/flows/{NS}/{flow_id}").status_code == 204
    assert client.delete(f"/api/v1/main/flows/{NS}/{flow_id}").status_code == 404
    deleted = client.get(f"/api/v1/main/flows/{NS}/{flow_id}?allowDeleted=true").json()
    assert deleted["deleted"] is True


def test_listDistinctNamespaces(client, loaded):
    namespaces = client.get("/api/v1/main/flows/distinct-namespaces").json()
    assert len(namespaces) == len({namespace for namespace, _ in loaded})  # Java: 10, its fixture's count


def test_createFlowFromJsonFlowFromString(client):
    flow_id = random_id()
    result = client.post("/api/v1/main/flows", content=flow_as_string(flow_id, NS, "a"), headers=YAML).json()
    assert result["id"] == flow_id
    assert result["inputs"][0]["id"] == "a"
    fetched = client.get(f"/api/v1/main/flows/{NS}/{flow_id}?source=true").json()
    assert fetched["id"] == flow_id
    assert fetched["inputs"][0]["id"] == "a"
    assert " Comment i added" in fetched["source"]


def test_createFlowFromJsonInvalidFlowFromString(client):
    # flows/simpleInvalidFlow.yaml: a Return task with an unknown `badProperties`
    source = ("id: test-flow\nnamespace: io.kestra.unittest\ninputs:\n  - id: a\n    type: STRING\n"
              "tasks:\n  - id: a\n    type: io.kestra.plugin.core.debug.Return\n    format: a\n    badProperties: a\n")
    assert client.post("/api/v1/main/flows", content=source, headers=YAML).status_code == 422


def test_updateFlowFlowFromJsonFromString(client):
    source = flow_as_string("updatedFlow", NS, "a")
    result = client.post("/api/v1/main/flows", content=source, headers=YAML).json()
    assert (result["id"], result["inputs"][0]["id"]) == ("updatedFlow", "a")
    fetched = client.put(f"/api/v1/main/flows/{NS}/updatedFlow", content=flow_as_string("updatedFlow", NS, "b"),
                         headers=YAML).json()
    assert (fetched["id"], fetched["inputs"][0]["id"]) == ("updatedFlow", "b")
    missing = client.put(f"/api/v1/main/flows/{NS}/{random_id()}", content=flow_as_string("updatedFlow", NS, "b"),
                         headers=YAML)
    assert missing.status_code == 404


def test_updateFlowInvalidFlowFromJsonFromString(client):
    # flows/simpleFlow.yaml then flows/simpleInvalidFlowUpdate.yaml (another id and namespace)
    simple = ("id: test-flow\nnamespace: io.kestra.unittest\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.debug.Return\n"
              "    format: a\n")
    assert client.post("/api/v1/main/flows", content=simple, headers=YAML).json()["id"] == "test-flow"
    other = simple.replace("id: test-flow", "id: test-flow-updated").replace("io.kestra.unittest", "io.kestra.unittest.updated")
    response = client.put("/api/v1/main/flows/io.kestra.unittest/test-flow", content=other, headers=YAML)
    assert response.status_code == 422
    assert "flow.id" in response.text
    assert "flow.namespace" in response.text


def test_exportFlowsByQueryForANamespace(client, loaded):
    archive = client.get("/api/v1/main/flows/export/by-query?namespace=io.kestra.tests").content
    with zipfile.ZipFile(io.BytesIO(archive)) as exported:
        # io.kestra.tests.subnamespace is included, io.kestra.tests2 is not
        assert len(exported.namelist()) == len(loaded) - 1


def test_exportByIds(client, loaded):
    ids = [{"namespace": "io.kestra.tests", "id": flow_id} for flow_id in ("each-object", "webhook", "task-flow")]
    archive = client.post("/api/v1/main/flows/export/by-ids", json=ids).content
    with zipfile.ZipFile(io.BytesIO(archive)) as exported:
        assert len(exported.namelist()) == 3


def test_importFlowsWithYaml(client):
    yaml = "---".join(flow_as_string(random_id(), NS, name) for name in "abc")
    response = client.post("/api/v1/main/flows/import", files={"fileUpload": ("flows.yaml", yaml.encode())})
    assert response.status_code == 200


def test_importFlowsWithZip(client, loaded):
    archive = client.get("/api/v1/main/flows/export/by-query?namespace=io.kestra.tests").content
    response = client.post("/api/v1/main/flows/import", files={"fileUpload": ("flows.zip", archive)})
    assert response.status_code == 200


def test_disableEnableFlowsByIds(client, loaded):
    ids = [{"namespace": "io.kestra.tests", "id": flow_id} for flow_id in ("each-object", "webhook", "task-flow")]
    assert client.post("/api/v1/main/flows/disable/by-ids", json=ids).json()["count"] == 3
    for item in ids:
        assert client.get(f"/api/v1/main/flows/io.kestra.tests/{item['id']}").json()["disabled"] is True
    assert client.post("/api/v1/main/flows/enable/by-ids", json=ids).json()["count"] == 3
    for item in ids:
        assert client.get(f"/api/v1/main/flows/io.kestra.tests/{item['id']}").json()["disabled"] is False


def test_disableEnableFlowsByQuery(client):
    client.post("/api/v1/main/flows", content=flow_as_string("toDisable", "io.kestra.unittest.disabled", "a"), headers=YAML)
    assert client.post("/api/v1/main/flows/disable/by-query?namespace=io.kestra.unittest.disabled", json={}).json()["count"] == 1
    assert client.get("/api/v1/main/flows/io.kestra.unittest.disabled/toDisable").json()["disabled"] is True
    assert client.post("/api/v1/main/flows/enable/by-query?namespace=io.kestra.unittest.disabled", json={}).json()["count"] == 1
    assert client.get("/api/v1/main/flows/io.kestra.unittest.disabled/toDisable").json()["disabled"] is False


def test_deleteFlowFlowsByQuery(client):
    for flow_id, fmt in (("flowIdA", "a"), ("flowIdB", "b"), ("flowIdC", "c")):
        client.post("/api/v1/main/flows", content=flow_as_string(flow_id, "io.kestra.tests.delete", fmt), headers=YAML)
    response = client.delete("/api/v1/main/flows/delete/by-query?q=flowId&namespace=io.kestra.tests.delete")
    assert response.json()["count"] == 3
    for flow_id in ("flow-a", "flow-b", "flow-c"):  # the Java test reads these (other) paths back
        assert client.get(f"/api/v1/main/flows/io.kestra.unittest.disabled/{flow_id}").status_code == 404


def test_deleteFlowFlowsByIds(client):
    client.post("/api/v1/main/flows", content=flow_as_string("toDelete", "io.kestra.unittest.delete", "a"), headers=YAML)
    client.delete("/api/v1/main/flows/delete/by-query?namespace=io.kestra.unittest.delete")
    assert client.get("/api/v1/main/flows/io.kestra.unittest.disabled/toDelete").status_code == 404


def test_validateFlows(client):
    # flows/validateMultipleInvalidFlows.yaml: an unknown Log property, then an unknown task type
    flows = ("id: first\nnamespace: io.kestra.unittest\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n"
             "    message: hi\n    unknownProp: x\n---\n"
             "id: second\nnamespace: io.kestra.unittest\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.debug.UnknownTask\n")
    body = client.post("/api/v1/main/flows/validate", content=flows, headers=YAML).json()
    assert len(body) == 2
    assert 'Unrecognized field "unknownProp"' in body[0]["constraints"]
    assert "Invalid type: io.kestra.plugin.core.debug.UnknownTask" in body[1]["constraints"]


def test_commaInSingleLabelsValue(client):
    for method, url in (("GET", "/api/v1/main/flows/search?filters[labels][EQUALS][project]=foo,bar"),
                        ("GET", "/api/v1/main/flows/search?labels=project:foo,bar"),
                        ("GET", "/api/v1/main/flows/export/by-query?labels=project%3Afoo%2Cbar"),
                        ("DELETE", "/api/v1/main/flows/delete/by-query?labels=project%3Afoo%2Cbar")):
        assert client.request(method, url).status_code == 200
    for url in ("/api/v1/main/flows/disable/by-query?labels=project%3Afoo%2Cbar",
                "/api/v1/main/flows/enable/by-query?labels=project%3Afoo%2Cbar"):
        assert client.post(url, json=[]).status_code == 200


def test_commaInOneOfMultiLabels(client):
    source = flow_as_string(random_id(), NS, "a") + "labels:\n  project: foo,bar\n  status: test\n"
    assert client.post("/api/v1/main/flows", content=source, headers=YAML).status_code == 200
    found = client.get("/api/v1/main/flows/search?filters[labels][EQUALS][project]=foo,bar&filters[labels][EQUALS][status]=test")
    assert found.json()["total"] == 1
    found = client.get("/api/v1/main/flows/search?labels=project:foo,bar&labels=status:test")
    assert found.json()["total"] == 1
