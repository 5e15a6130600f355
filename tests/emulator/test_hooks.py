"""Point 6: the `/__emulator/` hooks: counters, reset, latency and fault injection."""

from __future__ import annotations

import time

import httpx
import pytest
from support import YAML, flow_yaml

SEARCH = "/api/v1/{tenant}/flows/search"


def test_counters_are_per_route_template_and_method(kestra_emulator, client, create):
    create(flow_yaml())
    client.get("/api/v1/main/flows/company.team/hello")
    client.get("/api/v1/main/flows/company.team/hello")
    client.get("/api/v1/main/nowhere")  # no Kestra route: not counted
    assert kestra_emulator.request_counts() == {"POST /api/v1/{tenant}/flows": 1,
                                                "GET /api/v1/{tenant}/flows/{namespace}/{id}": 2}
    raw = httpx.get(f"{kestra_emulator.url}/__emulator/requests").json()  # hooks need no credentials
    assert raw["total"] == 3


def test_unauthenticated_and_faulted_requests_are_counted(kestra_emulator):
    httpx.get(f"{kestra_emulator.url}/api/v1/main/flows/search")
    assert kestra_emulator.request_counts() == {f"GET {SEARCH}": 1}


def test_reset_can_keep_the_store(kestra_emulator, client, create):
    create(flow_yaml())
    kestra_emulator.reset(store=False)
    assert kestra_emulator.request_counts() == {}
    assert client.get("/api/v1/main/flows/company.team/hello").status_code == 200
    kestra_emulator.reset()
    assert client.get("/api/v1/main/flows/company.team/hello").status_code == 404


def test_status_fault_for_the_next_n_requests_with_retry_after(kestra_emulator, client):
    kestra_emulator.add_fault(route=SEARCH, status=429, count=2, retry_after=7)
    first, second, third = (client.get("/api/v1/main/flows/search") for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert second.status_code == 429 and third.status_code == 200
    assert first.json()["message"] == "Too Many Requests"
    assert kestra_emulator.request_counts() == {f"GET {SEARCH}": 3}


def test_fault_matches_method_and_route(kestra_emulator, client, create):
    kestra_emulator.add_fault(method="PUT", status=502)
    create(flow_yaml())
    assert client.get("/api/v1/main/flows/company.team/hello").status_code == 200
    assert client.put("/api/v1/main/flows/company.team/hello", content=flow_yaml(), headers=YAML).status_code == 502


def test_fraction_fault_is_deterministic_with_a_seed(kestra_emulator, client):
    def pattern() -> list[int]:
        kestra_emulator.reset()
        kestra_emulator.add_fault(route=SEARCH, status=500, fraction=0.5, seed=42)
        return [client.get("/api/v1/main/flows/search").status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(500) < 20


def test_status_fault_before_does_not_process_the_request(kestra_emulator, client):
    kestra_emulator.add_fault(method="POST", route="/api/v1/{tenant}/flows", status=503, count=1)
    assert client.post("/api/v1/main/flows", content=flow_yaml(), headers=YAML).status_code == 503
    assert client.get("/api/v1/main/flows/company.team/hello").status_code == 404


def test_status_fault_after_processes_the_request_but_hides_the_answer(kestra_emulator, client):
    kestra_emulator.add_fault(method="POST", route="/api/v1/{tenant}/flows", status=500, count=1, phase="after")
    assert client.post("/api/v1/main/flows", content=flow_yaml(), headers=YAML).status_code == 500
    assert client.get("/api/v1/main/flows/company.team/hello").json()["revision"] == 1


def test_drop_closes_the_connection_without_an_answer(kestra_emulator, client):
    kestra_emulator.add_fault(route=SEARCH, action="drop", count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("/api/v1/main/flows/search")
    assert client.get("/api/v1/main/flows/search").status_code == 200  # the next one is fine


def test_drop_after_processing_keeps_the_write(kestra_emulator, client):
    kestra_emulator.add_fault(method="POST", action="drop", count=1, phase="after")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/api/v1/main/flows", content=flow_yaml(), headers=YAML)
    assert client.get("/api/v1/main/flows/company.team/hello").status_code == 200


def test_stall_outlasts_a_client_timeout(kestra_emulator, client):
    kestra_emulator.add_fault(route=SEARCH, action="stall", stall_seconds=5, count=1)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v1/main/flows/search", timeout=0.3)
    kestra_emulator.reset(store=False)  # releases the stalled request
    assert client.get("/api/v1/main/flows/search").status_code == 200


def test_short_stall_then_answers_normally(kestra_emulator, client):
    kestra_emulator.add_fault(route=SEARCH, action="stall", stall_seconds=0.3, count=1)
    started = time.monotonic()
    assert client.get("/api/v1/main/flows/search").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_latency_is_added_to_kestra_routes_only_and_reset(kestra_emulator, client):
    kestra_emulator.set_latency(200)
    started = time.monotonic()
    client.get("/api/v1/main/flows/search")
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    kestra_emulator.request_counts()
    assert time.monotonic() - started < 0.2
    kestra_emulator.reset()
    started = time.monotonic()
    client.get("/api/v1/main/flows/search")
    assert time.monotonic() - started < 0.2


def test_bad_fault_specs_are_refused(kestra_emulator):
    for spec in ({"action": "explode"}, {"fraction": 2}, {"action": "stall"}, {"nonsense": 1}):
        response = httpx.post(f"{kestra_emulator.url}/__emulator/faults", json=spec)
        assert response.status_code == 400, spec


def test_clearing_faults(kestra_emulator, client):
    kestra_emulator.add_fault(status=500)
    assert client.get("/api/v1/main/flows/search").status_code == 500
    assert httpx.delete(f"{kestra_emulator.url}/__emulator/faults").status_code == 204
    assert client.get("/api/v1/main/flows/search").status_code == 200
