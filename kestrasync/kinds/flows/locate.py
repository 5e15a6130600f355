"""Where in a flow's YAML a server error points: pure, from (the composed document, the error) to a place.

Kestra names the offending value in several shapes, and the same error reads differently per route
and version, so every shape is taken:

- a JSON pointer (2.x problems, `ViolationPaths.toJsonPointer`): `/tasks/0/type`;
- a property path (1.x `_embedded.errors[].path`, 2.x develop's `YamlParser.propertyPath`):
  `tasks[0].type`, `labels[a/b~c]`, a manual violation's `flow.id`;
- a friendly path (2.x `ViolationPaths.toFriendlyPath`): `tasks[my-task].type`, `inputs[day].defaults`;
- 1.x's message form (`KestraConstraintViolationException.getMessage`, what `/flows/validate` returns
  as `constraints`): every `tasks[N]` replaced by the offending task's id, `my-task.message`;
- Jackson's reference chain (`JsonMappingException.getPathReference`, 1.x and 2.0's unknown fields
  and types), and the pointer 2.x derives from it segment by segment:
  `io.kestra.core.models.flows.Flow["tasks"]->java.util.ArrayList[0]->...Log["format"]`;
- no path at all (`constraints` of an unknown field or type, `yaml`, the empty path of a flow-level
  `Invalid Flow: ...`): the message says what to look for (`Unrecognized field "x" (class C)`,
  `Invalid type: T`, `(at line N)`, an offending label, a duplicate id).

A path that only partly exists lands on its deepest part that does (a missing property: its task).
None means nothing better than the document's start was found; callers fall back to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kestrasync.model import Local, SourceLocation
from kestrasync.yamltext import YamlProblem, body_of, compose_documents

Place = tuple[int, int]  # 1-based line and column in the text the document was composed from

# A `constraints` line is `path: message` when what precedes the first ": " has no blank (a path
# never does; "Invalid type: x" and "Illegal flow source: ..." are messages); the path may be empty.
_PATH_PREFIX = re.compile(r"([^\s:]*): (.*)", re.DOTALL)
_CHAIN_TOKEN = re.compile(r'\["(.*?)"\]|\[(\d+)\]')  # Flow["tasks"]->java.util.ArrayList[0]
_CHAIN_IN_MESSAGE = re.compile(r"\(through reference chain: ([^)]*)\)")
_LINE_IN_MESSAGE = re.compile(r"\(at line (\d+)\)|line: (\d+), column: (\d+)")
_FLOW_CLASSES = ("io.kestra.core.models.flows.flow", "io.kestra.core.models.flows.genericflow")


def in_file(flow: Local, message: str, paths: Sequence[str] = (), validated: bool = False) -> SourceLocation:
    """Where in its file an error the server gave about `flow` lands; the flow's first line when
    nowhere better. `validated`: the error came from /flows/validate, which was sent the text after
    the flow's `---` lines and trims it (its line numbers count from there)."""
    try:
        documents = compose_documents(flow.content)
    except YamlProblem:
        documents = []
    sent = body_of(flow.content).lstrip() if validated else flow.content
    offset = flow.content[: len(flow.content) - len(sent)].count("\n")
    found = place(documents[0].node, message, paths, offset) if documents else None
    if found is None:
        return flow.location
    line, column = found
    return SourceLocation(flow.location.path, flow.location.line + line - 1, column)


def split_constraint(line: str) -> tuple[str | None, str]:
    """A `constraints` line as (path, message): ("tasks[0].id", "must not be null"); ("", "Invalid Flow: ...")
    for a flow-level violation; (None, line) when the line names no path."""
    match = _PATH_PREFIX.fullmatch(line)
    return (match.group(1), match.group(2)) if match else (None, line)


