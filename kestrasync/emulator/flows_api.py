"""The flow routes of `/api/v1/{tenant}/flows`: HTTP in, `FlowService` call, HTTP out.

Literal routes come before `{namespace}` ones, as in Micronaut, so `/flows/search` is the search and not the
namespace "search" (nor `/flows/import` the namespace "import"). Bodies sent with a content type other than
`application/x-yaml` go, as in Kestra 0.24/1.0, to the deprecated JSON twin of create/update/namespace-update
(a YAML text sent as `text/plain` therefore fails as invalid JSON); 2.x removed those twins (develop
c94e7743 `FlowController`), so there, as on the other YAML routes, the answer is 415.
"""

from __future__ import annotations

import json
import re
from functools import partial

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from starlette.datastructures import UploadFile

from .errors import Violation, http_status, illegal_argument, internal, invalid_json, violation_error
from .filters import parse_query
from .flowservice import FlowService
from .web import YAML, bool_param, emulator_of, int_param, json_text, media_type, require_yaml, tenant_of, text_body
from .ziparchive import read_entries

PREFIX = "/api/v1/{tenant}/flows"
ZIP_HEADERS = {"Content-Disposition": 'attachment; filename="flows.zip"'}


def _service(request: Request) -> FlowService:
    return tenant_of(request).service


def _key(request: Request) -> tuple[str, str]:
    return request.path_params["namespace"], request.path_params["id"]


def _two(request: Request) -> bool:
    return emulator_of(request).config.kestra_version.startswith("2")


def _draft(request: Request) -> bool:
    """2.x `?draft=` (default false); 1.x has no such parameter and ignores it."""
    return bool_param(request, "draft", False) if _two(request) else False


async def create_flow(request: Request) -> Response:
    return await _yaml_or_json(request, partial(_service(request).create, draft=_draft(request)))


async def update_flow(request: Request) -> Response:
    return await _yaml_or_json(request, partial(_service(request).update, *_key(request), draft=_draft(request)))


async def _yaml_or_json(request: Request, action) -> Response:
    """A YAML body goes to `action`; any other content type to the deprecated JSON twin, which answers a
    `Flow` (no `source`) and fails with 422 `Invalid json` on a body that is not a JSON flow (2.x: 415)."""
    if _two(request):
        require_yaml(request)
    if media_type(request) == YAML:
        return json_text(action(await text_body(request)))
    flow = json.loads(action(_generated_source(await _json_body(request, dict))))
    return json_text(json.dumps(_json_flow(flow), ensure_ascii=False))


async def get_flow(request: Request) -> Response:
    return json_text(_service(request).get(
        *_key(request), source=bool_param(request, "source", False), revision=int_param(request, "revision", None),
        allow_deleted=bool_param(request, "allowDeleted", False)))


async def delete_flow(request: Request) -> Response:
    _service(request).delete(*_key(request))
    return Response(status_code=204)


async def list_revisions(request: Request) -> Response:
    return json_text(_service(request).revisions(*_key(request), bool_param(request, "allowDelete", False)))


async def list_namespace(request: Request) -> Response:
    return json_text(_service(request).list_namespace(request.path_params["namespace"]))


async def update_namespace(request: Request) -> Response:
    """POST /flows/{namespace}: the namespace sync, `delete` defaulting to true."""
    service, namespace = _service(request), request.path_params["namespace"]
    delete = bool_param(request, "delete", True)
    if _two(request):
        require_yaml(request)
    if media_type(request) == YAML:
        body = await text_body(request)
        return json_text(service.bulk(namespace, body or None, delete=delete, allow_child=False, trim=True))
    sources = [_generated_source(flow) for flow in await _json_body(request, list)]
    answer = json.loads(service.bulk_sources(namespace, sources, delete=delete, allow_child=False))
    return json_text(json.dumps([_json_flow(flow) for flow in answer], ensure_ascii=False))


