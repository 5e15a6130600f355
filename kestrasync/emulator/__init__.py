"""A faithful stand-in for a Kestra server (open source 0.24 / 1.x), for tests, benchmarks and demos.

Public API: `EmulatorConfig`, `EmulatorServer` (a server in a background thread, a context manager) and
`create_app` (the ASGI application). The server and the app need the `emulator` extra (starlette, uvicorn,
python-multipart) and are imported on first use, so importing this package (or its pytest plugin) never does.

This package imports nothing from the rest of kestra-sync.

Module map, from the YAML up: `flowyaml` (YAML as Kestra reads it) → `flowdoc` (typed fields) → `checks`
(validation) → `render` (Flow JSON) → `store` (revision rows) → `filters` (queries) → `flowservice` (Kestra's
flow semantics); `kvstore`, `executions`, `nspaths` → `nsfiles` (namespace files per version); `errors` (both
error formats); `state` (one instance's stores) with `statefile` (atomic persistence) and `hooks` (counters,
faults, latency); `*_api` and `web` (routes), `access` (auth, tenant), `gate` (alias, counting, faults), `app`
(wiring); `server`, `testing` (pytest plugin).
"""

from __future__ import annotations

from .config import EmulatorConfig

__all__ = ["EmulatorConfig", "EmulatorServer", "create_app"]


def __getattr__(name: str):
    if name == "EmulatorServer":
        from .server import EmulatorServer

        return EmulatorServer
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
