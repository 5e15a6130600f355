"""Environments: one repository applied to dev, staging and prod (on one server, and on two), its
namespaces mapped in every reference, its text edited only where a value changes."""

from __future__ import annotations

import pytest
import yaml

from support import flow_trigger, flow_yaml, output_json

ENVIRONMENTS = """\
flows:
  paths: [flows]
namespaces: [company]
environments:
  dev:
    namespace_prefix: dev
  staging:
    namespace_rename: {company: company-staging}
    triggers: {disabled: true, types: [io.kestra.plugin.core.trigger.Schedule]}
    labels: {env: staging}
    variables: {region: eu-west}
  prod: {}
"""

SCHEDULE = "triggers:\n  - id: nightly  # 2 am\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: \"0 2 * * *\"\n"
CALLER = """\
# calls the loader, then a shared helper
id: caller
namespace: company.team
tasks:
  - id: load
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team   # the loader
    flowId: loader
  - id: outside
    type: io.kestra.plugin.core.flow.Subflow
    namespace: shared.tools
    flowId: helper
"""


@pytest.fixture
def three(repo, server):
    repo.config(ENVIRONMENTS)
    repo.write("flows/loader.yaml", "# loads\n" + flow_yaml("company.team", "loader", extra=SCHEDULE))
    repo.write("flows/caller.yaml", CALLER)
    repo.write("flows/listener.yaml", flow_yaml("company.team", "listener", extra=flow_trigger("company.team", "caller", server.config.kestra_version)))
    return repo


def test_three_environments_from_one_repository(three, cli, probe):
    for name in ("dev", "staging", "prod"):
        applied = cli("apply", "--auto-approve", "--env", name)
        assert applied.exit_code == 0, applied.output
        assert f"environment {name})" in applied.stdout.splitlines()[0]
        again = cli("plan", "--env", name)
        assert again.exit_code == 0 and "No changes. 3 flow(s) match the server." in again.stdout
    flows = {key: source for key, (_, source) in probe.flows().items()}
    assert set(flows) == {f"{ns}/{flow}" for ns in ("dev.company.team", "company-staging.team", "company.team")
                          for flow in ("loader", "caller", "listener")}
    dev_caller = flows["dev.company.team/caller"]
    assert dev_caller == CALLER.replace("namespace: company.team\n", "namespace: dev.company.team\n").replace(
        "namespace: company.team   # the loader", "namespace: dev.company.team   # the loader")
    assert "namespace: dev.company.team" in flows["dev.company.team/listener"].split("triggers:")[1]
    staging_loader = flows["company-staging.team/loader"]
    assert staging_loader == ("# loads\n" + flow_yaml("company-staging.team", "loader", extra=SCHEDULE)
                              .replace('cron: "0 2 * * *"\n', 'cron: "0 2 * * *"\n    disabled: true\n')
                              + 'labels:\n  env: staging\nvariables:\n  region: eu-west\n')
    assert flows["company.team/caller"] == CALLER  # prod: the files as they are


def test_a_reference_outside_the_repository_is_left_and_listed(three, cli):
    plan = output_json(cli("plan", "--env", "dev", "--format", "json"))
    caller = next(c for c in plan["changes"] if c["address"] == "dev.company.team/caller")
    assert "namespace: shared.tools" in caller["content"]
    warnings = [d["message"] for d in plan["diagnostics"] if d["key"] == "flow:dev.company.team/caller"]
    assert ("names namespace 'shared.tools', which environment dev leaves as it is (not one of the repository's, or computed "
            "when the flow runs)") in warnings
    assert plan["environment"] == "dev"
    assert "environment **dev**" in cli("plan", "--env", "dev", "--format", "markdown").stdout


def test_no_environment_chosen_refuses_apply_and_says_which_exist(three, cli, probe):
    refused = cli("apply", "--auto-approve")
    assert refused.exit_code == 1
    assert "kestra-sync.yaml defines environments (dev, staging, prod); apply needs one: pass --env NAME or set KESTRA_SYNC_ENV" in refused.stderr
    assert probe.flows() == {}
    assert cli("plan").exit_code == 0  # reading is harmless: the top level's values
    unknown = cli("plan", "--env", "qa")
    assert unknown.exit_code == 1 and "environment 'qa' (--env or KESTRA_SYNC_ENV) is not in kestra-sync.yaml; it defines: dev, staging, prod" in unknown.stderr
    by_variable = cli("apply", "--auto-approve", env={"KESTRA_SYNC_ENV": "dev"})
    assert by_variable.exit_code == 0 and "dev.company.team/caller" in by_variable.stdout
    watch = cli("watch")
    assert watch.exit_code == 1 and "watch needs one: pass --env NAME" in watch.stderr


