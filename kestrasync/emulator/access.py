"""Who may call what: Kestra's AuthenticationFilter and TenantValidationFilter.

Open source Kestra 0.24+ requires HTTP Basic credentials on every `/api/...` path except the configuration
endpoints; a failure is 401 with an *empty* body (2.x: a problem document) and `WWW-Authenticate: Basic` (left out when the Referer is
the login page). Bearer tokens are Enterprise-only, so they are refused unless a token is configured. A route
with a `{tenant}` segment accepts only `main` (400 otherwise), unless the emulator is multi-tenant.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.responses import Response

from .config import EmulatorConfig
from .errors import http_status
from .state import MAIN_TENANT, Emulator
from .web import error_response

OPEN_PATHS = frozenset({"/api/v1/configs", "/api/v1/configs/login"})


class AccessFilter:
    """Pure ASGI middleware inside Starlette: authentication first, then the tenant check."""

    def __init__(self, app, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and scope["path"] not in OPEN_PATHS:
            config = self.emulator.config
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            if not is_authorized(config, headers.get("authorization")):
                return await _unauthorized(headers, scope, config.kestra_version)(scope, receive, send)
            tenant = _tenant(scope)
            if tenant is not None and tenant != MAIN_TENANT and not config.multi_tenant:
                error = http_status(400, f"Tenant must be '{MAIN_TENANT}' for OSS version")
                return await error_response(error, scope, config.kestra_version)(scope, receive, send)
        await self.app(scope, receive, send)


def is_authorized(config: EmulatorConfig, header: str | None) -> bool:
    if not config.auth_enabled:
        return True
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() == "basic" and config.username is not None:
        try:
            user, sep, password = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(sep) and _same(user, config.username) and _same(password, config.password or "")
    if scheme.lower() == "bearer" and config.token is not None:
        return _same(credentials.strip(), config.token)
    return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _unauthorized(headers: dict[str, str], scope: dict, kestra_version: str) -> Response:
    """401: an empty body in 1.x; in 2.x the body-less response is rendered as a problem by
    `ProblemJsonErrorResponseBodyProvider` (detail falls back to the title). The challenge header is the filter's."""
    challenge = {} if headers.get("referer", "").endswith("/login") else {"WWW-Authenticate": "Basic"}
    if kestra_version.startswith("2"):
        return error_response(http_status(401, None, headers=challenge), scope, kestra_version)
    return Response(status_code=401, headers=challenge)


def _tenant(scope: dict) -> str | None:
    """The `{tenant}` path segment of the matched route (the gate records the route template)."""
    template = scope.get("kestra.template") or ""
    if "{tenant}" not in template:
        return None
    return scope["path"].split("/")[3]
