"""`kestra-sync pull`: the server's flows and namespace files written into the repository byte for byte,
flows updated in the files that declare them (only their document), uncommitted work never lost, and
a clean plan afterwards."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from support import child_env, flow_yaml, output_json, run_on_terminal

BINARY = bytes(range(256)) * 4


def pull(cli, *args: str):
    return cli("pull", "--auto-approve", *args)


def test_pull_into_an_empty_repository_then_plan_is_clean(repo, cli, probe):
    probe.create("revision: 3\n" + flow_yaml("company.team", "etl"))  # the server's text, as it holds it
    probe.create("# made in the UI\n" + flow_yaml("company.data", "load", message="from the UI"))
    probe.create(flow_yaml("other.team", "not_mine"))
    probe.upload("company.team", "etl/load.py", b"print('load')\r\n")
    probe.upload("company.team", "data/sample.parquet", BINARY)
    result = pull(cli)
    assert result.exit_code == 0, result.output
    assert (repo.root / "flows/company.team/etl.yaml").read_text() == "revision: 3\n" + flow_yaml("company.team", "etl")
    assert (repo.root / "flows/company.data/load.yaml").read_text().startswith("# made in the UI\n")
    assert (repo.root / "_files/company.team/etl/load.py").read_bytes() == b"print('load')\r\n"
    assert (repo.root / "_files/company.team/data/sample.parquet").read_bytes() == BINARY
    assert not (repo.root / "flows/other.team").exists()
    assert "created flows/company.team/etl.yaml" in result.stdout and "Pull complete: 4 file(s) written." in result.stdout
    plan = cli("plan")
    assert plan.exit_code == 0 and "No changes. 2 namespace file(s) and 2 flow(s) match the server." in plan.stdout
    again = pull(cli)
    assert "Nothing to pull. 2 namespace file(s) and 2 flow(s) match the server." in again.stdout


def test_a_flow_in_a_file_of_several_is_updated_in_place(repo, cli, probe):
    first = "# the team's flows\n" + flow_yaml("company.team", "a")
    second = "---\n# b runs after a\n" + flow_yaml("company.team", "b")
    third = "---\n" + flow_yaml("company.team", "c")
    repo.write("flows/all.yaml", first + second + third)
    assert cli("apply", "--auto-approve").exit_code == 0
    changed = second.replace("message: hello", "message: edited in the UI")
    probe.update("company.team", "b", changed)
    result = pull(cli)
    assert result.exit_code == 0, result.output
    assert "~ flows/all.yaml  flow company.team/b" in result.stdout
    assert "      -    message: hello\n      +    message: edited in the UI\n" in result.stdout  # every overwrite shown
    assert (repo.root / "flows/all.yaml").read_text() == first + changed + third
    assert "No changes." in cli("plan").stdout


def test_a_flow_that_cannot_take_its_place_is_left_alone(repo, cli, probe):
    repo.write("flows/all.yaml", flow_yaml("company.team", "a") + "---\n" + flow_yaml("company.team", "b"))
    assert cli("apply", "--auto-approve").exit_code == 0
    probe.update("company.team", "b", flow_yaml("company.team", "b", message="no document marker"))
    before = (repo.root / "flows/all.yaml").read_bytes()
    result = pull(cli)
    assert result.exit_code == 0, result.output
    assert "flows/all.yaml cannot take the server's text in place" in result.stdout
    assert (repo.root / "flows/all.yaml").read_bytes() == before


def test_server_deletes_are_kept_locally_unless_prune(repo, cli, probe, server):
    repo.write("flows/all.yaml", flow_yaml("company.team", "a") + "---\n" + flow_yaml("company.team", "b"))
    repo.write("flows/gone.yaml", flow_yaml("company.team", "gone"))
    assert cli("apply", "--auto-approve").exit_code == 0
    for flow_id in ("b", "gone"):
        probe.http.delete(f"/flows/company.team/{flow_id}").raise_for_status()
    kept = pull(cli)
    assert "Declared by files but gone from the server (pull --prune removes them): company.team/b, company.team/gone" in kept.stdout
    assert (repo.root / "flows/gone.yaml").exists()
    pruned = pull(cli, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert not (repo.root / "flows/gone.yaml").exists()
    assert (repo.root / "flows/all.yaml").read_text() == flow_yaml("company.team", "a")
    assert "No changes." in cli("plan", "--prune").stdout


def git(root, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def committed(repo, cli, probe):
    """A Git repository of two flows, applied and committed."""
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    repo.write("flows/b.yaml", flow_yaml("company.team", "b"))
    assert cli("apply", "--auto-approve").exit_code == 0
    git(repo.root, "init", "-q")
    git(repo.root, "add", ".")
    git(repo.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "flows")
    probe.update("company.team", "a", flow_yaml("company.team", "a", message="server a"))
    probe.update("company.team", "b", flow_yaml("company.team", "b", message="server b"))
    return repo


def test_uncommitted_changes_are_a_conflict_and_nothing_is_written(committed, cli):
    local = flow_yaml("company.team", "a", message="my local edit")
    committed.write("flows/a.yaml", local)
    result = pull(cli)
    assert result.exit_code == 1
    assert "~ flows/a.yaml  flow company.team/a (CONFLICT: uncommitted changes)" in result.stdout
    assert "+    message: my local edit" in result.stdout  # the local side, against the last commit
    assert "+    message: server a" in result.stdout  # the server's side
    assert "1 file(s) have uncommitted changes the pull would overwrite (flows/a.yaml); nothing was written." in result.stderr
    assert (committed.root / "flows/a.yaml").read_text() == local
    assert "message: hello" in (committed.root / "flows/b.yaml").read_text()


def test_skip_conflicts_writes_the_others_and_force_overwrites(committed, cli):
    local = flow_yaml("company.team", "a", message="my local edit")
    committed.write("flows/a.yaml", local)
    skipped = pull(cli, "--skip-conflicts")
    assert skipped.exit_code == 0, skipped.output
    assert (committed.root / "flows/a.yaml").read_text() == local
    assert "server b" in (committed.root / "flows/b.yaml").read_text()
    forced = pull(cli, "--force")
    assert forced.exit_code == 0 and "server a" in (committed.root / "flows/a.yaml").read_text()


def test_dry_run_and_confirmation(repo, cli, probe):
    probe.create(flow_yaml("company.team", "etl"))
    dry = cli("pull", "--dry-run")
    assert dry.exit_code == 0 and "+ flows/company.team/etl.yaml  flow company.team/etl" in dry.stdout
    assert not (repo.root / "flows").exists()
    asked = cli("pull")  # not a terminal, no --auto-approve
    assert asked.exit_code == 1 and "pull needs confirmation" in asked.stderr
    assert not (repo.root / "flows").exists()


def test_selection_by_kind_target_and_namespace(repo, cli, probe):
    probe.create(flow_yaml("company.team", "etl"))
    probe.create(flow_yaml("company.data", "load"))
    probe.upload("company.team", "etl/load.py", b"print(1)\n")
    files_only = pull(cli, "--kind", "files")
    assert files_only.exit_code == 0 and not (repo.root / "flows").exists()
    assert (repo.root / "_files/company.team/etl/load.py").exists()
    assert pull(cli, "--target", "company.data/load").exit_code == 0
    assert [p.name for p in (repo.root / "flows").rglob("*.yaml")] == ["load.yaml"]
    outside = pull(cli, "--namespace", "elsewhere")
    assert outside.exit_code == 1 and "--namespace elsewhere is outside the namespaces this repository owns" in outside.stderr


def test_the_layout_is_configurable_and_checked(repo, cli, probe):
    probe.create(flow_yaml("company.team", "etl"))
    repo.config("flows:\n  paths: [flows]\n  layout: '{namespace}-{id}.yml'\nnamespaces: [company]\n")
    assert pull(cli).exit_code == 0
    assert (repo.root / "flows/company.team-etl.yml").exists()
    repo.config("flows:\n  paths: [flows]\n  layout: '{team}/{id}.yml'\nnamespaces: [company]\n")
    bad = pull(cli)
    assert bad.exit_code == 1 and "kestra-sync.yaml:3:11: 'flows.layout': a layout names {namespace}, {id}" in bad.stderr


def test_a_new_flow_never_overwrites_a_file_already_there(repo, cli, probe):
    repo.write("flows/company.team/etl.yaml", flow_yaml("company.team", "other"))
    assert cli("apply", "--auto-approve").exit_code == 0
    probe.create(flow_yaml("company.team", "etl"))
    result = pull(cli)
    assert "flow company.team/etl would go to flows/company.team/etl.yaml, but a file is already there" in result.stdout
    assert "id: other" in (repo.root / "flows/company.team/etl.yaml").read_text()


def test_drafts_and_flows_kestra_cannot_read_are_pulled_as_they_are(repo, cli, probe, server):
    if not server.config.kestra_version.startswith("2"):
        pytest.skip("drafts are Kestra 2.x's")
    repo.write("flows/etl.yaml", flow_yaml("company.team", "etl"))
    assert cli("apply", "--auto-approve").exit_code == 0
    draft = flow_yaml("company.team", "etl", message="work in progress")
    yaml = {"Content-Type": "application/x-yaml"}
    probe.http.put("/flows/company.team/etl", content=draft.encode(), headers=yaml, params={"draft": "true"}).raise_for_status()
    broken = flow_yaml("company.team", "broken", extra="taskDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values: {}\n")
    httpx.post(f"{server.url}/__emulator/flows", json={"source": broken}).raise_for_status()  # stored by 1.x, unreadable by 2.x
    result = pull(cli, "--format", "json")
    assert result.exit_code == 0, result.output
    pulled = output_json(result)
    assert sorted(pulled["written"]) == ["flows/company.team/broken.yaml", "flows/etl.yaml"]
    messages = {d["key"]: d["message"] for d in pulled["diagnostics"]}
    assert "unpublished draft" in messages["flow:company.team/etl"] and "pulled as the server holds it" in messages["flow:company.team/etl"]
    assert messages["flow:company.team/broken"].startswith("Kestra cannot read the flow it holds (Unrecognized field")
    assert (repo.root / "flows/etl.yaml").read_text() == draft
    assert (repo.root / "flows/company.team/broken.yaml").read_text() == broken


def test_on_a_terminal_pull_asks_before_writing(repo, probe, server):
    probe.create(flow_yaml("company.team", "etl"))
    env = child_env(server)
    code, output = run_on_terminal(["pull"], env, repo.root, answer="n")
    assert code == 1 and "Write these files?" in output and "Pull cancelled; nothing was changed." in output
    assert not (repo.root / "flows/company.team/etl.yaml").exists()
    code, output = run_on_terminal(["pull"], env, repo.root, answer="y")
    assert code == 0 and "flows/company.team/etl.yaml\r\nPull complete: 1 file(s) written." in output
    assert (repo.root / "flows/company.team/etl.yaml").read_text() == flow_yaml("company.team", "etl")


def test_an_export_naming_a_file_outside_its_namespace_is_refused(repo, server, tmp_path):
    import io
    import zipfile

    import hostile
    from support import AUTH, run

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escape.txt", b"pwned\n")
    repo.write("_files/company.team/load.py", b"print(1)\n")
    with hostile.HostileProxy(server.url) as proxy:
        proxy.add("GET", r"/namespaces/company\.team/files/export$", hostile.answer_with(200, buffer.getvalue(), "application/octet-stream"))
        result = run("pull", "--auto-approve", env={"KESTRA_URL": proxy.url, "KESTRA_USERNAME": AUTH[0], "KESTRA_PASSWORD": AUTH[1]})
    assert result.exit_code == 1
    assert "an export holding a file named '../../escape.txt'" in result.stderr
    assert not (repo.root / "escape.txt").exists() and not (repo.root.parent / "escape.txt").exists()


def test_git_is_asked_only_about_its_own_work_tree(committed, cli, tmp_path):
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir()
    (elsewhere / "c.yaml").write_text(flow_yaml("company.team", "c"))
    committed.config(f"flows:\n  paths: [flows, '{elsewhere}']\nnamespaces: [company]\n")
    committed.write("flows/a.yaml", flow_yaml("company.team", "a", message="my local edit"))
    result = pull(cli)
    assert result.exit_code == 1 and "1 file(s) have uncommitted changes the pull would overwrite (flows/a.yaml)" in result.stderr


def test_pulling_other_line_endings_says_so_instead_of_diffing_every_line(repo, cli, probe):
    etl = flow_yaml("company.team", "etl")
    repo.write("flows/company.team/etl.yaml", etl)
    assert cli("apply", "--auto-approve").exit_code == 0
    repo.write("flows/company.team/etl.yaml", etl.replace("\n", "\r\n"))  # saved again by a Windows editor
    result = pull(cli)
    assert result.exit_code == 0, result.output
    assert "      (line endings only: CRLF → LF (6 lines))\n" in result.stdout
    assert "-id: etl" not in result.stdout
    assert (repo.root / "flows/company.team/etl.yaml").read_bytes() == etl.encode()
