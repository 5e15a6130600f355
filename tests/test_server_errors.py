"""Errors are sentences: unreachable server, rejected credentials, wrong tenant, Kestra's 422 mapped to files."""

from __future__ import annotations

import json

import pytest

from support import Recorder, flow_yaml, free_port, run
from kestrasync.emulator import EmulatorConfig, EmulatorServer

SECRET = "S3cret-Passw0rd!"
TOKEN = "tok_0123456789abcdefSECRET"




def test_unreachable_server_names_the_url(repo):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    url = f"http://127.0.0.1:{free_port()}"
    result = run("plan", env={"KESTRA_URL": url, "KESTRA_USERNAME": "u@example.com", "KESTRA_PASSWORD": SECRET})
    assert result.exit_code == 1
    assert f"Cannot reach the Kestra server at {url}" in result.stderr
    assert SECRET not in result.output and "Traceback" not in result.output


def test_rejected_password_names_the_user_not_the_secret(repo, server):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    result = run("plan", env={"KESTRA_URL": server.url, "KESTRA_USERNAME": "admin@kestra.io", "KESTRA_PASSWORD": SECRET})
    assert result.exit_code == 1
    assert (f"The Kestra server at {server.url} refused user 'admin@kestra.io' (Basic, from KESTRA_USERNAME and KESTRA_PASSWORD "
            "(the environment)) (401 Unauthorized); check them.") in result.stderr
    assert SECRET not in result.output


def test_rejected_token_says_token_kind_only(repo, server):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    result = run("plan", env={"KESTRA_URL": server.url, "KESTRA_API_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "refused an API token (Bearer, from KESTRA_API_TOKEN (the environment))" in result.stderr
    assert TOKEN not in result.output


def test_wrong_tenant_is_a_sentence(repo, cli):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    result = cli("plan", "--tenant", "acme")
    assert result.exit_code == 1
    assert "refused tenant 'acme'" in result.stderr
    assert "Tenant must be 'main'" in result.stderr


def json_answer(body: object):
    def answer(handler):
        data = json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return answer


@pytest.mark.parametrize(
    "item, problem",
    [
        ({"id": "a", "namespace": "company"}, "result 1 of a search page without `revision`"),
        ("company/a", 'result 1 of a search page that is "company/a" (not an object)'),
        ({"id": "a", "namespace": "company", "revision": "x"}, 'result 1 of a search page with `revision`: "x" (not a whole number'),
        ({"id": "a", "namespace": None, "revision": 1}, "result 1 of a search page with `namespace`: null (not a text)"),
    ],
)
def test_search_page_without_revisions_is_a_sentence(repo, item, problem):
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    with Recorder("127.0.0.1", json_answer({"results": [item], "total": 1})) as server:
        result = run("plan", env={"KESTRA_URL": f"http://127.0.0.1:{server.port}"})
    assert result.exit_code == 1
    assert problem in result.stderr and "to GET /flows/search" in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_server_validation_errors_are_mapped_to_files(repo, cli, probe):
    repo.write("flows/ok.yml", flow_yaml("company", "ok"))
    repo.write("flows/bad.yml", flow_yaml("company", "bad", extra="labels:\n  system.team: data\n"))
    result = cli("plan")
    assert result.exit_code == 1
    assert "flows/bad.yml:4:3: Invalid Flow: System labels can only be set by Kestra itself" in result.stderr
    assert "The server refused 1 flow(s) in validation; nothing was applied." in result.stderr
    assert cli("apply", "--auto-approve").exit_code == 1
    assert probe.flows() == {}


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_422_on_write_is_mapped_to_the_file_in_both_error_formats(repo, version):
    with EmulatorServer(EmulatorConfig(kestra_version=version)) as emulator:
        env = {"KESTRA_URL": emulator.url, "KESTRA_USERNAME": emulator.config.username, "KESTRA_PASSWORD": emulator.config.password}
        repo.write("flows/bad.yml", flow_yaml("company", "bad", extra="labels:\n  system.team: data\n"))
        result = run("apply", "--auto-approve", env=env)
        # Validation refuses it first; a plan saved without validation reaches the write itself.
        assert result.exit_code == 1 and "System labels can only be set by Kestra itself" in result.stderr
        saved = run("plan", "--no-validate", "--out", "plan.json", env=env)
        assert saved.exit_code == 0, saved.output
        applied = run("apply", "plan.json", env=env)
        assert applied.exit_code == 1
        assert "flows/bad.yml:4:3: The Kestra server at" in applied.stdout
        assert "answered 422 to POST /flows" in applied.stdout and "System labels" in applied.stdout


def test_credentials_never_appear_in_any_output(repo, server, probe):
    """Every command and format, successes and failures, with a known password: never printed or saved."""
    good = {"KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username, "KESTRA_PASSWORD": server.config.password}
    wrong = {**good, "KESTRA_PASSWORD": SECRET}
    token = {"KESTRA_URL": server.url, "KESTRA_API_TOKEN": TOKEN}
    probe.create(flow_yaml("company", "orphan"))
    probe.create(flow_yaml("company", "keep", message="old"))
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    repo.write("flows/keep.yml", flow_yaml("company", "keep"))
    outputs = []
    for env in (good, wrong, token):
        for args in (
            ["plan"], ["plan", "--format", "json"], ["plan", "--format", "markdown"], ["plan", "--prune", "--out", "plan.json"],
            ["diff"], ["validate"], ["apply"], ["apply", "plan.json"],
        ):
            result = run(*args, env=env)
            outputs += [result.stdout, result.stderr]
        if (repo.root / "plan.json").exists():
            outputs.append((repo.root / "plan.json").read_text())
    outputs.append(run("apply", "--auto-approve", "--prune", "--password", SECRET, env=good).output)
    everything = "\n".join(outputs)
    assert server.config.password not in everything
    assert SECRET not in everything and TOKEN not in everything
