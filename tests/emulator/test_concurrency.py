"""Point 7 (correctness under concurrency): many clients creating, updating and deleting the same flows at once."""

from __future__ import annotations

import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
from support import AUTH, YAML, flow_yaml

FLOW_IDS = [f"f{index}" for index in range(5)]


def _worker(url: str, worker: int) -> list[tuple[str, str, int]]:
    """Random operations; returns (flow id, operation, revision written) for each one that wrote a row."""
    rng, written = random.Random(worker), []
    with httpx.Client(base_url=url, auth=AUTH, timeout=30) as client:
        for step in range(40):
            flow_id = rng.choice(FLOW_IDS)
            path = f"/api/v1/main/flows/company.team/{flow_id}"
            text = flow_yaml(flow_id=flow_id, extra=f"description: worker {worker} step {step}\n")  # unique: always a change
            operation = rng.choice(["create", "update", "delete"])
            if operation == "create":
                response = client.post("/api/v1/main/flows", content=text, headers=YAML)
            elif operation == "update":
                response = client.put(path, content=text, headers=YAML)
            else:
                response = client.delete(path)
            assert response.status_code in (200, 204, 404, 422), response.text
            if response.status_code == 200:
                written.append((flow_id, operation, response.json()["revision"]))
            elif response.status_code == 204:
                written.append((flow_id, operation, 0))
    return written


def test_concurrent_writes_keep_revisions_consistent(kestra_emulator, client):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda worker: _worker(kestra_emulator.url, worker), range(8)))
    writes = defaultdict(list)
    for flow_id, operation, revision in (item for result in results for item in result):
        writes[flow_id].append((operation, revision))
    for flow_id in FLOW_IDS:
        rows = client.get(f"/api/v1/main/flows/company.team/{flow_id}/revisions").json()
        numbers = [row["revision"] for row in rows]
        assert numbers == list(range(1, len(rows) + 1))  # dense, ascending, no duplicates
        assert len(rows) == len(writes[flow_id])  # every successful write is exactly one row
        answered = [revision for operation, revision in writes[flow_id] if operation != "delete"]
        assert len(answered) == len(set(answered))  # no two writers were told the same revision
        live = client.get(f"/api/v1/main/flows/company.team/{flow_id}")
        assert (live.status_code == 404) == (bool(rows) and rows[-1]["deleted"] or not rows)