def test_watch_follows_an_environment_and_refuses_a_remote_server_unless_allowed(three, cli, probe, server):
    import time

    from support import WatchProcess

    watcher = WatchProcess(three.root, server.url, "--env", "dev")
    try:
        watcher.wait_for(r"Watching .* for changes")
        assert set(probe.flows()) == {"dev.company.team/loader", "dev.company.team/caller", "dev.company.team/listener"}
        time.sleep(0.2)
        three.write("flows/loader.yaml", "# loads, edited\n" + flow_yaml("company.team", "loader", extra=SCHEDULE))
        watcher.wait_for(r"updated dev\.company\.team/loader")
        assert probe.flows()["dev.company.team/loader"][1].startswith("# loads, edited\nid: loader\nnamespace: dev.company.team\n")
        (three.root / "flows/caller.yaml").unlink()
        watcher.wait_for(r"dev\.company\.team/caller is no longer declared by any file")
    finally:
        watcher.stop()
    remote = {"KESTRA_URL": "http://kestra.example.com:8080"}
    refused = cli("watch", "--env", "dev", env=remote)
    assert refused.exit_code == 1
    assert "kestra.example.com is not local and environment dev does not say `watch: true`" in refused.stderr
    three.config(ENVIRONMENTS.replace("    namespace_prefix: dev\n", "    namespace_prefix: dev\n    watch: true\n"))
    from kestrasync import engine
    from kestrasync.config import load_settings

    engine.check_watchable(load_settings(three.root / "kestra-sync.yaml", environ=remote, environment="dev"))  # allowed


def test_a_preview_needs_its_environment_named(three, cli):
    result = cli("plan", "--namespace-prefix", "pr-1")
    assert result.exit_code == 1 and "--namespace-prefix makes a preview of an environment: choose one of dev, staging, prod" in result.stderr


def test_a_plan_made_for_one_environment_is_refused_in_another(three, cli, probe, tmp_path):
    saved = tmp_path / "plan.json"
    assert cli("plan", "--env", "staging", "--out", str(saved)).exit_code == 0
    refused = cli("apply", str(saved), "--env", "prod")
    assert refused.exit_code == 1
    assert "this plan was made for environment staging and this apply is for environment prod (--env); nothing was applied" in refused.stderr
    assert probe.flows() == {}
    assert cli("apply", str(saved), "--env", "staging").exit_code == 0


def test_two_servers_each_with_its_own_credentials(three, cli, probe, server):
    from kestrasync.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(kestra_version=server.config.kestra_version, username="prod@example.com",
                                       password="Prod-secret-1")) as prod:
        three.config(ENVIRONMENTS.replace("  prod: {}\n", f"  prod:\n    server: {{url: '{prod.url}'}}\n"))
        borrowed = cli("apply", "--auto-approve", "--env", "prod")  # the plain KESTRA_* credentials are the other server's
        assert borrowed.exit_code == 1 and server.config.password not in borrowed.output
        env = {"KESTRA_PROD_USERNAME": "prod@example.com", "KESTRA_PROD_PASSWORD": "Prod-secret-1"}
        applied = cli("apply", "--auto-approve", "--env", "prod", env=env)
        assert applied.exit_code == 0, applied.output
        assert "Prod-secret-1" not in applied.output
        assert cli("apply", "--auto-approve", "--env", "dev").exit_code == 0
        import httpx
        with httpx.Client(base_url=f"{prod.url}/api/v1/main", auth=("prod@example.com", "Prod-secret-1")) as client:
            on_prod = {f"{f['namespace']}/{f['id']}" for f in client.get("/flows/search", params={"size": 100}).json()["results"]}
    assert on_prod == {"company.team/loader", "company.team/caller", "company.team/listener"}
    assert set(probe.flows()) == {"dev.company.team/loader", "dev.company.team/caller", "dev.company.team/listener"}


