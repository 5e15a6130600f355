"""Namespace-file routes, `/api/v1/{tenant}/namespaces/{namespace}/files...`: HTTP in, `NamespaceFiles` call, HTTP out.

The same routes in both versions (NamespaceFileController at v1.0.3 and develop c94e7743), plus
`GET /files/revisions` and `?revision=` in 2.x. Void answers are Micronaut's empty 200. The export is a ZIP
of the namespace's files followed by its flows as `_flows/<id>.yml`, streamed without being assembled.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .errors import conversion_error, http_status, internal, missing_query_value
from .nsfiles import NamespaceFiles
from .web import emulator_of, json_text, media_type, tenant_of
from .ziparchive import stored_zip_stream

PREFIX = "/api/v1/{tenant}/namespaces/{namespace}/files"
OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/form-data"
_JAVA_INT = re.compile(r"[+-]?[0-9]+")


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise missing_query_value(name)
    return value


def _revision(request: Request) -> int | None:
    """2.x `@Nullable @QueryValue Integer revision`; 1.x has no such parameter and ignores it."""
    value = request.query_params.get("revision")
    if not value or not emulator_of(request).config.kestra_version.startswith("2"):
        return None
    if not _JAVA_INT.fullmatch(value) or not -2**31 <= int(value) < 2**31:
        raise conversion_error("revision", value, f'For input string: "{value}"')
    return int(value)


def _files(request: Request) -> tuple[NamespaceFiles, str]:
    return tenant_of(request).files, request.path_params["namespace"]


def _json(value) -> Response:
    return json_text(json.dumps(value, ensure_ascii=False))


async def get_content(request: Request) -> Response:
    files, namespace = _files(request)
    data = files.content(namespace, _required(request, "path"), _revision(request))
    return Response(data, media_type=OCTET_STREAM, headers={"Cache-Control": "no-cache"})


async def get_stats(request: Request) -> Response:
    files, namespace = _files(request)
    return _json(files.stats(namespace, request.query_params.get("path")))


async def list_revisions(request: Request) -> Response:
    files, namespace = _files(request)
    return _json(files.revisions(namespace, request.query_params.get("path")))


async def list_directory(request: Request) -> Response:
    files, namespace = _files(request)
    return _json(files.listing(namespace, request.query_params.get("path")))


async def create_directory(request: Request) -> Response:
    files, namespace = _files(request)
    files.make_directory(namespace, request.query_params.get("path"))
    return Response(status_code=200)


async def search(request: Request) -> Response:
    files, namespace = _files(request)
    return _json(files.search(namespace, _required(request, "q")))


async def create_file(request: Request) -> Response:
    """POST /files: multipart part `fileContent` (a `.zip` file name means an archive to extract)."""
    found = media_type(request)
    if found and found != MULTIPART:
        raise http_status(415, f"Content Type [{found}] not allowed. Allowed types: [{MULTIPART}]")
    path = _required(request, "path")
    async with request.form() as form:
        upload = form.get("fileContent")
        if not isinstance(upload, UploadFile):
            raise http_status(400, "Required Part [fileContent] not specified")
        filename, data = upload.filename or "", await upload.read()
    tenant = tenant_of(request)
    tenant.files.upload(request.path_params["namespace"], path, filename, data, tenant.service.import_flow)
    return Response(status_code=200)


async def export(request: Request) -> Response:
    """GET /files/export: `<path without leading slash>` per file, then `_flows/<id>.yml` per flow of the
    namespace (its current source); java.util.zip refuses a name twice, which fails the request."""
    tenant, namespace = tenant_of(request), request.path_params["namespace"]
    entries = tenant.files.export(namespace)
    entries += [(f"_flows/{flow_id}.yml", row.source.encode("utf-8"))
                for (_, flow_id), row in tenant.flows.scan(namespace=namespace)]
    seen: set[str] = set()
    for name, _ in entries:
        if name in seen:
            raise internal(f"duplicate entry: {name}")
        seen.add(name)
    length, parts = stored_zip_stream(entries)
    headers = {"Content-Disposition": f'attachment; filename="{namespace}_files.zip"', "Content-Length": str(length)}
    return StreamingResponse(parts, media_type=OCTET_STREAM, headers=headers)


async def move(request: Request) -> Response:
    files, namespace = _files(request)
    files.move(namespace, _required(request, "from"), _required(request, "to"))
    return Response(status_code=200)


async def delete(request: Request) -> Response:
    files, namespace = _files(request)
    files.delete(namespace, _required(request, "path"))
    return Response(status_code=200)


def routes(kestra_version: str) -> list[Route]:
    revisions = [Route(f"{PREFIX}/revisions", list_revisions, methods=["GET"])] if kestra_version.startswith("2") else []
    return [
        Route(f"{PREFIX}/search", search, methods=["GET"]),
        Route(f"{PREFIX}/stats", get_stats, methods=["GET"]),
        *revisions,
        Route(f"{PREFIX}/directory", list_directory, methods=["GET"]),
        Route(f"{PREFIX}/directory", create_directory, methods=["POST"]),
        Route(f"{PREFIX}/export", export, methods=["GET"]),
        Route(PREFIX, get_content, methods=["GET"]),
        Route(PREFIX, create_file, methods=["POST"]),
        Route(PREFIX, move, methods=["PUT"]),
        Route(PREFIX, delete, methods=["DELETE"]),
    ]
