"""The flow validation Kestra performs without plugins, with Kestra's own messages and paths.

Three stages, in Kestra's order, each raising a 422 `ApiError`:

1. `check_strict`: on strict paths (create, validate; 2.x update too) an unknown property of the flow or of
   a core plugin is Jackson's `Unrecognized field "x" (class ...), not marked as ignorable (...)`.
2. `check_types`: a task or trigger without a usable `type`, or naming a core plugin that does not exist
   (a misspelling, or a type 2.x removed), cannot be deserialized (`Invalid type: ...`); 2.x input types too.
3. `check_bean`: bean validation (`ModelValidator` → `KestraConstraintViolationException`): one
   `path: message` line per violation (a task's index in the line is replaced by its id), and the
   class-level `@FlowValidation` as `: Invalid Flow: ...` (empty path).

Plugins are known for the core namespace only (`plugins.py`); other types are accepted as they stand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ApiError, Violation, invalid_entity
from .flowdoc import TASK_LISTS, FlowDoc, flow_properties
from .flowyaml import is_null, scalar_text
from .executions import label_key_ok
from .plugins import FLOW_CLASS, defaulted, nodes, registry, type_text

ID_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9._-]*"
NAMESPACE_PATTERN = "^[a-z0-9][a-z0-9._-]*"
TASK_ID_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_-]*"
_JAVA_CLASS = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")
# FlowValidator.RESERVED_FLOW_IDS (1.0+), plus `text` which the 1.0 migration guide also lists.
RESERVED_FLOW_IDS = frozenset({"pause", "resume", "force-run", "change-status", "kill", "executions", "search",
                               "source", "disable", "enable", "text"})
INPUT_CLASS = "io.kestra.core.models.flows.Input<java.lang.Object>"
# io.kestra.core.models.flows.Type at develop c94e7743: BOOLEAN and ENUM are gone (BOOL, SELECT remain).
INPUT_TYPES_2 = frozenset({"STRING", "SELECT", "INT", "FLOAT", "BOOL", "DATETIME", "DATE", "TIME", "DURATION", "FILE",
                           "JSON", "URI", "SECRET", "ARRAY", "MULTISELECT", "YAML", "EMAIL", "FORM"})
SCHEDULED_TRIGGERS = {"io.kestra.plugin.core.trigger.schedule": "Schedule", "io.kestra.plugin.core.trigger.webhook": "Webhook"}
# Keys under which a flowable task nests other tasks (Parallel, Sequential, If, Switch, ForEach, ...).
_NESTED_TASKS = ("tasks", "errors", "finally", "then", "else", "defaults")


@dataclass(frozen=True)
class BeanViolation:
    """A bean-validation violation: `path`/`message` go to `_embedded.errors`, `display` starts its line."""

    path: str
    message: str
    display: str


def check_strict(doc: FlowDoc, kestra_version: str = "1.0") -> None:
    """Refuse the first unknown property of the flow, then of a core task or trigger, as Jackson's strict mapper does."""
    known = flow_properties(kestra_version)
    for key in doc.tree:
        if key not in known:
            raise _unrecognized(key, FLOW_CLASS, known, f'{FLOW_CLASS}["{key}"]')
    plugins = registry(kestra_version)
    for node in nodes(doc.tree, (*TASK_LISTS, "triggers")):
        plugin = plugins.resolve(type_text(node.item) or "")
        for key in node.item if plugin is not None else ():
            if key not in plugin.properties:
                raise _unrecognized(key, plugin.name, sorted(plugin.properties), f'{node.chain}->{plugin.name}["{key}"]')


def _unrecognized(key: str, owner: str, known, path: str) -> ApiError:
    names = ", ".join(f'"{name}"' for name in known)
    message = (f'Unrecognized field "{key}" (class {owner}), not marked as ignorable '
               f"({len(known)} known properties: {names}])")
    return invalid_entity(message, (Violation(message, path),))


