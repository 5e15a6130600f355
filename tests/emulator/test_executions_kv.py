"""Executions (kestra-api.md §8) and the KV routes (§9) the advisory lock will use."""

from __future__ import annotations

import time

from support import flow_yaml

INPUTS = ("inputs:\n  - id: name\n    type: STRING\n  - id: count\n    type: INT\n    defaults: 3\n"
          "  - id: file\n    type: FILE\n    required: false\n")
KV = "/api/v1/main/namespaces/company.team/kv"


def test_execution_with_wait_answers_one_terminated_execution(client, create):
    create(flow_yaml(extra=INPUTS + "labels:\n  team: data\n"))
    response = client.post("/api/v1/main/executions/company.team/hello", params={"wait": "true", "labels": "env:test"},
                           files={"name": (None, "world"), "file": ("data.csv", b"a,b\n")})
    assert response.status_code == 200
    execution = response.json()
    assert isinstance(execution, dict)  # one object, although the 1.0 spec says an array
    assert (execution["namespace"], execution["flowId"], execution["flowRevision"]) == ("company.team", "hello", 1)
    assert execution["state"]["current"] == "SUCCESS"
    assert [h["state"] for h in execution["state"]["histories"]] == ["CREATED", "RUNNING", "SUCCESS"]
    assert execution["inputs"]["name"] == "world" and execution["inputs"]["count"] == 3
    assert execution["inputs"]["file"].startswith("kestra:///company/team/hello/executions/")
    labels = {(label["key"], label["value"]) for label in execution["labels"]}
    assert {("team", "data"), ("env", "test"), ("system.correlationId", execution["id"])} <= labels
    assert execution["url"].endswith(f"/ui/main/executions/company.team/hello/{execution['id']}")
    assert client.get(f"/api/v1/main/executions/{execution['id']}").json()["state"]["current"] == "SUCCESS"


def test_execution_without_wait_is_created_then_reads_finished(client, create):
    create(flow_yaml())
    execution = client.post("/api/v1/main/executions/company.team/hello").json()
    assert execution["state"]["current"] == "CREATED"
    assert client.get(f"/api/v1/main/executions/{execution['id']}").json()["state"]["current"] == "SUCCESS"


def test_execution_input_errors_are_422(client, create):
    create(flow_yaml(extra=INPUTS))
    missing = client.post("/api/v1/main/executions/company.team/hello", files={"count": (None, "1")})
    assert missing.status_code == 422 and "missing required input" in missing.json()["message"]
    typed = client.post("/api/v1/main/executions/company.team/hello", files={"name": (None, "x"), "count": (None, "x")})
    assert typed.status_code == 422
    system = client.post("/api/v1/main/executions/company.team/hello", params={"labels": "system.username:me"},
                         files={"name": (None, "x")})
    assert system.status_code == 422


def test_unknown_execution_is_404(client):
    assert client.get("/api/v1/main/executions/doesnotexist").status_code == 404


def test_kv_put_get_list_delete(client):
    # A JSON string, or a bare word (an Ion symbol), is a string.
    assert client.put(f"{KV}/lock", content='"owner-1"', headers={"Content-Type": "text/plain"}).status_code == 200
    assert client.get(f"{KV}/lock").json() == {"type": "STRING", "value": "owner-1"}
    client.put(f"{KV}/word", content="owner", headers={"Content-Type": "text/plain"})
    assert client.get(f"{KV}/word").json() == {"type": "STRING", "value": "owner"}
    client.delete(f"{KV}/word")
    client.put(f"{KV}/config", json={"a": 1})
    client.put(f"{KV}/count", content="42", headers={"Content-Type": "application/json"})
    client.put(f"{KV}/quoted", content='"PT5M"', headers={"Content-Type": "application/json"})
    assert client.get(f"{KV}/config").json() == {"type": "JSON", "value": {"a": 1}}
    assert client.get(f"{KV}/count").json() == {"type": "NUMBER", "value": 42}
    assert client.get(f"{KV}/quoted").json() == {"type": "DURATION", "value": "PT5M"}
    entries = client.get(KV).json()
    assert [entry["key"] for entry in entries] == ["config", "count", "lock", "quoted"]
    assert {"key", "creationDate", "updateDate"} <= set(entries[0])
    assert client.delete(f"{KV}/lock").json() is True
    assert client.delete(f"{KV}/lock").json() is False
    missing = client.get(f"{KV}/lock")
    assert (missing.status_code, missing.json()["message"]) == (
        404, "Not Found: No value found for key 'lock' in namespace 'company.team'")


def test_kv_ttl_expires_the_entry(client):
    client.put(f"{KV}/lease", content="me", headers={"Content-Type": "text/plain", "ttl": "PT0.3S"})
    entry = client.get(KV).json()[0]
    assert "expirationDate" in entry
    assert client.get(f"{KV}/lease").status_code == 200
    time.sleep(0.4)
    # The read that finds it expired deletes it and answers 410 (InternalKVStore.getRawValue, ErrorController
    # "Resource has expired", v1.0.3); the next read is 404.
    expired = client.get(f"{KV}/lease")
    assert (expired.status_code, expired.json()["message"]) == (410, "Resource has expired: The requested value has expired")
    assert client.get(f"{KV}/lease").status_code == 404
    assert client.get(KV).json() == []


def test_kv_refuses_invalid_json_and_bad_keys(client):
    invalid = client.put(f"{KV}/broken", content="{not json", headers={"Content-Type": "application/json"})
    assert (invalid.status_code, invalid.json()["message"]) == (422, "Illegal argument: Invalid JSON value for: {not json")
    assert client.put(f"{KV}/bad%20key", content="1", headers={"Content-Type": "application/json"}).status_code == 422