def segments(path: str) -> list[str]:
    """The keys and indexes a path names, whatever its shape (see the module's docstring)."""
    path = path.strip()
    if "->" in path or '["' in path or '/"' in path:
        if path.startswith("/"):  # 2.x's pointer of a reference chain: quoted names, bare indexes, class names
            steps = [_unescape(step) for step in path.split("/")[1:]]
            return [s[1:-1] if len(s) > 1 and s[0] == s[-1] == '"' else s for s in steps if s.isdigit() or s[:1] == '"']
        return [name if name or not index else index for name, index in _CHAIN_TOKEN.findall(path)]
    if path.startswith("/"):
        return [_unescape(step) for step in path.split("/")[1:]]
    return _property_segments(path)


def _unescape(step: str) -> str:
    return step.replace("~1", "/").replace("~0", "~")


def _property_segments(path: str) -> list[str]:
    """`ViolationPaths.segmentsOf`: `tasks[0].type` is [tasks, 0, type]; brackets may hold dots and slashes."""
    found, current, depth = [], "", 0
    for char in path:
        if char == "[" and depth == 0 or char == "]" and depth > 0 or char == "." and depth == 0:
            if current:
                found.append(current)
            current = ""
            depth += 1 if char == "[" else -1 if char == "]" else 0
        else:
            current += char
    if current:
        found.append(current)
    return found


def place(root: Node, message: str, paths: Sequence[str] = (), line_offset: int = 0) -> Place | None:
    """Where an error lands in the document `root`: the best of its paths (the one that resolves
    deepest), else what its message names. `line_offset` is how many lines of the document precede
    the text the server parsed (line numbers in messages count from there)."""
    best: tuple[int, Node] | None = None
    for path in [*paths, *_CHAIN_IN_MESSAGE.findall(message)]:
        steps = segments(path)
        if steps and steps[0] == "flow" and _key(root, "flow") is None:
            steps = steps[1:]  # a manual violation's `flow.id`: the flow is the document
        found = _walk(root, steps, unrecognized=message.startswith("Unrecognized field"))
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    if best is None:
        return _from_message(root, message, line_offset)
    node = best[1]
    if message.startswith("Invalid type: ") and _key(node, "type") is not None:
        node = _value(node, _key(node, "type"))  # 1.x's chain ends at the task whose type it could not resolve
    return _mark(node)


def _mark(node: Node) -> Place:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(root: Node, steps: list[str], unrecognized: bool) -> tuple[int, Node] | None:
    """(how many steps resolved, the node to point at) for the deepest resolvable prefix; None when none does.

    A step that is no key may be a task's (or input's, trigger's) id standing for its index, as in
    1.x's messages and 2.x's friendly paths; the same id repeats when tasks nest (`replaceAll`).
    """
    node, target, done, index = root, None, 0, 0
    while index < len(steps):
        step = steps[index]
        key = _key(node, step)
        if key is not None:
            value = _value(node, key)
            # A collection's place is its key's line; a scalar's is its value, but an unknown field's is its name.
            target = key if unrecognized and index == len(steps) - 1 or not isinstance(value, ScalarNode) else value
            node, index = value, index + 1
        elif isinstance(node, SequenceNode) and step.isdigit() and int(step) < len(node.value):
            node = target = node.value[int(step)]
            index += 1
        else:
            named = _best_named(node, step, steps[index + 1 :], unrecognized)
            if named is None:
                break
            rest, found = named
            return done + 1 + rest, found
        done = index
    return (done, target) if target is not None else None


def _best_named(node: Node, name: str, rest: list[str], unrecognized: bool) -> tuple[int, Node] | None:
    """The item with id `name` under `node` where the rest of the path resolves deepest (ids repeated
    for nested tasks skipped), in document order on ties."""
    while rest and rest[0] == name:
        rest = rest[1:]
    best = None
    for item in _with_id(node, name):
        deeper = _walk(item, rest, unrecognized) if rest else None
        found = (deeper[0], deeper[1]) if deeper else (0, item)
        if best is None or found[0] > best[0]:
            best = found
    return best


def _with_id(node: Node, name: str) -> Iterator[MappingNode]:
    """Mappings under `node` (itself included) whose `id` is `name`, in document order."""
    return (mapping for mapping in _mappings(node) if _text(mapping, "id") == name)


def _key(node: Node, name: str) -> ScalarNode | None:
    if isinstance(node, MappingNode):
        return next((k for k, _ in node.value if isinstance(k, ScalarNode) and k.value == name), None)
    return None


