"""The flow kind's pure parts: the no-op rule, what an update changes (as data), the reference walk."""

from __future__ import annotations

from support import flow_yaml
from kestrasync.kinds.flows.diff import classify, is_same_source
from kestrasync.kinds.flows.refs import key_of, source_references
from kestrasync.model import Detail, Key, UpdateKind
from kestrasync.textdiff import text_change

BASE = flow_yaml("company", "etl", message="extract")


def classified(before: str, after: str):
    return classify(before, after, text_change(before, after, "server", "local"))


def test_no_op_rule():
    assert is_same_source(BASE, BASE)
    assert is_same_source("revision: 3\n" + BASE, BASE)
    assert is_same_source("revision: 3\n" + BASE, "revision: 9\n" + BASE)
    assert not is_same_source(BASE, BASE + "\n")
    assert not is_same_source("# c\n" + BASE, BASE)


def test_details_are_data_and_one_per_element():
    after = (
        BASE.replace("message: extract", "message: extract v2\n    level: WARN")
        + "  - id: load\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"
        + "labels:\n  team: data\n"
    )
    kind, details = classified(BASE, after)
    assert kind is UpdateKind.SEMANTIC
    assert details == (
        Detail("added", None, "labels"),
        Detail("added", "task", "load"),
        Detail("changed", "task", "log", ("level", "message")),  # one per element, parts gathered
    )
    assert [str(d) for d in details] == ["`labels` added", "task `load` added", "task `log` changed (level, message)"]


def test_a_whole_list_added_names_each_element_and_reorders_are_seen():
    triggers = "triggers:\n  - id: a\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '* * * * *'\n" \
               "  - id: b\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 * * * *'\n"
    _, added = classified(BASE, BASE + triggers)
    assert added == (Detail("added", "trigger", "a"), Detail("added", "trigger", "b"))
    swapped = triggers.replace("id: a", "id: X").replace("id: b", "id: a").replace("id: X", "id: b")
    _, reordered = classified(BASE + triggers, BASE + swapped)
    assert Detail("reordered", None, "triggers") in reordered


def test_cosmetic_changes_are_named_in_words():
    assert classified(BASE, BASE.replace("\n", "\r\n")) == (UpdateKind.COSMETIC, (Detail("line endings only: LF → CRLF (6 lines)"),))
    assert classified(BASE, BASE + "\n\n")[1] == (Detail("2 blank lines added at the end"),)
    assert classified(BASE, BASE.replace("tasks:", "tasks:  "))[1] == (Detail("trailing spaces added on line 3"),)
    assert classified(BASE, "# why\n" + BASE) == (UpdateKind.COSMETIC, (Detail("comments, formatting or key order only"),))


def test_line_endings_changed_with_anything_else_are_said_too():
    crlf = "# why\r\n" + BASE.replace("\n", "\r\n")
    assert classified(BASE, crlf)[1] == (Detail("comments, formatting or key order only"), Detail("line endings changed too: LF → CRLF"))
    kind, details = classified(BASE, crlf.replace("extract", "load"))
    assert kind is UpdateKind.SEMANTIC
    assert details == (Detail("changed", "task", "log", ("message",)), Detail("line endings changed too: LF → CRLF"))


def test_trailing_spaces_inside_a_block_scalar_change_the_flow():
    block = BASE.replace("message: extract", "message: |\n      extract")
    kind, details = classified(block, block.replace("      extract", "      extract  "))
    assert kind is UpdateKind.SEMANTIC
    assert details == (Detail("changed", "task", "log", ("message",)), Detail("trailing spaces added on line 7"))


def test_references_come_from_the_tree_wherever_a_subflow_sits():
    text = (
        "id: caller\nnamespace: company\nunknownKey: from a newer Kestra\ntasks:\n"
        "  - id: loop\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
        "      - id: call\n        type: io.kestra.plugin.core.flow.Subflow\n        namespace: company\n        flowId: child\n"
        "      - id: dynamic\n        type: io.kestra.plugin.core.flow.Subflow\n        namespace: company\n        flowId: \"{{ inputs.x }}\"\n"
        "triggers:\n  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n    preconditions:\n      id: up\n"
        "      flows:\n        - namespace: company.up\n          flowId: upstream\n"
    )
    assert source_references(text) == (Key("flow", "company", "child"), Key("flow", "company.up", "upstream"))
    assert source_references("not: [yaml") == ()
    assert key_of(text) == Key("flow", "company", "caller")
    assert key_of("a: &x [*x]") is None


def test_references_in_the_2x_forms():
    """A Subflow inside a Loop, and a Flow trigger's `dependsOn`."""
    text = (
        "id: caller\nnamespace: company\ntasks:\n"
        "  - id: each\n    type: io.kestra.plugin.core.flow.Loop\n    values: [1, 2]\n    tasks:\n"
        "      - id: call\n        type: io.kestra.plugin.core.flow.Subflow\n        namespace: company\n        flowId: child\n"
        "triggers:\n  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n    dependsOn:\n"
        "      - namespace: company.up\n        flowId: upstream\n        states: [SUCCESS]\n"
    )
    assert source_references(text) == (Key("flow", "company", "child"), Key("flow", "company.up", "upstream"))
