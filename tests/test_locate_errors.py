"""The pure path-to-place logic of kinds/flows/locate.py: every shape of path Kestra writes, and messages without one."""

from __future__ import annotations

import pytest

from kestrasync.kinds.flows.locate import in_file, place, segments, split_constraint
from kestrasync.model import Key, Local, SourceLocation
from kestrasync.yamltext import compose_documents

FLOW = """\
# a comment
id: f
namespace: company
labels:
  system.team: data
inputs:
  - id: day
    type: STRING
tasks:
  - id: par
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: child
        type: io.kestra.plugin.core.log.Log
      - id: other
        type: io.kestra.plugin.core.log.Lgo
        format: x
  - id: par
    type: io.kestra.plugin.core.log.Log
triggers:
  - id: sched
    type: io.kestra.plugin.core.trigger.Schedule
"""
ROOT = compose_documents(FLOW)[0].node
CHAIN = ('io.kestra.core.models.flows.Flow["tasks"]->java.util.ArrayList[0]->io.kestra.plugin.core.flow.Parallel["tasks"]'
         '->java.util.ArrayList[1]->io.kestra.plugin.core.log.Log["format"]')
# ViolationPaths.toJsonPointer of that chain, as 2.x derives it segment by segment.
CHAIN_POINTER = ('/io/kestra/core/models/flows/Flow/"tasks"/->java/util/ArrayList/0/->io/kestra/plugin/core/flow/Parallel/'
                 '"tasks"/->java/util/ArrayList/1/->io/kestra/plugin/core/log/Log/"format"')


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/tasks/0/type", ["tasks", "0", "type"]),
        ("/labels/a~1b~0c", ["labels", "a/b~c"]),
        ("tasks[0].type", ["tasks", "0", "type"]),
        ("labels[a/b~c]", ["labels", "a/b~c"]),
        ("tasks[my-task].tasks[1].id", ["tasks", "my-task", "tasks", "1", "id"]),
        ("flow.id", ["flow", "id"]),
        ("", []),
        (CHAIN, ["tasks", "0", "tasks", "1", "format"]),
        (CHAIN_POINTER, ["tasks", "0", "tasks", "1", "format"]),
        ('io.kestra.core.models.flows.GenericFlow["revision"]', ["revision"]),
    ],
)
def test_every_path_shape_reads_as_keys_and_indexes(path, expected):
    assert segments(path) == expected


@pytest.mark.parametrize(
    "message, paths, expected",
    [
        ("must not be null", ["/tasks/0/type"], (11, 11)),  # a scalar: its value
        ("must not be null", ["tasks[0].tasks[0].message"], (13, 9)),  # missing: the deepest part, the task
        ("must not be null", ["tasks[child].message"], (13, 9)),  # 2.x friendly path
        ("must not be null", ["child.child.message"], (13, 9)),  # 1.x message form, nested: the id repeats
        ("must not be null", ["other.type"], (16, 15)),
        ("must not be null", ["/tasks/0/tasks"], (12, 5)),  # a collection: its key
        ("must not be null", ["triggers[0].cron"], (21, 5)),
        ("must not be null", ["day.defaults"], (7, 5)),  # an input by its id
        ("Flow id already exists", ["flow.id"], (2, 5)),  # a manual violation on `flow.id`
        ("Illegal namespace update", ["/flow/namespace"], (3, 12)),
        ("x", [CHAIN], (17, 17)),
        ('Unrecognized field "format" (class io.kestra.plugin.core.log.Log), not marked', [CHAIN_POINTER, CHAIN], (17, 9)),
        ("x", ["nothing.here", "/tasks/1/type"], (19, 11)),  # the path that resolves wins
        ("x", ["/tasks/0", "/tasks/0/tasks/1/format"], (17, 17)),  # the deepest wins
        ("x", ["/tasks/9/type"], (9, 1)),  # an index past the end: the list's key
    ],
)
def test_paths_land_on_the_node_they_name(message, paths, expected):
    assert place(ROOT, message, paths) == expected


