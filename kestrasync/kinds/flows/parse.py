"""A flow file's bytes -> its flows: the admission rules, with file:line:column.

A file is refused for everything Kestra would refuse or read differently that can be known without
its plugins: bytes that are not UTF-8 or start with a BOM, YAML syntax, duplicate keys, aliases,
documents that are not flows, bad `id`/`namespace`, unknown top-level keys, empty `tasks`, tasks or
triggers without `id`/`type`, duplicate task ids, a Subflow calling its own flow. Each document keeps
its exact text: that text is what Kestra stores and what the no-op rule compares.
"""

from __future__ import annotations

import difflib
import re

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kestrasync.errors import FileError
from kestrasync.kinds.flows.refs import KIND, SUBFLOW_TASKS, references
from kestrasync.kinds.flows.versions import caveats
from kestrasync.model import NAMESPACE, Key, Local, SourceLocation
from kestrasync.scancache import Result
from kestrasync.walk import ScanOptions
from kestrasync.yamltext import YamlProblem, at, check_tree, compose_documents, decode_utf8

FLOW_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]*")
TASK_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]*")  # tasks and triggers: no dots
MAX_ID_LENGTH, MAX_NAMESPACE_LENGTH = 100, 150
# Kestra 1.0 refuses these ids (FlowValidator.RESERVED_FLOW_IDS; `text` per the 1.0 migration guide).
RESERVED_IDS = frozenset(
    "pause resume force-run change-status kill executions search source disable enable text".split()
)
# Top-level keys some Kestra version accepts (0.21 to 2.0). Kestra refuses unknown keys on create;
# which of these a given server accepts is left to its validation.
FLOW_KEYS = frozenset(
    "id namespace revision description labels inputs outputs variables tasks errors finally afterExecution "
    "triggers listeners taskDefaults pluginDefaults concurrency retry sla disabled deleted tenantId "
    "workerGroup workerSelector checks policyRefs quotas".split()
)
# SnakeYAML's default code-point limit per document, which Kestra's parser inherits.
MAX_DOCUMENT_CODE_POINTS = 3_145_728
# Bump whenever a rule changes what a scan returns for the same bytes: it invalidates scan caches.
RULES = "3"

# Keys under which a flowable task holds child tasks (Sequential, Parallel, If, Switch, ...).
CHILD_TASK_KEYS = ("tasks", "then", "else", "errors", "finally", "afterExecution", "defaults")
TOP_TASK_KEYS = ("tasks", "errors", "finally", "afterExecution")

Fields = dict[str, Node]  # a mapping's values by key (keys are checked unique by check_tree)
Task = tuple[MappingNode, Fields]


def parse_file(data: bytes, shown: str) -> tuple[str | None, Result]:
    """The text of a file's bytes (None when the bytes are refused) and the flows it holds, or its
    problems (a file with problems gives no flows)."""
    try:
        text = _decode(data, shown)
        documents = compose_documents(text, data)
    except FileError as error:
        return None, ([], [error])
    except YamlProblem as problem:
        return text, ([], [FileError(SourceLocation(shown, problem.line, problem.column), problem.message)])
    if not documents:
        return text, ([], [FileError(SourceLocation(shown), "no flow in this file (it is empty or only comments)")])
    flows, errors = [], []
    for document in documents:
        try:
            flows.append(_flow_from(document.node, document.text, SourceLocation(shown, document.line)))
        except YamlProblem as problem:
            errors.append(FileError(SourceLocation(shown, problem.line, problem.column), problem.message))
    return text, ((flows, []) if not errors else ([], errors))


def _decode(data: bytes, shown: str) -> str:
    """UTF-8 text without a byte-order mark: what Kestra stores is what the user sees."""
    try:
        text = decode_utf8(data)
    except YamlProblem as problem:
        raise FileError(SourceLocation(shown, problem.line, problem.column), problem.message) from None
    if text.startswith("\ufeff"):
        raise FileError(
            SourceLocation(shown),
            "file starts with a UTF-8 byte-order mark (BOM), which Kestra would keep inside the flow's source; "
            "save it as UTF-8 without BOM",
        )
    return text


def _fields(node: MappingNode) -> Fields:
    return {key.value: value for key, value in node.value}


def _text(node: Node | None) -> str | None:
    return node.value if type(node) is ScalarNode else None


