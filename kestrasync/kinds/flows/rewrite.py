"""An environment's edits of a flow's text, each confined to the span of the value it changes.

Comments, key order, quoting and indentation stay as written: the same text and environment always
give the same text, so Kestra's no-op rule still holds between two applies. Namespaces are mapped
wherever the flow names one (any `namespace` key: its own, a Subflow's, a Flow trigger's, a KV or
namespace-files task's; a task's `namespaceFiles.namespaces`); one outside the repository's, or
computed by an expression, is left alone and reported. A value that cannot be edited in place (a
Pebble expression naming one of the repository's namespaces, a block scalar, an inline mapping where
a line would be added) is a located error, never a silent skip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kestrasync.yamltext import YamlProblem, at, compose_documents

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")  # keys and values that need no quotes
_LITERAL = re.compile(r"'([^']*)'|\"([^\"]*)\"")  # the string literals of a Pebble expression
_TYPED = re.compile(r"(?i)true|false|yes|no|on|off|y|n|null|[-+]?[0-9][0-9_.eE+-]*")  # plain, YAML reads these as no string


@dataclass(frozen=True)
class FlowOverlay:
    """What an environment changes in every flow beyond namespaces: triggers turned off (all of them,
    or those of the given types), variables and labels set."""

    disable_triggers: bool = False
    trigger_types: tuple[str, ...] = ()  # only these types (lower case); empty with disable_triggers: all
    variables: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Rewritten:
    text: str
    outside: list[str]  # namespaces named by the flow that the mapping leaves alone
    dynamic: list[str] = field(default_factory=list)  # namespaces computed by an expression, left as written


def rewrite(text: str, namespace: Callable[[str], str | None], overlay: FlowOverlay) -> Rewritten:
    """The flow's text in the environment; YamlProblem (1-based line and column in `text`) when a
    value cannot be rewritten in place."""
    documents = compose_documents(text)
    root = documents[0].node
    edits: list[tuple[int, int, str]] = []
    outside: list[str] = []
    dynamic: list[str] = []
    for node in _namespace_nodes(root):
        value = node.value
        if "{{" in value:
            if any(namespace(literal) is not None for pair in _LITERAL.findall(value) for literal in pair if literal):
                raise at(node, "a Pebble expression names one of the repository's namespaces here; an environment cannot map it "
                         "(write the namespace out)")
            dynamic.append(value)  # computed when it runs ({{ flow.namespace }} is the environment's already)
            continue
        mapped = namespace(value)
        if mapped is None:
            outside.append(value)
        elif mapped != value:
            edits.append(_replace(text, node, mapped))
    top = _fields(root)
    if overlay.disable_triggers:
        for trigger in _mappings(top.get("triggers")):
            kind = (_scalar(_fields(trigger).get("type")) or "").lower()
            if not overlay.trigger_types or kind in overlay.trigger_types:
                edits.append(_set(text, trigger, "disabled", "true", "true"))
    for name, values in (("variables", overlay.variables), ("labels", overlay.labels)):
        if values:
            edits += _set_all(text, root, name, values)
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return Rewritten(text, sorted(set(outside)), sorted(set(dynamic)))


def _namespace_nodes(root: Node) -> Iterator[ScalarNode]:
    """Every scalar that names a namespace: the value of any `namespace` key (the flow's own, a
    Subflow's, a Flow trigger's conditions, preconditions and `dependsOn`, a KV or namespace-files
    task's) and the items of a task's `namespaceFiles.namespaces`."""
    stack = [root]
    while stack:
        node = stack.pop()
        if type(node) is MappingNode:
            fields = _fields(node)
            named = fields.get("namespace")
            if type(named) is ScalarNode:
                yield named
            files = fields.get("namespaceFiles")  # a script task reading other namespaces' files
            if type(files) is MappingNode:
                listed = _fields(files).get("namespaces")
                if type(listed) is SequenceNode:
                    yield from (item for item in listed.value if type(item) is ScalarNode)
            stack.extend(value for _, value in node.value if type(value) is not ScalarNode)
        elif type(node) is SequenceNode:
            stack.extend(item for item in node.value if type(item) is not ScalarNode)


def _replace(text: str, node: ScalarNode, value: str, plain: str | None = None) -> tuple[int, int, str]:
    """An edit giving `node` the value `value`, in the scalar's own style (a plain scalar becomes
    `plain` when given: `true`, a boolean)."""
    start, end = node.start_mark.index, node.end_mark.index
    style = node.style or ""
    if style == "'":
        return start, end, "'" + value.replace("'", "''") + "'"
    if style == '"':
        return start, end, json.dumps(value, ensure_ascii=False)
    if style in ("|", ">") or "&" in text[start:end] or "\n" in text[start:end]:
        raise at(node, "this value cannot be rewritten in place (a block scalar, an anchor, or a value over several lines)")
    return start, end, plain if plain is not None else _string(value)


def _set(text: str, mapping: MappingNode, key: str, value: str, rendered: str) -> tuple[int, int, str]:
    """An edit setting `key` to `value` in a block mapping: its value replaced when it has the key, else
    a line `key: rendered` added after the mapping's last entry, at its indentation."""
    for key_node, value_node in mapping.value:
        if type(key_node) is ScalarNode and key_node.value == key:
            if type(value_node) is not ScalarNode:
                raise at(value_node, f"`{key}` is not a single value here; an environment cannot set it in place")
            return _replace(text, value_node, value, rendered if rendered == "true" else None)
    return _append(text, mapping, f"{_key(key)}: {rendered}")


