"""Flows the server refuses point at the file's line from Kestra's error path, in validation and on
write, in both error formats (the `server` fixture runs each test against 1.0 and 2.0)."""

from __future__ import annotations

import re

from support import flow_yaml

LOG = "io.kestra.plugin.core.log.Log"
# Each file the server refuses, and where its error lands (file:line:column), with a word of the error.
REFUSED = {
    "flows/unknown_prop.yaml": (
        f"# a comment\nid: unknown_prop\nnamespace: company\n\ntasks:\n  - id: hello\n    type: {LOG}\n    message: hi\n    colour: red\n",
        "9:5", 'Unrecognized field "colour"',
    ),
    "flows/unknown_type.yaml": (
        f"id: unknown_type\nnamespace: company\ntasks:\n  - id: first\n    type: {LOG}\n    message: hi\n"
        "  - id: hello\n    type: io.kestra.plugin.core.log.Lgo\n    message: hi\n",
        "8:11", "Invalid type: io.kestra.plugin.core.log.Lgo",
    ),
    "flows/missing_required.yaml": (
        f"id: missing_required\nnamespace: company\ntasks:\n  - id: first\n    type: {LOG}\n    message: hi\n"
        f"  - id: hello\n    type: {LOG}\n",
        "7:5", "message: must not be null",
    ),
    "flows/wrong_type.yaml": (
        f"id: wrong_type\nnamespace: company\nrevision: abc\ntasks:\n  - id: hello\n    type: {LOG}\n    message: hi\n",
        "3:11", "Cannot deserialize value of type `java.lang.Integer`",
    ),
    "flows/nested.yaml": (
        "id: nested\nnamespace: company\ntasks:\n  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
        f"      - id: other\n        type: {LOG}\n        message: x\n        extra: 1\n",
        "10:9", 'Unrecognized field "extra"',
    ),
    "flows/syslabel.yaml": (flow_yaml("company", "syslabel", extra="labels:\n  system.team: data\n"), "4:3",
                            "System labels can only be set by Kestra itself"),
    "flows/trigger.yaml": (
        flow_yaml("company", "trigger") + "triggers:\n  - id: sched\n    type: io.kestra.plugin.core.trigger.Schedule\n",
        "8:5", "cron: must not be null",
    ),
}
# The second document of a file: its error counts from the file's start.
MULTI = (flow_yaml("company", "multi_ok") + "---\n" + flow_yaml("company", "multi_bad") + "    bogus: 1\n", "14:5", 'Unrecognized field "bogus"')


def _write_all(repo) -> dict[str, tuple[str, str]]:
    for path, (text, _, _) in REFUSED.items():
        repo.write(path, text)
    repo.write("flows/multi.yaml", MULTI[0])
    return {**{path: (where, word) for path, (_, where, word) in REFUSED.items()}, "flows/multi.yaml": MULTI[1:]}


def _no_bare_places(output: str) -> None:
    """Nothing lands on a document's first line, and no empty path is shown (`: :`)."""
    assert not re.search(r"flows/\w+\.yaml:1:1:", output), output
    assert ": :" not in output, output


def test_validation_errors_point_at_the_node_the_path_names(repo, cli):
    expected = _write_all(repo)
    result = cli("validate")
    assert result.exit_code == 1
    for path, (where, word) in expected.items():
        line = next((line for line in result.stderr.splitlines() if line.startswith(f"{path}:")), "")
        assert line.startswith(f"{path}:{where}: ") and word in line, (path, result.stderr)
    assert "flows/syslabel.yaml:4:3: Invalid Flow: System labels" in result.stderr  # the empty path is gone
    assert "The server refused 8 flow(s) in validation." in result.stderr
    _no_bare_places(result.stderr)


def test_refused_writes_point_at_the_node_the_path_names(repo, cli, probe):
    """A plan saved without validation reaches the writes: each 422 lands where its error path says."""
    expected = _write_all(repo)
    saved = cli("plan", "--no-validate", "--out", "plan.json")
    assert saved.exit_code == 0, saved.output
    applied = cli("apply", "plan.json", "--parallelism", "16")  # every write in flight before the first failure stops new ones
    assert applied.exit_code == 1
    for path, (where, _) in expected.items():
        assert f": {path}:{where}: The Kestra server at" in applied.stdout, (path, applied.stdout)
    assert "answered 422 to POST /flows" in applied.stdout
    _no_bare_places(applied.stdout)
    assert set(probe.flows()) == {"company/multi_ok"}


def test_a_refused_update_points_at_its_file(repo, cli, probe):
    """An update refused by the server (here: a required property removed) lands on the task."""
    repo.write("flows/a.yaml", flow_yaml("company", "a"))
    assert cli("apply", "--auto-approve").exit_code == 0
    repo.write("flows/a.yaml", f"# now broken\nid: a\nnamespace: company\ntasks:\n  - id: log\n    type: {LOG}\n")
    saved = cli("plan", "--no-validate", "--out", "plan.json")
    assert saved.exit_code == 0, saved.output
    applied = cli("apply", "plan.json")
    assert applied.exit_code == 1
    assert ": flows/a.yaml:5:5: The Kestra server at" in applied.stdout and "answered 422 to PUT" in applied.stdout
    assert "message: must not be null" in applied.stdout
