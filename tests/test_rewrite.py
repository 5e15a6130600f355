"""The environment's text edits of a flow, from values alone: only the edited spans change."""

from __future__ import annotations

import pytest

from kestrasync.kinds.flows.rewrite import FlowOverlay, rewrite
from kestrasync.yamltext import YamlProblem


def mapped(namespace: str) -> str | None:
    return f"pr-7.{namespace}" if namespace == "company" or namespace.startswith("company.") else None


FLOW = """\
# header comment
id: etl            # trailing comment
namespace: company.team
labels:
  - key: team
    value: data
tasks:
  - id: a
    type: io.kestra.plugin.core.flow.Subflow
    namespace: 'company.shared'
    flowId: helper
  - id: b
    type: io.kestra.plugin.core.flow.Subflow
    namespace: "other.team"
    flowId: x
triggers:
  - id: after
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: company.team
        flowId: up
  - {id: inline, type: io.kestra.plugin.core.trigger.Webhook, key: abc}
"""


def test_only_the_values_change_and_each_keeps_its_quoting():
    done = rewrite(FLOW, mapped, FlowOverlay())
    assert done.text == (FLOW.replace("namespace: company.team\n", "namespace: pr-7.company.team\n")
                         .replace("'company.shared'", "'pr-7.company.shared'"))
    assert done.outside == ["other.team"]
    assert rewrite(FLOW, mapped, FlowOverlay()).text == done.text  # deterministic


def test_labels_in_kestra_list_form_are_set_and_added():
    done = rewrite(FLOW, mapped, FlowOverlay(labels={"team": "ops", "env": "pr-7"})).text
    assert "labels:\n  - key: team\n    value: ops\n  - key: env\n    value: pr-7\ntasks:" in done
    assert done.startswith("# header comment\nid: etl            # trailing comment\n")


def test_a_trigger_written_inline_cannot_take_a_line():
    with pytest.raises(YamlProblem) as problem:
        rewrite(FLOW, mapped, FlowOverlay(disable_triggers=True))
    assert (problem.value.line, problem.value.column) == (23, 5)
    assert "written inline" in problem.value.message
    only_flow_triggers = rewrite(FLOW, mapped, FlowOverlay(disable_triggers=True, trigger_types=("io.kestra.plugin.core.trigger.flow",)))
    assert "    type: io.kestra.plugin.core.trigger.Flow\n    conditions:" in only_flow_triggers.text
    assert "        flowId: up\n    disabled: true\n" in only_flow_triggers.text


def test_values_yaml_would_read_as_another_type_are_quoted():
    text = "id: a\nnamespace: company\nvariables:\n  retries: 3\ntasks:\n  - id: x\n    type: t\n"
    done = rewrite(text, mapped, FlowOverlay(variables={"retries": "5", "flag": "true", "name": "plain"})).text
    assert done == ('id: a\nnamespace: pr-7.company\nvariables:\n  retries: "5"\n  flag: "true"\n  name: plain\n'
                    "tasks:\n  - id: x\n    type: t\n")


def test_a_block_scalar_namespace_is_refused():
    text = "id: a\nnamespace: >-\n  company\ntasks:\n  - id: x\n    type: t\n"
    with pytest.raises(YamlProblem) as problem:
        rewrite(text, mapped, FlowOverlay())
    assert problem.value.line == 2 and "cannot be rewritten in place" in problem.value.message


def test_namespace_files_read_from_other_namespaces_follow_the_mapping():
    text = ("id: a\nnamespace: company\ntasks:\n  - id: run\n    type: io.kestra.plugin.scripts.python.Commands\n"
            "    namespaceFiles:\n      enabled: true\n      namespaces: [company.shared, other.team]\n    commands: [python x.py]\n")
    done = rewrite(text, mapped, FlowOverlay())
    assert "      namespaces: [pr-7.company.shared, other.team]\n" in done.text and done.outside == ["other.team"]


def test_a_subflow_inside_containers_is_mapped():
    text = ("id: a\nnamespace: company\ntasks:\n  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [1, 2]\n"
            "    tasks:\n      - id: branch\n        type: io.kestra.plugin.core.flow.If\n        condition: \"{{ true }}\"\n"
            "        then:\n          - id: call\n            type: io.kestra.plugin.core.flow.Subflow\n"
            "            namespace: company.team  # inside two containers\n            flowId: b\n")
    done = rewrite(text, mapped, FlowOverlay())
    assert done.text == text.replace("namespace: company\n", "namespace: pr-7.company\n").replace(
        "namespace: company.team  # inside", "namespace: pr-7.company.team  # inside")