def test_what_cannot_be_rewritten_in_place_is_a_located_error(three, cli, probe):
    call = "tasks:\n  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: \"{{ NS }}\"\n    flowId: x\n"
    three.write("flows/dynamic.yaml", flow_yaml("company.team", "dynamic").replace("tasks:\n", call.replace("NS", "inputs.ns"), 1))
    computed = output_json(cli("plan", "--env", "dev", "--format", "json"))
    assert any("names namespace '{{ inputs.ns }}', which environment dev leaves as it is" in d["message"] for d in computed["diagnostics"])
    three.write("flows/dynamic.yaml", flow_yaml("company.team", "dynamic").replace("tasks:\n", call.replace("NS", "'company.' ~ 'team'"), 1))
    result = cli("plan", "--env", "dev")
    assert result.exit_code == 1
    assert "flows/dynamic.yaml:6:16: a Pebble expression names one of the repository's namespaces here" in result.stderr
    assert cli("plan", "--env", "prod").exit_code == 1  # prod maps nothing, but the rule is the same everywhere


def test_namespace_files_follow_the_environment(three, cli, probe):
    three.write("_files/company.team/etl/load.py", b"print('load')\n")
    applied = cli("apply", "--auto-approve", "--env", "dev")
    assert applied.exit_code == 0, applied.output
    assert probe.files("dev.company.team") == {"etl/load.py": b"print('load')\n"}
    again = cli("plan", "--env", "dev")
    assert "No changes. 1 namespace file(s) and 3 flow(s) match the server." in again.stdout
    assert probe.files("company.team") == {}


PREVIEWS = ENVIRONMENTS + "  preview: {}\n"


def test_a_preview_is_a_full_copy_that_never_reaches_outside_itself(three, cli, probe):
    three.config(PREVIEWS)
    three.write("_files/company.team/etl/load.py", b"print('load')\n")
    opened = cli("apply", "--auto-approve", "--env", "preview", "--namespace-prefix", "pr-123")
    assert opened.exit_code == 0, opened.output
    assert "environment preview (prefix pr-123))" in opened.stdout.splitlines()[0]
    flows = {key: source for key, (_, source) in probe.flows().items()}
    assert set(flows) == {"pr-123.company.team/loader", "pr-123.company.team/caller", "pr-123.company.team/listener"}
    assert "namespace: pr-123.company.team   # the loader" in flows["pr-123.company.team/caller"]
    triggers = [trigger for source in flows.values() for trigger in yaml.safe_load(source).get("triggers", [])]
    assert len(triggers) == 2 and all(trigger["disabled"] is True for trigger in triggers)  # nothing fires in a preview
    assert "namespace: pr-123.company.team" in flows["pr-123.company.team/listener"].split("triggers:")[1]
    assert probe.files("pr-123.company.team") == {"etl/load.py": b"print('load')\n"}
    assert "No changes." in cli("plan", "--env", "preview", "--namespace-prefix", "pr-123").stdout


def test_destroy_deletes_exactly_one_preview(three, cli, probe):
    three.config(PREVIEWS)
    three.write("_files/company.team/etl/load.py", b"print('load')\n")
    for prefix in ("pr-123", "pr-124"):
        assert cli("apply", "--auto-approve", "--env", "preview", "--namespace-prefix", prefix).exit_code == 0
    assert cli("apply", "--auto-approve", "--env", "prod").exit_code == 0
    before = set(probe.flows())
    bounded = cli("destroy", "--env", "preview", "--namespace-prefix", "pr-123", "--auto-approve", "--max-deletes", "2")
    assert bounded.exit_code == 1 and "Prune would delete 3 flows, more than max_deletes (2)" in bounded.stderr
    assert set(probe.flows()) == before
    done = cli("destroy", "--env", "preview", "--namespace-prefix", "pr-123", "--auto-approve")
    assert done.exit_code == 0, done.output
    assert "Flows to DELETE (prune):" in done.stdout and "Apply complete: 4 applied, 0 failed" in done.stdout
    assert set(probe.flows()) == {key for key in before if not key.startswith("pr-123.")}
    assert probe.files("pr-123.company.team") == {} and probe.files("pr-124.company.team") == {"etl/load.py": b"print('load')\n"}
    nothing = cli("destroy", "--env", "preview", "--namespace-prefix", "pr-123", "--auto-approve")
    assert nothing.exit_code == 0 and "No changes." in nothing.stdout
    refused = cli("destroy", "--env", "prod", "--auto-approve")
    assert refused.exit_code == 1 and "destroy deletes a preview only: pass --namespace-prefix" in refused.stderr


