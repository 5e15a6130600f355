"""Prune: off by default, only owned namespaces, never protected ones, bounded, never emptying a namespace."""

from __future__ import annotations

import httpx

from support import flow_yaml, output_json


def seed(probe, *keys: str) -> None:
    for key in keys:
        namespace, flow_id = key.split("/")
        probe.create(flow_yaml(namespace, flow_id))


def test_prune_is_off_unless_asked(repo, cli, probe):
    seed(probe, "company.team/keep", "company.team/orphan")
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    plan = output_json(cli("plan", "--format", "json"))
    assert plan["changes"] == [] and plan["summary"]["unchanged"] == 1
    pruned = output_json(cli("plan", "--prune", "--format", "json"))
    assert [(c["action"], c["address"]) for c in pruned["changes"]] == [("delete", "company.team/orphan")]


def test_prune_deletes_only_inside_owned_namespaces(repo, cli, probe):
    seed(probe, "company.team/keep", "company.team/orphan", "other.team/foreign", "companyx/lookalike")
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    result = cli("apply", "--auto-approve", "--prune")
    assert result.exit_code == 0, result.output
    assert "Flows to DELETE (prune):" in result.stdout
    assert set(probe.flows()) == {"company.team/keep", "other.team/foreign", "companyx/lookalike"}
    tombstone = probe.revisions("company.team", "orphan")[-1]
    assert tombstone["deleted"] is True


def test_default_ownership_is_exact_namespaces_of_the_files(repo, cli, probe):
    repo.config("flows:\n  paths: [flows]\n")
    seed(probe, "company.team/keep", "company.team/orphan", "company.team.other/not-mine")
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    plan = output_json(cli("plan", "--prune", "--format", "json"))
    assert [c["address"] for c in plan["changes"]] == ["company.team/orphan"]
    assert plan["scope"] == ["company.team"]


def test_protected_namespaces_are_never_pruned(repo, cli, probe):
    repo.config("flows:\n  paths: [flows]\nnamespaces: [company, system]\n")
    seed(probe, "system/housekeeping", "company/orphan", "company/keep")
    repo.write("flows/keep.yml", flow_yaml("company", "keep"))
    plan = output_json(cli("plan", "--prune", "--format", "json"))
    assert [c["address"] for c in plan["changes"]] == ["company/orphan"]


def test_more_deletes_than_max_deletes_is_refused(repo, cli, probe):
    seed(probe, *(f"company.team/old{n}" for n in range(3)), "company.team/keep")
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    refused = cli("apply", "--auto-approve", "--prune", "--max-deletes", "2")
    assert refused.exit_code == 1
    assert ("Prune would delete 3 flows, more than max_deletes (2): company.team/old0, company.team/old1, company.team/old2; "
            "nothing was applied.") in refused.stderr
    assert "Flows to DELETE (prune):" in refused.stdout and "- company.team/old2" in refused.stdout  # the plan, shown
    assert len(probe.flows()) == 4
    allowed = cli("apply", "--auto-approve", "--prune", "--max-deletes", "3")
    assert allowed.exit_code == 0
    assert set(probe.flows()) == {"company.team/keep"}


def test_emptying_a_namespace_is_refused_unless_allowed(repo, cli, probe):
    seed(probe, "company.legacy/a", "company.legacy/b")
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    refused = cli("apply", "--auto-approve", "--prune")
    assert refused.exit_code == 1
    assert "Prune would delete every flow of namespace 'company.legacy' (company.legacy/a, company.legacy/b)" in refused.stderr
    assert "--allow-empty" in refused.stderr
    assert set(probe.flows()) == {"company.legacy/a", "company.legacy/b"}
    assert cli("apply", "--auto-approve", "--prune", "--allow-empty").exit_code == 0
    assert set(probe.flows()) == {"company.team/keep"}


