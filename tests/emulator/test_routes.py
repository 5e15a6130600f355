"""Point 2 and 3: routing, tenants, and every flow route, checked against kestra-api.md §2-§4."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from support import AUTH, YAML, flow_yaml

from kestrasync.emulator import EmulatorConfig, EmulatorServer

FLOWS = "/api/v1/main/flows"


@pytest.fixture
def seeded(create):
    """Six flows over a small namespace tree (a, a.b, a.b.c, a-b, ab, other)."""
    for namespace, flow_id in [("a", "f1"), ("a", "f2"), ("a.b", "f1"), ("a.b.c", "deep"), ("a-b", "dash"),
                               ("ab", "g1"), ("other", "target")]:
        create(flow_yaml(flow_id=flow_id, namespace=namespace))


def _ids(body) -> list[tuple[str, str]]:
    items = body["results"] if isinstance(body, dict) else body
    return [(item["namespace"], item["id"]) for item in items]


def _zip(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-disposition"] == 'attachment; filename="flows.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {name: archive.read(name).decode() for name in archive.namelist()}


# --- routing ---------------------------------------------------------------------------------------

def test_configs_is_open_and_reports_a_version(kestra_emulator):
    response = httpx.get(f"{kestra_emulator.url}/api/v1/configs")
    assert response.status_code == 200
    assert response.json()["version"].startswith("1.0")


def test_legacy_paths_alias_the_main_tenant(client, create):
    create(flow_yaml())
    assert client.get("/api/v1/flows/company.team/hello").json()["id"] == "hello"
    created = client.post("/api/v1/flows", content=flow_yaml(flow_id="legacy"), headers=YAML)
    assert (created.status_code, created.json()["tenantId"]) == (200, "main")
    missing = client.get("/api/v1/flows/company.team/missing")
    assert missing.json()["_links"]["self"]["href"] == "/api/v1/flows/company.team/missing"


def test_legacy_requests_count_under_the_tenant_route(kestra_emulator, client):
    client.get("/api/v1/flows/search")
    assert kestra_emulator.request_counts() == {"GET /api/v1/{tenant}/flows/search": 1}


def test_multi_tenant_mode_gives_each_tenant_its_own_store():
    with EmulatorServer(EmulatorConfig(multi_tenant=True)) as server, \
            httpx.Client(base_url=server.url, auth=AUTH) as client:
        created = client.post("/api/v1/acme/flows", content=flow_yaml(), headers=YAML)
        assert (created.status_code, created.json()["tenantId"]) == (200, "acme")
        assert client.get("/api/v1/acme/flows/search").json()["total"] == 1
        assert client.get("/api/v1/main/flows/search").json()["total"] == 0
        assert client.post("/api/v1/main/flows", content=flow_yaml(), headers=YAML).json()["revision"] == 1


def test_token_mode_accepts_the_bearer_token_and_basic_auth():
    with EmulatorServer(EmulatorConfig(token="s3cret")) as server:
        url = f"{server.url}/api/v1/main/flows/search"
        assert httpx.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(url, auth=AUTH).status_code == 200


def test_no_auth_mode_needs_no_credentials():
    with EmulatorServer(EmulatorConfig(username=None, password=None)) as server:
        assert httpx.get(f"{server.url}/api/v1/main/flows/search").status_code == 200


# --- reading ---------------------------------------------------------------------------------------

def test_list_by_namespace_is_exact_and_without_source(client, seeded):
    body = client.get(f"{FLOWS}/a").json()
    assert _ids(body) == [("a", "f1"), ("a", "f2")]
    assert all("source" not in flow for flow in body)


def test_search_pages_are_one_based_with_total(client, seeded):
    first = client.get(f"{FLOWS}/search", params={"page": 1, "size": 3}).json()
    third = client.get(f"{FLOWS}/search", params={"page": 3, "size": 3}).json()
    assert first["total"] == third["total"] == 7
    assert _ids(first) == [("a", "f1"), ("a", "f2"), ("a-b", "dash")]
    assert _ids(third) == [("other", "target")]
    assert client.get(f"{FLOWS}/search", params={"page": 9}).json() == {"results": [], "total": 7}


def test_search_namespace_is_a_dotted_prefix(client, seeded):
    body = client.get(f"{FLOWS}/search", params={"namespace": "a", "size": 50}).json()
    assert _ids(body) == [("a", "f1"), ("a", "f2"), ("a.b", "f1"), ("a.b.c", "deep")]
    assert body["total"] == 4


def test_search_q_matches_namespace_or_id(client, seeded):
    assert _ids(client.get(f"{FLOWS}/search", params={"q": "DEE"}).json()) == [("a.b.c", "deep")]
    assert _ids(client.get(f"{FLOWS}/search", params={"q": "othe"}).json()) == [("other", "target")]


def test_search_filters_syntax_in_both_spellings(client, seeded):
    upper = client.get(f"{FLOWS}/search", params={"filters[NAMESPACE][PREFIX]": "a.b", "filters[FLOW_ID][EQUALS]": "f1"})
    lower = client.get(f"{FLOWS}/search", params={"filters[namespace][PREFIX]": "a.b", "filters[flowId][EQUALS]": "f1"})
    assert _ids(upper.json()) == _ids(lower.json()) == [("a.b", "f1")]
    query = client.get(f"{FLOWS}/search", params={"filters[q][EQUALS]": "target"})
    assert _ids(query.json()) == [("other", "target")]


def test_filters_override_legacy_parameters(client, seeded):
    body = client.get(f"{FLOWS}/search", params={"namespace": "other", "filters[namespace][EQUALS]": "ab"}).json()
    assert _ids(body) == [("ab", "g1")]


def test_search_by_labels_and_sort(client, create):
    create(flow_yaml(flow_id="x1", namespace="lab", extra="labels:\n  team: data\n"))
    create(flow_yaml(flow_id="x2", namespace="lab", extra="labels:\n  team: ops\n"))
    by_label = client.get(f"{FLOWS}/search", params={"filters[labels][EQUALS][team]": "data"}).json()
    assert _ids(by_label) == [("lab", "x1")]
    assert _ids(client.get(f"{FLOWS}/search", params={"labels": "team:ops"}).json()) == [("lab", "x2")]
    descending = client.get(f"{FLOWS}/search", params={"sort": "id:desc"}).json()
    assert _ids(descending) == [("lab", "x2"), ("lab", "x1")]


def test_distinct_namespaces(client, seeded):
    assert client.get(f"{FLOWS}/distinct-namespaces").json() == ["a", "a-b", "a.b", "a.b.c", "ab", "other"]
    assert client.get(f"{FLOWS}/distinct-namespaces", params={"q": "b."}).json() == ["a.b.c"]


def test_revisions_list_is_ascending_and_empty_for_unknown(client, create):
    create(flow_yaml())
    client.put(f"{FLOWS}/company.team/hello", content=flow_yaml() + "# v2\n", headers=YAML)
    assert [r["revision"] for r in client.get(f"{FLOWS}/company.team/hello/revisions").json()] == [1, 2]
    assert client.get(f"{FLOWS}/company.team/unknown/revisions").json() == []


# --- validate --------------------------------------------------------------------------------------

def test_validate_answers_one_result_per_document_and_always_200(client, create):
    create(flow_yaml(flow_id="current"))
    body = "\n---\n".join([
        flow_yaml(flow_id="fine"),
        "revision: 1\n" + flow_yaml(flow_id="current"),  # the next revision would be 2: outdated
        flow_yaml(flow_id="broken", namespace="Bad"),
        "id: x\nnamespace: y\nunknown: 1\ntasks: []\n",
        "id: [unclosed\n",
    ])
    response = client.post(f"{FLOWS}/validate", content=body, headers=YAML)
    assert response.status_code == 200
    results = response.json()
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert "constraints" not in results[0] and (results[0]["flow"], results[0]["namespace"]) == ("fine", "company.team")
    assert results[1]["outdated"] is True
    assert results[2]["constraints"] == 'namespace: must match "^[a-z0-9][a-z0-9._-]*"\n'
    assert results[3]["constraints"].startswith('Unrecognized field "unknown"') and "flow" not in results[3]
    assert results[4]["constraints"].startswith("Illegal flow source: YAML parsing error")


def test_validate_does_not_check_existence_but_warns_about_missing_subflows(client, create):
    create(flow_yaml())
    parent = flow_yaml(flow_id="parent").replace(
        "tasks:\n", "tasks:\n  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n"
                    "    namespace: company.team\n    flowId: ghost\n", 1)
    results = client.post(f"{FLOWS}/validate", content=flow_yaml() + "\n---\n" + parent, headers=YAML).json()
    assert "constraints" not in results[0]
    assert results[1]["warnings"] == ["The subflow 'ghost' not found in namespace 'company.team'."]


# --- export ----------------------------------------------------------------------------------------

def test_export_by_query_zips_sources_named_namespace_dash_id(client, seeded, create):
    create(flow_yaml(flow_id="disabled-one", namespace="a", extra="disabled: true\n"))
    files = _zip(client.get(f"{FLOWS}/export/by-query", params={"namespace": "a.b"}))
    assert files == {"a.b-f1.yml": flow_yaml(flow_id="f1", namespace="a.b"), "a.b.c-deep.yml": flow_yaml(flow_id="deep", namespace="a.b.c")}
    assert "a-disabled-one.yml" in _zip(client.get(f"{FLOWS}/export/by-query", params={"namespace": "a"}))


def test_export_by_ids_names_entries_namespace_dot_id_and_404s_on_a_missing_id(client, seeded):
    ids = [{"namespace": "a", "id": "f1"}, {"namespace": "other", "id": "target"}]
    assert set(_zip(client.post(f"{FLOWS}/export/by-ids", json=ids))) == {"a.f1.yml", "other.target.yml"}
    missing = client.post(f"{FLOWS}/export/by-ids", json=[{"namespace": "a", "id": "nope"}])
    assert (missing.status_code, missing.json()["message"]) == (404, "Not Found: No value present")


# --- deletes ---------------------------------------------------------------------------------------

def test_delete_by_ids_stops_at_the_first_missing_id_after_deleting_the_earlier_ones(client, seeded):
    ids = [{"namespace": "a", "id": "f1"}, {"namespace": "a", "id": "nope"}, {"namespace": "a", "id": "f2"}]
    response = client.request("DELETE", f"{FLOWS}/delete/by-ids", json=ids)
    assert (response.status_code, response.json()["message"]) == (404, "Not Found: No value present")
    assert _ids(client.get(f"{FLOWS}/a").json()) == [("a", "f2")]
    ok = client.request("DELETE", f"{FLOWS}/delete/by-ids", json=[{"namespace": "a", "id": "f2"}])
    assert ok.json() == {"count": 1}


# --- namespace bulk (POST /flows/{namespace}) ------------------------------------------------------

def test_namespace_update_deletes_by_default_first_and_answers_deleted_flows_first(client, create):
    create(flow_yaml(flow_id="old", namespace="team"))
    create(flow_yaml(flow_id="kept", namespace="team"))
    create(flow_yaml(flow_id="child", namespace="team.sub"))  # children are not touched
    body = flow_yaml(flow_id="kept", namespace="team") + "---\n" + flow_yaml(flow_id="new", namespace="team")
    response = client.post(f"{FLOWS}/team", content=body, headers=YAML)  # no `delete` parameter: true
    assert response.status_code == 200
    answer = response.json()
    assert [(f["id"], f["revision"], f["deleted"]) for f in answer] == [("old", 1, False), ("kept", 2, False),
                                                                        ("new", 1, False)]
    assert _ids(client.get(f"{FLOWS}/search", params={"size": 20}).json()) == [
        ("team", "kept"), ("team", "new"), ("team.sub", "child")]


def test_namespace_update_trims_each_document(client, create):
    create(flow_yaml(flow_id="kept", namespace="team"))
    answer = client.post(f"{FLOWS}/team", params={"delete": "false"}, content=flow_yaml(flow_id="kept", namespace="team"), headers=YAML)
    kept = answer.json()[0]
    assert kept["source"] == flow_yaml(flow_id="kept", namespace="team").strip()
    assert kept["revision"] == 2  # the trailing newline is gone: a new revision


def test_namespace_update_splits_on_any_triple_dash(client):
    source = flow_yaml(flow_id="dashes", namespace="team", extra="description: a --- b\n")
    response = client.post(f"{FLOWS}/team", content=source, headers=YAML)
    assert response.status_code == 422  # "description: a " and " b ..." are parsed apart


def test_namespace_update_refuses_foreign_namespaces_and_duplicates_before_writing(client, create):
    create(flow_yaml(flow_id="old", namespace="team"))
    foreign = client.post(f"{FLOWS}/team", content=flow_yaml(flow_id="x", namespace="elsewhere"), headers=YAML)
    assert foreign.status_code == 422
    assert foreign.json()["_embedded"]["errors"] == [
        {"message": "main_elsewhere_x_-1 - flow namespace is invalid", "path": "flow.namespace"}]
    duplicate = client.post(f"{FLOWS}/team", content=flow_yaml(flow_id="x", namespace="team") + "---\n" + flow_yaml(flow_id="x", namespace="team"),
                            headers=YAML)
    assert duplicate.json()["message"] == "Invalid entity: flow.id: Duplicate flow id"
    assert _ids(client.get(f"{FLOWS}/team").json()) == [("team", "old")]  # nothing was deleted


def test_namespace_update_is_not_transactional(client, create):
    create(flow_yaml(flow_id="old", namespace="team"))
    body = flow_yaml(flow_id="good", namespace="team") + "---\n" + flow_yaml(flow_id="bad", namespace="team", task_id="bad id")
    assert client.post(f"{FLOWS}/team", content=body, headers=YAML).status_code == 422
    assert _ids(client.get(f"{FLOWS}/team").json()) == [("team", "good")]  # old deleted, good created


def test_namespace_update_with_an_empty_body_empties_the_namespace(client, seeded):
    answer = client.post(f"{FLOWS}/a", content=b"", headers=YAML)
    assert [(f["id"], f["deleted"]) for f in answer.json()] == [("f1", False), ("f2", False)]  # as before deletion
    assert client.get(f"{FLOWS}/a").json() == []
    assert _ids(client.get(f"{FLOWS}/a.b").json()) == [("a.b", "f1")]


def test_bulk_with_a_namespace_may_allow_children(client):
    body = flow_yaml(flow_id="top", namespace="team") + "---\n" + flow_yaml(flow_id="kid", namespace="team.sub")
    refused = client.post(f"{FLOWS}/bulk", params={"namespace": "team"}, content=body, headers=YAML)
    assert refused.status_code == 422
    allowed = client.post(f"{FLOWS}/bulk", params={"namespace": "team", "allowNamespaceChild": "true"},
                          content=body, headers=YAML)
    assert [f["id"] for f in allowed.json()] == ["top", "kid"]


def test_bulk_without_namespace_and_delete_true_prunes_the_whole_tenant(client, seeded):
    response = client.post(f"{FLOWS}/bulk", content=flow_yaml(flow_id="only", namespace="x"), headers=YAML)
    assert response.status_code == 200
    assert _ids(client.get(f"{FLOWS}/search").json()) == [("x", "only")]
    # /bulk does not trim: the stored source keeps the text exactly as cut
    assert client.get(f"{FLOWS}/x/only", params={"source": "true"}).json()["source"] == flow_yaml(flow_id="only", namespace="x")


def test_bulk_refuses_non_yaml_content(client):
    response = client.post(f"{FLOWS}/bulk", content=flow_yaml(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


# --- disable / enable ------------------------------------------------------------------------------

def test_disable_by_ids_edits_the_source_and_makes_a_revision(client, create):
    create(flow_yaml())
    response = client.post(f"{FLOWS}/disable/by-ids", json=[{"namespace": "company.team", "id": "hello"}])
    assert response.json() == {"count": 1}
    flow = client.get(f"{FLOWS}/company.team/hello", params={"source": "true"}).json()
    assert (flow["revision"], flow["disabled"], flow["source"]) == (2, True, flow_yaml() + "\ndisabled: true")
    again = client.post(f"{FLOWS}/disable/by-ids", json=[{"namespace": "company.team", "id": "hello"}])
    assert again.json() == {"count": 0}
