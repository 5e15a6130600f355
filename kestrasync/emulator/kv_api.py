"""KV routes of `/api/v1/{tenant}/namespaces/{namespace}/kv` (enough for an advisory lock)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .web import json_text, tenant_of, text_body

PREFIX = "/api/v1/{tenant}/namespaces/{namespace}/kv"


async def list_keys(request: Request) -> Response:
    return json_text(json.dumps(tenant_of(request).kv.list(request.path_params["namespace"]), ensure_ascii=False))


async def get_value(request: Request) -> Response:
    value = tenant_of(request).kv.get(request.path_params["namespace"], request.path_params["key"])
    return json_text(json.dumps(value, ensure_ascii=False))


async def put_value(request: Request) -> Response:
    """Body text/plain or JSON, read as JSON/Ion; optional `ttl` and `description` headers. Answers 200, empty."""
    tenant_of(request).kv.put(request.path_params["namespace"], request.path_params["key"], await text_body(request),
                              ttl=request.headers.get("ttl"), description=request.headers.get("description"))
    return Response(status_code=200)


async def delete_value(request: Request) -> Response:
    deleted = tenant_of(request).kv.delete(request.path_params["namespace"], request.path_params["key"])
    return json_text(json.dumps(deleted))


def routes() -> list[Route]:
    return [
        Route(PREFIX, list_keys, methods=["GET"]),
        Route(f"{PREFIX}/{{key}}", get_value, methods=["GET"]),
        Route(f"{PREFIX}/{{key}}", put_value, methods=["PUT"]),
        Route(f"{PREFIX}/{{key}}", delete_value, methods=["DELETE"]),
    ]
