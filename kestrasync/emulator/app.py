"""The emulator's ASGI application: routes, error handling and the layers around them.

Layers, outermost first: `Gate` (route template, legacy alias, counters, latency, faults, dropping
connections), Starlette's error middleware, `AccessFilter` (basic auth, tenant check), the routes. Every
failure is rendered by `errors.render`, in the wire format of the imitated Kestra version.
"""

from __future__ import annotations

import contextlib
import json
import uuid

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from . import executions_api, flows_api, hooks_api, kv_api, nsfiles_api
from .access import AccessFilter
from .config import SERVED_VERSIONS, EmulatorConfig
from .errors import ApiError, Violation, http_status, internal
from .gate import Gate
from .state import Emulator
from .web import emulator_of, error_response, json_text


class EmulatorApp(Starlette):
    """Starlette, with the `Gate` wrapped around the whole middleware stack (see gate.py for why)."""

    def build_middleware_stack(self):
        return Gate(super().build_middleware_stack(), self.state.emulator, self.routes)


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    """Build a fresh emulator application (its own empty store, or the one in `config.state_file`)."""
    emulator = Emulator(config or EmulatorConfig())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        emulator.hooks.release_stalls()
        if emulator.writer is not None:
            await emulator.writer.flush()

    app = EmulatorApp(
        routes=[Route("/api/v1/configs", configs, methods=["GET"]), *flows_api.routes(), *executions_api.routes(),
                *kv_api.routes(emulator.config.kestra_version), *nsfiles_api.routes(emulator.config.kestra_version),
                *hooks_api.routes()],
        middleware=[Middleware(AccessFilter, emulator=emulator)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_exception, ClientDisconnect: _gone,
                            Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


async def configs(request: Request) -> Response:
    """GET /api/v1/configs: open without credentials; reports the imitated version."""
    config = emulator_of(request).config
    body = {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "kestra-sync-emulator")),
            "version": SERVED_VERSIONS[config.kestra_version], "edition": "OSS", "isBasicAuthEnabled": config.auth_enabled,
            "isBasicAuthInitialized": config.auth_enabled, "url": str(request.base_url).rstrip("/"),
            "systemNamespace": "system", "isTemplateEnabled": False, "isAnonymousUsageEnabled": False}
    return json_text(json.dumps(body))


async def _api_error(request: Request, error: ApiError) -> Response:
    return error_response(error, request.scope, emulator_of(request).config.kestra_version)


async def _http_exception(request: Request, error: HTTPException) -> Response:
    """Starlette's own 404/405 (no route), worded as Micronaut's status routes (1.x adds "Page Not Found";
    2.x's `ErrorController.notFound` passes no errors)."""
    one_x = not emulator_of(request).config.kestra_version.startswith("2")
    violations = (Violation("Page Not Found", None),) if error.status_code == 404 and one_x else ()
    api_error = http_status(error.status_code, None, headers=dict(error.headers or {}))
    api_error.violations = violations
    return await _api_error(request, api_error)


async def _gone(request: Request, error: ClientDisconnect) -> Response:
    """The client left (e.g. it timed out on a stalled request): nobody is listening, so answer quietly."""
    return Response(status_code=499)


async def _unexpected(request: Request, error: Exception) -> Response:
    return await _api_error(request, internal(str(error) or type(error).__name__))
