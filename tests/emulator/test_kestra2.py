"""Issue 13, points 9, 10 and 12: what the 2.0 mode serves, routes both modes gained, core plugin checks.

Expected answers come from Kestra's code (cited per test; commits in conformance/conftest.py), not from the
emulator's output.
"""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from support import AUTH, YAML, flow_yaml

from kestrasync.emulator import EmulatorConfig, EmulatorServer

P = "https://kestra.io/docs/api-reference/problems/"
FLOWS = "/api/v1/main/flows"


@pytest.fixture(scope="module")
def server2():
    with EmulatorServer(EmulatorConfig(kestra_version="2.0")) as server:
        yield server


@pytest.fixture
def k2(server2):
    server2.reset()
    with httpx.Client(base_url=server2.url, auth=AUTH, timeout=10) as client:
        yield client


def _create(client, source, **params):
    response = client.post(FLOWS, content=source, headers=YAML, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- point 9: problem documents --------------------------------------------------------------------------

def test_401_is_a_problem_document_with_the_challenge(server2):
    response = httpx.get(f"{server2.url}{FLOWS}/search")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Basic"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {"type": P + "unauthenticated", "title": "Authentication required", "status": 401,
                               "detail": "Authentication required", "instance": f"{FLOWS}/search"}


def test_unmatched_route_is_a_404_without_errors(k2):
    response = k2.get("/api/v1/main/nothing/here")
    assert response.json() == {"type": P + "not-found", "title": "Resource not found", "status": 404,
                               "detail": "Resource not found", "instance": "/api/v1/main/nothing/here"}


def test_validation_errors_carry_pointer_and_friendly_path_sorted_by_pointer(k2):
    source = "id: a\nnamespace: Bad\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n"
    problem = k2.post(FLOWS, content=source, headers=YAML).json()
    assert problem["errors"] == [
        {"detail": 'must match "^[a-z0-9][a-z0-9._-]*"', "pointer": "/namespace", "path": "namespace"},
        {"detail": "must not be null", "pointer": "/tasks/0/message", "path": "tasks[log].message"}]


def test_illegal_state_is_an_unmapped_500_with_a_trace_id(k2):
    _create(k2, flow_yaml())
    k2.post("/__emulator/flows", json={"source": flow_yaml(flow_id="old", extra="taskDefaults: []\n")})
    response = k2.post("/api/v1/main/executions/company.team/old")
    problem = response.json()
    assert response.status_code == 500 and problem["type"] == P + "internal-error" and len(problem["traceId"]) == 32
    assert problem["detail"] == "An unexpected error occurred. Quote the traceId when contacting support."


def test_json_bodies_on_yaml_routes_are_415(k2):
    response = k2.post(FLOWS, content=flow_yaml(), headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["type"]) == (415, P + "unsupported-media-type")


# --- point 9: drafts, updated, broken flows -------------------------------------------------------------

def test_draft_head_is_served_skipped_by_export_and_part_of_the_no_op_rule(k2):
    published = _create(k2, flow_yaml(), draft="false")
    assert published["draft"] is False and published["updated"].endswith("Z")
    draft = k2.put(f"{FLOWS}/company.team/hello", content=flow_yaml(message="wip"), headers=YAML,
                   params={"draft": "true"}).json()
    assert (draft["revision"], draft["draft"]) == (2, True)
    assert k2.get(f"{FLOWS}/company.team/hello").json()["draft"] is True
    assert k2.get(f"{FLOWS}/search").json()["results"][0]["revision"] == 2
    with zipfile.ZipFile(io.BytesIO(k2.get(f"{FLOWS}/export/by-query").content)) as archive:
        assert archive.read("company.team-hello.yml").decode() == flow_yaml()  # the last published revision
    # the same text with draft=false publishes: a new revision (isSameWithSource compares draft)
    again = k2.put(f"{FLOWS}/company.team/hello", content=flow_yaml(message="wip"), headers=YAML,
                   params={"draft": "false"}).json()
    assert (again["revision"], again["draft"]) == (3, False)
    assert k2.put(f"{FLOWS}/company.team/hello", content=flow_yaml(message="wip"), headers=YAML).json()["revision"] == 3


def test_a_draft_only_flow_is_not_exported_nor_executed(k2):
    _create(k2, flow_yaml(), draft="true")
    with zipfile.ZipFile(io.BytesIO(k2.get(f"{FLOWS}/export/by-query").content)) as archive:
        assert archive.namelist() == []
    assert k2.post("/api/v1/main/executions/company.team/hello").status_code == 404