def check_types(doc: FlowDoc, kestra_version: str = "1.0") -> None:
    """Refuse a task or trigger whose `type` is missing, is no class name, or names no core plugin;
    in 2.x, an input whose type 2.0 removed (`BOOLEAN`, `ENUM`)."""
    plugins = registry(kestra_version)
    for node in nodes(doc.tree, (*TASK_LISTS, "triggers")):
        type_name = type_text(node.item)
        if type_name is None or not _JAVA_CLASS.fullmatch(type_name) or plugins.is_unknown(type_name):
            raise _invalid_type(type_name, node.base, node.chain)
    if kestra_version.startswith("2"):
        for index, spec in enumerate(doc.task_list("inputs")):
            kind = _text(spec.get("type")) if isinstance(spec, dict) else None
            if kind is not None and kind not in INPUT_TYPES_2:
                raise _invalid_type(kind, INPUT_CLASS, f'{FLOW_CLASS}["inputs"]->java.util.ArrayList[{index}]',
                                    known=sorted(INPUT_TYPES_2))


def _invalid_type(type_name: str | None, base: str, path: str, known=()) -> ApiError:
    if type_name is None:
        detail = f"Could not resolve subtype of [simple type, class {base}]: missing type id property 'type'"
    else:
        detail = f"Could not resolve type id '{type_name}' as a subtype of `{base}`: known type ids = [{', '.join(known)}]"
    detail += f" (through reference chain: {path})"
    message = f"Invalid type: {'null' if type_name is None else type_name}"  # Java prints null
    return invalid_entity(message, (Violation(message, path), Violation(detail, path)))


def check_bean(doc: FlowDoc, kestra_version: str) -> None:
    violations = bean_violations(doc, kestra_version)
    if violations:
        raise invalid_entity("".join(f"{v.display}: {v.message}\n" for v in violations),
                             tuple(Violation(v.message, v.path, _friendly(doc, v.path)) for v in violations))


def _friendly(doc: FlowDoc, path: str) -> str | None:
    """2.x `ViolationPaths.toFriendlyPath`: when the leaf bean is a task (or an input), every `tasks[N]`
    (`inputs[N]`) of the path names that leaf's id instead of its index."""
    match = re.match(r"^((?:[a-zA-Z]+\[[^\]]+\]\.?)+)", path)
    if not match:
        return None
    node: object = doc.tree
    for key, index in re.findall(r"([a-zA-Z]+)\[([^\]]+)\]", match.group(1)):
        node = node.get(key) if isinstance(node, dict) else None
        node = node[int(index)] if isinstance(node, list) and index.isdigit() and int(index) < len(node) else None
        if isinstance(node, dict) and "type" not in node and isinstance(node.get("task"), dict):
            node = node["task"]
    leaf = _text(node.get("id")) if isinstance(node, dict) else None
    collection = "inputs" if path.startswith("inputs[") else "tasks"
    return re.sub(rf"{collection}\[\d+\]", lambda _: f"{collection}[{leaf}]", path) if leaf else None


def bean_violations(doc: FlowDoc, kestra_version: str) -> list[BeanViolation]:
    """Every violation `ModelValidator` would report for what the emulator can see."""
    found: list[BeanViolation] = []
    found += _string_field("id", doc.id, ID_PATTERN, 100)
    found += _string_field("namespace", doc.namespace, NAMESPACE_PATTERN, 150, blank_allowed=True)
    if doc.revision is not None and doc.revision < 1:
        found.append(BeanViolation("revision", "must be greater than or equal to 1", "revision"))
    if not doc.task_list("tasks"):
        found.append(BeanViolation("tasks", "must not be empty", "tasks"))
    for key in TASK_LISTS:
        for index, task in enumerate(doc.task_list(key)):
            found += _task_id(f"{key}[{index}]", task, is_task=True)
    for index, trigger in enumerate(doc.task_list("triggers")):
        found += _task_id(f"triggers[{index}]", trigger, is_task=False)
    found += _required_properties(doc, kestra_version)
    if kestra_version.startswith("2"):
        found += _input_rules(doc) + _label_rules(doc)
    flow_level = _flow_violations(doc, kestra_version)
    if flow_level:
        found.append(BeanViolation("", "Invalid Flow: " + ", ".join(flow_level), ""))
    return found


