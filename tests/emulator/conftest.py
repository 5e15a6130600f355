"""Fixtures for the emulator tests: an authenticated httpx client on the per-test emulator.

The `kestra_emulator` fixture comes from the `kestra_emulator` pytest plugin (kestrasync/emulator/testing.py).
"""

from __future__ import annotations

import httpx
import pytest
from support import AUTH, YAML


@pytest.fixture
def client(kestra_emulator):
    """An httpx client with the default credentials, against a freshly reset emulator."""
    with httpx.Client(base_url=kestra_emulator.url, auth=AUTH, timeout=10) as http:
        yield http


@pytest.fixture
def create(client):
    """Create a flow from YAML text and return the parsed FlowWithSource (asserting 200)."""

    def _create(source: str) -> dict:
        response = client.post("/api/v1/main/flows", content=source.encode(), headers=YAML)
        assert response.status_code == 200, response.text
        return response.json()

    return _create
