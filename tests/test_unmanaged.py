"""Flows and files on the server, in the owned namespaces, that no file declares: shown by every plan
(text, JSON, Markdown), a renamed flow named as such with its schedule, and a CI failure when asked."""

from __future__ import annotations

from support import flow_yaml, output_json

SCHEDULE = "triggers:\n  - id: nightly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: \"0 2 * * *\"\n"


def test_a_flow_made_in_the_ui_is_shown_in_every_format(repo, cli, probe):
    probe.create(flow_yaml("company.team", "from_ui", message="made in the UI"))
    probe.create(flow_yaml("other.team", "not_owned"))
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    text = cli("plan")
    assert text.exit_code == 0, text.output
    assert ("1 flow on the server has no file: company.team/from_ui (--prune deletes it, `kestra-sync pull` adopts it)."
            in text.stdout)
    assert "not_owned" not in text.stdout
    plan = output_json(cli("plan", "--format", "json"))
    assert plan["unmanaged"] == [{"key": "flow:company.team/from_ui", "kind": "flow", "namespace": "company.team",
                                  "name": "from_ui", "renamed_to": None, "active": []}]
    markdown = cli("plan", "--format", "markdown").stdout
    assert "**Not managed by any file**" in markdown and "company.team/from_ui" in markdown
    assert "company.team/from_ui" in cli("diff").stdout
    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0 and "1 flow on the server has no file: company.team/from_ui" in applied.stdout


def test_once_applied_nothing_is_unmanaged_and_prune_turns_them_into_deletes(repo, cli, probe):
    probe.create(flow_yaml("company.team", "from_ui"))
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    pruned = output_json(cli("plan", "--prune", "--format", "json"))
    assert pruned["unmanaged"] == [] and [c["address"] for c in pruned["changes"]] == ["company.team/keep", "company.team/from_ui"]
    repo.write("flows/from_ui.yml", flow_yaml("company.team", "from_ui"))
    assert cli("apply", "--auto-approve").exit_code == 0
    assert output_json(cli("plan", "--format", "json"))["unmanaged"] == []


def test_a_renamed_flow_is_a_candidate_with_its_schedule_still_active(repo, cli, probe):
    old = flow_yaml("company.team", "etl_old", extra=SCHEDULE)
    probe.create(old)
    repo.write("flows/etl.yml", old.replace("id: etl_old", "id: etl"))
    result = cli("plan")
    assert ("company.team/etl_old looks renamed to company.team/etl (the same but for its name): the old one stays on "
            "the server, its trigger `nightly` (Schedule) still active; --prune deletes it") in result.stdout
    plan = output_json(cli("plan", "--format", "json"))
    assert plan["unmanaged"][0]["renamed_to"] == "flow:company.team/etl"
    assert plan["unmanaged"][0]["active"] == ["trigger `nightly` (Schedule)"]
    assert "looks renamed to company.team/etl" in cli("plan", "--format", "markdown").stdout


def test_a_different_flow_or_a_disabled_trigger_is_no_active_rename(repo, cli, probe):
    probe.create(flow_yaml("company.team", "other", message="something else", extra=SCHEDULE))
    probe.create(flow_yaml("company.team", "paused", extra=SCHEDULE + "    disabled: true\n"))
    repo.write("flows/etl.yml", flow_yaml("company.team", "etl", extra=SCHEDULE))
    repo.write("flows/resumed.yml", flow_yaml("company.team", "resumed", extra=SCHEDULE + "    disabled: true\n"))
    unmanaged = {u["name"]: u for u in output_json(cli("plan", "--format", "json"))["unmanaged"]}
    assert unmanaged["other"]["renamed_to"] is None
    assert unmanaged["paused"]["renamed_to"] == "flow:company.team/resumed" and unmanaged["paused"]["active"] == []


def test_fail_on_unmanaged_fails_plan_and_refuses_apply(repo, cli, probe):
    probe.create(flow_yaml("company.team", "from_ui"))
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    result = cli("plan", "--fail-on-unmanaged")
    assert result.exit_code == 1
    assert "company.team/from_ui" in result.stdout  # the plan is shown first
    assert result.stderr.strip().splitlines()[-1].startswith("Error: 1 flow on the server has no file: company.team/from_ui")
    refused = cli("apply", "--auto-approve", "--fail-on-unmanaged")
    assert refused.exit_code == 1 and "fail_on_unmanaged" in refused.stderr
    assert set(probe.flows()) == {"company.team/from_ui"}  # nothing written
    repo.config("flows:\n  paths: [flows]\nnamespaces: [company]\nfail_on_unmanaged: true\n")
    assert cli("plan").exit_code == 1
    repo.write("flows/other.yml", flow_yaml("company.other", "other"))
    assert cli("plan", "--namespace", "company.other").exit_code == 0  # only what is selected counts


def test_unmanaged_files_are_listed_per_kind(repo, cli, probe):
    repo.write("_files/company.team/etl/load.py", "print('load')\n")
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    probe.upload("company.team", "etl/by_hand.py", b"print('by hand')\n")
    probe.upload("company.team", "etl/moved.py", b"print('load')\n")
    plan = output_json(cli("plan", "--format", "json"))
    assert {u["key"]: u["renamed_to"] for u in plan["unmanaged"]} == {
        "file:company.team/etl/by_hand.py": None, "file:company.team/etl/moved.py": "file:company.team/etl/load.py"}
    text = cli("plan").stdout
    assert "2 namespace files on the server have no file: company.team/etl/by_hand.py, company.team/etl/moved.py" in text


def test_a_saved_plan_keeps_its_unmanaged_list(repo, cli, probe, tmp_path):
    probe.create(flow_yaml("company.team", "from_ui"))
    repo.write("flows/keep.yml", flow_yaml("company.team", "keep"))
    assert cli("plan", "--out", str(tmp_path / "plan.json")).exit_code == 0
    applied = cli("apply", str(tmp_path / "plan.json"), "--fail-on-unmanaged")
    assert applied.exit_code == 1 and "company.team/from_ui" in applied.stderr
    assert set(probe.flows()) == {"company.team/from_ui"}
