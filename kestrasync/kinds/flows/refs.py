"""Which flows a flow calls (Subflow, ForEachItem) or listens to (Flow trigger: its `conditions`,
`preconditions` or, in 2.x, `dependsOn`): the reference walk.

It reads the composed YAML tree and nothing else: no admission rule (unknown keys, ids) decides what
it finds, so a flow the server holds in a form this release would refuse keeps its references, and
a prune still deletes its callers before the flows they call. A Subflow counts wherever it sits
(inside Parallel, Switch, Dag, a loop); a namespace or id with a Pebble expression is dynamic and
skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kestrasync.model import Key
from kestrasync.yamltext import YamlProblem, check_tree, compose_documents

KIND = "flow"

# Plugin types that make a flow depend on another, with their deprecated aliases; Kestra matches
# types case-insensitively.
SUBFLOW_TASKS = frozenset(
    t.lower()
    for t in (
        "io.kestra.plugin.core.flow.Subflow",
        "io.kestra.core.tasks.flows.Subflow",
        "io.kestra.core.tasks.flows.Flow",
        "io.kestra.plugin.core.flow.ForEachItem",
        "io.kestra.core.tasks.flows.ForEachItem",
    )
)
FLOW_TRIGGERS = frozenset(
    t.lower() for t in ("io.kestra.plugin.core.trigger.Flow", "io.kestra.core.models.triggers.types.Flow")
)
EXECUTION_FLOW_CONDITIONS = frozenset(
    t.lower()
    for t in (
        "io.kestra.plugin.core.condition.ExecutionFlow",
        "io.kestra.plugin.core.condition.ExecutionFlowCondition",
        "io.kestra.core.models.conditions.types.ExecutionFlowCondition",
    )
)
# A text without any of these names no type above: most flows, whose trees need no walk.
_MAY_REFER = re.compile(r"subflow|foreachitem|\.flow(?![.\w])", re.IGNORECASE)


def references(root: Node, text: str) -> Iterator[tuple[Key, MappingNode]]:
    """(flow referenced, the task or trigger that references it) for each static reference in the tree."""
    if not _MAY_REFER.search(text):
        return
    stack = [root]
    while stack:
        node = stack.pop()
        if type(node) is MappingNode:
            fields = {key.value: value for key, value in node.value if type(key) is ScalarNode}
            kind = (_text(fields.get("type")) or "").lower()
            if kind in SUBFLOW_TASKS:
                yield from _static(fields, node)
            elif kind in FLOW_TRIGGERS:
                yield from _trigger_references(fields, node)
            stack.extend(value for _, value in node.value if type(value) is not ScalarNode)
        elif type(node) is SequenceNode:
            stack.extend(item for item in node.value if type(item) is not ScalarNode)


def source_references(text: str) -> tuple[Key, ...]:
    """The references of a flow's text as the server holds it (any text: nothing on failure)."""
    if not _MAY_REFER.search(text):
        return ()
    try:
        documents = compose_documents(text)
        if not documents:
            return ()
        check_tree(documents[0].node, may_alias="&" in text)  # never expand an alias bomb
    except YamlProblem:
        return ()
    return tuple(sorted({key for key, _ in references(documents[0].node, text)}))


def key_of(text: str) -> Key | None:
    """Which flow a text declares (its top-level `namespace` and `id`), read from the composed tree:
    cheap for any text, an alias bomb included (its nodes are shared, never expanded)."""
    try:
        documents = compose_documents(text)
    except YamlProblem:
        return None
    if not documents or type(documents[0].node) is not MappingNode:
        return None
    fields = _fields(documents[0].node)
    namespace, flow_id = _text(fields.get("namespace")), _text(fields.get("id"))
    return Key(KIND, namespace, flow_id) if namespace and flow_id else None


def _trigger_references(fields: dict[str, Node], trigger: MappingNode) -> Iterator[tuple[Key, MappingNode]]:
    for condition in _mappings(fields.get("conditions")):
        condition_fields = _fields(condition)
        if (_text(condition_fields.get("type")) or "").lower() in EXECUTION_FLOW_CONDITIONS:
            yield from _static(condition_fields, trigger)
    preconditions = fields.get("preconditions")
    if type(preconditions) is MappingNode:
        for upstream in _mappings(_fields(preconditions).get("flows")):
            yield from _static(_fields(upstream), trigger)
    for upstream in _mappings(fields.get("dependsOn")):  # 2.x: [{namespace, flowId, states, when}]
        yield from _static(_fields(upstream), trigger)


def _static(fields: dict[str, Node], node: MappingNode) -> Iterator[tuple[Key, MappingNode]]:
    namespace, flow_id = _text(fields.get("namespace")), _text(fields.get("flowId"))
    if namespace and flow_id and "{{" not in namespace and "{{" not in flow_id:
        yield Key(KIND, namespace, flow_id), node


def _fields(node: MappingNode) -> dict[str, Node]:
    return {key.value: value for key, value in node.value if type(key) is ScalarNode}


def _mappings(node: Node | None) -> list[MappingNode]:
    return [item for item in node.value if type(item) is MappingNode] if type(node) is SequenceNode else []


def _text(node: Node | None) -> str | None:
    return node.value if type(node) is ScalarNode else None
