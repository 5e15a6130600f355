"""TenantValidationFilterTest, AuthenticationFilterTest and ErrorControllerTest, translated (see conftest.py)."""

from __future__ import annotations

import httpx
import pytest
from conftest import YAML, message

FLOW = ("id: inputs\nnamespace: io.kestra.tests\ninputs:\n  - id: string\n    type: STRING\n    defaults: x\n"
        "tasks:\n  - id: t\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n")


@pytest.fixture
def inputs_flow(client):
    assert client.post("/api/v1/main/flows", content=FLOW, headers=YAML).status_code == 200


# --- TenantValidationFilterTest (@LoadFlows flows/valids/inputs.yaml) ------------------------------------

def test_should_find_flow_for_no_tenant(client, inputs_flow):
    flow = client.get("/api/v1/flows/io.kestra.tests/inputs").json()
    assert flow["id"] == "inputs"


def test_should_find_flow_for_main_tenant(client, inputs_flow):
    flow = client.get("/api/v1/main/flows/io.kestra.tests/inputs").json()
    assert flow["id"] == "inputs"


@pytest.mark.kestra("1.0")  # JsonError message
def test_should_return_bad_request_for_flow_with_incorrect_tenant(client, inputs_flow):
    response = client.get("/api/v1/non_main_tenant/flows/io.kestra.tests/inputs")
    assert response.status_code == 400
    assert message(response) == "Bad Request: Tenant must be 'main' for OSS version"


# --- AuthenticationFilterTest -----------------------------------------------------------------------------

def test_testConfigEndpointAlwaysOpen(kestra):
    response = httpx.get(f"{kestra.url}/api/v1/configs", auth=("anonymous", "hacker"))
    assert response.status_code == 200


def test_testUnauthorized(kestra):
    # /api/v1/main/dashboards in the Java test: any authenticated route answers the same (no dashboards here)
    url = f"{kestra.url}/api/v1/main/flows/search"
    assert httpx.get(url, headers={"Authorization": ""}).headers["WWW-Authenticate"] == "Basic"
    assert httpx.get(url, auth=("anonymous", "hacker")).headers["WWW-Authenticate"] == "Basic"


# --- ErrorControllerTest (v1.0.3 and c94e7743 assert the JsonError text: 1.0 only) -------------------------

@pytest.mark.kestra("1.0")
def test_type(client):
    flow = {"id": "x1", "namespace": "io.kestra.test", "tasks": [{"id": "t1", "type": "io.kestra.invalid"}]}
    response = client.post("/api/v1/main/flows", json=flow)  # the deprecated JSON create
    assert response.status_code == 422
    assert "Invalid type: io.kestra.invalid" in response.text


@pytest.mark.kestra("1.0")
def test_unknownProperties(client):
    source = ("id: x2\nnamespace: io.kestra.test\nunknown: properties\ntasks:\n  - id: t\n"
              "    type: io.kestra.plugin.core.log.Log\n    message: logging\n")
    response = client.post("/api/v1/main/flows", content=source, headers=YAML)
    assert response.status_code == 422
    assert ('Invalid entity: Unrecognized field \\"unknown\\" (class io.kestra.core.models.flows.Flow), '
            "not marked as ignorable") in response.text
    assert '"path": "io.kestra.core.models.flows.Flow[\\"unknown\\"]"' in response.text