def test_drafts_skip_constraint_validation(k2):
    assert _create(k2, flow_yaml(namespace="company", flow_id="pause"), draft="true")["draft"] is True
    published = k2.post(FLOWS, content=flow_yaml(namespace="company", flow_id="pause"), headers=YAML)
    assert published.status_code == 422 and "reserved keyword" in published.json()["detail"]


def test_a_stored_1x_flow_is_listed_with_its_exception_and_left_out_of_the_export(k2):
    old = flow_yaml(flow_id="old", extra="taskDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values: {}\n")
    assert k2.post("/__emulator/flows", json={"source": old}).status_code == 201
    _create(k2, flow_yaml())
    listed = {flow["id"]: flow for flow in k2.get(f"{FLOWS}/search").json()["results"]}
    assert listed["old"]["tasks"] == [] and listed["old"]["exception"].startswith('Unrecognized field "taskDefaults"')
    assert "exception" not in listed["hello"]
    assert k2.get(f"{FLOWS}/company.team/old", params={"source": "true"}).json()["source"] == old
    with zipfile.ZipFile(io.BytesIO(k2.get(f"{FLOWS}/export/by-query").content)) as archive:
        assert archive.namelist() == ["company.team-hello.yml"]
    fixed = k2.put(f"{FLOWS}/company.team/old", content=flow_yaml(flow_id="old"), headers=YAML).json()
    assert fixed["revision"] == 2 and "exception" not in fixed


def test_a_state_file_of_1x_flows_loads_as_after_an_upgrade(tmp_path):
    state = tmp_path / "state.json"
    with EmulatorServer(EmulatorConfig(state_file=str(state))) as one:
        with httpx.Client(base_url=one.url, auth=AUTH) as client:
            _create(client, flow_yaml(extra="listeners: []\n"))
    with EmulatorServer(EmulatorConfig(state_file=str(state), kestra_version="2.0")) as two:
        with httpx.Client(base_url=two.url, auth=AUTH) as client:
            flow = client.get(f"{FLOWS}/search").json()["results"][0]
    assert flow["exception"].startswith('Unrecognized field "listeners"')


# --- point 9: 2.x-only refusals -------------------------------------------------------------------------

@pytest.mark.parametrize("extra, phrase", [
    ("pluginDefaults: []\n", 'Unrecognized field "pluginDefaults"'),
    ("taskDefaults: []\n", 'Unrecognized field "taskDefaults"'),
    ("listeners: []\n", 'Unrecognized field "listeners"'),
    ("workerGroup:\n  key: a\n", 'Unrecognized field "workerGroup"'),
    ("triggers:\n  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '* * * * *'\n    conditions: []\n",
     'Unrecognized field "conditions" (class io.kestra.plugin.core.trigger.Schedule)'),
    ("triggers:\n  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '* * * * *'\n    scheduleConditions: []\n",
     'Unrecognized field "scheduleConditions"'),
    ("triggers:\n  - id: f\n    type: io.kestra.plugin.core.trigger.Flow\n    preconditions: {}\n",
     'Unrecognized field "preconditions" (class io.kestra.plugin.core.trigger.Flow)'),
    ("inputs:\n  - id: b\n    type: BOOLEAN\n", "Invalid type: BOOLEAN"),
    ("inputs:\n  - id: e\n    type: ENUM\n    values: [a]\n", "Invalid type: ENUM"),
])
def test_keys_and_types_2x_removed_are_refused(k2, extra, phrase):
    response = k2.post(FLOWS, content=flow_yaml(extra=extra), headers=YAML)
    assert response.status_code == 422 and phrase in response.json()["detail"], response.text


@pytest.mark.parametrize("kind", ["io.kestra.plugin.core.flow.ForEach", "io.kestra.plugin.core.flow.ForEachItem",
                                  "io.kestra.plugin.core.flow.EachSequential", "io.kestra.plugin.core.flow.EachParallel",
                                  "io.kestra.core.tasks.log.Log", "io.kestra.core.tasks.flows.Subflow"])
def test_removed_and_legacy_types_are_invalid_in_2x_only(k2, client, kind):
    source = f"id: a\nnamespace: b\ntasks:\n  - id: t\n    type: {kind}\n    message: hi\n    tasks: []\n"
    assert f"Invalid type: {kind}" in k2.post(FLOWS, content=source, headers=YAML).json()["detail"]
    assert f"Invalid type: {kind}" not in client.post(FLOWS, content=source, headers=YAML).text


