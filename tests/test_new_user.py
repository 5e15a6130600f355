"""Mistakes a new user makes, each one sentence, exit 1 and nothing written; and the word `yes` for deletes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import child_env, flow_yaml, run_on_terminal


def test_no_configuration_is_an_error_not_an_empty_plan(repo, cli, probe):
    (repo.root / "kestra-sync.yaml").unlink()
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    for command in ("plan", "apply", "diff", "pull"):
        result = cli(command, "--auto-approve") if command in ("apply", "pull") else cli(command)
        assert result.exit_code == 1, (command, result.output)
        assert "no kestra-sync.yaml (or kestra-sync.yml) in" in result.stderr and "run kestra-sync init" in result.stderr
    assert probe.flows() == {}
    repo.write("kestra-sync.yml", "flows:\n  paths: [flows]\nnamespaces: [company]\n")
    assert "1 to create" in cli("plan").stdout
    assert cli("validate", "--offline", "flows").exit_code == 0  # files named: no repository needed


def test_a_url_with_the_api_path_gets_a_hint(repo, cli, server):
    result = cli("plan", env={"KESTRA_URL": server.url + "/api/v1"})
    assert result.exit_code == 1
    assert f"the server URL is the server's own address ({server.url}), without Kestra's API path (/api/v1)" in result.stderr


def test_apply_of_a_flow_file_says_to_use_target(repo, cli, probe):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    result = cli("apply", "flows/a.yaml")
    assert result.exit_code == 1 and "flows/a.yaml is a flow file, not a saved plan" in result.stderr and "--target" in result.stderr
    assert probe.flows() == {}


def test_the_emulator_without_its_extra_says_what_to_install(repo):
    blocked = "import sys; sys.modules['starlette'] = None; from kestrasync.cli import main; sys.argv = ['kestra-sync', '{}']; main()"
    for command in ("emulator", "demo"):
        done = subprocess.run([sys.executable, "-c", blocked.format(command)], capture_output=True, text=True, cwd=repo.root,
                              env=child_env(), timeout=60)
        assert done.returncode == 1, done.stderr
        assert "the built-in emulator needs the `emulator` extra" in done.stderr and "pip install 'kestra-sync[emulator]'" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_plan_that_deletes_takes_the_word_yes(repo, probe, server):
    repo.write("flows/keep.yaml", flow_yaml("company.team", "keep"))
    probe.create(flow_yaml("company.team", "keep"))
    probe.create(flow_yaml("company.team", "orphan", message="no file"))
    env = child_env(server)
    code, output = run_on_terminal(["apply", "--prune"], env, repo.root, answer="y")
    assert code == 1 and "only 'yes' is accepted" in output and "Apply cancelled; nothing was changed." in output
    assert "company.team/orphan" in probe.flows()
    code, output = run_on_terminal(["apply", "--prune"], env, repo.root, answer="yes")
    assert code == 0, output
    assert set(probe.flows()) == {"company.team/keep"}


def test_colour_is_asked_for_or_not(repo, server):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    env = {k: v for k, v in child_env(server).items() if k not in ("NO_COLOR", "TERM")}
    assert "\x1b[" in run_on_terminal(["plan"], env, repo.root)[1]
    assert "\x1b[" not in run_on_terminal(["plan"], {**env, "TERM": "dumb"}, repo.root)[1]
    assert "\x1b[" not in run_on_terminal(["--color", "never", "plan"], env, repo.root)[1]
    piped = subprocess.run([sys.executable, "-m", "kestrasync", "--color", "always", "plan"], capture_output=True, text=True,
                           cwd=repo.root, env=env, timeout=60)
    assert "\x1b[32m" in piped.stdout  # CI: no terminal, colour forced
    forced = subprocess.run([sys.executable, "-m", "kestrasync", "plan"], capture_output=True, text=True, cwd=repo.root,
                            env={**env, "KESTRA_SYNC_COLOR": "always"}, timeout=60)
    assert "\x1b[32m" in forced.stdout


def test_dotenv_beside_the_configuration_with_an_inline_comment(repo, server, monkeypatch):
    from kestrasync.config import load_settings

    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    repo.write(".env", f"KESTRA_URL={server.url}\nKESTRA_USERNAME={server.config.username}\n"
                       f"KESTRA_PASSWORD={server.config.password}  # the emulator's default\n")
    (repo.root / "flows" / "sub").mkdir()
    monkeypatch.chdir(repo.root / "flows" / "sub")
    settings = load_settings(environ={})
    assert settings.server.credentials.password == server.config.password  # not "... # the emulator's default"
    env = {k: v for k, v in child_env().items() if not k.startswith("KESTRA_") or k == "KESTRA_SYNC_CACHE_DIR"}
    done = subprocess.run([sys.executable, "-m", "kestrasync", "plan"], capture_output=True, text=True, cwd=repo.root / "flows" / "sub",
                          env=env, timeout=60)
    assert done.returncode == 0 and "1 to create" in done.stdout, done.stderr


def test_validate_knows_the_flows_it_validates_together(repo, cli):
    repo.write("flows/parent.yaml", flow_yaml("company.team", "parent").replace(
        "tasks:\n", "tasks:\n  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company.team\n    flowId: child\n", 1))
    repo.write("flows/child.yaml", flow_yaml("company.team", "child"))
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert "not found" not in result.stderr and "The server at" in result.stdout
    repo.write("flows/bad.yaml", flow_yaml("company.team", "bad", extra="labels:\n  system.team: x\n"))
    refused = cli("validate")
    assert refused.exit_code == 1 and "in validation." in refused.stderr and "nothing was applied" not in refused.stderr


def test_a_selection_that_matches_nothing_is_an_error(repo, cli, probe):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    probe.create(flow_yaml("company.data", "b"))
    assert "1 to create" in cli("plan", "--namespace", "company.team").stdout
    assert cli("plan", "--namespace", "company.data").exit_code == 0  # on the server only
    typo = cli("plan", "--namespace", "company.taem")
    assert typo.exit_code == 1 and "--namespace company.taem matches no file and nothing on the server" in typo.stderr
    assert cli("plan", "--target", "company.data/b").exit_code == 0
    missing = cli("apply", "--auto-approve", "--target", "company.team/nope")
    assert missing.exit_code == 1 and "--target company.team/nope matches no file and nothing on the server" in missing.stderr
    assert set(probe.flows()) == {"company.data/b"}


def test_the_pre_commit_hook_checks_only_the_staged_files_the_repository_reads(repo):
    import shlex

    import yaml

    hook = yaml.safe_load((Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml").read_text())[0]
    assert hook["id"] == "kestra-sync-validate" and hook["pass_filenames"] is True
    repo.config("flows:\n  paths: [flows]\n  exclude: ['flows/drafts/**']\nnamespaces: [company]\n")
    repo.write("flows/ok.yaml", flow_yaml("company.team", "ok"))
    repo.write("flows/drafts/wip.yaml", "id: [unfinished\n")  # excluded: skipped even when named
    repo.write("notes.txt", "not a flow\n")
    git = lambda *args: subprocess.run(["git", "-C", str(repo.root), *args], check=True, capture_output=True, text=True).stdout
    git("init", "-q")
    git("add", ".")

    def run_hook() -> subprocess.CompletedProcess:
        staged = git("diff", "--cached", "--name-only").split()
        entry = shlex.split(hook["entry"])
        return subprocess.run([sys.executable, "-m", "kestrasync", *entry[1:], *staged], capture_output=True, text=True,
                              cwd=repo.root, env=child_env(), timeout=60)

    passed = run_hook()
    assert passed.returncode == 0, passed.stderr
    assert "1 flow(s) pass the local checks." in passed.stdout
    repo.write("flows/bad.yaml", flow_yaml("company.team", "bad").replace("tasks:", "tasks: []\nfoo:", 1))
    git("add", "flows/bad.yaml")
    failed = run_hook()
    assert failed.returncode == 1 and "flows/bad.yaml:" in failed.stderr


def test_https_against_a_plain_http_server_gets_a_hint(repo, cli, server):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    result = cli("plan", env={"KESTRA_URL": server.url.replace("http://", "https://")})
    assert result.exit_code == 1
    assert "does not speak TLS on that port: it looks like plain HTTP; use http://" in result.stderr


def test_credential_errors_say_which_and_from_where(repo, cli, server, monkeypatch):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    none = cli("plan", env={"KESTRA_USERNAME": "", "KESTRA_PASSWORD": ""})
    assert none.exit_code == 1 and "refused a request without credentials (none were given: set KESTRA_USERNAME" in none.stderr
    repo.write(".env", f"KESTRA_USERNAME={server.config.username}\nKESTRA_PASSWORD=wrong-one\n")
    wrong = cli("plan", env={"KESTRA_USERNAME": None, "KESTRA_PASSWORD": None})
    assert wrong.exit_code == 1
    assert f"refused user '{server.config.username}' (Basic, from KESTRA_USERNAME and KESTRA_PASSWORD (.env)) (401 Unauthorized)" in wrong.stderr
    assert "wrong-one" not in wrong.output
    flags = cli("plan", "--username", "someone@example.com", "--password", "nope", env={"KESTRA_USERNAME": "", "KESTRA_PASSWORD": ""})
    assert "refused user 'someone@example.com' (Basic, from --username and --password (flags))" in flags.stderr