def _set_all(text: str, root: MappingNode, name: str, values: Mapping[str, str]) -> list[tuple[int, int, str]]:
    """Edits setting each of `values` under the top-level `name` (a mapping; for labels, Kestra's list
    of {key, value} too), adding the section at the end of the flow when it has none."""
    section = _fields(root).get(name)
    quoted = {key: _string(value) for key, value in values.items()}
    if section is None:
        lines = "".join(f"\n  {_key(key)}: {value}" for key, value in quoted.items())
        return [_append(text, root, f"{name}:{lines}")]
    if type(section) is MappingNode:
        if section.flow_style:
            raise at(section, f"`{name}` is written inline ({{...}}); an environment cannot add to it in place")
        edits = []
        added = []
        for key, value in quoted.items():
            existing = next((v for k, v in section.value if type(k) is ScalarNode and k.value == key), None)
            if existing is None:
                added.append(f"{_key(key)}: {value}")
            elif type(existing) is not ScalarNode:
                raise at(existing, f"`{name}.{key}` is not a single value; an environment cannot set it in place")
            else:
                edits.append(_replace(text, existing, values[key]))
        if added:
            edits.append(_append(text, section, "\n".join(added)))
        return edits
    if type(section) is SequenceNode and name == "labels" and not section.flow_style:
        edits, added = [], []
        for key, value in values.items():
            entry = next((item for item in _mappings(section) if _scalar(_fields(item).get("key")) == key), None)
            if entry is None:
                added.append((key, value))
            else:
                edits.append(_set(text, entry, "value", value, _string(value)))
        for key, value in added:
            edits.append(_append_item(text, section, f"key: {_string(key)}", f"value: {_string(value)}"))
        return edits
    raise at(section, f"`{name}` is neither a mapping nor a list of key/value; an environment cannot set it in place")


def _append(text: str, mapping: MappingNode, entry: str) -> tuple[int, int, str]:
    """An edit adding `entry` (lines, the first at the mapping's indentation) after a block mapping's
    last entry."""
    if mapping.flow_style or not mapping.value:
        raise at(mapping, "this mapping is written inline ({...}); an environment cannot add to it in place")
    indent = " " * mapping.value[0][0].start_mark.column
    end = _line_end(text, _last_end(mapping))
    lines = entry.split("\n")
    added = "".join(f"\n{indent}{line}" for line in lines)
    return end, end, added


def _append_item(text: str, sequence: SequenceNode, first: str, second: str) -> tuple[int, int, str]:
    """An edit adding a two-key item after a block sequence's last item, in the style of the first."""
    item = sequence.value[0]
    if type(item) is not MappingNode or not item.value:
        raise at(sequence, "`labels` items are not key/value mappings; an environment cannot add to them in place")
    column = item.value[0][0].start_mark.column
    dash = text.rfind("-", 0, item.start_mark.index + 1)
    dash_column = dash - (text.rfind("\n", 0, dash) + 1)
    end = _line_end(text, _last_end(sequence))
    return end, end, f"\n{' ' * dash_column}-{' ' * (column - dash_column - 1)}{first}\n{' ' * column}{second}"


def _last_end(node: Node) -> int:
    """Where a node's text ends: at its last scalar (a block collection's own end mark is where the
    next token starts, past the next line's indentation)."""
    while type(node) in (MappingNode, SequenceNode) and node.value and not node.flow_style:
        node = node.value[-1][1] if type(node) is MappingNode else node.value[-1]
    return node.end_mark.index


def _line_end(text: str, index: int) -> int:
    """The end of the line holding the character before `index` (PyYAML ends a node after its line
    break, at the next line's start, or at the end of its last character)."""
    if index > 0 and text[index - 1] == "\n":
        index -= 1
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline


def _key(key: str) -> str:
    return _string(key)


def _string(value: str) -> str:
    """`value` as a YAML string: plain where YAML reads it as the same string, else double-quoted."""
    return value if _PLAIN.fullmatch(value) and not _TYPED.fullmatch(value) else json.dumps(value, ensure_ascii=False)


def _fields(node: Node) -> dict[str, Node]:
    return {key.value: value for key, value in node.value if type(key) is ScalarNode} if type(node) is MappingNode else {}


def _mappings(node: Node | None) -> list[MappingNode]:
    return [item for item in node.value if type(item) is MappingNode] if type(node) is SequenceNode else []


def _scalar(node: Node | None) -> str | None:
    return node.value if type(node) is ScalarNode else None


__all__ = ["FlowOverlay", "Rewritten", "YamlProblem", "rewrite"]
