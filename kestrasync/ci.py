"""`kestra-sync ci`: what a CI job adds to a plan, an apply or a validation.

On a pull request (GitHub) or a merge request (GitLab) the result becomes one comment, which every
later run edits in place. It is found by a hidden marker naming the command's slot (the environment
and the folder), so two plans of one repository keep a comment each and no other comment, the same
bot's included, is ever touched. On GitHub the result also goes to the job summary, and located
problems become annotations on the files' lines. A pull request from a fork gets no secrets: only the
offline checks run, and the comment says so.

Pure but for `publish`, whose requests go through `kestrasync.http.WebApi`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx

from kestrasync.errors import ConfigError, ForgeError
from kestrasync.http import WebApi
from kestrasync.model import Diagnostic, Severity


@dataclass(frozen=True)
class Job:
    """What the CI environment says about this run; `forge` None: another CI, output only."""

    forge: str | None = None  # "GitHub" or "GitLab"
    api_url: str = ""
    project: str = ""  # owner/name on GitHub, the project's id on GitLab
    request: int | None = None  # the pull or merge request's number
    commit: str | None = None  # what was checked out: the request's head
    fork: bool = False  # the request comes from a fork: no secrets
    token: str | None = None
    summary: str | None = None  # the file GitHub shows as the job's summary
    workspace: str | None = None  # the repository's root: annotations name files from there
    run_url: str | None = None

    @property
    def noun(self) -> str:
        return "merge request" if self.forge == "GitLab" else "pull request"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.token,) if self.token else ()


def job(environ: Mapping[str, str]) -> Job:
    """The run, as GitHub Actions or GitLab CI describe it in the environment."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return _github_job(environ)
    if environ.get("GITLAB_CI") == "true":
        return _gitlab_job(environ)
    return Job()


def _github_job(environ: Mapping[str, str]) -> Job:
    event: dict = {}
    path = environ.get("GITHUB_EVENT_PATH")
    if path and Path(path).is_file():
        try:
            event = json.loads(Path(path).read_text(encoding="utf-8"))
        except (ValueError, OSError) as error:
            raise ConfigError(f"{path}: GitHub's event file cannot be read ({error})") from None
    request = event.get("pull_request") if isinstance(event, dict) else None
    number = head = None
    fork = False
    if isinstance(request, dict):
        number = request.get("number")
        head_branch = request.get("head") or {}
        head = head_branch.get("sha")
        source = (head_branch.get("repo") or {}).get("full_name")
        target = ((request.get("base") or {}).get("repo") or {}).get("full_name")
        # `pull_request_target` runs the base's workflow with its secrets; `pull_request` from a fork has none.
        fork = environ.get("GITHUB_EVENT_NAME") == "pull_request" and source != target
    server, repository, run = environ.get("GITHUB_SERVER_URL", "https://github.com"), environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID")
    return Job(
        forge="GitHub",
        api_url=environ.get("GITHUB_API_URL", "https://api.github.com"),
        project=repository,
        request=number if isinstance(number, int) else None,
        commit=head if isinstance(head, str) else environ.get("GITHUB_SHA"),
        fork=fork,
        token=environ.get("GITHUB_TOKEN") or None,
        summary=environ.get("GITHUB_STEP_SUMMARY") or None,
        workspace=environ.get("GITHUB_WORKSPACE") or None,
        run_url=f"{server}/{repository}/actions/runs/{run}" if run and repository else None,
    )


def _gitlab_job(environ: Mapping[str, str]) -> Job:
    number = environ.get("CI_MERGE_REQUEST_IID", "")
    source, target = environ.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID"), environ.get("CI_MERGE_REQUEST_PROJECT_ID")
    return Job(
        forge="GitLab",
        api_url=environ.get("CI_API_V4_URL", "https://gitlab.com/api/v4"),
        project=target or environ.get("CI_PROJECT_ID", ""),
        request=int(number) if number.isdigit() else None,
        commit=environ.get("CI_COMMIT_SHA"),
        fork=bool(source and target and source != target),
        token=environ.get("GITLAB_TOKEN") or None,
        workspace=environ.get("CI_PROJECT_DIR") or None,
        run_url=environ.get("CI_JOB_URL") or None,
    )


# ---------------------------------------------------------------------------------------------
# What is posted


def marker(slot: str) -> str:
    """The hidden line that finds this slot's comment again: `<!-- kestra-sync ci: plan prod . -->`."""
    return f"<!-- kestra-sync ci: {' '.join(slot.split()).replace('--', '- -')} -->"


def slot(command: str, environment: str | None, folder: str) -> str:
    """One comment per command, environment and folder of the repository."""
    return f"{'plan' if command == 'validate' else command} {environment or '-'} {folder or '.'}"


def comment(job: Job, slot_name: str, body: str) -> str:
    """A comment: the marker, the result, and where it comes from (the commit, the run)."""
    made = [f"at commit `{job.commit[:12]}`"] if job.commit else []
    if job.run_url:
        made.append(f"[run]({job.run_url})")
    footer = f"\n\n<sub>kestra-sync {' · '.join(made)}</sub>\n" if made else "\n"
    return f"{marker(slot_name)}\n{body.rstrip()}{footer}"


