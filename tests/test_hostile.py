"""kestra-sync against a hostile server and network (tests/hostile.py): every family of failure ends
in one sentence and exit 1 (or a recovery), with no traceback, no secret, in bounded time and memory,
with the server left whole, and a clean run afterwards converges.

The families: answers of the wrong shape, unbounded work, time that never ends, a secret echoed, a
write that did not happen as sent. Each runs a real `kestra-sync` process through the proxy.
"""

from __future__ import annotations

import base64
import functools
import json
import signal
import subprocess
import sys
import time
from email.utils import formatdate

import pytest

from hostile import (
    HostileProxy, alter_request, answer_with, echo_request, edit_json, encoded_as, gzip_bomb, lose_write, trickle, truncate,
    zip_bomb,
)
from support import AUTH, WatchProcess, child_env, flow_yaml, run_measured

SEARCH, EXPORT, VALIDATE, KV = r"/flows/search$", r"/flows/export/by-query$", r"/flows/validate$", r"/kv/"
FLOW_PATH = r"/flows/company\.team/[^/]+$"
SECRETS = (AUTH[1], base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode())
SECONDS, MEGABYTES = 20.0, 250.0  # what any scenario may take: a bomb going off would take minutes and gigabytes
FLOWS = {name: flow_yaml("company.team", name) for name in ("a", "b", "c")}


@pytest.fixture
def hostile(repo, server, probe):
    """The repository and the server in line (three flows), one file edited since, and a proxy in
    front of the server. Retries are short: a scenario must end in seconds."""
    repo.config(
        "server:\n  timeout: 2\n  retries: 1\n  retry_backoff: 0.05\n  retry_budget: 6\n"
        "flows:\n  paths: [flows]\nnamespaces: [company]\n"
    )
    for name, text in FLOWS.items():
        repo.write(f"flows/{name}.yml", text)
        probe.create(text)
    repo.write("flows/a.yml", flow_yaml("company.team", "a", message="edited"))
    with HostileProxy(server.url) as proxy:
        yield proxy


class Run:
    def __init__(self, code: int, out: str, err: str, seconds: float, megabytes: float):
        self.code, self.out, self.err, self.seconds, self.megabytes = code, out, err, seconds, megabytes
        self.output = out + err


def kestra_sync(repo, url: str, *args: str, timeout: float = 60) -> Run:
    env = child_env(env={"KESTRA_URL": url, "KESTRA_USERNAME": AUTH[0], "KESTRA_PASSWORD": AUTH[1]})
    return Run(*run_measured(list(args), repo.root, env, timeout=timeout, address_space_mb=2048))


def contained(run: Run, code: int, *phrases: str, seconds: float = SECONDS) -> None:
    """The run ended with `code`, said `phrases`, showed no traceback and no secret, within bounds."""
    assert run.code == code, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    for phrase in phrases:
        assert phrase in run.output, run.output[-3000:]
    assert not [secret for secret in SECRETS if secret in run.output]
    assert run.seconds < seconds, f"{run.seconds:.1f} s"
    assert run.megabytes < MEGABYTES, f"{run.megabytes:.0f} MB"


def untouched(probe) -> None:
    """Nothing was written: the server holds the three flows at revision 1, as before."""
    assert probe.flows() == {f"company.team/{name}": (1, text) for name, text in FLOWS.items()}


