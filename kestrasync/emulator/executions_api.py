"""Execution routes: create one (multipart inputs, `wait`, `labels`) and read it back."""

from __future__ import annotations

import json

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .web import bool_param, int_param, json_text, tenant_of


async def create_execution(request: Request) -> Response:
    form = await _form(request)  # read the body first: nothing below awaits, so the lookup and the start are atomic
    tenant = tenant_of(request)
    namespace, flow_id = request.path_params["namespace"], request.path_params["id"]
    revision = int_param(request, "revision", None)
    row = tenant.flows.at(namespace, flow_id, revision) if revision else tenant.flows.live(namespace, flow_id)
    flow = json.loads(tenant.service.flow_json(namespace, flow_id, row)) if row and not row.deleted else None
    execution = tenant.executions.create(
        flow, form=form, labels=request.query_params.getlist("labels"), wait=bool_param(request, "wait", False),
        schedule_date=request.query_params.get("scheduleDate"), ui_base=str(request.base_url).rstrip("/"))
    return json_text(json.dumps(execution, ensure_ascii=False))


async def _form(request: Request) -> dict:
    """Multipart (or urlencoded) fields; a file part becomes (filename, bytes)."""
    if not request.headers.get("content-type", "").startswith(("multipart/", "application/x-www-form-urlencoded")):
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