@pytest.mark.parametrize(
    "message, expected",
    [
        ('Unrecognized field "format" (class io.kestra.plugin.core.log.Log), not marked as ignorable', (17, 9)),
        ('Unrecognized field "labels" (class io.kestra.core.models.flows.Flow), not marked', (4, 1)),
        ("Invalid type: io.kestra.plugin.core.log.Lgo", (16, 15)),
        ("Invalid Flow: System labels can only be set by Kestra itself, offending label: system.team=data", (5, 3)),
        ("Invalid Flow: Duplicate task id with name [par]", (18, 9)),  # the second one
        ("Invalid Flow: Missing inputs for Schedule Trigger 'sched', missing inputs: 'day'", (21, 5)),
        ("Invalid Flow: Flow id is a reserved keyword: f", (2, 5)),
        ("Illegal flow source: YAML parsing error: Duplicate field 'id' (at line 4)", (4, 1)),
        ("Cannot deserialize\n at [Source: REDACTED; line: 3, column: 12]", (3, 12)),
    ],
)
def test_messages_without_a_path_name_their_place(message, expected):
    assert place(ROOT, message, ["yaml"]) == expected


def test_the_type_a_chain_could_not_resolve_is_its_type_value():
    """1.x's reference chain of an unknown type ends at the task; the type value is the culprit."""
    chain = 'io.kestra.core.models.flows.Flow["tasks"]->java.util.ArrayList[0]->io.kestra.plugin.core.flow.Parallel["tasks"]->java.util.ArrayList[1]'
    assert place(ROOT, "Invalid type: io.kestra.plugin.core.log.Lgo", [chain]) == (16, 15)


@pytest.mark.parametrize("message, paths", [("whatever", ["nothing.here"]), ("Invalid Flow: something new", [""]),
                                            ('Unrecognized field "nope" (class a.B)', []), ("Invalid type: a.Missing", [])])
def test_nothing_found_is_none(message, paths):
    assert place(ROOT, message, paths) is None


@pytest.mark.parametrize(
    "line, expected",
    [
        ("tasks[0].id: must not be null", ("tasks[0].id", "must not be null")),
        ("hello.message: must not be null", ("hello.message", "must not be null")),
        (": Invalid Flow: Duplicate task id with name [a]", ("", "Invalid Flow: Duplicate task id with name [a]")),
        ("Invalid type: io.x.Y", (None, "Invalid type: io.x.Y")),
        ("Illegal flow source: YAML parsing error: x", (None, "Illegal flow source: YAML parsing error: x")),
        ('Unrecognized field "a" (class b), not marked as ignorable', (None, 'Unrecognized field "a" (class b), not marked as ignorable')),
    ],
)
def test_a_constraints_line_splits_into_path_and_message(line, expected):
    assert split_constraint(line) == expected


def _local(content: str, line: int) -> Local:
    return Local(Key("flow", "company", "f"), content, SourceLocation("flows/x.yaml", line, 1))


def test_a_later_document_of_a_file_counts_from_its_own_offset():
    """The second document of a file starts at its `---` line (line 7); its errors land in the file's lines."""
    second = "---\nid: f\nnamespace: company\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    bogus: 1\n"
    flow = _local(second, 7)
    assert in_file(flow, "x", ["/tasks/0/bogus"]) == SourceLocation("flows/x.yaml", 13, 12)
    # /flows/validate was sent the text after the `---` line: its line numbers count from there.
    assert in_file(flow, "Illegal flow source: YAML parsing error: x (at line 2)", ["yaml"], validated=True).line == 9
    assert in_file(flow, "Illegal flow source: YAML parsing error: x (at line 2)", ["yaml"]).line == 8


def test_nowhere_better_is_the_flows_first_line():
    flow = _local("id: f\nnamespace: company\ntasks: []\n", 4)
    assert in_file(flow, "Invalid Flow: something new", [""]) == flow.location
    assert in_file(_local("not: [yaml", 4), "x", ["/not"]) == SourceLocation("flows/x.yaml", 4, 1)