def test_two_repositories_owning_by_label_prune_only_their_own(tmp_path, server, probe):
    from support import run

    env = {"KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username, "KESTRA_PASSWORD": server.config.password}
    repos = {}
    for name in ("ingest", "reports"):
        root = tmp_path / name
        (root / "flows").mkdir(parents=True)
        (root / "kestra-sync.yaml").write_text(f"flows:\n  paths: [flows]\nnamespaces: [company]\nownership:\n  by: label\n  name: {name}\n")
        for flow_id in (f"{name}_a", f"{name}_b"):
            (root / "flows" / f"{flow_id}.yaml").write_text(flow_yaml("company.team", flow_id, message=flow_id))
        repos[name] = root
    probe.create(flow_yaml("company.team", "by_hand", message="made in the UI"))
    for root in repos.values():
        applied = run("apply", "--auto-approve", "--config", str(root / "kestra-sync.yaml"), env=env)
        assert applied.exit_code == 0, applied.output
    source = probe.flows()["company.team/ingest_a"][1]
    assert source.endswith("labels:\n  kestra-sync.managed-by: ingest\n")
    (repos["ingest"] / "flows" / "ingest_b.yaml").unlink()
    pruned = output_json(run("plan", "--prune", "--format", "json", "--config", str(repos["ingest"] / "kestra-sync.yaml"), env=env))
    assert [(c["action"], c["address"]) for c in pruned["changes"]] == [("delete", "company.team/ingest_b")]
    assert [u["name"] for u in pruned["unmanaged"]] == ["by_hand"]  # nobody's: shown, never deleted
    applied = run("apply", "--auto-approve", "--prune", "--config", str(repos["ingest"] / "kestra-sync.yaml"), env=env)
    assert applied.exit_code == 0, applied.output
    assert set(probe.flows()) == {"company.team/ingest_a", "company.team/reports_a", "company.team/reports_b", "company.team/by_hand"}
    clean = run("plan", "--prune", "--config", str(repos["reports"] / "kestra-sync.yaml"), env=env)
    assert "No changes. 2 flow(s) match the server." in clean.stdout
    pulled = output_json(run("pull", "--dry-run", "--format", "json", "--config", str(repos["ingest"] / "kestra-sync.yaml"), env=env))
    assert [w["resources"] for w in pulled["writes"]] == [["flow:company.team/by_hand"]]  # never the other repository's
    (repos["ingest"] / "flows" / "reports_a.yaml").write_text(flow_yaml("company.team", "reports_a", message="mine now"))
    taken = output_json(run("plan", "--format", "json", "--config", str(repos["ingest"] / "kestra-sync.yaml"), env=env))
    assert any(d["message"] == "repository reports manages this flow (its label); applying makes it ingest's" for d in taken["diagnostics"])
    (repos["ingest"] / "kestra-sync.yaml").write_text("flows:\n  paths: [flows]\nnamespaces: [company]\nownership: {by: label}\n")
    unnamed = run("plan", "--config", str(repos["ingest"] / "kestra-sync.yaml"), env=env)
    assert unnamed.exit_code == 1 and "'ownership.name' is needed with `by: label`" in unnamed.stderr


def test_an_environment_maps_its_own_namespace_files(three, cli, probe):
    three.config(ENVIRONMENTS.replace("    variables: {region: eu-west}\n", "    variables: {region: eu-west}\n"
                                      "    files:\n      mappings: [{namespace: company.team, from: staging_files, to: conf}]\n"))
    three.write("_files/company.team/etl/load.py", b"print('load')\n")
    three.write("staging_files/settings.json", b'{"region": "eu-west"}\n')
    assert cli("apply", "--auto-approve", "--env", "staging").exit_code == 0
    assert probe.files("company-staging.team") == {"etl/load.py": b"print('load')\n", "conf/settings.json": b'{"region": "eu-west"}\n'}
    assert cli("apply", "--auto-approve", "--env", "prod").exit_code == 0
    assert probe.files("company.team") == {"etl/load.py": b"print('load')\n"}  # the mapping is staging's only
