"""Point 5: validation without plugins, and Kestra's error shapes (kestra-api.md §6, kestra-flow-model.md §1-2).

Expected bodies are written from the reference, not copied from the emulator's output.
"""

from __future__ import annotations

import httpx
import pytest
from support import AUTH, YAML, flow_yaml

from kestrasync.emulator import EmulatorConfig, EmulatorServer

CREATE = "/api/v1/main/flows"


def _create_error(client, source: str) -> dict:
    response = client.post(CREATE, content=source.encode(), headers=YAML)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["_links"] == {"self": {"href": CREATE, "templated": False}}
    assert isinstance(body["_embedded"]["errors"], list)
    return body


def test_existing_flow_is_422_invalid_entity_flow_id(client, create):
    create(flow_yaml())
    assert _create_error(client, flow_yaml()) == {
        "message": "Invalid entity: flow.id: Flow id already exists",
        "_links": {"self": {"href": CREATE, "templated": False}},
        "_embedded": {"errors": [{"message": "Flow id already exists", "path": "flow.id"}]},
    }


def test_bad_namespace_pattern(client):
    body = _create_error(client, flow_yaml(namespace="Company"))
    assert body["message"] == 'Invalid entity: namespace: must match "^[a-z0-9][a-z0-9._-]*"\n'
    assert body["_embedded"]["errors"] == [{"message": 'must match "^[a-z0-9][a-z0-9._-]*"', "path": "namespace"}]


def test_bad_id_pattern_and_length(client):
    assert _create_error(client, flow_yaml(flow_id="-starts-with-dash"))["_embedded"]["errors"] == [
        {"message": 'must match "^[a-zA-Z0-9][a-zA-Z0-9._-]*"', "path": "id"}]
    assert _create_error(client, flow_yaml(flow_id="a" * 101))["_embedded"]["errors"] == [
        {"message": "size must be between 1 and 100", "path": "id"}]
    assert {"message": "size must be between 1 and 150", "path": "namespace"} in _create_error(
        client, flow_yaml(namespace="n" * 151))["_embedded"]["errors"]


def test_missing_id_and_namespace(client):
    errors = _create_error(client, "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n")["_embedded"]["errors"]
    assert {"message": "must not be null", "path": "id"} in errors
    assert {"message": "must not be null", "path": "namespace"} in errors


def test_tasks_must_not_be_empty(client):
    for tasks in ("tasks: []\n", ""):
        body = _create_error(client, f"id: a\nnamespace: b\n{tasks}")
        assert body["message"] == "Invalid entity: tasks: must not be empty\n"
        assert body["_embedded"]["errors"] == [{"message": "must not be empty", "path": "tasks"}]


def test_task_without_id_names_its_index(client):
    body = _create_error(client, "id: a\nnamespace: b\ntasks:\n  - type: io.kestra.plugin.core.log.Log\n")
    assert {"message": "must not be null", "path": "tasks[0].id"} in body["_embedded"]["errors"]
    assert "tasks[0].id: must not be null\n" in body["message"]


def test_task_with_a_bad_id_is_named_by_its_id_in_the_message(client):
    body = _create_error(client, "id: a\nnamespace: b\ntasks:\n  - id: bad id\n    type: io.kestra.plugin.core.log.Log\n"
                                 "    message: hi\n")
    assert body["message"] == 'Invalid entity: bad id.id: must match "^[a-zA-Z0-9][a-zA-Z0-9_-]*"\n'
    assert body["_embedded"]["errors"] == [{"message": 'must match "^[a-zA-Z0-9][a-zA-Z0-9_-]*"', "path": "tasks[0].id"}]


def test_task_or_trigger_without_type_is_invalid_type_null(client):
    body = _create_error(client, "id: a\nnamespace: b\ntasks:\n  - id: t\n")
    assert body["message"] == "Invalid entity: Invalid type: null"
    assert body["_embedded"]["errors"][0] == {
        "message": "Invalid type: null", "path": 'io.kestra.core.models.flows.Flow["tasks"]->java.util.ArrayList[0]'}
    trigger = flow_yaml(extra="triggers:\n  - id: every-minute\n")
    assert _create_error(client, trigger)["_embedded"]["errors"][0]["path"] == \
        'io.kestra.core.models.flows.Flow["triggers"]->java.util.ArrayList[0]'


def test_trigger_without_id(client):
    body = _create_error(client, flow_yaml(extra="triggers:\n  - type: io.kestra.plugin.core.trigger.Schedule\n"))
    assert {"message": "must not be null", "path": "triggers[0].id"} in body["_embedded"]["errors"]