def _string_field(name: str, value: str | None, pattern: str, max_size: int,
                  blank_allowed: bool = False) -> list[BeanViolation]:
    """@NotNull (@NotBlank) @Pattern @Size, with Micronaut's messages."""
    if value is None:
        found = [BeanViolation(name, "must not be null", name)]
        return found if blank_allowed else found + [BeanViolation(name, "must not be blank", name)]
    found = []
    if not blank_allowed and not value.strip():
        found.append(BeanViolation(name, "must not be blank", name))
    if not re.fullmatch(pattern, value):
        found.append(BeanViolation(name, f'must match "{pattern}"', name))
    if not 1 <= len(value) <= max_size:
        found.append(BeanViolation(name, f"size must be between 1 and {max_size}", name))
    return found


def _task_id(path: str, item: object, is_task: bool) -> list[BeanViolation]:
    task_id = _text(item.get("id")) if isinstance(item, dict) else None
    # KestraConstraintViolationException names a task by its id (replacing `tasks[N]`) when it can.
    display = re.sub(r"tasks\[\d+\]", lambda _: task_id, path) if is_task and task_id is not None else path
    path, display = f"{path}.id", f"{display}.id"
    if task_id is None:
        return [BeanViolation(path, "must not be null", display), BeanViolation(path, "must not be blank", display)]
    if not re.fullmatch(TASK_ID_PATTERN, task_id):
        return [BeanViolation(path, f'must match "{TASK_ID_PATTERN}"', display)]
    return []


def _required_properties(doc: FlowDoc, kestra_version: str) -> list[BeanViolation]:
    """`@NotNull`/`@NotEmpty` properties of core plugins, after `pluginDefaults` are applied (as Kestra does)."""
    found = []
    plugins = registry(kestra_version)
    for node in nodes(doc.tree, (*TASK_LISTS, "triggers")):
        type_name = type_text(node.item) or ""
        plugin = plugins.resolve(type_name)
        if plugin is None:
            continue
        given = defaulted(doc.tree, type_name)
        task_id = _text(node.item.get("id"))
        for name in plugin.required:
            if name not in given and is_null(node.item.get(name)):
                path = f"{node.path}.{name}"
                display = re.sub(r"tasks\[\d+\]", lambda _: task_id, path) if task_id and plugin.kind == "task" else path
                found.append(BeanViolation(path, "must not be null", display))
    return found


def _label_rules(doc: FlowDoc) -> list[BeanViolation]:
    """2.x `Label`: `@NotEmpty` key matching `^[\\p{Ll}][\\p{L}0-9._-]*$`, `@NotEmpty` value (system keys
    are left to the @FlowValidation rule)."""
    found = []
    for index, label in enumerate(doc.labels or ()):
        key, value = label.get("key") or "", label.get("value") or ""
        if not key:
            found.append(BeanViolation(f"labels[{index}].key", "must not be empty", f"labels[{index}].key"))
        elif not key.startswith("system.") and not label_key_ok(key):
            message = ("Invalid label key. A valid key contains only lowercase letters numbers hyphens (-) "
                       "underscores (_) or periods (.) and must begin with a lowercase letter.")
            found.append(BeanViolation(f"labels[{index}].key", message, f"labels[{index}].key"))
        if not value:
            found.append(BeanViolation(f"labels[{index}].value", "must not be empty", f"labels[{index}].value"))
    return found