def converges(repo, server) -> None:
    """Without the proxy, apply then plan: the server ends as the files say."""
    assert kestra_sync(repo, server.url, "apply", "--auto-approve").code == 0
    again = kestra_sync(repo, server.url, "plan", "--detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out, again.output


def first_result(field: str, value):
    def edit(page):
        page["results"][0][field] = value

    return edit


# ---------------------------------------------------------------------------------------------
# 1. Answers of the wrong shape: one sentence naming the route and the field; no plan


@pytest.mark.parametrize(
    "method, path, action, phrase",
    [
        ("GET", SEARCH, edit_json(first_result("namespace", None)), "result 1 of a search page with `namespace`: null"),
        ("GET", SEARCH, edit_json(first_result("id", 7)), "result 1 of a search page with `id`: 7 (not a text)"),
        ("GET", SEARCH, edit_json(first_result("revision", float("inf"))), "with `revision`: Infinity (not a whole number"),
        ("GET", SEARCH, edit_json(lambda page: page.update(results={})), "a search page with `results`: {} (not a list)"),
        ("POST", VALIDATE, answer_with(422, json.dumps({"message": {"nested": [1]}, "_embedded": {"errors": [None, {"message": 5}]}})),
         "answered 422 to POST /flows/validate: 5"),
        ("POST", VALIDATE, answer_with(200, "[null]"), "the validation of flow 1 that is null (not an object)"),
        ("POST", VALIDATE, answer_with(200, '[{"constraints": ["no"], "warnings": []}]'), "the validation of flow 1 with `constraints`"),
    ],
)
def test_wrong_shapes_refuse_the_plan(repo, server, probe, hostile, method, path, action, phrase):
    hostile.add(method, path, action)
    contained(kestra_sync(repo, hostile.url, "plan"), 1, phrase)
    contained(kestra_sync(repo, hostile.url, "apply", "--auto-approve"), 1, phrase)
    untouched(probe)
    converges(repo, server)


def test_an_export_holding_two_texts_of_one_flow_refuses_the_plan(repo, server, probe, hostile):
    import io
    import zipfile

    def with_a_second_text(handler, request, proxy):
        answer = proxy.forward(request)
        archive = io.BytesIO(answer.body)
        with zipfile.ZipFile(archive, "a") as zip_file:
            zip_file.writestr("company.team/b.yaml", flow_yaml("company.team", "b", message="another text"))
        handler.send(type(answer)(200, answer.headers, archive.getvalue()))

    hostile.add("GET", EXPORT, with_a_second_text)
    contained(kestra_sync(repo, hostile.url, "plan"), 1, "its export holds two texts of flow company.team/b")
    untouched(probe)
    converges(repo, server)


def test_a_saved_plan_is_not_applied_on_a_search_of_the_wrong_shape(repo, server, probe, hostile):
    assert kestra_sync(repo, hostile.url, "plan", "--out", "plan.json").code == 0
    hostile.add("GET", SEARCH, edit_json(first_result("namespace", None)))
    contained(kestra_sync(repo, hostile.url, "apply", "plan.json"), 1, "with `namespace`: null")
    untouched(probe)
    converges(repo, server)


# ---------------------------------------------------------------------------------------------
# 2. Unbounded work: pages, bodies and archives bounded before they are read


@functools.lru_cache(maxsize=None)
def million_results() -> bytes:
    """A search page of a million flows (about 70 MB)."""
    items = [{"namespace": "company.team", "id": f"f{n:07d}", "revision": 1} for n in range(1_000_000)]
    return json.dumps({"results": items, "total": 1_000_000}).encode()


@pytest.mark.parametrize(
    "method, path, action, phrase",
    [
        ("GET", SEARCH, lambda: edit_json(lambda page: page.update(total=10**12)),
         "a search page with `total`: 1000000000000 (not a whole number from 0 to 200,000)"),
        ("GET", SEARCH, lambda: answer_with(200, million_results()), "an answer of more than 16,777,216 bytes to GET /flows/search"),
        ("GET", EXPORT, lambda: answer_with(200, zip_bomb(), "application/octet-stream"),
         "an unreadable export (member company-bomb.yml inflates to more than 16,777,216 bytes)"),
        ("GET", SEARCH, lambda: encoded_as("gzip", gzip_bomb()), "an answer of more than 16,777,216 bytes to GET /flows/search"),
    ],
)
def test_unbounded_answers_are_refused_in_bounded_memory(repo, server, probe, hostile, method, path, action, phrase):
    hostile.add(method, path, action())  # the bombs are built here, before the clock runs
    run = kestra_sync(repo, hostile.url, "plan")
    contained(run, 1, phrase)
    untouched(probe)
    converges(repo, server)


# ---------------------------------------------------------------------------------------------
# 3. Time that never ends: a deadline per request, a budget for retries, stops noticed inside


def test_a_trickling_answer_ends_at_the_deadline(repo, server, probe, hostile):
    hostile.add("GET", SEARCH, trickle(0.2))
    for command in (["plan"], ["apply", "--auto-approve"]):
        contained(kestra_sync(repo, hostile.url, *command), 1, "did not answer GET /flows/search within 2 s (server.timeout)", seconds=12)
    untouched(probe)
    converges(repo, server)


@pytest.mark.parametrize("value", ["999999", formatdate(time.time() + 10**7, usegmt=True)])
def test_a_retry_after_beyond_the_budget_fails_at_once(repo, server, probe, hostile, value):
    hostile.add("GET", SEARCH, answer_with(429, '{"message": "Too many requests"}', headers={"Retry-After": value}))
    contained(kestra_sync(repo, hostile.url, "plan"), 1, "longer than the retries may take (server.retry_budget: 6 s)", seconds=8)
    untouched(probe)


@pytest.mark.parametrize("value", ["-5", "NaN", "soon", formatdate(time.time() - 3600, usegmt=True)])
def test_a_retry_after_of_any_other_form_is_waited_for_sensibly(repo, server, probe, hostile, value):
    hostile.add("GET", SEARCH, answer_with(503, '{"message": "busy"}', headers={"Retry-After": value}), count=1)
    contained(kestra_sync(repo, hostile.url, "apply", "--auto-approve"), 0, "Apply complete: 1 applied", seconds=8)
    assert probe.flows()["company.team/a"] == (2, flow_yaml("company.team", "a", message="edited"))


def test_a_lock_write_the_server_loses_ends_the_apply(repo, server, probe, hostile):
    hostile.add("PUT", KV, lose_write())
    contained(kestra_sync(repo, hostile.url, "apply", "--auto-approve"), 1, "did not keep it in its KV store (3 writes answered as done, then not found)")
    untouched(probe)
    converges(repo, server)


@pytest.mark.parametrize("command, signum", [(["plan"], signal.SIGINT), (["apply", "--auto-approve"], signal.SIGTERM)])
def test_a_signal_ends_a_wait_inside_a_request_within_a_second(repo, server, probe, hostile, command, signum):
    hostile.add("GET", SEARCH, trickle(0.5))
    repo.config("server:\n  timeout: 60\nflows:\n  paths: [flows]\nnamespaces: [company]\n")
    env = child_env(env={"KESTRA_URL": hostile.url, "KESTRA_USERNAME": AUTH[0], "KESTRA_PASSWORD": AUTH[1]})
    process = subprocess.Popen([sys.executable, "-m", "kestrasync", *command], cwd=repo.root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while not any(r.path.startswith("/api/v1/main/flows/search") for r in hostile.seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # inside the trickling answer
    process.send_signal(signum)
    sent = time.monotonic()
    out, err = process.communicate(timeout=15)
    assert time.monotonic() - sent < 2.5
    assert process.returncode == 128 + signum, out + err
    assert "Traceback" not in out + err and "Stopped while waiting" in err
    untouched(probe)


# ---------------------------------------------------------------------------------------------
# 4. A secret echoed: nothing that leaves the process holds a credential


def test_an_error_page_echoing_the_request_shows_no_secret(repo, server, probe, hostile):
    hostile.add("GET", SEARCH, echo_request(500))
    for command in (["plan"], ["plan", "--format", "json"], ["apply", "--auto-approve"]):
        run = kestra_sync(repo, hostile.url, *command)
        contained(run, 1, "answered 500 to GET /flows/search", seconds=8)
        assert "Authorization: Basic ***" in run.output  # the page was shown, without the secret
    untouched(probe)


def test_a_server_flow_holding_the_password_is_shown_and_saved_without_it(repo, server, probe, hostile):
    probe.update("company.team", "b", flow_yaml("company.team", "b", message=f"password is {AUTH[1]}"))
    run = kestra_sync(repo, hostile.url, "plan", "--diff", "--out", "plan.json")
    contained(run, 0, "-    message: password is ***")
    saved = (repo.root / "plan.json").read_text()
    assert AUTH[1] not in saved and "password is ***" in saved
    contained(kestra_sync(repo, hostile.url, "apply", "plan.json"), 0, "Apply complete: 2 applied")


def test_a_repository_file_holding_the_password_is_refused_where_it_is(repo, server, probe, hostile):
    repo.write("flows/c.yml", flow_yaml("company.team", "c", extra=f"description: uses {AUTH[1]}\n"))
    run = kestra_sync(repo, hostile.url, "plan")
    contained(run, 1, "flows/c.yml:3:1: holds the password or API token kestra-sync signs in with")
    untouched(probe)


# ---------------------------------------------------------------------------------------------
# 5. A write that did not happen as sent: the answer is checked against what was sent


def other_message(body: bytes) -> bytes:
    return body.replace(b"message: edited", b"message: changed on the way")


@pytest.mark.parametrize("saved", [False, True])
def test_an_altered_write_fails_the_apply(repo, server, probe, hostile, saved):
    if saved:
        assert kestra_sync(repo, hostile.url, "plan", "--out", "plan.json").code == 0
    hostile.add("PUT", FLOW_PATH, alter_request(other_message))
    run = kestra_sync(repo, hostile.url, "apply", *(["plan.json"] if saved else ["--auto-approve"]))
    contained(run, 1, "answered PUT /flows/company.team/a with another text than the one sent", "Apply failed: 0 applied, 1 failed")
    assert probe.flows()["company.team/a"] == (2, flow_yaml("company.team", "a", message="changed on the way"))
    converges(repo, server)


def test_an_altered_create_fails_the_apply(repo, server, probe, hostile):
    repo.write("flows/d.yml", flow_yaml("company.team", "d", message="edited"))
    hostile.add("POST", r"/flows$", alter_request(other_message))
    run = kestra_sync(repo, hostile.url, "apply", "--auto-approve")
    contained(run, 1, "answered POST /flows with another text than the one sent")
    converges(repo, server)


# ---------------------------------------------------------------------------------------------
# Answers that are not what they say


@pytest.mark.parametrize(
    "action, phrase",
    [
        (encoded_as("gzip"), "an answer whose Content-Encoding does not match its bytes to GET /flows/search"),
        (answer_with(200, "<html><form action=/login>Sign in</form></html>", "text/html"), "an HTML page (a login page, or a proxy in between?)"),
        (truncate(10), "did not answer GET /flows/search"),
    ],
)
def test_answers_that_are_not_what_they_say(repo, server, probe, hostile, action, phrase):
    hostile.add("GET", SEARCH, action)
    contained(kestra_sync(repo, hostile.url, "plan"), 1, phrase)
    untouched(probe)


def test_a_truncated_answer_once_is_retried(repo, server, probe, hostile):
    hostile.add("GET", SEARCH, truncate(10), count=1)
    contained(kestra_sync(repo, hostile.url, "apply", "--auto-approve"), 0, "Apply complete: 1 applied")


# ---------------------------------------------------------------------------------------------
# watch: reports and keeps watching


def test_watch_reports_an_answer_of_the_wrong_shape_and_keeps_watching(repo, server, probe, hostile):
    watcher = WatchProcess(repo.root, hostile.url)
    try:
        watcher.wait_for(r"Watching .* for changes")
        hostile.add("GET", r"/flows/company\.team/b$", edit_json(lambda flow: flow.update(revision=float("inf"))), count=1)
        repo.write("flows/b.yml", flow_yaml("company.team", "b", message="first save"))
        watcher.wait_for(r"a flow with `revision`: Infinity \(not a whole number")
        repo.write("flows/b.yml", flow_yaml("company.team", "b", message="second save"))
        watcher.wait_for(r"^updated company\.team/b rev 1 → 2")
        hostile.add("GET", r"/flows/company\.team/c$", trickle(0.2), count=2)  # the first try and its retry
        repo.write("flows/c.yml", flow_yaml("company.team", "c", message="slow"))
        watcher.wait_for(r"did not answer GET /flows/company\.team/c within 2 s.*Changes are kept", timeout=30)
        watcher.wait_for(r"^updated company\.team/c rev 1 → 2", timeout=30)
        assert watcher.stop() == 0
    finally:
        if watcher.process.poll() is None:
            watcher.process.kill()
    output = "\n".join(watcher.lines)
    assert "Traceback" not in output and not [secret for secret in SECRETS if secret in output]
    assert probe.flows()["company.team/b"] == (2, flow_yaml("company.team", "b", message="second save"))