def offline_only(job: Job, checked: str) -> str:
    return (
        f"### kestra-sync: offline checks only\n\n{checked}\n\n"
        f"This {job.noun} comes from a fork, and a fork's CI jobs get none of the repository's secrets, so no plan "
        "against the Kestra server was made. A maintainer's run (after merge, or of a branch in this repository) makes one.\n"
    )


# ---------------------------------------------------------------------------------------------
# Annotations (GitHub's workflow commands)


ANNOTATIONS = 50  # GitHub shows at most 50 annotations of a job; the log has every problem


def annotations(problems: Iterable[Diagnostic], workspace: str | None, here: Path | None = None) -> list[str]:
    """`::error file=flows/a.yaml,line=3,col=5::message` per problem, paths from the repository's
    root (GitHub shows them on the pull request's diff); a problem without a place is a plain one."""
    here = here or Path.cwd()
    lines = []
    for problem in list(problems)[:ANNOTATIONS]:
        command = "error" if problem.severity is Severity.ERROR else "warning"
        properties = ""
        if problem.location is not None:
            path = _from_root(problem.location.path, workspace, here)
            properties = f" file={_property(path)},line={problem.location.line},col={problem.location.column}"
        lines.append(f"::{command}{properties}::{_data(problem.message)}")
    return lines


def _from_root(path: str, workspace: str | None, here: Path) -> str:
    absolute = (here / path).resolve()
    root = Path(workspace).resolve() if workspace else here.resolve()
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return path


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


# ---------------------------------------------------------------------------------------------
# The comment, kept in place


class Thread(Protocol):
    """A pull or merge request's comments."""

    def comments(self) -> Iterator[tuple[int, str]]: ...

    def create(self, body: str) -> None: ...

    def update(self, comment_id: int, body: str) -> None: ...


class _GitHubThread:
    def __init__(self, api: WebApi, job: Job):
        self.api, self.issue = api, f"repos/{job.project}/issues"
        self.number = job.request

    def comments(self) -> Iterator[tuple[int, str]]:
        for item in self.api.pages(f"{self.issue}/{self.number}/comments", {"per_page": 100}):
            yield _comment_fields(item, "GitHub")

    def create(self, body: str) -> None:
        self.api.send("POST", f"{self.issue}/{self.number}/comments", json_body={"body": body})

    def update(self, comment_id: int, body: str) -> None:
        self.api.send("PATCH", f"{self.issue}/comments/{comment_id}", json_body={"body": body})


class _GitLabThread:
    def __init__(self, api: WebApi, job: Job):
        self.api, self.notes = api, f"projects/{quote(job.project, safe='')}/merge_requests/{job.request}/notes"

    def comments(self) -> Iterator[tuple[int, str]]:
        for item in self.api.pages(self.notes, {"per_page": 100, "sort": "asc", "order_by": "created_at"}):
            if not (isinstance(item, dict) and item.get("system")):  # GitLab's own notes ("added 1 commit")
                yield _comment_fields(item, "GitLab")

    def create(self, body: str) -> None:
        self.api.send("POST", self.notes, json_body={"body": body})

    def update(self, comment_id: int, body: str) -> None:
        self.api.send("PUT", f"{self.notes}/{comment_id}", json_body={"body": body})


def _comment_fields(item: object, forge: str) -> tuple[int, str]:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int) or not isinstance(item.get("body") or "", str):
        raise ForgeError(f"{forge} sent a comment without a numeric id and a text body.")
    return item["id"], item.get("body") or ""


def _api(job: Job, transport: httpx.BaseTransport | None) -> tuple[WebApi, type]:
    if job.forge == "GitHub":
        headers = {"Authorization": f"Bearer {job.token}", "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        permission = "the workflow's token needs `permissions: pull-requests: write`"
        return WebApi("GitHub", job.api_url, headers, permission=permission, transport=transport), _GitHubThread
    headers = {"PRIVATE-TOKEN": job.token or ""}
    permission = "GITLAB_TOKEN must be a project or group access token with the `api` scope (CI_JOB_TOKEN cannot write notes)"
    return WebApi("GitLab", job.api_url, headers, permission=permission, transport=transport), _GitLabThread


def publish(job: Job, slot_name: str, body: str, transport: httpx.BaseTransport | None = None) -> str:
    """Post `body` as this slot's comment, or edit the one posted before; what was done, in words."""
    where = f"{job.noun} #{job.request}"
    api, thread_type = _api(job, transport)
    with api:
        thread: Thread = thread_type(api, job)
        found = next((item for item in thread.comments() if marker(slot_name) in item[1]), None)
        if found is None:
            thread.create(body)
            return f"Commented on {where}."
        if found[1].strip() == body.strip():
            return f"The comment on {where} already says this."
        thread.update(found[0], body)
        return f"Updated the comment on {where}."


def write_summary(job: Job, body: str) -> bool:
    """Append to the job's summary (GitHub); False when the CI has none."""
    if not job.summary:
        return False
    with open(job.summary, "a", encoding="utf-8") as summary:
        summary.write(body.rstrip() + "\n\n")
    return True

