"""plan / apply / diff through the CLI against the emulator on a real socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from support import flow_trigger, flow_yaml, output_json, run_on_terminal

ETL = flow_yaml("company.team", "etl", message="extract")
NOTIFY = flow_yaml("company.team", "notify", message="ping")


def test_apply_then_plan_shows_no_changes_and_no_revision_moves(repo, cli, probe):
    repo.write("flows/etl.yml", ETL)
    repo.write("flows/notify.yaml", "# a comment kept byte for byte\n" + NOTIFY + "\n")
    first = cli("plan")
    assert first.exit_code == 0, first.output
    assert "Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged." in first.stdout

    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Apply complete: 2 applied, 0 failed, 0 not attempted." in applied.stdout
    state = probe.flows()
    assert state["company.team/etl"] == (1, ETL)
    assert state["company.team/notify"] == (1, "# a comment kept byte for byte\n" + NOTIFY + "\n")

    again = cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes. 2 flow(s) match the server." in again.stdout
    assert cli("apply", "--auto-approve").exit_code == 0
    assert probe.flows() == state  # no revision moved


def test_comment_only_edit_is_one_cosmetic_update(repo, cli, probe):
    repo.write("flows/etl.yml", ETL)
    cli("apply", "--auto-approve")
    repo.write("flows/etl.yml", "# runs every night\n" + ETL)
    result = cli("plan", "--format", "json")
    plan = output_json(result)
    assert plan["summary"] == {"create": 0, "update": 1, "delete": 0, "unchanged": 0}
    [change] = plan["changes"]
    assert (change["action"], change["update_kind"], change["address"]) == ("update", "cosmetic", "company.team/etl")
    assert "+# runs every night" in change["diff"]

    skipped = cli("plan", "--ignore-cosmetic", "--format", "json")
    assert output_json(skipped)["changes"] == []
    assert output_json(skipped)["skipped_cosmetic"] == ["flow:company.team/etl"]

    assert cli("apply", "--auto-approve").exit_code == 0
    assert probe.flows()["company.team/etl"] == (2, "# runs every night\n" + ETL)


def test_semantic_update_is_summarised_in_flow_terms(repo, cli):
    repo.write("flows/etl.yml", ETL)
    cli("apply", "--auto-approve")
    repo.write(
        "flows/etl.yml",
        ETL.replace("message: extract", "message: extract v2")
        + "  - id: load\n    type: io.kestra.plugin.core.log.Log\n    message: load\n"
        + "triggers:\n  - id: daily\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 6 * * *'\n",
    )
    result = cli("plan")
    for phrase in ("semantic: ", "task `load` added", "trigger `daily` added", "task `log` changed (message)"):
        assert phrase in result.stdout
    diff = cli("diff")
    assert diff.exit_code == 2
    assert "-    message: extract\n" in diff.stdout and "+    message: extract v2\n" in diff.stdout


def test_detailed_exitcode_is_2_with_changes(repo, cli):
    repo.write("flows/etl.yml", ETL)
    assert cli("plan", "--detailed-exitcode").exit_code == 2
    assert cli("plan").exit_code == 0
    cli("apply", "--auto-approve")
    assert cli("plan", "--detailed-exitcode").exit_code == 0
    assert cli("diff").exit_code == 0


def test_saved_plan_applies_exactly_and_is_refused_when_stale(repo, cli, probe):
    repo.write("flows/etl.yml", ETL)
    repo.write("flows/notify.yml", NOTIFY)
    cli("apply", "--auto-approve")
    repo.write("flows/etl.yml", ETL.replace("extract", "extract v2"))
    saved = cli("plan", "--out", "plan.json")
    assert saved.exit_code == 0
    assert oct((repo.root / "plan.json").stat().st_mode & 0o777) == "0o600"

    # The file changes again after the plan: apply must send what was planned, not the new file.
    repo.write("flows/etl.yml", ETL.replace("extract", "extract v3"))
    applied = cli("apply", "plan.json")
    assert applied.exit_code == 0, applied.output
    assert probe.flows()["company.team/etl"] == (2, ETL.replace("extract", "extract v2"))

    # A plan made, then the server moves on: refused, nothing written.
    cli("plan", "--out", "plan2.json")
    probe.update("company.team", "etl", ETL.replace("extract", "edited in the UI"))
    before = probe.flows()
    stale = cli("apply", "plan2.json")
    assert stale.exit_code == 1
    assert "The plan is stale: 1 flow(s) changed on the server since it was made: company.team/etl (rev 2 -> rev 3)" in stale.stderr
    assert probe.flows() == before


def test_a_stale_plan_names_ten_flows_and_counts_the_rest(repo, cli, probe):
    for n in range(12):
        repo.write(f"flows/f{n:02}.yml", flow_yaml("company", f"f{n:02}"))
    cli("apply", "--auto-approve")
    for n in range(12):
        repo.write(f"flows/f{n:02}.yml", flow_yaml("company", f"f{n:02}", message="new"))
    cli("plan", "--out", "plan.json")
    for n in range(12):
        probe.update("company", f"f{n:02}", flow_yaml("company", f"f{n:02}", message="edited in the UI"))
    stale = cli("apply", "plan.json")
    assert stale.exit_code == 1
    [line] = stale.stderr.splitlines()
    assert "12 flow(s) changed on the server since it was made: company/f00 (rev 1 -> rev 2), " in line
    assert "company/f09 (rev 1 -> rev 2) and 2 more. Nothing was applied; plan again." in line
    assert "company/f10" not in line


def test_saved_plan_for_another_server_is_refused(repo, cli, server):
    repo.write("flows/etl.yml", ETL)
    cli("plan", "--out", "plan.json")
    data = json.loads((repo.root / "plan.json").read_text())
    data["server"] = "http://elsewhere:8080"
    (repo.root / "plan.json").write_text(json.dumps(data))
    result = cli("apply", "plan.json")
    assert result.exit_code == 1
    assert "the saved plan was made for http://elsewhere:8080" in result.stderr


def test_damaged_plan_file_is_a_clear_error(repo, cli):
    (repo.root / "plan.json").write_text("{not json")
    result = cli("apply", "plan.json")
    assert result.exit_code == 1
    assert "plan.json is not a kestra-sync plan file" in result.stderr


SUBFLOW_CALLER = (
    "id: caller\nnamespace: company.team\ntasks:\n"
    "  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company.team\n    flowId: zz_child\n"
)


def test_new_subflow_is_created_before_its_caller(repo, cli, server, probe):
    caller = SUBFLOW_CALLER
    listener = (
        "id: aa_listener\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"
        + flow_trigger("company.team", "caller", server.config.kestra_version)
    )
    repo.write("flows/caller.yml", caller)
    repo.write("flows/child.yml", flow_yaml("company.team", "zz_child"))
    repo.write("flows/listener.yml", listener)
    server.set_latency(30)
    plan = output_json(cli("plan", "--format", "json"))
    order = [c["address"] for c in plan["changes"]]
    assert order == ["company.team/zz_child", "company.team/caller", "company.team/aa_listener"]
    assert plan["changes"][1]["depends_on"] == ["flow:company.team/zz_child"]
    assert not plan["diagnostics"]  # "subflow not found" is expected: it is created first

    result = cli("apply", "--auto-approve", "--format", "json", "--parallelism", "8")
    applied = [r["address"] for r in output_json(result)["results"]]
    assert applied == order


def test_a_plan_file_repeating_a_dependency_applies_each_change_once(repo, cli, server):
    repo.write("flows/caller.yml", SUBFLOW_CALLER)
    repo.write("flows/child.yml", flow_yaml("company.team", "zz_child"))
    assert cli("plan", "--out", "plan.json").exit_code == 0
    data = json.loads((repo.root / "plan.json").read_text())
    data["changes"][1]["depends_on"] *= 2  # a hand-edited plan: one dependency named twice
    (repo.root / "plan.json").write_text(json.dumps(data))
    result = cli("apply", "plan.json", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["address"] for r in output_json(result)["results"]] == ["company.team/zz_child", "company.team/caller"]
    assert server.request_counts()["POST /api/v1/{tenant}/flows"] == 2


def test_failure_midway_stops_reports_and_rerun_converges(repo, cli, server, probe):
    for n in range(6):
        repo.write(f"flows/f{n}.yml", flow_yaml("company.team", f"f{n}"))
    server.add_fault(route="/api/v1/{tenant}/flows", method="POST", status=500, count=1)
    failed = cli("apply", "--auto-approve", "--parallelism", "1", "--format", "json")
    assert failed.exit_code == 1
    report = output_json(failed)
    statuses = [r["status"] for r in report["results"]]
    assert statuses[0] == "failed" and set(statuses[1:]) == {"skipped"}
    assert "answered 500 to POST /flows" in report["results"][0]["message"]
    assert len(probe.flows()) == 0

    again = cli("apply", "--auto-approve")
    assert again.exit_code == 0, again.output
    assert len(probe.flows()) == 6
    assert "No changes." in cli("plan").stdout


def test_apply_without_terminal_or_auto_approve_refuses(repo, cli, probe):
    repo.write("flows/etl.yml", ETL)
    result = cli("apply")
    assert result.exit_code == 1
    assert "apply needs confirmation: run it on a terminal, or pass --auto-approve" in result.stderr
    assert probe.flows() == {}


def test_apply_asks_on_a_terminal(repo, server, probe):
    repo.write("flows/etl.yml", ETL)
    env = {**os.environ, "KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username,
           "KESTRA_PASSWORD": server.config.password}
    code, output = run_on_terminal(["apply"], env, repo.root, answer="n")
    assert code == 1 and "Apply these changes? [y/N]" in output
    assert "Apply cancelled; nothing was changed." in output and probe.flows() == {}
    code, output = run_on_terminal(["apply"], env, repo.root, answer="y")
    assert code == 0 and "Apply complete: 1 applied" in output
    assert probe.flows()["company.team/etl"] == (1, ETL)


def test_namespace_and_target_narrow_the_plan(repo, cli):
    repo.write("flows/a.yml", flow_yaml("company.team", "a"))
    repo.write("flows/b.yml", flow_yaml("company.sales", "b"))
    repo.write("flows/c.yml", flow_yaml("company.sales.eu", "c"))
    only_sales = output_json(cli("plan", "--namespace", "company.sales", "--format", "json"))
    assert [c["address"] for c in only_sales["changes"]] == ["company.sales/b", "company.sales.eu/c"]
    only_a = output_json(cli("plan", "--target", "company.team/a", "--format", "json"))
    assert [c["address"] for c in only_a["changes"]] == ["company.team/a"]


def test_flow_outside_owned_namespaces_is_refused(repo, cli):
    repo.write("flows/a.yml", flow_yaml("marketing", "a"))
    result = cli("plan")
    assert result.exit_code == 1
    assert "flows/a.yml:1:1: flow marketing/a is outside the namespaces this repository owns (company)" in result.stderr


def test_byte_exact_round_trip_of_crlf_and_non_ascii(repo, cli, probe):
    crlf = "id: crlf\r\nnamespace: company\r\ntasks:\r\n  - id: t\r\n    type: io.kestra.plugin.core.log.Log\r\n    message: déjà vu ✓\r\n"
    no_newline = flow_yaml("company", "tail").rstrip("\n")
    repo.write("flows/crlf.yml", crlf)
    repo.write("flows/tail.yml", no_newline)
    assert cli("apply", "--auto-approve").exit_code == 0
    state = probe.flows()
    assert state["company/crlf"][1] == crlf
    assert state["company/tail"][1] == no_newline
    assert "No changes." in cli("plan").stdout


def test_server_revision_line_is_ignored_like_kestra(repo, cli, probe):
    """Kestra keeps the revision when the texts differ only by the first `revision: N` line."""
    probe.create("revision: 7\n" + ETL)
    repo.write("flows/etl.yml", ETL)
    assert "No changes. 1 flow(s) match the server." in cli("plan").stdout


def test_server_validation_goes_in_batches_without_dash_lines(repo, cli, server, probe):
    for n in range(120):
        repo.write(f"flows/f{n:03d}.yml", flow_yaml("company", f"f{n:03d}"))
    # `---` lines (after a header comment, before a second document, a stray empty document) would make
    # Kestra's validate see extra documents: flows are validated without them, and sent with them.
    one, two = flow_yaml("company", "one"), flow_yaml("company", "two")
    repo.write("flows/two.yml", "# two flows\n---\n" + one + "---\n" + two)
    repo.write("flows/empty-first.yml", "---\n---\n" + flow_yaml("company", "three"))
    result = cli("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert server.request_counts()["POST /api/v1/{tenant}/flows/validate"] == 3  # 123 flows, 50 at a time
    state = probe.flows()
    assert state["company/one"][1] == "# two flows\n---\n" + one
    assert state["company/two"][1] == "---\n" + two
    assert state["company/three"][1] == "---\n" + flow_yaml("company", "three")
    assert "No changes. 123 flow(s) match the server." in cli("plan").stdout


def test_export_refused_falls_back_to_one_read_per_flow(repo, cli, server, probe):
    for n in range(5):
        probe.create(flow_yaml("company", f"f{n}"))
        repo.write(f"flows/f{n}.yml", flow_yaml("company", f"f{n}", message="new" if n == 0 else "hello"))
    server.reset(store=False, counters=True, faults=True)
    server.add_fault(route="/api/v1/{tenant}/flows/export/by-query", status=500, count=1)
    result = cli("plan", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [c["address"] for c in output_json(result)["changes"]] == ["company/f0"]
    assert server.request_counts()["GET /api/v1/{tenant}/flows/{namespace}/{id}"] == 5


def test_export_entries_whose_names_fit_two_flows_are_matched_by_content(repo, cli, server):
    # An export entry is `<namespace>-<id>.yml` (`<namespace>.<id>.yml` before 0.24), and both parts may
    # hold `-` and `.`: `company.a-b-c.d.yml` is company.a-b/c.d, or company/a-b-c.d in the older form;
    # `company.x-y.z.yml` is company.x/y.z, or company.x-y/z in the older form. All four are live.
    flows = [("company.a-b", "c.d"), ("company", "a-b-c.d"), ("company.x", "y.z"), ("company.x-y", "z")]
    for n, (namespace, flow_id) in enumerate(flows):
        repo.write(f"flows/f{n}.yml", flow_yaml(namespace, flow_id, message=f"flow {n}"))
    assert cli("apply", "--auto-approve").exit_code == 0
    server.reset(store=False, counters=True, faults=True)
    result = cli("plan")
    assert "No changes. 4 flow(s) match the server." in result.stdout, result.output
    assert server.request_counts() == {
        "GET /api/v1/configs": 1, "GET /api/v1/{tenant}/flows/search": 1, "GET /api/v1/{tenant}/flows/export/by-query": 1,
    }


def test_a_flow_id_ending_in_yaml_is_not_taken_for_another(repo, cli, server):
    # `company-foo.yaml.yml` is the export entry of company/foo.yaml, not of company/foo.
    repo.write("flows/foo.yml", flow_yaml("company", "foo", message="foo"))
    repo.write("flows/foo.yaml.yml", flow_yaml("company", "foo.yaml", message="foo.yaml"))
    assert cli("apply", "--auto-approve").exit_code == 0
    result = cli("plan")
    assert "No changes. 2 flow(s) match the server." in result.stdout, result.output


def test_validate_command_uses_the_server_when_it_answers(repo, cli, server):
    repo.write("flows/ok.yml", flow_yaml("company", "ok"))
    assert "The server at" in cli("validate").stdout
    repo.write("flows/bad.yml", flow_yaml("company", "bad", extra="labels:\n  system.team: x\n"))
    result = cli("validate")
    assert result.exit_code == 1
    assert "flows/bad.yml:4:3: Invalid Flow: System labels" in result.stderr
    offline = cli("validate", "--offline")
    assert offline.exit_code == 0 and "2 flow(s) pass the local checks." in offline.stdout
    down = cli("validate", "--url", "http://127.0.0.1:9")
    assert down.exit_code == 1 and "pass --offline to make only those" in down.stderr


def test_revisions_are_read_for_the_flows_that_change_across_search_pages(repo, cli, probe):
    """1,050 flows fill two search pages. A plan where nothing changes needs no revision; one where a
    flow on the second page changed, or exists only on the server, shows its revision, and the saved
    plan is checked fresh against it."""
    for n in range(1050):
        repo.write(f"flows/f{n:04}.yml", flow_yaml(f"company.t{n % 3}", f"f{n:04}"))
    assert cli("apply", "--auto-approve", "--parallelism", "16").exit_code == 0
    clean = cli("plan", "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    assert "No changes. 1050 flow(s) match the server." in clean.stdout

    last = flow_yaml("company.t2", "f1049", message="edited in the UI")
    probe.update("company.t2", "f1049", last)
    probe.update("company.t2", "f1049", last + "# twice\n")
    edited = output_json(cli("plan", "--format", "json", "--out", "plan.json"))["changes"]
    assert [(c["address"], c["action"], c["version_before"]) for c in edited] == [("company.t2/f1049", "update", 3)]
    assert cli("apply", "plan.json").exit_code == 0
    assert probe.flows()["company.t2/f1049"] == (4, flow_yaml("company.t2", "f1049"))

    probe.create(flow_yaml("company.t2", "zz-only-on-the-server"))
    pruned = output_json(cli("plan", "--prune", "--format", "json", "--out", "prune.json"))["changes"]
    assert [(c["address"], c["action"], c["version_before"]) for c in pruned] == [("company.t2/zz-only-on-the-server", "delete", 1)]
    assert cli("apply", "prune.json").exit_code == 0
    assert "company.t2/zz-only-on-the-server" not in probe.flows()
    assert "No changes. 1050 flow(s) match the server." in cli("plan", "--prune").stdout


def test_a_flow_created_during_the_read_with_the_files_text_counts_as_unchanged(repo, server, probe):
    """The export is asked for after the search. A flow the repository declares, created in between
    with the file's exact text, is on the server as the file has it: nothing to do, and no revision
    needed, so the search pages are not decoded. (Decoded, they would leave it out: a plan would
    create it, and apply would refuse that plan as stale.)"""
    for n in range(4):
        repo.write(f"flows/f{n}.yml", flow_yaml("company", f"f{n}"))
        if n < 3:
            probe.create(flow_yaml("company", f"f{n}"))
    server.add_fault(route="/api/v1/{tenant}/flows/export/by-query", action="stall", stall_seconds=2, count=1)
    environment = {**os.environ, "KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username, "KESTRA_PASSWORD": server.config.password}
    plan = subprocess.Popen([sys.executable, "-m", "kestrasync", "plan", "--format", "json"], cwd=repo.root, env=environment, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while "GET /api/v1/{tenant}/flows/export/by-query" not in server.request_counts() and time.monotonic() < deadline:
        time.sleep(0.02)
    probe.create(flow_yaml("company", "f3"))
    stdout, _ = plan.communicate(timeout=60)
    assert plan.returncode == 0
    if server.config.kestra_version.startswith("2"):
        # 2.x may hold drafts, which only the search shows: its pages are always decoded, and the
        # flow created meanwhile, which it does not list, is left out (apply would refuse the plan).
        assert json.loads(stdout)["summary"] == {"create": 1, "update": 0, "delete": 0, "unchanged": 3}
    else:
        assert json.loads(stdout)["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 4}
