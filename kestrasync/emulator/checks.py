"""The flow validation Kestra performs without plugins, with Kestra's own messages and paths.

Three stages, in Kestra's order, each raising a 422 `ApiError`:

1. `check_strict`: on strict paths (create, validate) an unknown top-level property is Jackson's
   `Unrecognized field "x" (class io.kestra.core.models.flows.Flow), not marked as ignorable (...)`.
2. `check_types`: a task or trigger without a usable `type` cannot be deserialized (`Invalid type: null`).
   Plugin types themselves cannot be checked here; any Java-class-like name is accepted.
3. `check_bean`: bean validation (`ModelValidator` → `KestraConstraintViolationException`): one
   `path: message` line per violation (a task's index in the line is replaced by its id), and the
   class-level `@FlowValidation` as `: Invalid Flow: ...` (empty path).

Plugin properties are out of reach, so checks stop at the flow's own fields, its tasks' and triggers' `id`
and `type`, and task-id uniqueness across nested tasks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ApiError, Violation, invalid_entity
from .flowdoc import FLOW_PROPERTIES, TASK_LISTS, FlowDoc
from .flowyaml import is_null, scalar_text

ID_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9._-]*"
NAMESPACE_PATTERN = "^[a-z0-9][a-z0-9._-]*"
TASK_ID_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_-]*"
_JAVA_CLASS = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")
# FlowValidator.RESERVED_FLOW_IDS (1.0+), plus `text` which the 1.0 migration guide also lists.
RESERVED_FLOW_IDS = frozenset({"pause", "resume", "force-run", "change-status", "kill", "executions", "search",
                               "source", "disable", "enable", "text"})
FLOW_CLASS = "io.kestra.core.models.flows.Flow"
# Keys under which a flowable task nests other tasks (Parallel, Sequential, If, Switch, ForEach, ...).
_NESTED_TASKS = ("tasks", "errors", "finally", "then", "else", "defaults")


@dataclass(frozen=True)
class BeanViolation:
    """A bean-validation violation: `path`/`message` go to `_embedded.errors`, `display` starts its line."""

    path: str
    message: str
    display: str


def check_strict(doc: FlowDoc) -> None:
    """Refuse the first unknown top-level property, as Jackson's strict mapper does."""
    for key in doc.tree:
        if key not in FLOW_PROPERTIES:
            known = ", ".join(f'"{name}"' for name in FLOW_PROPERTIES)
            message = (f'Unrecognized field "{key}" (class {FLOW_CLASS}), not marked as ignorable '
                       f"({len(FLOW_PROPERTIES)} known properties: {known}])")
            raise invalid_entity(message, (Violation(message, f'{FLOW_CLASS}["{key}"]'),))


def check_types(doc: FlowDoc) -> None:
    """Refuse a task or trigger whose `type` is missing or cannot be a plugin class name."""
    for key in (*TASK_LISTS, "triggers"):
        base = "io.kestra.core.models.triggers.AbstractTrigger" if key == "triggers" else "io.kestra.core.models.tasks.Task"
        for index, item in enumerate(doc.task_list(key)):
            type_name = _text(item.get("type")) if isinstance(item, dict) else None
            if type_name is None or not _JAVA_CLASS.fullmatch(type_name):
                raise _invalid_type(type_name, base, f'{FLOW_CLASS}["{key}"]->java.util.ArrayList[{index}]')


def _invalid_type(type_name: str | None, base: str, path: str) -> ApiError:
    if type_name is None:
        detail = f"Could not resolve subtype of [simple type, class {base}]: missing type id property 'type'"
    else:
        detail = f"Could not resolve type id '{type_name}' as a subtype of `{base}`: known type ids = []"
    detail += f" (through reference chain: {path})"
    message = f"Invalid type: {'null' if type_name is None else type_name}"  # Java prints null
    return invalid_entity(message, (Violation(message, path), Violation(detail, path)))


def check_bean(doc: FlowDoc, kestra_version: str) -> None:
    violations = bean_violations(doc, kestra_version)
    if violations:
        raise invalid_entity("".join(f"{v.display}: {v.message}\n" for v in violations),
                             tuple(Violation(v.message, v.path) for v in violations))


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
