"""The `/__emulator/` test hooks over HTTP, so they also drive an emulator running in another process.

They are outside Kestra's paths: never authenticated, counted, delayed nor faulted.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import ApiError, http_status
from .flowdoc import parse_flow
from .web import emulator_of


async def requests(request: Request) -> Response:
    return JSONResponse(emulator_of(request).hooks.requests())


async def reset(request: Request) -> Response:
    options = await _options(request)
    emulator = emulator_of(request)
    if options.get("store", True):
        emulator.clear()
    emulator.hooks.reset(counters=options.get("counters", True), faults=options.get("faults", True))
    return Response(status_code=204)


async def add_fault(request: Request) -> Response:
    try:
        fault = emulator_of(request).hooks.add_fault(await _options(request))
    except (TypeError, ValueError) as error:
        return JSONResponse({"message": f"Invalid fault: {error}"}, status_code=400)
    return JSONResponse({"action": fault.action, "route": fault.route, "method": fault.method}, status_code=201)


async def clear_faults(request: Request) -> Response:
    emulator_of(request).hooks.clear_faults()
    return Response(status_code=204)


async def store_flow(request: Request) -> Response:
    """Store a flow source as it stands, without any check: a flow saved by an older Kestra (a 1.x source
    kept in the database after an upgrade to 2.x), which the imitated version may no longer read."""
    options = await _options(request)
    source = options.get("source")
    if not isinstance(source, str):
        return JSONResponse({"message": "Invalid flow: give {\"source\": \"...\"}"}, status_code=400)
    try:
        doc = parse_flow(source)
    except ApiError as error:
        return JSONResponse({"message": f"Invalid flow: {error.detail}"}, status_code=400)
    if doc.namespace is None or doc.id is None:
        return JSONResponse({"message": "Invalid flow: it needs an id and a namespace"}, status_code=400)
    tenant = emulator_of(request).tenant(str(options.get("tenant") or "main"))
    row, _ = tenant.flows.save(doc.namespace, doc.id, source, disabled=doc.disabled)
    return JSONResponse({"namespace": doc.namespace, "id": doc.id, "revision": row.revision}, status_code=201)


async def set_latency(request: Request) -> Response:
    milliseconds = (await _options(request)).get("ms")
    if not isinstance(milliseconds, int) or milliseconds < 0:
        return JSONResponse({"message": "Invalid latency: give {\"ms\": N} with N >= 0"}, status_code=400)
    emulator_of(request).hooks.latency_ms = milliseconds
    return Response(status_code=204)


async def _options(request: Request) -> dict:
    raw = await request.body()
    try:
        options = json.loads(raw) if raw.strip() else {}
    except ValueError:
        options = None
    if not isinstance(options, dict):
        raise http_status(400, "expected a JSON object")
    return options


def routes() -> list[Route]:
    return [
        Route("/__emulator/requests", requests, methods=["GET"]),
        Route("/__emulator/reset", reset, methods=["POST"]),
        Route("/__emulator/faults", add_fault, methods=["POST"]),
        Route("/__emulator/faults", clear_faults, methods=["DELETE"]),
        Route("/__emulator/latency", set_latency, methods=["PUT"]),
        Route("/__emulator/flows", store_flow, methods=["POST"]),
    ]
