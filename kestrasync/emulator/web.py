"""HTTP plumbing shared by the API modules: reading parameters and bodies, and writing Kestra-shaped answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, http_status, render
from .state import Emulator, Tenant

JSON = "application/json"
YAML = "application/x-yaml"


def emulator_of(request: Request) -> Emulator:
    return request.app.state.emulator


def tenant_of(request: Request) -> Tenant:
    """The stores of the tenant in the path (`main` for the legacy alias); the gate already refused others."""
    return emulator_of(request).tenant(request.path_params.get("tenant", "main"))


def json_text(text: str | bytes, status: int = 200) -> Response:
    """Answer pre-serialized JSON (flows are cached as text, so they are never decoded to be re-encoded)."""
    return Response(text, status_code=status, media_type=JSON)


def href(scope: dict) -> str:
    """What Kestra puts in `_links.self.href`: the request path as sent (before aliasing) and its query."""
    path = scope.get("kestra.original_path") or scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def error_response(error: ApiError, scope: dict, kestra_version: str) -> Response:
    status, headers, body = render(error, href(scope), kestra_version)
    return Response(body, status_code=status, headers=headers)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def text_body(request: Request) -> str:
    """The body as Kestra's `@Body String` sees it: UTF-8, malformed bytes replaced."""
    return (await request.body()).decode("utf-8", errors="replace")


def require_yaml(request: Request) -> None:
    """Routes that only consume `application/x-yaml` answer 415 to anything else."""
    found = media_type(request) or "none"
    if found != YAML:
        raise http_status(415, f"Content Type [{found}] not allowed. Allowed types: [{YAML}]")


def bool_param(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise http_status(400, f"Failed to convert argument [{name}] for value [{value}]")
    return value.lower() == "true"


def int_param(request: Request, name: str, default: int | None) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise http_status(400, f"Failed to convert argument [{name}] for value [{value}]") from None