async def bulk_update(request: Request) -> Response:
    require_yaml(request)
    body = await text_body(request)
    return json_text(_service(request).bulk(
        request.query_params.get("namespace") or None, body or None, delete=bool_param(request, "delete", True),
        allow_child=bool_param(request, "allowNamespaceChild", False), trim=False))


async def search_flows(request: Request) -> Response:
    page, size = int_param(request, "page", 1), int_param(request, "size", 10)
    bounds = [Violation("must be greater than or equal to 1", f"searchFlows.{name}")
              for name, value in (("page", page), ("size", size)) if value < 1]
    if bounds:  # @Min(1) on the controller's parameters
        raise violation_error(bounds)
    query = parse_query(request.query_params.multi_items())
    return json_text(_service(request).search(query, page, size, _sort(request)))


def _sort(request: Request) -> list[tuple[str, bool]]:
    """`sort=field:asc|desc`, repeatable or comma-separated; anything else is 422 `Invalid sort parameter`."""
    orders = []
    for value in request.query_params.getlist("sort"):
        for part in filter(None, value.split(",")):
            field, sep, direction = part.partition(":")
            if not sep or not field or direction.lower() not in ("asc", "desc"):
                raise http_status(422, "Invalid sort parameter")
            orders.append((field, direction.lower() == "desc"))
    return orders


async def distinct_namespaces(request: Request) -> Response:
    text = request.query_params.get("q") or ""
    found = [ns for ns in tenant_of(request).flows.namespaces() if text in ns]
    return json_text(json.dumps(found))


async def validate_flows(request: Request) -> Response:
    require_yaml(request)
    return json_text(_service(request).validate(await text_body(request)))


async def export_by_query(request: Request) -> Response:
    service = _service(request)
    return _zip(service.export_zip(_queried(request, service), "{namespace}-{id}.yml"))


async def export_by_ids(request: Request) -> Response:
    service = _service(request)
    rows = service.live_rows(await _ids_body(request))
    return _zip(service.export_zip(rows, "{namespace}.{id}.yaml" if _two(request) else "{namespace}.{id}.yml"))


async def import_flows(request: Request) -> Response:
    """POST /flows/import: multipart `fileUpload`, a multi-flow YAML file or a ZIP of them (HasSource.readSourceFile).

    Each flow is imported on its own (created, or updated over any existing revision); the answer lists the
    pieces that failed: their index in 1.x, `<file>(flow number: i)` in 2.x, whose `failOnError=true` turns
    a non-empty list into 422. The extension decides: another one is 422 `Cannot import file of type .x`, and
    a name without a dot makes Kestra's `substring` fail (500).
    """
    two = _two(request)
    fail_on_error = two and bool_param(request, "failOnError", False)  # added after 1.0.3 (spec 1.2.0)
    async with request.form() as form:
        upload = form.get("fileUpload")
        if not isinstance(upload, UploadFile):
            raise http_status(400, "Required Part [fileUpload] not specified")
        name, data = (upload.filename or "").lower(), await upload.read()
    if name.endswith((".yml", ".yaml")):
        text = data.decode("utf-8", errors="replace")
        pieces = re.split(r"(?m)^---\s*$", text) if two else text.split("---")
        named = [(piece, f"{name}(flow number: {i})" if two else str(i)) for i, piece in enumerate(pieces)]
    elif name.endswith(".zip"):
        try:
            named = [(content.decode("utf-8", errors="replace"), entry) for entry, content in read_entries(data)
                     if entry.lower().endswith((".yml", ".yaml")) and not entry.endswith("/")]
        except ValueError:
            return Response(status_code=400)
    elif "." not in name:
        raise internal(f"begin 0, end -1, length {len(name)}")
    else:
        raise illegal_argument(f"Cannot import file of type {name[name.rindex('.'):]}")
    wrong = [label for source, label in named if not _service(request).import_one(source)]
    if fail_on_error and wrong:
        raise illegal_argument("Following invalid flows were not imported: " + ", ".join(wrong))
    return json_text(json.dumps(wrong))


