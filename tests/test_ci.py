"""`kestra-sync ci`: the plan as one pull-request comment updated in place, the job summary, annotations,
forks, GitLab's merge-request notes; against the emulator and a stand-in for the forges' APIs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from forge_api import ForgeApi, ForgeServer
from support import flow_yaml

from kestrasync.cli import main

REPOSITORY = "acme/flows"
HEAD = "0123456789abcdef0123456789abcdef01234567"
MARKER = re.compile(r"<!-- kestra-sync ci: (.*?) -->")


@pytest.fixture
def forge():
    with ForgeServer() as stand_in:
        yield stand_in


def github_env(forge, tmp_path: Path, *, number: int | None = 7, head: str = HEAD, fork: bool = False, token: bool = True,
               workspace: Path | None = None) -> dict[str, str]:
    """What GitHub Actions sets for a `pull_request` run (or a push when `number` is None)."""
    event = {}
    if number is not None:
        event = {"number": number, "pull_request": {
            "number": number, "head": {"sha": head, "repo": {"full_name": "someone/flows" if fork else REPOSITORY}},
            "base": {"repo": {"full_name": REPOSITORY}}}}
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    return {
        "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request" if number is not None else "push",
        "GITHUB_EVENT_PATH": str(event_file), "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": forge.url,
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "42", "GITHUB_SHA": "f" * 40,
        "GITHUB_TOKEN": forge.api.token if token else "", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_WORKSPACE": str(workspace or Path.cwd()), "GITLAB_CI": "",
    }


def ci(*args: str, env: dict[str, str], server=None):
    kestra = {"KESTRA_URL": server.url, "KESTRA_USERNAME": server.config.username, "KESTRA_PASSWORD": server.config.password} if server else {}
    return CliRunner().invoke(main, ["ci", *args], env={**kestra, **env}, catch_exceptions=False)


def ours(api: ForgeApi, thread=(REPOSITORY, 7)):
    return [c for c in api.of(thread) if MARKER.search(c.body)]


def test_a_plan_is_one_comment_updated_in_place_on_every_push(repo, server, forge, tmp_path):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    first = ci("plan", env=github_env(forge, tmp_path), server=server)
    assert first.exit_code == 0, first.output
    [comment] = ours(forge.api)
    assert "### kestra-sync plan" in comment.body and "company.team/a" in comment.body
    assert f"at commit `{HEAD[:12]}`" in comment.body and "https://github.example/acme/flows/actions/runs/42" in comment.body
    assert "Commented on pull request #7." in first.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert "### kestra-sync plan" in summary and "<!--" not in summary

    repo.write("flows/b.yaml", flow_yaml("company.team", "b"))
    second = ci("plan", env=github_env(forge, tmp_path, head="ab" * 20), server=server)
    assert second.exit_code == 0, second.output
    [updated] = ours(forge.api)
    assert updated.id == comment.id and "company.team/b" in updated.body and "`abababababab`" in updated.body
    assert "Updated the comment on pull request #7." in second.stderr
    assert [method for method, _ in forge.api.writes()] == ["POST", "PATCH"]

    third = ci("plan", env=github_env(forge, tmp_path, head="ab" * 20), server=server)
    assert "already says this" in third.stderr and len(forge.api.writes()) == 2


def test_other_comments_are_never_touched_and_ours_is_found_on_a_later_page(repo, server, forge, tmp_path):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    api = forge.api
    for number in range(150):
        api.add((REPOSITORY, 7), f"review comment {number}")
    same_bot = api.add((REPOSITORY, 7), "### kestra-sync plan\nquoted by hand, without the marker", author=api.author)
    other_env = api.add((REPOSITORY, 7), "<!-- kestra-sync ci: plan staging . -->\nstaging's plan", author=api.author)
    before = {c.id: c.body for c in api.comments.values()}
    assert ci("plan", env=github_env(forge, tmp_path), server=server).exit_code == 0
    [created] = [c for c in ours(api) if c.id not in before]
    assert MARKER.search(created.body)[1] == "plan - ."
    assert {c.id: c.body for c in api.comments.values() if c.id in before} == before  # untouched
    repo.write("flows/a.yaml", flow_yaml("company.team", "a", message="changed"))
    assert ci("plan", env=github_env(forge, tmp_path), server=server).exit_code == 0
    assert api.comments[same_bot.id].body == before[same_bot.id] and api.comments[other_env.id].body == before[other_env.id]
    assert "PATCH" in [m for m, _ in api.writes()] and len(ours(api)) == 2  # ours and staging's


def test_a_failed_plan_still_comments_and_annotates_the_line(repo, server, forge, tmp_path):
    (repo.root / "infra").mkdir()
    bad = "id: a\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n    message: twice\n"
    repo.write("flows/a.yaml", bad)
    result = ci("plan", env=github_env(forge, tmp_path, workspace=repo.root.parent), server=server)
    assert result.exit_code == 1
    [comment] = ours(forge.api)
    assert "### kestra-sync plan failed" in comment.body and "flows/a.yaml:7:" in comment.body
    annotation = next(line for line in result.stdout.splitlines() if line.startswith("::error "))
    assert re.match(r"::error file=repo/flows/a\.yaml,line=7,col=\d+::.*message", annotation), annotation
    assert MARKER.search(comment.body)[1] == "plan - repo"  # the folder below the workspace names the slot
    assert "plan failed" in (tmp_path / "summary.md").read_text()


def test_a_pull_request_from_a_fork_gets_the_offline_checks_and_says_so(repo, forge, tmp_path):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    forge.api.read_only = True  # a fork's token cannot comment
    result = ci("plan", env=github_env(forge, tmp_path, fork=True))  # no KESTRA_URL: no secrets
    assert result.exit_code == 0, result.output
    assert "1 flow(s) pass the local checks." in result.stdout
    assert "a fork's token cannot comment" in result.stderr and forge.api.token not in result.output
    summary = (tmp_path / "summary.md").read_text()
    assert "offline checks only" in summary and "comes from a fork" in summary
    forge.api.read_only = False
    assert ci("plan", env=github_env(forge, tmp_path, fork=True)).exit_code == 0
    [comment] = ours(forge.api)
    assert "offline checks only" in comment.body


def test_a_token_without_the_permission_is_a_sentence_naming_it(repo, server, forge, tmp_path):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    forge.api.read_only = True
    result = ci("plan", env=github_env(forge, tmp_path), server=server)
    assert result.exit_code == 1
    assert "GitHub refused POST repos/acme/flows/issues/7/comments (403 Forbidden)" in result.stderr
    assert "permissions: pull-requests: write" in result.stderr and forge.api.token not in result.output
    no_token = ci("plan", env=github_env(forge, tmp_path, token=False), server=server)
    assert no_token.exit_code == 0 and "no GITHUB_TOKEN, so the result was not posted" in no_token.stderr


def test_the_reviewed_plan_is_applied_after_merge_and_refused_when_stale(repo, server, forge, tmp_path, probe):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    assert ci("plan", "--out", "plan.json", env=github_env(forge, tmp_path), server=server).exit_code == 0
    pushed = github_env(forge, tmp_path, number=None)
    applied = ci("apply", "plan.json", env=pushed, server=server)
    assert applied.exit_code == 0, applied.output
    assert "company.team/a" in probe.flows()
    summary = (tmp_path / "summary.md").read_text()
    assert "### kestra-sync apply" in summary and "Apply complete: 1 applied" in summary
    assert len(ours(forge.api)) == 1  # a push has no pull request to comment on

    repo.write("flows/a.yaml", flow_yaml("company.team", "a", message="reviewed"))
    assert ci("plan", "--out", "plan.json", env=github_env(forge, tmp_path), server=server).exit_code == 0
    probe.update("company.team", "a", flow_yaml("company.team", "a", message="changed by hand meanwhile"))
    stale = ci("apply", "plan.json", env=pushed, server=server)
    assert stale.exit_code == 1 and "The plan is stale" in stale.stderr
    assert "kestra-sync apply failed" in (tmp_path / "summary.md").read_text()
    assert "changed by hand meanwhile" in probe.flows()["company.team/a"][1]


def test_gitlab_merge_request_note_updated_in_place(repo, server, forge, tmp_path):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    forge.api.add(("123", 5), "added 1 commit", author="gitlab", system=True)
    env = {"GITLAB_CI": "true", "GITHUB_ACTIONS": "", "CI_API_V4_URL": f"{forge.url}/api/v4", "CI_PROJECT_ID": "123",
           "CI_MERGE_REQUEST_IID": "5", "CI_MERGE_REQUEST_PROJECT_ID": "123", "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "123",
           "CI_COMMIT_SHA": HEAD, "CI_JOB_URL": "https://gitlab.example/acme/flows/-/jobs/9", "GITLAB_TOKEN": forge.api.token}
    assert ci("plan", env=env, server=server).exit_code == 0
    repo.write("flows/b.yaml", flow_yaml("company.team", "b"))
    result = ci("plan", env=env, server=server)
    assert result.exit_code == 0 and "Updated the comment on merge request #5." in result.stderr
    [note] = ours(forge.api, ("123", 5))
    assert "company.team/b" in note.body and "jobs/9" in note.body
    assert [m for m, _ in forge.api.writes()] == ["POST", "PUT"]
    assert "::error" not in result.stdout  # annotations are GitHub's


def test_validate_outside_any_forge_only_prints(repo, server, tmp_path):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    result = ci("validate", env={"GITHUB_ACTIONS": "", "GITLAB_CI": ""}, server=server)
    assert result.exit_code == 0, result.output
    assert "The server at" in result.stdout and "validated 1 flow(s)" in result.stdout


def test_markdown_output_of_a_failed_plan_says_why(repo, cli):
    repo.write("flows/a.yaml", "id: a\nnamespace: company.team\nid: b\ntasks: []\n")
    result = cli("plan", "--format", "markdown")
    assert result.exit_code == 1
    assert result.stdout.startswith("### kestra-sync plan failed\n\n```\nflows/a.yaml:3:")


def test_unmanaged_flows_fail_the_plan_and_the_comment_shows_both(repo, server, forge, tmp_path, probe):
    repo.write("flows/a.yaml", flow_yaml("company.team", "a"))
    probe.create(flow_yaml("company.team", "left"))
    result = ci("plan", "--fail-on-unmanaged", env=github_env(forge, tmp_path), server=server)
    assert result.exit_code == 1
    [comment] = ours(forge.api)
    assert "company.team/a" in comment.body and "company.team/left" in comment.body
    assert "### kestra-sync plan failed" in comment.body


def event_file(tmp_path, event: dict) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


def test_the_job_as_each_ci_describes_it(tmp_path):
    from kestrasync import ci as ci_module

    request = {"number": 3, "head": {"sha": HEAD, "repo": {"full_name": "someone/flows"}}, "base": {"repo": {"full_name": REPOSITORY}}}
    github = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_EVENT_PATH": event_file(tmp_path, {"pull_request": request})}
    fork = ci_module.job({**github, "GITHUB_EVENT_NAME": "pull_request"})
    assert (fork.forge, fork.request, fork.commit, fork.fork, fork.noun) == ("GitHub", 3, HEAD, True, "pull request")
    assert not ci_module.job({**github, "GITHUB_EVENT_NAME": "pull_request_target"}).fork  # the base's workflow, with its secrets
    push = ci_module.job({"GITHUB_ACTIONS": "true", "GITHUB_SHA": "f" * 40, "GITHUB_EVENT_PATH": event_file(tmp_path, {"ref": "refs/heads/main"})})
    assert (push.request, push.commit, push.fork) == (None, "f" * 40, False)
    gitlab = ci_module.job({"GITLAB_CI": "true", "CI_MERGE_REQUEST_IID": "12", "CI_MERGE_REQUEST_PROJECT_ID": "1",
                            "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "2", "CI_PROJECT_ID": "2"})
    assert (gitlab.forge, gitlab.project, gitlab.request, gitlab.fork, gitlab.noun) == ("GitLab", "1", 12, True, "merge request")
    assert ci_module.job({}).forge is None


def test_a_broken_event_file_is_a_sentence_naming_it(repo, tmp_path):
    path = tmp_path / "event.json"
    path.write_text("{not json")
    result = ci("validate", "--offline", env={"GITHUB_ACTIONS": "true", "GITHUB_EVENT_PATH": str(path), "GITLAB_CI": ""})
    assert result.exit_code == 1 and f"{path}: GitHub's event file cannot be read" in result.stderr


def test_annotations_escape_what_githubs_workflow_commands_need():
    from kestrasync import ci as ci_module
    from kestrasync.model import Diagnostic, Severity, SourceLocation

    problems = [Diagnostic(Severity.ERROR, "50% done\nthen: more", location=SourceLocation("dir,x/a:b.yaml", 3, 5)),
                Diagnostic(Severity.WARNING, "no place")]
    lines = ci_module.annotations(problems, workspace=None, here=Path("/repo"))
    assert lines == ["::error file=dir%2Cx/a%3Ab.yaml,line=3,col=5::50%25 done%0Athen: more", "::warning::no place"]
    assert len(ci_module.annotations([problems[1]] * 80, None)) == ci_module.ANNOTATIONS
