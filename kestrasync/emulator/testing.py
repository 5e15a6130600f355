"""Pytest plugin (entry point `kestra_emulator`): a Kestra emulator for any test that asks for one.

Loaded in every pytest run of a project that installs kestra-sync, so it imports nothing heavy at module level:
starlette and uvicorn are imported only when a fixture is used.

- `kestra_emulator_server` (session): one `EmulatorServer` with the default configuration.
- `kestra_emulator` (function): that same server, emptied first (store, counters, faults, latency).

Tests needing another configuration (no auth, a token, multi-tenant, 2.0 errors, a state file) start their own
`EmulatorServer` as a context manager.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def kestra_emulator_server():
    from .server import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture
def kestra_emulator(kestra_emulator_server):
    kestra_emulator_server.reset(store=True, counters=True, faults=True)
    yield kestra_emulator_server
