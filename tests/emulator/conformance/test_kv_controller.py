"""KVControllerTest, translated (1.x v1.0.3 and 2.x develop c94e7743, see conftest.py).

The Java tests write entries with the storage or the KV store; here they are written with `PUT .../kv/{key}`,
whose `ttl` header sets the expiration (a negative one gives an already expired entry), and read back
over HTTP where the Java test reads the store.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import message

NAMESPACE = "io.kestra.unittest"
KV = f"/api/v1/main/namespaces/{NAMESPACE}/kv"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _put(client, key, value, *, namespace=NAMESPACE, ttl=None, description=None, text=True):
    headers = {"Content-Type": "text/plain" if text else "application/json"}
    if ttl:
        headers["ttl"] = ttl
    if description:
        headers["description"] = description
    response = client.put(f"/api/v1/main/namespaces/{namespace}/kv/{key}", content=value, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.kestra("1.0")  # v1.0.3; the per-namespace list is gone from c94e7743 (listAllKeys replaces it)
def test_listKeys(client):
    before = _now()
    _put(client, "my-key", '"my-value"', ttl="PT5M")
    _put(client, "my-second-key", '"my-second-value"', ttl="PT10M", description="myDescription")
    after = _now()
    res = client.get(KV).json()
    for entry in res:
        assert abs(_instant(entry["creationDate"]) - _now()) <= timedelta(seconds=1)
        assert abs(_instant(entry["updateDate"]) - _now()) <= timedelta(seconds=1)
    first = next(entry for entry in res if entry["key"] == "my-key")
    second = next(entry for entry in res if entry["key"] == "my-second-key")
    # isEqualTo(the expiration written): here it is the put time plus the ttl.
    assert before + timedelta(minutes=5) - timedelta(milliseconds=1) <= _instant(first["expirationDate"]) <= after + timedelta(minutes=5)
    assert before + timedelta(minutes=10) - timedelta(milliseconds=1) <= _instant(second["expirationDate"]) <= after + timedelta(minutes=10)
    assert second["description"] == "myDescription"


@pytest.mark.kestra("2.0")  # c94e7743
def test_listAllKeys(client):
    namespace, second_namespace = "io.kestra.random1", "io.kestra.random2"
    before = _now()
    _put(client, "namespace-key", '"namespace-value"', namespace=namespace, ttl="PT5M", description="namespaceDescription")
    after = _now()
    _put(client, "z-expired-key", '"expired-value"', namespace=namespace, ttl="-PT1H")  # should not be listed
    _put(client, "another-namespace-key", '"another-namespace-value"', namespace=second_namespace, ttl="PT10M",
         description="anotherNamespaceDescription")
    res = client.get("/api/v1/main/kv?size=1&page=1&sort=key:desc").json()
    assert res["total"] == 2
    assert len(res["results"]) == 1
    entry = res["results"][0]
    assert entry["namespace"] == namespace
    assert entry["key"] == "namespace-key"
    assert entry["description"] == "namespaceDescription"
    assert before <= _instant(entry["creationDate"]) <= after
    assert before <= _instant(entry["updateDate"]) <= after
    assert before + timedelta(minutes=5) - timedelta(milliseconds=1) <= _instant(entry["expirationDate"]) <= after + timedelta(minutes=5)
    res = client.get("/api/v1/main/kv?size=1&page=2&sort=key:desc").json()
    assert res["total"] == 2
    assert len(res["results"]) == 1
    assert res["results"][0]["namespace"] == second_namespace
    assert res["results"][0]["key"] == "another-namespace-key"
    client.delete(f"/api/v1/main/namespaces/{second_namespace}/kv/another-namespace-key")
    res = client.get("/api/v1/main/kv?size=1&page=1&sort=key:desc").json()
    assert res["total"] == 1
    assert len(res["results"]) == 1
    assert res["results"][0]["namespace"] == namespace
    assert res["results"][0]["key"] == "namespace-key"


@pytest.mark.kestra("1.0", "2.0")
def test_listKeysWithInheritance(client, kestra):
    parent = "io"
    _put(client, "shared-key", '"my-value"', ttl="PT5M", description="in the namespace")
    _put(client, "child-key", '"my-second-value"', ttl="PT5M", description="in the namespace")
    _put(client, "shared-key", '"my-value"', namespace=parent, ttl="PT5M", description="in the parent namespace")
    _put(client, "parent-key", '"my-second-value"', namespace=parent, ttl="PT5M", description="in the parent namespace")
    res = client.get(f"{KV}/inheritance").json()
    descriptions = {entry["key"]: entry["description"] for entry in res}
    if kestra.config.kestra_version == "1.0":  # v1.0.3: the namespace itself is part of the tree
        assert len(res) == 3
        assert descriptions == {"shared-key": "in the namespace", "child-key": "in the namespace",
                                "parent-key": "in the parent namespace"}
    else:  # c94e7743: parents only
        assert len(res) == 2
        assert descriptions == {"shared-key": "in the parent namespace", "parent-key": "in the parent namespace"}


GET_VALUES = [  # kvGetKeyValueArgs (v1.0.3 stores these Ion texts; c94e7743 the equivalent Java values)
    ('{hello:"world"}', "JSON", '{"hello":"world"}'),
    ('["hello","world"]', "JSON", '["hello","world"]'),
    ('"hello"', "STRING", '"hello"'),
    ("1", "NUMBER", "1"),
    ("1.0", "NUMBER", "1.0"),
    ("true", "BOOLEAN", "true"),
    ("false", "BOOLEAN", "false"),
    ("2021-09-01", "DATE", '"2021-09-01"'),
    ("2021-09-01T01:02:03Z", "DATETIME", '"2021-09-01T01:02:03Z"'),
    ('"PT5S"', "DURATION", '"PT5S"'),
]


@pytest.mark.kestra("1.0")
@pytest.mark.parametrize("stored, expected_type, expected_value", GET_VALUES)
def test_getKeyValue(client, stored, expected_type, expected_value):
    _put(client, "my-key", stored, ttl="PT5M")
    res = client.get(f"{KV}/my-key").text
    assert f'"type":"{expected_type}"' in res.replace(" ", "")
    assert f'"value":{expected_value}' in res.replace(", ", ",").replace(": ", ":")


@pytest.mark.kestra("2.0")
@pytest.mark.parametrize("stored, expected_type, expected_value",
                         [(s, t, v.replace("1.0", "1.1")) if s == "1.0" else (s, t, v) for s, t, v in GET_VALUES])
def test_getKeyValue_2x(client, stored, expected_type, expected_value):
    """c94e7743 getKeyValue: the same, with `1.1` for the decimal, plus `revision` 1 then 2 and `updated`."""
    stored = "1.1" if stored == "1.0" else stored
    before = _now()
    _put(client, "my-key", stored)
    after = _now()
    res = client.get(f"{KV}/my-key").text.replace(", ", ",").replace(": ", ":")
    assert f'"type":"{expected_type}"' in res
    assert f'"value":{expected_value}' in res
    assert '"revision":1' in res
    assert before <= _instant(client.get(f"{KV}/my-key").json()["updated"]) <= after
    before = _now()
    _put(client, "my-key", stored)
    after = _now()
    res = client.get(f"{KV}/my-key").text.replace(", ", ",").replace(": ", ":")
    assert '"revision":2' in res
    assert before <= _instant(client.get(f"{KV}/my-key").json()["updated"]) <= after


@pytest.mark.kestra("1.0")  # asserts the JsonError message (c94e7743 asserts the same one, replaced by problems later)
def test_getKeyValueNotFound(client):
    response = client.get(f"{KV}/my-key")
    assert response.status_code == 404
    assert message(response) == f"Not Found: No value found for key 'my-key' in namespace '{NAMESPACE}'"


@pytest.mark.kestra("1.0")  # JsonError message, as above
def test_getKeyValueExpired(client):
    _put(client, "my-key", "value", ttl="-PT5M")
    response = client.get(f"{KV}/my-key")
    assert response.status_code == 410
    assert message(response) == "Resource has expired: The requested value has expired"


SET_VALUES = [  # kvSetKeyValueArgs: the Java class of the stored value, read here as the KV type Kestra derives
    ('{"hello":"world"}', "JSON"), ('["hello","world"]', "JSON"), ('"hello"', "STRING"), ("1", "NUMBER"),
    ("1.0", "NUMBER"), ("true", "BOOLEAN"), ("false", "BOOLEAN"), ("2021-09-01", "DATE"),
    ("2021-09-01T01:02:03Z", "DATETIME"), ('"PT5S"', "DURATION"),
]


@pytest.mark.kestra("1.0", "2.0")  # v1.0.3 sends application/json, c94e7743 text/plain
@pytest.mark.parametrize("value, expected", SET_VALUES)
def test_setKeyValue(client, kestra, value, expected):
    _put(client, "my-key", value, ttl="PT5M", description="myDescription", text=kestra.config.kestra_version == "2.0")
    assert client.get(f"{KV}/my-key").json()["type"] == expected
    if kestra.config.kestra_version == "1.0":
        listed = client.get(KV).json()
    else:
        listed = client.get(f"/api/v1/main/kv?filters[namespace][EQUALS]={NAMESPACE}").json()["results"]
    assert len(listed) == 1
    expiration = _instant(listed[0]["expirationDate"])
    assert _now() + timedelta(minutes=4) < expiration < _now() + timedelta(minutes=6)
    assert listed[0]["description"] == "myDescription"


@pytest.mark.kestra("1.0", "2.0")
def test_deleteKeyValue(client):
    _put(client, "my-key", '"content"', ttl="PT5M")
    assert client.get(f"{KV}/my-key").status_code == 200
    client.delete(f"{KV}/my-key")
    assert client.get(f"{KV}/my-key").status_code == 404


@pytest.mark.kestra("1.0", "2.0")
def test_shouldReturnSuccessForDeleteKeyValueBulkOperationGivenExistingKeys(client):
    _put(client, "my-key", '"content"', ttl="PT5M")
    assert client.get(f"{KV}/my-key").status_code == 200
    response = client.request("DELETE", KV, json={"keys": ["my-key"]})
    assert response.status_code == 200
    assert response.json() == {"keys": ["my-key"]}


@pytest.mark.kestra("1.0", "2.0")
def test_shouldReturnSuccessForDeleteKeyValueBulkOperationGivenNonExistingKeys(client):
    response = client.request("DELETE", KV, json={"keys": ["my-key"]})
    assert response.status_code == 200
    assert response.json() == {"keys": []}
    assert client.get(f"{KV}/my-key").status_code == 404


@pytest.mark.kestra("1.0")  # JsonError message
def test_illegalKey(client):
    expected = ("Illegal argument: Key must start with an alphanumeric character (uppercase or lowercase) and can "
                "contain alphanumeric characters (uppercase or lowercase), dots (.), underscores (_), and hyphens (-) only.")
    for response in (client.get(f"{KV}/bad$key"),
                     client.put(f"{KV}/bad$key", content='"content"', headers={"Content-Type": "application/json"}),
                     client.delete(f"{KV}/bad$key")):
        assert response.status_code == 422
        assert message(response) == expected


@pytest.mark.kestra("2.0")
def test_jsonFallback(client):
    _put(client, "my-key", "1.2.3")
    stored = client.get(f"{KV}/my-key").json()
    assert stored["type"] == "STRING"
    assert stored["value"] == "1.2.3"


def test_expired_kv_answer_per_version(client, kestra):
    """Not a Java test: the 2.x rendering of the same 410 (ProblemTypes.RESOURCE_EXPIRED, ProblemFactory)."""
    _put(client, "lease", '"me"', ttl="PT0.2S")
    time.sleep(0.3)
    response = client.get(f"{KV}/lease")
    assert response.status_code == 410
    if kestra.config.kestra_version == "2.0":
        assert response.json() == {"type": "https://kestra.io/docs/api-reference/problems/resource-expired",
                                   "title": "Resource has expired", "status": 410,
                                   "detail": "The requested value has expired", "instance": f"{KV}/lease"}