def _value(node: MappingNode, key: ScalarNode) -> Node:
    return next(v for k, v in node.value if k is key)


def _text(node: Node, name: str) -> str | None:
    key = _key(node, name)
    value = _value(node, key) if key is not None else None
    return value.value if isinstance(value, ScalarNode) else None


def _mappings(root: Node) -> Iterator[MappingNode]:
    """Every mapping under `root` (itself included), in document order."""
    stack = [root]
    while stack:
        current = stack.pop()
        if isinstance(current, MappingNode):
            yield current
            stack.extend(reversed([value for _, value in current.value]))
        elif isinstance(current, SequenceNode):
            stack.extend(reversed(current.value))


# --- what a message without a usable path names -------------------------------------------------


def _from_message(root: Node, message: str, line_offset: int) -> Place | None:
    for pattern, finder in _MESSAGES:
        match = pattern.search(message)
        found = finder(root, *match.groups()) if match else None
        if found is not None:
            return _mark(found)
    line = _LINE_IN_MESSAGE.search(message)
    if line:
        number = int(line.group(1) or line.group(2))
        return number + line_offset, int(line.group(3) or 1)
    return None


def _unrecognized(root: Node, name: str, owner: str) -> Node | None:
    """`Unrecognized field "name" (class owner)`: the key in the flow itself, or in a mapping of that
    type (Kestra matches types case-insensitively), or the only key of that name anywhere."""
    owner = owner.lower()
    if owner in _FLOW_CLASSES:
        return _key(root, name)
    keys = [(mapping, key) for mapping in _mappings(root) if (key := _key(mapping, name)) is not None]
    typed = [key for mapping, key in keys if (_text(mapping, "type") or "").lower() == owner]
    return typed[0] if typed else keys[0][1] if len(keys) == 1 else None


def _invalid_type(root: Node, type_name: str) -> Node | None:
    """`Invalid type: T`: the first `type: T` value."""
    for mapping in _mappings(root):
        key = _key(mapping, "type")
        if key is not None and _text(mapping, "type") == type_name:
            return _value(mapping, key)
    return None


def _label(root: Node, name: str) -> Node | None:
    """An offending label `name=value`: its key (the map form) or its item (the list form)."""
    labels = _key(root, "labels")
    node = _value(root, labels) if labels is not None else None
    if isinstance(node, SequenceNode):
        return next((item for item in node.value if _text(item, "key") == name), None)
    return _key(node, name) if node is not None else None


def _second_id(section: str | None):
    """The second item named by a duplicate id (the first is where it is meant to be)."""

    def find(root: Node, names: str) -> Node | None:
        scope = root
        if section is not None:
            key = _key(root, section)
            scope = _value(root, key) if key is not None else None
        first = names.split(", ")[0]
        found = list(_with_id(scope, first)) if scope is not None else []
        return _value(found[1], _key(found[1], "id")) if len(found) > 1 else None

    return find


def _flow_id(root: Node) -> Node | None:
    key = _key(root, "id")
    return _value(root, key) if key is not None else None


def _trigger(root: Node, trigger_id: str) -> Node | None:
    key = _key(root, "triggers")
    return next(_with_id(_value(root, key), trigger_id), None) if key is not None else None


# FlowValidator's and YamlParser's messages (1.x and 2.x wording) and what each names.
_MESSAGES = (
    (re.compile(r'Unrecognized field "([^"]*)" \(class ([^)\s]+)\)'), _unrecognized),
    (re.compile(r"Invalid type: (\S+)"), _invalid_type),
    (re.compile(r"offending label: ([^=\s]+)="), _label),
    (re.compile(r"Duplicate task id with name \[([^\]]+)\]"), _second_id(None)),
    (re.compile(r"Duplicate trigger id with name \[([^\]]+)\]"), _second_id("triggers")),
    (re.compile(r"Missing inputs for \w+ Trigger '([^']+)'"), _trigger),
    (re.compile(r"Flow id is a reserved keyword"), _flow_id),
)