def _input_rules(doc: FlowDoc) -> list[BeanViolation]:
    """2.x `InputValidator`: an input with `defaults` must be required and cannot also have a prefill."""
    found = []
    for index, spec in enumerate(doc.task_list("inputs")):
        if not isinstance(spec, dict) or is_null(spec.get("defaults")):
            continue
        if _text(spec.get("required")) in ("false", "False", "FALSE"):
            message = "Inputs with a default value must be required, since the default is always applied."
        elif not is_null(spec.get("prefill")):
            message = "Inputs with a default value cannot also have a prefill."
        else:
            continue
        found.append(BeanViolation(f"inputs[{index}]", message, f"inputs[{index}]"))
    return found


def _missing_trigger_inputs(doc: FlowDoc) -> list[str]:
    """2.x FlowValidator: a Schedule (and, per the 2.0 reference, a Webhook) must give every input that has no
    default; required: false inputs are exempt since 2.0.0-rc12."""
    needed = [_text(spec.get("id")) for spec in doc.task_list("inputs") if isinstance(spec, dict)
              and is_null(spec.get("defaults")) and _text(spec.get("required")) not in ("false", "False", "FALSE")]
    messages = []
    for trigger in doc.task_list("triggers"):
        kind = SCHEDULED_TRIGGERS.get((type_text(trigger) or "").lower()) if isinstance(trigger, dict) else None
        if kind is None:
            continue
        given = trigger.get("inputs") if isinstance(trigger.get("inputs"), dict) else {}
        missing = " | ".join(name for name in needed if name is not None and name not in given)
        if missing:
            messages.append(f"Missing inputs for {kind} Trigger '{_text(trigger.get('id'))}', missing inputs: '{missing}'")
    return messages


def _flow_violations(doc: FlowDoc, kestra_version: str) -> list[str]:
    """The class-level @FlowValidation messages (FlowValidator), joined by the caller."""
    messages = []
    if doc.id in RESERVED_FLOW_IDS and not kestra_version.startswith("0."):
        messages.append(f"Flow id is a reserved keyword: {doc.id}")
    task_ids = duplicates(all_task_ids(doc))
    if task_ids:
        messages.append(f"Duplicate task id with name [{', '.join(task_ids)}]")
    trigger_ids = duplicates([_text(t.get("id")) for t in doc.task_list("triggers") if isinstance(t, dict)])
    if trigger_ids:
        messages.append(f"Duplicate trigger id with name [{', '.join(trigger_ids)}]")
    for label in doc.labels or ():
        key = label.get("key") or ""
        if key.startswith("system.") and key != "system.readOnly":
            messages.append(f"System labels can only be set by Kestra itself, offending label: {key}={label.get('value')}")
    if kestra_version.startswith("2"):
        messages += _missing_trigger_inputs(doc)
    return messages


def all_task_ids(doc: FlowDoc) -> list[str]:
    """Task ids of `allTasksWithChilds()`: every task list of the flow and of its listeners, depth first."""
    ids: list[str] = []
    lists = [doc.task_list(key) for key in TASK_LISTS]
    lists += [listener.get("tasks") for listener in doc.task_list("listeners") if isinstance(listener, dict)]
    for tasks in lists:
        _collect_ids(tasks, ids)
    return ids


def _collect_ids(tasks: object, ids: list[str]) -> None:
    if not isinstance(tasks, list):
        return
    for task in tasks:
        if not isinstance(task, dict):
            continue
        if "type" not in task and isinstance(task.get("task"), dict):
            task = task["task"]  # a Dag item wraps its task: {task: {...}, dependsOn: [...]}
        task_id = _text(task.get("id"))
        if task_id is not None and "type" in task:
            ids.append(task_id)
        for key in _NESTED_TASKS:
            _collect_ids(task.get(key), ids)
        cases = task.get("cases")
        if isinstance(cases, dict):
            for branch in cases.values():
                _collect_ids(branch, ids)


def duplicates(values: list) -> list:
    """Values seen more than once, in order of first appearance (FlowValidator.getDuplicates)."""
    counts: dict = {}
    for value in values:
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    return [value for value, count in counts.items() if count > 1]


def _text(node: object) -> str | None:
    if isinstance(node, (dict, list)) or is_null(node):
        return None
    return scalar_text(node)
