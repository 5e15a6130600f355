"""The outermost ASGI layer: finds the Kestra route of a request, then counts, delays and faults it.

It must sit outside Starlette's own middleware because dropping a connection needs uvicorn's raw `send`:
that callable is a bound method of uvicorn's `RequestResponseCycle` (h11 and httptools alike), whose
`transport` can be aborted so the client sees the connection close with no answer at all. (An ASGI app that
merely returns without answering makes uvicorn send a 500.)

It also applies Kestra's legacy alias: a `/api/v1/...` path that matches no route is retried as
`/api/v1/main/...` (TenantAliasingRooter), while `_links.self` keeps the path as sent.
"""

from __future__ import annotations

import asyncio

from starlette.routing import BaseRoute, Match

from .errors import http_status
from .hooks import Fault
from .state import Emulator
from .web import error_response


class Gate:
    def __init__(self, app, emulator: Emulator, routes: list[BaseRoute]) -> None:
        self.app = app
        self.emulator = emulator
        self.routes = [route for route in routes if getattr(route, "path", "").startswith("/api/")]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        template = self._resolve(scope)
        if template is None:
            return await self.app(scope, receive, send)
        hooks, method = self.emulator.hooks, scope["method"]
        scope["kestra.template"] = template
        hooks.record(method, template)
        await hooks.delay()
        fault = hooks.take_fault(method, template)
        if fault is None:
            return await self.app(scope, receive, send)
        answer: list[dict] = []
        if fault.phase == "after":  # process and store for real, keep the answer aside
            await self.app(scope, receive, _collect(answer))
        await self._inject(fault, scope, receive, send, answer)

    async def _inject(self, fault: Fault, scope, receive, send, answer: list[dict]) -> None:
        if fault.action == "drop":
            return await drop_connection(send)
        if fault.action == "stall":
            await self.emulator.hooks.stall(fault.stall_seconds)
            if fault.phase == "after":
                for message in answer:
                    await send(message)
                return
            return await self.app(scope, receive, send)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        error = http_status(fault.status, None, headers=headers)
        await error_response(error, scope, self.emulator.config.kestra_version)(scope, receive, send)

    def _resolve(self, scope: dict) -> str | None:
        """The template of the route that fully matches, trying the `main` alias when none does."""
        template, partial = self._match(scope)
        path = scope["path"]
        if template is not None or partial or not _aliasable(path):
            return template
        aliased = "/api/v1/main" + path[len("/api/v1"):]
        template, _ = self._match(dict(scope, path=aliased))
        if template is not None:
            scope["kestra.original_path"] = scope.get("raw_path", path.encode()).decode("latin-1")
            scope["path"], scope["raw_path"] = aliased, aliased.encode()
        return template

    def _match(self, scope: dict) -> tuple[str | None, bool]:
        partial = False
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path, False
            partial = partial or match is Match.PARTIAL
        return None, partial


def _aliasable(path: str) -> bool:
    return (path.startswith("/api/v1/") and not path.startswith(("/api/v1/main/", "/api/v1/tenants"))
            and path not in ("/api/v1/configs", "/api/v1/configs/login"))


def _collect(messages: list[dict]):
    async def send(message: dict) -> None:
        messages.append(message)
    return send


async def drop_connection(send) -> None:
    """Abort the TCP connection under uvicorn, so the client gets no response at all."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("Dropping a connection needs uvicorn's own send callable (run under uvicorn).")
    transport.abort()
    for _ in range(20):  # let uvicorn see connection_lost, so it does not try to answer 500
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