def _flow_from(node: Node, text: str, location: SourceLocation) -> Local:
    if not isinstance(node, MappingNode):
        shape = "a list" if isinstance(node, SequenceNode) else "a single value"
        raise at(node, f"not a flow: the document is {shape}, a flow is a mapping with id, namespace and tasks")
    check_tree(node, may_alias="&" in text)
    if len(text) > MAX_DOCUMENT_CODE_POINTS:
        raise at(node, f"the document is over Kestra's limit of {MAX_DOCUMENT_CODE_POINTS:,} characters")
    top = _fields(node)
    flow_id = _identifier(node, top, "id", FLOW_ID, MAX_ID_LENGTH)
    _check_keys(node)
    if flow_id in RESERVED_IDS:
        raise at(top["id"], f"'{flow_id}' is a reserved flow id in Kestra; choose another")
    key = Key(KIND, _identifier(node, top, "namespace", NAMESPACE, MAX_NAMESPACE_LENGTH), flow_id)
    if _text(top.get("deleted")) in ("true", "True", "TRUE"):
        # Kestra would store the flow as deleted: it could never be seen, and every plan would create it again.
        raise at(top["deleted"], "`deleted: true` hides a flow on Kestra; remove the file (and apply with --prune) instead")
    tasks = top.get("tasks")
    if type(tasks) is not SequenceNode or not tasks.value:
        raise at(tasks or node, "`tasks` must be a non-empty list of tasks")
    _check_unique_ids([task for name in TOP_TASK_KEYS if name in top for task in _tasks(top[name], "task")])
    if "triggers" in top:
        _tasks(top["triggers"], "trigger")
    found = set()
    for target, referrer in references(node, text):
        if target == key and (_text(_fields(referrer).get("type")) or "").lower() in SUBFLOW_TASKS:
            raise at(referrer, f"task '{_text(_fields(referrer).get('id'))}' calls its own flow; Kestra refuses recursive calls")
        found.add(target)
    return Local(key, text, location, tuple(sorted(found)), caveats(node, top, text, location))


def _check_keys(flow: MappingNode) -> None:
    for key, _ in flow.value:
        if key.value not in FLOW_KEYS:
            close = difflib.get_close_matches(key.value, FLOW_KEYS, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise at(key, f"unknown flow property `{key.value}` (Kestra refuses unknown top-level keys){hint}")


def _identifier(flow: MappingNode, top: Fields, name: str, pattern: re.Pattern[str], max_length: int) -> str:
    if name not in top:
        raise at(
            flow,
            f"not a flow: no `{name}` key (a flow needs id, namespace and tasks); "
            "exclude this file in kestra-sync.yaml if it is not a flow",
        )
    value = _text(top[name])
    if not value:
        raise at(top[name], f"`{name}` must be a non-empty text value")
    if not pattern.fullmatch(value):
        raise at(top[name], f"`{name}` '{value}' must match {pattern.pattern}")
    if len(value) > max_length:
        raise at(top[name], f"`{name}` is {len(value)} characters long; Kestra allows at most {max_length}")
    return value


def _tasks(node: Node, element: str) -> list[Task]:
    """The tasks (or triggers) of a list, each checked for `id` and `type`, children included."""
    if type(node) is not SequenceNode:
        raise at(node, f"expected a list of {element}s")
    found: list[Task] = []
    for item in node.value:
        fields = _fields(item) if type(item) is MappingNode else None
        if fields is not None and "type" not in fields and type(fields.get("task")) is MappingNode:
            item = fields["task"]  # a Dag entry: {task: {...}, dependsOn: [...]}
            fields = _fields(item)
        if fields is None:
            raise at(item, f"a {element} must be a mapping with `id` and `type`")
        for required in ("id", "type"):
            if not _text(fields.get(required)):
                name = _text(fields.get("id"))
                raise at(item, f"{element} '{name}' has no `{required}`" if name else f"this {element} has no `{required}`")
        if not TASK_ID.fullmatch(fields["id"].value):
            raise at(fields["id"], f"{element} id '{fields['id'].value}' must match {TASK_ID.pattern}")
        found.append((item, fields))
        if element == "task":
            found += _child_tasks(fields)
    return found


def _child_tasks(fields: Fields) -> list[Task]:
    children: list[Task] = []
    for name in CHILD_TASK_KEYS:
        value = fields.get(name)
        if type(value) is SequenceNode and all(type(i) is MappingNode for i in value.value):
            children += _tasks(value, "task")
    cases = fields.get("cases")
    if type(cases) is MappingNode:
        for _, branch in cases.value:
            if type(branch) is SequenceNode:
                children += _tasks(branch, "task")
    return children


def _check_unique_ids(tasks: list[Task]) -> None:
    first: dict[str, MappingNode] = {}
    for node, fields in tasks:
        task_id = fields["id"].value
        if task_id in first:
            raise at(node, f"duplicate task id '{task_id}' (first at line {first[task_id].start_mark.line + 1})")
        first[task_id] = node


# Which files hold flows, unless kestra-sync.yaml says otherwise (its `flows:` section).
FLOW_FILES = ScanOptions(section="flows", max_file_bytes=1024 * 1024, include=("**/*.yml", "**/*.yaml"), layout="{namespace}/{id}.yaml")
LAYOUT_FIELDS = ("namespace", "id")  # what flows.layout may name
