"""Point 4: revision semantics, as kestra-api.md §4 describes Kestra 0.24/1.0 (one test per behaviour)."""

from __future__ import annotations

from support import YAML, flow_yaml

FLOW = "/api/v1/main/flows/company.team/hello"


def test_create_answers_revision_1_with_the_body_byte_for_byte(client):
    source = flow_yaml(extra="# a comment\n\n")
    response = client.post("/api/v1/main/flows", content=source, headers=YAML)
    assert response.status_code == 200
    body = response.json()
    assert (body["revision"], body["source"], body["tenantId"]) == (1, source, "main")
    assert (body["disabled"], body["deleted"]) == (False, False)


def test_delete_writes_a_tombstone_at_the_next_revision_with_the_same_source(client, create):
    source = flow_yaml()
    create(source)
    assert client.delete(FLOW).status_code == 204
    revisions = client.get(f"{FLOW}/revisions").json()
    assert [(r["revision"], r["deleted"], r["source"]) for r in revisions] == [(1, False, source), (2, True, source)]


def test_delete_answers_204_with_an_empty_body_then_404(client, create):
    create(flow_yaml())
    first = client.delete(FLOW)
    assert (first.status_code, first.content) == (204, b"")
    assert client.delete(FLOW).status_code == 404


def test_recreate_after_delete_continues_after_the_tombstone(client, create):
    create(flow_yaml())
    client.delete(FLOW)
    assert create(flow_yaml())["revision"] == 3


def test_revision_written_in_the_yaml_is_ignored(client, create):
    assert create("revision: 42\n" + flow_yaml())["revision"] == 1


def test_deleted_flow_is_404_but_visible_with_allow_deleted_and_by_revision(client, create):
    create(flow_yaml())
    client.delete(FLOW)
    assert client.get(FLOW).status_code == 404
    tombstone = client.get(FLOW, params={"allowDeleted": "true"}).json()
    assert (tombstone["revision"], tombstone["deleted"]) == (2, True)
    assert client.get(FLOW, params={"revision": 2}).json()["deleted"] is True  # revision ignores allowDeleted
    assert client.get(FLOW, params={"revision": 1}).json()["deleted"] is False


def test_deleted_flows_leave_lists_and_searches(client, create):
    create(flow_yaml())
    client.delete(FLOW)
    assert client.get("/api/v1/main/flows/company.team").json() == []
    assert client.get("/api/v1/main/flows/search").json() == {"results": [], "total": 0}


def test_update_with_identical_text_keeps_the_revision(client, create):
    source = flow_yaml()
    create(source)
    response = client.put(FLOW, content=source, headers=YAML)
    assert (response.status_code, response.json()["revision"]) == (200, 1)
    assert len(client.get(f"{FLOW}/revisions").json()) == 1


def test_no_op_rule_ignores_the_first_revision_line_only(client, create):
    source = flow_yaml()
    create("revision: 1\n" + source)
    assert client.put(FLOW, content="revision: 7\n" + source, headers=YAML).json()["revision"] == 1
    assert client.put(FLOW, content=source, headers=YAML).json()["revision"] == 1
    twice = "revision: 1\nrevision: 2\n" + source  # a duplicate key: refused before any comparison
    assert client.put(FLOW, content=twice, headers=YAML).status_code == 422


def test_any_text_change_makes_a_new_revision(client, create):
    source = flow_yaml()
    create(source)
    for expected, text in enumerate([source + "\n", source + "# comment\n", source.replace("message: hello\n", "message: hello  \n")], start=2):
        assert client.put(FLOW, content=text, headers=YAML).json()["revision"] == expected


def test_disabled_change_makes_a_new_revision(client, create):
    create(flow_yaml())
    updated = client.put(FLOW, content=flow_yaml(extra="disabled: true\n"), headers=YAML).json()
    assert (updated["revision"], updated["disabled"]) == (2, True)


