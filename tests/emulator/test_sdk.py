"""The official SDK (kestrapy 1.0.10) drives a whole lifecycle against the emulator.

kestrapy silently falls back to unvalidated models when a body does not fit its schema, so every raw body is
also checked with its pydantic models (`model_validate`). Known SDK/spec quirks are worked around here, never
in the emulator:
- kestrapy 1.0.10 is generated from a newer spec than 1.0: `get_flow` is named `flow`, `list_flow_revisions`
  requires `allow_delete` (a 1.2+ parameter that 0.24/1.0 ignore, so tombstones are still listed), and
  `FlowWithSource` declares `source`, and the YAML routes already default to `application/x-yaml`.
- Its filters are sent as `filters[namespace][PREFIX]` (2.x spelling), with the value wrapped as {"value": ...}.
- `tenantId` is in no schema: it lands in `additional_properties`.
- `model_validate` cannot take the wire form of a oneOf field such as `inputs[].defaults` (a `PropertyObject`;
  only the SDK's `from_dict` unwraps it), so the flow below has no input default: its input is sent in the
  execution form instead.
- It has no files API at all, so namespace files are exercised with kestrapy 2.0.3 only (test_sdk2.py).
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from support import AUTH, flow_yaml

kestrapy = pytest.importorskip("kestrapy")
from kestrapy import Configuration, KestraClient  # noqa: E402
from kestrapy.models import (  # noqa: E402
    ExecutionControllerExecutionResponse,
    FlowWithSource,
    PagedResultsFlow,
    QueryFilter,
    ValidateConstraintViolation,
)

NS, ID = "company.team", "hello"
SOURCE = flow_yaml(flow_id=ID, namespace=NS, extra="# managed by git\nlabels:\n  team: data\ninputs:\n  - id: name\n    type: STRING\n")


@pytest.fixture
def sdk(kestra_emulator):
    return KestraClient(Configuration(host=kestra_emulator.url, username=AUTH[0], password=AUTH[1]))


def _raw(response) -> object:
    return json.loads(response.raw_data)


def test_sdk_lifecycle(sdk):
    flows = sdk.flows
    created = flows.create_flow_with_http_info(tenant="main", body=SOURCE)
    flow = FlowWithSource.model_validate(_raw(created))
    assert (flow.id, flow.namespace, flow.revision, flow.source) == (ID, NS, 1, SOURCE)
    assert created.data.revision == 1 and created.data.additional_properties["tenantId"] == "main"
    assert [(label.key, label.value) for label in flow.labels] == [("team", "data")]

    updated = flows.update_flow_with_http_info(namespace=NS, id=ID, tenant="main", body=SOURCE + "# v2\n")
    assert FlowWithSource.model_validate(_raw(updated)).revision == 2
    unchanged = flows.update_flow(namespace=NS, id=ID, tenant="main", body=SOURCE + "# v2\n")
    assert unchanged.revision == 2

    fetched = flows.flow_with_http_info(namespace=NS, id=ID, source=True, allow_deleted=False, tenant="main")
    assert FlowWithSource.model_validate(_raw(fetched)).source == SOURCE + "# v2\n"

    filters = [QueryFilter(field="NAMESPACE", operation="PREFIX", value={"value": "company"})]
    found = flows.search_flows_with_http_info(page=1, size=10, tenant="main", filters=filters)
    page = PagedResultsFlow.model_validate(_raw(found))
    assert page.total == 1 and [f.id for f in page.results] == [ID]

    validated = flows.validate_flows_with_http_info(tenant="main", body=SOURCE + "\n---\n" + flow_yaml(flow_id="x", namespace="Bad"))
    results = [ValidateConstraintViolation.model_validate(item) for item in _raw(validated)]
    assert results[0].constraints is None and results[0].flow == ID
    assert results[1].constraints == 'namespace: must match "^[a-z0-9][a-z0-9._-]*"\n'

    archive = flows.export_flows_by_query(tenant="main", filters=filters)
    with zipfile.ZipFile(io.BytesIO(archive)) as exported:
        assert exported.read(f"{NS}-{ID}.yml").decode() == SOURCE + "# v2\n"

    executed = sdk.executions.create_execution_with_http_info(namespace=NS, id=ID, wait=True, tenant="main",
                                                              additional_form_datas={"name": "world"})
    execution = ExecutionControllerExecutionResponse.model_validate(_raw(executed))  # one object, not a list
    assert execution.state.current.value == "SUCCESS" and execution.inputs == {"name": "world"}
    assert execution.flow_revision == 2

    flows.delete_flow(namespace=NS, id=ID, tenant="main")
    revisions = flows.list_flow_revisions_with_http_info(namespace=NS, id=ID, allow_delete=False, tenant="main")
    rows = [FlowWithSource.model_validate(item) for item in _raw(revisions)]
    assert [(row.revision, row.deleted) for row in rows] == [(1, False), (2, False), (3, True)]
    with pytest.raises(kestrapy.ApiException) as missing:
        flows.flow(namespace=NS, id=ID, source=False, allow_deleted=False, tenant="main")
    assert missing.value.status == 404


def test_sdk_sees_kestra_error_bodies(sdk):
    sdk.flows.create_flow(tenant="main", body=SOURCE)
    with pytest.raises(kestrapy.ApiException) as error:
        sdk.flows.create_flow(tenant="main", body=SOURCE)
    assert error.value.status == 422
    assert json.loads(error.value.body)["message"] == "Invalid entity: flow.id: Flow id already exists"