def test_deletes_come_last_referencing_flows_first(repo, cli, probe):
    caller = (
        "id: caller\nnamespace: company.old\ntasks:\n"
        "  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company.old\n    flowId: a_child\n"
    )
    probe.create(flow_yaml("company.old", "a_child"))
    probe.create(caller)
    repo.write("flows/new.yml", flow_yaml("company.old", "z_new"))
    plan = output_json(cli("plan", "--prune", "--format", "json"))
    assert [(c["action"], c["address"]) for c in plan["changes"]] == [
        ("create", "company.old/z_new"),
        ("delete", "company.old/caller"),
        ("delete", "company.old/a_child"),
    ]
    assert plan["changes"][2]["depends_on"] == ["flow:company.old/caller"]


def test_prune_from_config(repo, cli, probe):
    repo.config("flows:\n  paths: [flows]\nnamespaces: [company]\nprune:\n  enabled: true\n")
    seed(probe, "company/orphan", "company/keep")
    repo.write("flows/keep.yml", flow_yaml("company", "keep"))
    assert [c["address"] for c in output_json(cli("plan", "--format", "json"))["changes"]] == ["company/orphan"]


def test_prune_from_a_subdirectory_still_sees_the_whole_repository(repo, cli, probe, monkeypatch):
    """Without flows.paths, the repository is the config file's directory, not the working directory."""
    repo.config("namespaces: [company]\n")
    repo.write("a/one.yml", flow_yaml("company", "one"))
    repo.write("b/two.yml", flow_yaml("company", "two"))
    assert cli("apply", "--auto-approve").exit_code == 0
    monkeypatch.chdir(repo.root / "a")
    plan = output_json(cli("plan", "--prune", "--format", "json"))
    assert plan["changes"] == [] and plan["summary"]["unchanged"] == 2


def test_a_server_flow_this_release_would_refuse_keeps_its_references(repo, cli, probe, server):
    """Kestra's update is lenient about top-level keys it does not know, so the server can hold a
    flow the scanner would refuse. Its Subflow still counts: the caller is deleted before the flow
    it calls (in key order the callee would go first)."""
    caller = (
        "id: zz_caller\nnamespace: company.old\ntasks:\n"
        "  - id: each\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
        "      - id: call\n        type: io.kestra.plugin.core.flow.Subflow\n        namespace: company.old\n        flowId: aa_child\n"
    )
    probe.create(flow_yaml("company.old", "aa_child"))
    if server.config.kestra_version.startswith("2"):
        # 2.x updates strictly: such a flow is one stored by an older Kestra, which 2.x cannot read.
        httpx.post(f"{server.url}/__emulator/flows", json={"source": caller + "taskDefaults: []\n"}).raise_for_status()
    else:
        probe.create(caller)
        probe.update("company.old", "zz_caller", caller + "futureProperty: from a newer Kestra\n")
    repo.write("flows/new.yml", flow_yaml("company.old", "z_new"))
    plan = output_json(cli("plan", "--prune", "--format", "json"))
    assert [(c["action"], c["address"]) for c in plan["changes"]] == [
        ("create", "company.old/z_new"),
        ("delete", "company.old/zz_caller"),
        ("delete", "company.old/aa_child"),
    ]
    assert plan["changes"][2]["depends_on"] == ["flow:company.old/zz_caller"]
    applied = output_json(cli("apply", "--auto-approve", "--prune", "--format", "json"))
    assert [r["address"] for r in applied["results"]] == ["company.old/z_new", "company.old/zz_caller", "company.old/aa_child"]


def test_a_delete_that_others_still_call_is_a_warning(repo, cli, probe):
    seed(probe, "company.team/helper")
    caller = flow_yaml("company.team", "caller").replace(
        "tasks:\n", "tasks:\n  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company.team\n    flowId: helper\n", 1)
    repo.write("flows/caller.yml", caller)
    plan = output_json(cli("plan", "--prune", "--no-validate", "--format", "json"))
    assert [c["address"] for c in plan["changes"] if c["action"] == "delete"] == ["company.team/helper"]
    assert ("flow company.team/helper is deleted, but company.team/caller still call or listen to it"
            in [d["message"] for d in plan["diagnostics"]])
