"""Execution routes: create one (multipart inputs, `wait`, `labels`) and read it back.

The flow executed is the one at `revision`, or else the last non-draft revision (2.x drafts never run);
a stored flow the server can no longer read is `Requested Flow is not valid` (an IllegalStateException: 409
in 1.x, 500 in 2.x).
"""

from __future__ import annotations

import json

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import illegal_state
from .web import bool_param, emulator_of, int_param, json_text, tenant_of


async def create_execution(request: Request) -> Response:
    form = await _form(request)  # read the body first: nothing below awaits, so the lookup and the start are atomic
    tenant = tenant_of(request)
    namespace, flow_id = request.path_params["namespace"], request.path_params["id"]
    revision = int_param(request, "revision", None)
    row = tenant.flows.at(namespace, flow_id, revision) if revision else tenant.flows.published(namespace, flow_id)
    if row is not None and not row.deleted and tenant.service.exception(row) is not None:
        raise illegal_state(f"Requested Flow is not valid. Error: {tenant.service.exception(row)}")
    flow = json.loads(tenant.service.flow_json(namespace, flow_id, row)) if row and not row.deleted else None
    execution = tenant.executions.create(
        flow, form=form, labels=request.query_params.getlist("labels"), wait=bool_param(request, "wait", False),
        schedule_date=request.query_params.get("scheduleDate"), ui_base=str(request.base_url).rstrip("/"),
        kestra_version=emulator_of(request).config.kestra_version)
    return json_text(json.dumps(execution, ensure_ascii=False))


async def _form(request: Request) -> dict:
    """Multipart (or urlencoded) fields; a file part becomes (filename, bytes). A multipart request with no
    parts at all (an empty body, as the SDKs send without inputs) carries no values."""
    if not request.headers.get("content-type", "").startswith(("multipart/", "application/x-www-form-urlencoded")):
        return {}
    if not (await request.body()).strip():
        return {}
    values = {}
    async with request.form() as form:
        for name, value in form.multi_items():
            values[name] = (value.filename, await value.read()) if isinstance(value, UploadFile) else value
    return values


async def get_execution(request: Request) -> Response:
    execution = tenant_of(request).executions.get(request.path_params["executionId"])
    return json_text(json.dumps(execution, ensure_ascii=False))


def routes() -> list[Route]:
    return [
        Route("/api/v1/{tenant}/executions/{namespace}/{id}", create_execution, methods=["POST"]),
        Route("/api/v1/{tenant}/executions/{executionId}", get_execution, methods=["GET"]),
    ]