def test_schedule_and_webhook_must_give_required_inputs_and_defaults_must_be_required(k2):
    inputs = "inputs:\n  - id: a\n    type: STRING\n  - id: b\n    type: STRING\n    required: false\n"
    schedule = "triggers:\n  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '* * * * *'\n"
    webhook = "  - id: w\n    type: io.kestra.plugin.core.trigger.Webhook\n    key: k\n    inputs:\n      a: x\n"
    detail = k2.post(FLOWS, content=flow_yaml(extra=inputs + schedule + webhook), headers=YAML).json()["detail"]
    assert "Invalid Flow: Missing inputs for Schedule Trigger 's', missing inputs: 'a'" in detail
    assert "Webhook Trigger" not in detail  # it gives `a`; `b` is not required
    bare = "triggers:\n  - id: w\n    type: io.kestra.plugin.core.trigger.Webhook\n    key: k\n"
    detail = k2.post(FLOWS, content=flow_yaml(extra=inputs + bare), headers=YAML).json()["detail"]
    assert "Missing inputs for Webhook Trigger 'w', missing inputs: 'a'" in detail
    defaults = "inputs:\n  - id: a\n    type: STRING\n    defaults: x\n    required: false\n"
    problem = k2.post(FLOWS, content=flow_yaml(extra=defaults), headers=YAML).json()
    assert problem["errors"] == [{"detail": "Inputs with a default value must be required, since the default is always applied.",
                                  "pointer": "/inputs/0", "path": "inputs[a]"}]


# --- point 9: KV and executions -------------------------------------------------------------------------

def test_kv_2x_routes(k2):
    kv = "/api/v1/main/namespaces/company.team/kv"
    assert k2.put(f"{kv}/a", content='"x"', headers={"Content-Type": "application/json"}).status_code == 415
    assert k2.put(f"{kv}/a", content='"x"', headers={"Content-Type": "text/plain", "ttl": "PT1H"}).status_code == 200
    detail = k2.get(f"{kv}/a").json()
    assert (detail["type"], detail["value"], detail["revision"]) == ("STRING", "x", 1) and detail["updated"].endswith("Z")
    assert k2.get(kv).status_code == 405  # listKeys is removed; the path stays, for the bulk DELETE
    listed = k2.get("/api/v1/main/kv", params={"filters[namespace][EQUALS]": "company.team"}).json()
    assert listed["total"] == 1 and listed["results"][0]["namespace"] == "company.team"
    assert k2.get("/api/v1/main/kv", params={"filters[flowId][EQUALS]": "x"}).status_code == 400


def test_one_execution_object_without_deleted(k2):
    _create(k2, flow_yaml())
    execution = k2.post("/api/v1/main/executions/company.team/hello", params={"wait": "true"}).json()
    assert isinstance(execution, dict) and "deleted" not in execution and execution["state"]["current"] == "SUCCESS"


# --- point 10: both modes -------------------------------------------------------------------------------

def test_import_is_its_own_route_in_both_modes(client, k2):
    for http, two in ((client, False), (k2, True)):
        body = flow_yaml(flow_id="a") + "---\n" + flow_yaml(flow_id="b", namespace="Bad")
        answer = http.post(f"{FLOWS}/import", files={"fileUpload": ("flows.yml", body.encode())})
        assert answer.status_code == 200
        assert answer.json() == (["flows.yml(flow number: 1)"] if two else ["1"])
        assert http.get(f"{FLOWS}/company.team/a").status_code == 200
        failing = http.post(f"{FLOWS}/import", params={"failOnError": "true"},
                            files={"fileUpload": ("flows.yml", body.encode())})
        assert failing.status_code == (422 if two else 200)
        assert http.post(f"{FLOWS}/import", files={"fileUpload": ("flows.txt", b"x")}).status_code == 422


def test_import_of_a_zip(client):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("a.yml", flow_yaml(flow_id="z1"))
        archive.writestr("notes.txt", "ignored")
    assert client.post(f"{FLOWS}/import", files={"fileUpload": ("flows.zip", data.getvalue())}).json() == []
    assert client.get(f"{FLOWS}/company.team/z1").status_code == 200


def test_q_star_matches_every_flow(client, create):
    create(flow_yaml(flow_id="a"))
    create(flow_yaml(flow_id="b", namespace="other"))
    assert client.get(f"{FLOWS}/search", params={"q": "*"}).json()["total"] == 2


def test_multipart_without_parts_and_file_inputs_named_by_filename(client, create):
    create(flow_yaml(extra="inputs:\n  - id: data\n    type: FILE\n    required: false\n"))
    empty = client.post("/api/v1/main/executions/company.team/hello",
                        headers={"Content-Type": "multipart/form-data; boundary=x"}, content=b"")
    assert empty.status_code == 200
    uploaded = client.post("/api/v1/main/executions/company.team/hello",
                           files={"data": ("report.csv", b"a,b\n")}).json()
    assert uploaded["inputs"]["data"].endswith(f"/executions/{uploaded['id']}/inputs/data/report.csv")
    old_style = client.post("/api/v1/main/executions/company.team/hello", files={"files": ("data", b"x")}).json()
    assert old_style["inputs"]["data"].endswith("/inputs/data/data.upl")