def test_duplicate_task_ids_across_nesting_levels(client):
    source = ("id: a\nnamespace: b\ntasks:\n  - id: parallel\n    type: io.kestra.plugin.core.flow.Parallel\n"
              "    tasks:\n      - id: twice\n        type: io.kestra.plugin.core.log.Log\n        message: hi\n"
              "  - id: twice\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
    body = _create_error(client, source)
    # A class-level @FlowValidation violation has an empty path (FlowValidationTest expects ": Invalid Flow: ...").
    assert body["message"] == "Invalid entity: : Invalid Flow: Duplicate task id with name [twice]\n"
    assert body["_embedded"]["errors"] == [{"message": "Invalid Flow: Duplicate task id with name [twice]", "path": ""}]


def test_unknown_top_level_key_on_create(client):
    body = _create_error(client, flow_yaml(extra="listener: []\n"))
    assert body["message"].startswith('Invalid entity: Unrecognized field "listener" (class io.kestra.core.models.flows.Flow)'
                                      ", not marked as ignorable (")
    assert body["_embedded"]["errors"][0]["path"] == 'io.kestra.core.models.flows.Flow["listener"]'


def test_yaml_syntax_error_names_the_line(client):
    body = _create_error(client, "id: a\nnamespace: b\ntasks:\n  - id: t\n   type: [unclosed\n")
    error = body["_embedded"]["errors"][0]
    assert error["path"] == "yaml"
    assert error["message"].startswith("YAML parsing error: ") and "(at line 5)" in error["message"]
    assert body["message"] == f"Invalid entity: Illegal genericflow source: {error['message']}"


def test_duplicate_key_is_refused_with_its_line(client):
    body = _create_error(client, "id: a\nnamespace: b\nid: c\ntasks: []\n")
    assert body["_embedded"]["errors"] == [{"message": "YAML parsing error: Duplicate field 'id' (at line 3)", "path": "yaml"}]


def test_duplicate_key_deep_inside_a_task_is_refused(client):
    body = _create_error(client, flow_yaml().replace("message: hello\n", "message: hello\n    message: Bye\n"))
    assert "Duplicate field 'message'" in body["message"]


def test_empty_body_is_422(client):
    body = _create_error(client, "")
    assert body["_embedded"]["errors"][0]["path"] == "yaml"


def test_tab_indentation_is_a_syntax_error(client):
    assert "(at line 2)" in _create_error(client, "id: a\n\tnamespace: b\n")["message"]


def test_missing_flow_is_bare_404(client):
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(method, "/api/v1/main/flows/company.team/missing", content=flow_yaml(flow_id="missing"),
                                  headers=YAML)
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found",
                                   "_links": {"self": {"href": "/api/v1/main/flows/company.team/missing", "templated": False}}}


def test_self_link_keeps_the_query_string(client):
    response = client.get("/api/v1/main/flows/company.team/missing", params={"source": "true"})
    assert response.json()["_links"]["self"]["href"] == "/api/v1/main/flows/company.team/missing?source=true"


def test_execution_of_a_disabled_flow_is_409_illegal_state(client, create):
    create(flow_yaml(extra="disabled: true\n"))
    response = client.post("/api/v1/main/executions/company.team/hello")
    assert response.status_code == 409
    assert response.json()["message"] == "Illegal state: Requested Flow is disabled."


def test_execution_of_an_unknown_flow_is_404_with_reason(client):
    response = client.post("/api/v1/main/executions/company.team/missing")
    assert (response.status_code, response.json()["message"]) == (404, "Not Found: Requested Flow is not found.")


def test_unauthenticated_is_401_with_an_empty_body_and_a_basic_challenge(kestra_emulator):
    for auth in (None, ("admin@kestra.io", "wrong"), ("someone@kestra.io", "Admin1234")):
        response = httpx.get(f"{kestra_emulator.url}/api/v1/main/flows/search", auth=auth)
        assert (response.status_code, response.content) == (401, b"")
        assert response.headers["WWW-Authenticate"] == "Basic"


def test_bearer_token_is_refused_by_open_source(kestra_emulator):
    response = httpx.get(f"{kestra_emulator.url}/api/v1/main/flows/search", headers={"Authorization": "Bearer abc"})
    assert response.status_code == 401


def test_other_tenant_is_400_in_open_source(client):
    response = client.get("/api/v1/acme/flows/search")
    assert response.status_code == 400
    assert response.json()["message"] == "Bad Request: Tenant must be 'main' for OSS version"


def test_bad_sort_parameter_is_422(client):
    response = client.get("/api/v1/main/flows/search", params={"sort": "id"})
    assert (response.status_code, response.json()["message"]) == (422, "Unprocessable Entity: Invalid sort parameter")


def test_page_below_one_is_422(client):
    response = client.get("/api/v1/main/flows/search", params={"page": 0})
    assert response.status_code == 422
    assert response.json()["_embedded"]["errors"] == [{"message": "must be greater than or equal to 1",
                                                       "path": "searchFlows.page"}]


def test_yaml_sent_with_another_content_type_fails_as_json(client):
    # 0.24/1.0 route any other content type to the deprecated JSON twin (kestra-api.md §2.2).
    response = client.post(CREATE, content=flow_yaml(), headers={"Content-Type": "application/yaml"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("Invalid json")


@pytest.fixture(scope="module")
def kestra2():
    with EmulatorServer(EmulatorConfig(kestra_version="2.0")) as server:
        yield server


def test_kestra_2_serves_problem_json(kestra2):
    with httpx.Client(base_url=kestra2.url, auth=AUTH) as client:
        client.post(CREATE, content=flow_yaml(), headers=YAML)
        duplicate = client.post(CREATE, content=flow_yaml(), headers=YAML)
        invalid = client.post(CREATE, content=flow_yaml(namespace="Bad"), headers=YAML)
        missing = client.get("/api/v1/main/flows/company.team/missing")
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.json() == {
        "type": "https://kestra.io/docs/api-reference/problems/entity-already-exists", "title": "Entity already exists",
        "status": 409, "detail": "A flow with id 'hello' already exists in namespace 'company.team'.",
        "instance": CREATE}  # no `errors`: the catch-all handler passes an empty list (ErrorController, 2.x)
    problem = invalid.json()
    assert (invalid.status_code, problem["type"], problem["title"]) == (
        422, "https://kestra.io/docs/api-reference/problems/validation-failed", "Validation failed")
    assert problem["errors"] == [{"detail": 'must match "^[a-z0-9][a-z0-9._-]*"', "pointer": "/namespace",
                                  "path": "namespace"}]
    assert missing.status_code == 404
    assert missing.json() == {"type": "https://kestra.io/docs/api-reference/problems/not-found",
                              "title": "Resource not found", "status": 404, "detail": "Resource not found",
                              "instance": "/api/v1/main/flows/company.team/missing"}