def _queried(request: Request, service: FlowService):
    """Live flows matching the request's `filters[...]` (or legacy) query parameters."""
    return parse_query(request.query_params.multi_items()).rows(service.store, service.labels)


def _zip(data: bytes) -> Response:
    return Response(data, media_type="application/octet-stream", headers=ZIP_HEADERS)


async def delete_by_ids(request: Request) -> Response:
    count = _service(request).delete_rows(await _ids_body(request))
    return json_text(json.dumps({"count": count}))


async def delete_by_query(request: Request) -> Response:
    service = _service(request)
    ids = [{"namespace": namespace, "id": flow_id} for (namespace, flow_id), _ in _queried(request, service)]
    return json_text(json.dumps({"count": service.delete_rows(ids)}))


def _toggle(disabled: bool, by_ids: bool):
    async def endpoint(request: Request) -> Response:
        service = _service(request)
        if by_ids:
            rows = service.live_rows(await _ids_body(request))
        else:
            rows = list(_queried(request, service))
        return json_text(json.dumps({"count": service.set_disabled(rows, disabled)}))
    return endpoint


async def _json_body(request: Request, expected: type) -> object:
    """A JSON body of the expected shape; anything else is Kestra's 422 `Invalid json`."""
    raw = await request.body()
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise invalid_json(f"Unexpected character: {error}") from None
    if not isinstance(value, expected):
        raise invalid_json(f"Cannot deserialize value of type `{'java.util.List' if expected is list else 'Flow'}`")
    return value


async def _ids_body(request: Request) -> list[dict]:
    """An `IdWithNamespace[]` body: `[{"namespace": ..., "id": ...}]`."""
    ids = await _json_body(request, list)
    if not all(isinstance(item, dict) and isinstance(item.get("namespace"), str) and isinstance(item.get("id"), str)
               for item in ids):
        raise invalid_json("Cannot deserialize value of type `io.kestra.webserver.controllers.domain.IdWithNamespace`")
    return ids


def _generated_source(flow: object) -> str:
    """The deprecated JSON routes: the flow's own `source`, or YAML generated from the object (sourceOrGenerateIfNull)."""
    if not isinstance(flow, dict):
        raise invalid_json("Cannot deserialize value of type `io.kestra.core.models.flows.Flow`")
    if isinstance(flow.get("source"), str):
        return flow["source"]
    return yaml.safe_dump(flow, sort_keys=False, allow_unicode=True)


def _json_flow(flow_with_source: dict) -> dict:
    """The JSON routes answer `Flow`, i.e. without `source`."""
    flow_with_source.pop("source", None)
    return flow_with_source


# (method, path under /api/v1/{tenant}/flows, endpoint): literal paths before `{namespace}` ones.
_ROUTES = [
    ("POST", "", create_flow),
    ("GET", "/search", search_flows),
    ("GET", "/distinct-namespaces", distinct_namespaces),
    ("POST", "/validate", validate_flows),
    ("POST", "/bulk", bulk_update),
    ("POST", "/import", import_flows),
    ("GET", "/export/by-query", export_by_query),
    ("POST", "/export/by-ids", export_by_ids),
    ("DELETE", "/delete/by-ids", delete_by_ids),
    ("DELETE", "/delete/by-query", delete_by_query),
    ("POST", "/disable/by-ids", _toggle(True, True)),
    ("POST", "/enable/by-ids", _toggle(False, True)),
    ("POST", "/disable/by-query", _toggle(True, False)),
    ("POST", "/enable/by-query", _toggle(False, False)),
    ("GET", "/{namespace}/{id}/revisions", list_revisions),
    ("GET", "/{namespace}/{id}", get_flow),
    ("PUT", "/{namespace}/{id}", update_flow),
    ("DELETE", "/{namespace}/{id}", delete_flow),
    ("GET", "/{namespace}", list_namespace),
    ("POST", "/{namespace}", update_namespace),
]


def routes() -> list[Route]:
    return [Route(PREFIX + path, endpoint, methods=[method]) for method, path, endpoint in _ROUTES]
