"""KV routes: `/api/v1/{tenant}/namespaces/{namespace}/kv/...`, and in 2.x the tenant-wide `/api/v1/{tenant}/kv`.

1.0 (KVController at v1.0.3) lists a namespace's keys at `GET .../kv`; 2.x (develop c94e7743) removed that
route in favour of the paged, filtered `GET /{tenant}/kv`, and its PUT consumes `text/plain` only (1.0 also
takes `application/json`; anything else is 415 from Micronaut's route matching).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import Violation, http_status, invalid_json, violation_error
from .filters import compare, parse_filters
from .kvstore import iso
from .web import emulator_of, int_param, json_text, media_type, tenant_of, text_body

PREFIX = "/api/v1/{tenant}/namespaces/{namespace}/kv"
KV_FIELDS = ("QUERY", "NAMESPACE", "UPDATED", "EXPIRATION_DATE")  # QueryFilter.Resource.KV_METADATA


def _two(request: Request) -> bool:
    return emulator_of(request).config.kestra_version.startswith("2")


async def list_keys(request: Request) -> Response:
    return json_text(json.dumps(tenant_of(request).kv.list(request.path_params["namespace"]), ensure_ascii=False))


async def list_inherited(request: Request) -> Response:
    return json_text(json.dumps(tenant_of(request).kv.inherited(request.path_params["namespace"]), ensure_ascii=False))


async def list_all(request: Request) -> Response:
    """GET /{tenant}/kv: `{results, total}`, 1-based pages of 10, `sort=key:asc`, `filters[...]`."""
    page, size = int_param(request, "page", 1), int_param(request, "size", 10)
    bounds = [Violation("must be greater than or equal to 1", f"listAllKeys.{name}")
              for name, value in (("page", page), ("size", size)) if value < 1]
    if bounds:
        raise violation_error(bounds)
    tests = [_kv_test(f) for f in parse_filters(request.query_params.multi_items(), KV_FIELDS, "kv")]
    found = tenant_of(request).kv.list_all(lambda ns, key, entry: all(test(ns, key, entry) for test in tests))
    for value in reversed(request.query_params.getlist("sort")):
        field, _, direction = value.partition(":")
        found.sort(key=lambda item: str(item.get(field, "")), reverse=direction.lower() == "desc")
    return json_text(json.dumps({"results": found[(page - 1) * size:page * size], "total": len(found)},
                                ensure_ascii=False))


def _kv_test(f):
    if f.field == "QUERY":
        return lambda ns, key, entry: (str(f.value).lower() in key.lower()) != (f.op == "NOT_EQUALS")
    if f.field == "NAMESPACE":
        return lambda ns, key, entry: compare(f.op, ns, f.value, prefix=True)
    attribute = "updated" if f.field == "UPDATED" else "expires"

    def dated(ns, key, entry):
        stamp = getattr(entry, attribute)
        return stamp is not None and compare(f.op, iso(stamp), f.value, prefix=False)
    return dated


async def get_value(request: Request) -> Response:
    value = tenant_of(request).kv.get(request.path_params["namespace"], request.path_params["key"])
    return json_text(json.dumps(value, ensure_ascii=False))


async def put_value(request: Request) -> Response:
    """Body read as JSON/Ion; optional `ttl` and `description` headers. Answers 200, empty."""
    allowed = ("text/plain",) if _two(request) else ("application/json", "text/plain")
    found = media_type(request)
    if found and found not in allowed:
        raise http_status(415, f"Content Type [{found}] not allowed. Allowed types: [{', '.join(allowed)}]")
    tenant_of(request).kv.put(request.path_params["namespace"], request.path_params["key"], await text_body(request),
                              ttl=request.headers.get("ttl"), description=request.headers.get("description"))
    return Response(status_code=200)


async def delete_value(request: Request) -> Response:
    deleted = tenant_of(request).kv.delete(request.path_params["namespace"], request.path_params["key"])
    return json_text(json.dumps(deleted))


async def delete_values(request: Request) -> Response:
    """DELETE .../kv with `{"keys": [...]}`: deletes each, answers the keys that existed (errors ignored)."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise invalid_json(f"Unexpected character: {error}") from None
    keys = body.get("keys") if isinstance(body, dict) else None
    store, namespace = tenant_of(request).kv, request.path_params["namespace"]
    deleted = []
    for key in keys if isinstance(keys, list) else []:
        try:
            if store.delete(namespace, str(key)):
                deleted.append(key)
        except Exception:  # noqa: BLE001 - Kestra ignores a failed deletion in the bulk
            continue
    return json_text(json.dumps({"keys": deleted}, ensure_ascii=False))


def routes(kestra_version: str) -> list[Route]:
    two = kestra_version.startswith("2")
    listing = [Route("/api/v1/{tenant}/kv", list_all, methods=["GET"])] if two else [Route(PREFIX, list_keys, methods=["GET"])]
    return [
        *listing,
        Route(PREFIX, delete_values, methods=["DELETE"]),
        Route(f"{PREFIX}/inheritance", list_inherited, methods=["GET"]),
        Route(f"{PREFIX}/{{key}}", get_value, methods=["GET"]),
        Route(f"{PREFIX}/{{key}}", put_value, methods=["PUT"]),
        Route(f"{PREFIX}/{{key}}", delete_value, methods=["DELETE"]),
    ]