def test_input_validators(client, create):
    create(flow_yaml(extra="inputs:\n  - id: code\n    type: STRING\n    validator: '^[A-Z]+$'\n"
                           "  - id: n\n    type: INT\n    min: 2\n    required: false\n"))
    bad = client.post("/api/v1/main/executions/company.team/hello", files={"code": (None, "abc")})
    assert bad.status_code == 422
    assert "Invalid input for `code`, it must match the pattern `^[A-Z]+$`, but received `abc`" in bad.json()["message"]
    low = client.post("/api/v1/main/executions/company.team/hello", files={"code": (None, "A"), "n": (None, "1")})
    assert "Invalid input for `n`, it must be more than `2`, but received `1`" in low.json()["message"]


def test_label_rules_2x(k2):
    assert k2.post(FLOWS, content=flow_yaml(extra="labels:\n  Team: x\n"), headers=YAML).json()["errors"][0]["detail"] \
        .startswith("Invalid label key.")
    _create(k2, flow_yaml())
    refused = k2.post("/api/v1/main/executions/company.team/hello", params={"labels": "Bad:x"})
    assert refused.status_code == 422


# --- point 12: core plugins -----------------------------------------------------------------------------

def test_misspelt_core_type_unknown_property_and_missing_required_are_refused(client):
    typo = client.post(FLOWS, content=flow_yaml().replace("log.Log", "log.Lgo"), headers=YAML).json()
    assert typo["message"] == "Invalid entity: Invalid type: io.kestra.plugin.core.log.Lgo"
    unknown = client.post(FLOWS, content=flow_yaml() + "    messages: x\n", headers=YAML).json()
    assert unknown["message"].startswith('Invalid entity: Unrecognized field "messages" (class io.kestra.plugin.core.log.Log)')
    assert unknown["_embedded"]["errors"][0]["path"] == \
        'io.kestra.core.models.flows.Flow["tasks"]->java.util.ArrayList[0]->io.kestra.plugin.core.log.Log["messages"]'
    nested = ("id: a\nnamespace: b\ntasks:\n  - id: p\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
              "      - id: s\n        type: io.kestra.plugin.core.flow.Subflow\n        namespace: x\n")
    missing = client.post(FLOWS, content=nested, headers=YAML).json()
    assert missing["_embedded"]["errors"] == [{"message": "must not be null", "path": "tasks[0].tasks[0].flowId"}]


def test_plugin_defaults_supply_required_properties_and_other_namespaces_pass(client):
    with_defaults = flow_yaml().replace("    message: hello\n", "") + \
        "pluginDefaults:\n  - type: io.kestra.plugin.core.log\n    values:\n      message: from defaults\n"
    assert client.post(FLOWS, content=with_defaults, headers=YAML).status_code == 200
    other = flow_yaml(flow_id="other").replace("io.kestra.plugin.core.log.Log", "io.kestra.plugin.scripts.shell.Commands") \
        + "    anything: goes\n"
    assert client.post(FLOWS, content=other, headers=YAML).status_code == 200
    unknown_kestra = flow_yaml(flow_id="k").replace("io.kestra.plugin.core.log.Log", "io.kestra.invalid")
    assert client.post(FLOWS, content=unknown_kestra, headers=YAML).status_code == 422


def test_a_flow_trigger_with_depends_on_is_bounded_in_2_0():
    """FlowService.warnings (develop c94e7743): a 2.x Flow trigger is unbounded only without `dependsOn`
    and with no `when`; the warning then recommends `dependsOn`."""
    head = "id: l\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"
    trigger = "triggers:\n  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n"
    with EmulatorServer(EmulatorConfig(kestra_version="2.0")) as kestra:
        with httpx.Client(base_url=f"{kestra.url}/api/v1/main", auth=AUTH) as client:
            def warnings(text):
                return client.post("/flows/validate", content=text, headers=YAML).json()[0].get("warnings")

            bounded = warnings(head + trigger + "    dependsOn:\n      - namespace: company.team\n        flowId: up\n")
            unbounded = warnings(head + trigger)
    assert not bounded
    assert unbounded == ["This flow will be triggered for EVERY execution of EVERY flow on your instance. "
                         "We recommend adding the dependsOn property to the Flow trigger 'after'."]
