"""Kestra 2.x as a target: the upgrade check (`validate --kestra-version 2.0`), and a plan against a
2.0 server refusing a 1.x-era repository before anything is written."""

from __future__ import annotations

import re
import shutil

import pytest

from support import CORPUS, flow_yaml, run
from kestrasync.emulator import EmulatorConfig, EmulatorServer
from kestrasync.kinds.flows.parse import parse_file

LEGACY = """\
id: legacy
namespace: company.team
taskDefaults:
  - type: io.kestra.core.tasks.log.Log
    values: {level: WARN}
inputs:
  - id: day
    type: STRING
  - id: flag
    type: BOOLEAN
    defaults: true
    required: false
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2]
    tasks:
      - id: log
        type: io.kestra.core.tasks.log.Log
        message: hi
        workerGroup:
          key: gpu
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 6 * * *"
    conditions:
      - type: io.kestra.core.models.conditions.types.DayWeekCondition
        dayOfWeek: MONDAY
"""
EXPECTED = [
    "flows/legacy.yml:3:1: `taskDefaults` is removed in Kestra 2.0: set the values in the tasks themselves",
    "flows/legacy.yml:4:11: `io.kestra.core.tasks.log.Log` is a legacy alias that Kestra 2.0 no longer reads: use `io.kestra.plugin.core.log.Log`",
    "flows/legacy.yml:10:11: input type `BOOLEAN` is removed in Kestra 2.0: use `BOOL`",
    "flows/legacy.yml:12:15: an input with `defaults` must be required in Kestra 2.0 (remove `required: false`)",
    "flows/legacy.yml:15:11: `io.kestra.plugin.core.flow.ForEach` is removed in Kestra 2.0: use `io.kestra.plugin.core.flow.Loop`",
    "flows/legacy.yml:19:15: `io.kestra.core.tasks.log.Log` is a legacy alias",
    "flows/legacy.yml:21:9: `workerGroup` is removed in Kestra 2.0: use `workerSelector`",
    "flows/legacy.yml:24:5: Schedule trigger 'daily' leaves required input(s) 'day' unset, which Kestra 2.0 refuses",
    "flows/legacy.yml:27:5: trigger `conditions` are removed in Kestra 2.0: use `when`",
    "flows/legacy.yml:28:15: `io.kestra.core.models.conditions.types.DayWeekCondition` is removed in Kestra 2.0 with every condition type",
]


def test_the_upgrade_check_lists_every_breaking_construct_located_with_its_replacement(repo):
    repo.write("flows/legacy.yml", LEGACY)
    repo.write("flows/modern.yml", flow_yaml("company.team", "modern"))
    checked = run("validate", "--offline", "--kestra-version", "2.0", env={})
    assert checked.exit_code == 1
    lines = checked.stderr.splitlines()
    for expected, line in zip(EXPECTED, lines):
        assert line.startswith(expected), (expected, line)
    assert lines[-1] == "Error: 10 problems in flow files; nothing was sent to the server."
    assert run("validate", "--offline", env={}).exit_code == 0  # a 1.x server takes it all
    assert run("validate", "--offline", "--kestra-version", "1.3", env={}).exit_code == 0


def test_a_plan_against_a_2_0_server_refuses_a_1x_repository_before_any_write(repo):
    repo.write("flows/legacy.yml", LEGACY)
    repo.write("flows/modern.yml", flow_yaml("company.team", "modern"))
    with EmulatorServer(EmulatorConfig(kestra_version="2.0")) as kestra:
        env = {"KESTRA_URL": kestra.url, "KESTRA_USERNAME": kestra.config.username, "KESTRA_PASSWORD": kestra.config.password}
        for command in (["plan"], ["apply", "--auto-approve"]):
            result = run(*command, env=env)
            assert result.exit_code == 1, result.output
            assert EXPECTED[4] in result.stderr and "10 problems in flow files" in result.stderr
        assert not [r for r in kestra.request_counts() if not r.startswith("GET ")]  # nothing written, not even the lock
        (repo.root / "flows/legacy.yml").unlink()
        assert run("apply", "--auto-approve", env=env).exit_code == 0
        again = run("plan", env=env)
        assert "(tenant main, Kestra 2.0.0-SNAPSHOT OSS)" in again.stdout and "No changes." in again.stdout


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/flows is not present")
def test_the_upgrade_check_names_every_1x_flow_of_the_corpus(repo):
    """The corpus is 1.x-era (taskDefaults, io.kestra.core.tasks.*): every flow with a construct 2.0
    refuses is named, at its line."""
    seen, caveats = set(), {}
    for path in sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()):
        _, (flows, errors) = parse_file(path.read_bytes(), str(path))
        if errors or any(f.key in seen for f in flows):
            continue
        seen.update(f.key for f in flows)
        target = repo.root / "flows" / path.relative_to(CORPUS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        for flow in flows:
            for caveat in flow.caveats:
                caveats[(str(target.relative_to(repo.root)), caveat.location.line)] = caveat.message
    namespaces = sorted({key.namespace for key in seen})
    repo.config(f"flows:\n  paths: [flows]\nnamespaces: [{', '.join(namespaces)}]\n")
    result = run("validate", "--offline", "--kestra-version", "2.0", env={})
    assert result.exit_code == 1
    located = set(re.findall(r"^(flows/\S+?\.ya?ml):(\d+):\d+: .*Kestra 2\.0", result.stderr, re.MULTILINE))
    assert {(path, str(line)) for path, line in caveats} <= located
    assert len(caveats) > 300  # the corpus is old: hundreds of breaking constructs
