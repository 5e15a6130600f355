"""What some Kestra version refuses in a flow that others take, found where it is, with what replaces it.

Kestra 2.0 removed a part of the flow model (kestra-io/kestra2-flow-migration, flows-changes.md):
plugin defaults, listeners, worker groups, every trigger condition, the ForEach family, the legacy
type aliases, the BOOLEAN and ENUM inputs; and it refuses, on save, a Schedule or Webhook trigger
that leaves a required input unset, and an input with a default that is not required. The scan
records each as a Caveat of the flow (cached with it); once the server's version is known, the engine
refuses the flows whose caveats apply, before anything is sent. `validate --kestra-version 2.0` is
the upgrade check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kestrasync.model import Caveat, SourceLocation

V2 = (2, 0)
CORE = "io.kestra.plugin.core."

# Flow properties 2.0 removed, and what to do instead.
REMOVED_KEYS = {
    "pluginDefaults": "set the values in the tasks themselves (Enterprise: Policies, `policyRefs`)",
    "taskDefaults": "set the values in the tasks themselves (Enterprise: Policies, `policyRefs`)",
    "listeners": "use `afterExecution` tasks",
    "workerGroup": "use `workerSelector` (`tags`, `match`, `fallback`)",
}
# Trigger properties 2.0 removed: conditions became one expression, upstream flows `dependsOn`.
REMOVED_TRIGGER_KEYS = {
    "conditions": "use `when` (a Pebble expression)",
    "scheduleConditions": "use `when` (a Pebble expression)",
    "preconditions": "use `dependsOn` (with `window` and `mode`)",
    "multipleConditions": "use `dependsOn` (with `window` and `mode`)",
}
# Types 2.0 removed, by their canonical name, and what replaces them.
REMOVED_TYPES = {
    f"{CORE}flow.ForEach": f"`{CORE}flow.Loop`",
    f"{CORE}flow.ForEachItem": f"`{CORE}flow.Loop` with a `{CORE}flow.Subflow` task",
    f"{CORE}flow.EachSequential": f"`{CORE}flow.Loop`",
    f"{CORE}flow.EachParallel": f"`{CORE}flow.Loop` (its `concurrencyLimit`)",
    f"{CORE}flow.Template": "the template's tasks, in the flow",
    f"{CORE}trigger.Toggle": "the flows API (`disabled`)",
    f"{CORE}execution.Count": f"`{CORE}execution.Executions`, or the API",
    f"{CORE}execution.Resume": "the executions API",
    f"{CORE}log.Fetch": "`io.kestra.plugin.kestra.logs.Fetch`",
}
# Package renames of 0.17 whose old names (aliases) 2.0 no longer reads.
ALIASES = {
    "io.kestra.core.tasks.flows.": f"{CORE}flow.",
    "io.kestra.core.tasks.log.": f"{CORE}log.",
    "io.kestra.core.tasks.storages.": f"{CORE}storage.",
    "io.kestra.core.tasks.executions.": f"{CORE}execution.",
    "io.kestra.core.tasks.states.": f"{CORE}state.",
    "io.kestra.core.tasks.debugs.": f"{CORE}debug.",
    "io.kestra.core.tasks.trigger.": f"{CORE}trigger.",
    "io.kestra.core.tasks.templating.": f"{CORE}templating.",
    "io.kestra.core.tasks.outputs.": f"{CORE}output.",
    "io.kestra.core.models.triggers.types.": f"{CORE}trigger.",
    "io.kestra.core.models.conditions.types.": f"{CORE}condition.",
    "io.kestra.plugin.fs.http.": f"{CORE}http.",
}
REMOVED_INPUT_TYPES = {"BOOLEAN": "BOOL", "ENUM": "SELECT"}
SCHEDULES = {f"{CORE}trigger.Schedule", f"{CORE}trigger.Webhook"}
# A text without any of these holds nothing 2.0 removed (most flows): no walk.
_MAY_BE_REMOVED = re.compile(
    r"io\.kestra\.core\.|io\.kestra\.plugin\.fs\.http\.|Each|Template|Toggle|Count|Resume|Fetch|Defaults|listeners|"
    r"workerGroup|onditions|BOOLEAN|ENUM|condition\."
)


def caveats(root: MappingNode, top: dict[str, Node], text: str, location: SourceLocation) -> tuple[Caveat, ...]:
    """What in a flow (its composed tree, and its top-level values by key) Kestra 2.0 refuses,
    located in its file. Most flows hold none, and cost two quick looks."""
    found = [*_removed(root, text), *_inputs(top)] if "inputs" in top else [*_removed(root, text)]
    return tuple(Caveat(V2, _at(node, location), message) for node, message in found) if found else ()


def _removed(root: MappingNode, text: str) -> Iterator[tuple[Node, str]]:
    if not _MAY_BE_REMOVED.search(text):
        return
    for key, _ in root.value:
        if key.value in REMOVED_KEYS and key.value != "workerGroup":
            yield key, f"`{key.value}` is removed in Kestra 2.0: {REMOVED_KEYS[key.value]}"
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if type(node) is SequenceNode:
            stack.extend(node.value)
            continue
        if type(node) is not MappingNode:
            continue
        fields = {key.value: (key, value) for key, value in node.value if type(key) is ScalarNode}
        kind = fields.get("type")
        if kind is not None and type(kind[1]) is ScalarNode:
            problem = _type_problem(kind[1].value)
            if problem:
                yield kind[1], problem
            for name, remedy in REMOVED_TRIGGER_KEYS.items():
                if name in fields:
                    yield fields[name][0], f"trigger `{name}` are removed in Kestra 2.0: {remedy}"
        if "workerGroup" in fields:
            yield fields["workerGroup"][0], f"`workerGroup` is removed in Kestra 2.0: {REMOVED_KEYS['workerGroup']}"
        stack.extend(value for _, value in node.value if type(value) is not ScalarNode)


def _type_problem(name: str) -> str | None:
    canonical = _canonical(name)
    if canonical in REMOVED_TYPES:
        return f"`{name}` is removed in Kestra 2.0: use {REMOVED_TYPES[canonical]}"
    if canonical.startswith(f"{CORE}condition."):
        return f"`{name}` is removed in Kestra 2.0 with every condition type: use the trigger's `when` (or `dependsOn`)"
    if canonical != name:
        return f"`{name}` is a legacy alias that Kestra 2.0 no longer reads: use `{canonical}`"
    if name.startswith("io.kestra.core."):
        return f"`{name}` is a legacy alias that Kestra 2.0 no longer reads: use its `{CORE}*` name"
    return None


def _canonical(name: str) -> str:
    for old, new in ALIASES.items():
        if name.startswith(old):
            name = new + name[len(old) :]
            break
    return name.removesuffix("Condition") if name.startswith(f"{CORE}condition.") else name


def _inputs(top: dict[str, Node]) -> Iterator[tuple[Node, str]]:
    """The input rules of 2.0: types renamed, a default only on a required input, and a Schedule or
    Webhook trigger giving every required input without a default."""
    inputs = top.get("inputs")
    needed: dict[str, Node] = {}
    for item in inputs.value if type(inputs) is SequenceNode else ():
        if type(item) is not MappingNode:
            continue
        fields = {key.value: (key, value) for key, value in item.value if type(key) is ScalarNode}
        kind = _scalar(fields.get("type"))
        if kind in REMOVED_INPUT_TYPES:
            yield fields["type"][1], f"input type `{kind}` is removed in Kestra 2.0: use `{REMOVED_INPUT_TYPES[kind]}`"
        if "name" in fields and "id" not in fields:
            yield fields["name"][0], "an input's `name` is removed in Kestra 2.0: use `id`"
        required = _scalar(fields.get("required")) not in ("false", "False", "FALSE")
        if "defaults" in fields and not required:
            yield fields["required"][1], "an input with `defaults` must be required in Kestra 2.0 (remove `required: false`)"
        input_id = _scalar(fields.get("id"))
        if input_id and required and "defaults" not in fields:
            needed[input_id] = item
    if not needed:
        return
    triggers = top.get("triggers")
    for trigger in triggers.value if type(triggers) is SequenceNode else ():
        if type(trigger) is not MappingNode:
            continue
        fields = {key.value: value for key, value in trigger.value if type(key) is ScalarNode}
        if _canonical(_scalar(fields.get("type")) or "") not in SCHEDULES:
            continue
        given = fields.get("inputs")
        supplied = {key.value for key, _ in given.value} if type(given) is MappingNode else set()
        missing = [name for name in needed if name not in supplied]
        if missing:
            kind = _canonical(_scalar(fields.get("type"))).rsplit(".", 1)[-1]
            yield trigger, (
                f"{kind} trigger '{_scalar(fields.get('id'))}' leaves required input(s) {', '.join(map(repr, missing))} unset, "
                f"which Kestra 2.0 refuses: give them in the trigger's `inputs`, or a `defaults`"
            )


def _scalar(found) -> str | None:
    node = found[1] if isinstance(found, tuple) else found
    return node.value if type(node) is ScalarNode else None


def _at(node: Node, location: SourceLocation) -> SourceLocation:
    """A node's place in the file (its marks count from the start of the file, not of its document)."""
    return SourceLocation(location.path, node.start_mark.line + 1, node.start_mark.column + 1)