def test_create_is_strict_about_unknown_top_level_keys(client):
    response = client.post("/api/v1/main/flows", content=flow_yaml(extra="unknown: 1\n"), headers=YAML)
    assert response.status_code == 422
    body = response.json()
    assert body["message"].startswith(
        'Invalid entity: Unrecognized field "unknown" (class io.kestra.core.models.flows.Flow), not marked as ignorable')
    assert body["_embedded"]["errors"][0]["path"] == 'io.kestra.core.models.flows.Flow["unknown"]'


def test_update_is_lenient_about_unknown_top_level_keys(client, create):
    create(flow_yaml())
    source = flow_yaml(extra="unknown: 1\n")
    response = client.put(FLOW, content=source, headers=YAML)
    assert response.status_code == 200
    assert "unknown" not in response.json()
    assert response.json()["source"] == source  # kept verbatim all the same


def test_update_of_a_missing_flow_is_404_before_parsing(client):
    response = client.put(FLOW, content="{not yaml: [", headers=YAML)
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"


def test_update_of_a_deleted_flow_is_404(client, create):
    create(flow_yaml())
    client.delete(FLOW)
    assert client.put(FLOW, content=flow_yaml(), headers=YAML).status_code == 404


def test_update_changing_id_and_namespace_is_422_with_both_violations(client, create):
    create(flow_yaml())
    response = client.put(FLOW, content=flow_yaml(flow_id="other", namespace="other.ns"), headers=YAML)
    assert response.status_code == 422
    body = response.json()
    assert {(e["path"], e["message"]) for e in body["_embedded"]["errors"]} == {
        ("flow.id", "Illegal flow id update"), ("flow.namespace", "Illegal namespace update")}
    assert body["message"].startswith("Invalid entity: flow.")
    assert "flow.id: Illegal flow id update" in body["message"]
    assert "flow.namespace: Illegal namespace update" in body["message"]


def test_source_is_stored_byte_for_byte(client, create):
    sources = [
        "# leading comment\nid: crlf\r\nnamespace: company.team\r\ntasks:\r\n  - id: a\r\n    type: io.kestra.plugin.core.log.Log\r\n"
        "    message: hi\r\n",
        flow_yaml(flow_id="accents", extra="description: Café ☕ 日本語 🚀\n"),
        flow_yaml(flow_id="no-newline").rstrip("\n"),
        flow_yaml(flow_id="blank-lines", extra="\n\n\n") + "\n\n",
    ]
    for source in sources:
        created = create(source)
        fetched = client.get(f"/api/v1/main/flows/company.team/{created['id']}", params={"source": "true"}).json()
        assert created["source"] == fetched["source"] == source


def test_get_without_source_answers_a_flow_without_source(client, create):
    create(flow_yaml())
    assert "source" not in client.get(FLOW).json()
    assert "source" in client.get(FLOW, params={"source": "true"}).json()


def test_labels_are_served_as_a_list_from_either_form(client, create):
    as_map = create(flow_yaml(flow_id="map", extra="labels:\n  team: data\n  critical: yes\n  cost: 1.50\n"))
    as_list = create(flow_yaml(flow_id="list", extra="labels:\n  - key: team\n    value: data\n"))
    assert as_map["labels"] == [{"key": "team", "value": "data"}, {"key": "critical", "value": "true"},
                                {"key": "cost", "value": "1.5"}]
    assert as_list["labels"] == [{"key": "team", "value": "data"}]


def test_null_fields_are_omitted_and_server_fields_always_present(client, create):
    body = create(flow_yaml(extra="description:\ninputs:\n"))
    assert "description" not in body and "inputs" not in body and "labels" not in body
    assert {"id", "namespace", "revision", "tenantId", "disabled", "deleted", "tasks"} <= set(body)


def test_yaml_content_is_echoed_with_kestra_typing(client, create):
    body = create(flow_yaml(extra="description: yes\nvariables:\n  flag: on\n  date: 2024-01-01\n  ref: *anchor\n"
                                  "  nothing: ~\n"))
    assert body["description"] == "yes"  # a String field keeps its text
    assert body["variables"] == {"flag": True, "date": "2024-01-01", "ref": "anchor", "nothing": None}
