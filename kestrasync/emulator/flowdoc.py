"""A flow source read into the few typed fields the server itself relies on (Kestra's `GenericFlow`).

Kestra first reads a request body as a `GenericFlow`: YAML syntax and duplicate keys are checked, the handful
of typed fields (id, namespace, revision, disabled, deleted, labels, the task lists) must have a usable
shape, and everything else is kept as an untyped tree. Failures here are 422 `Illegal genericflow source: ...`
with path `yaml`, before any strictness or bean validation (see `checks.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError, Violation, internal, invalid_entity
from .flowyaml import Plain, YamlError, is_null, read_document, resolve, resolve_scalar, scalar_text

# Properties of io.kestra.core.models.flows.Flow in 0.24/1.0 (kestra-flow-model.md §1).
FLOW_PROPERTIES = (
    "id", "namespace", "revision", "description", "inputs", "outputs", "disabled", "labels", "variables",
    "workerGroup", "deleted", "finally", "tasks", "errors", "afterExecution", "listeners", "triggers",
    "pluginDefaults", "taskDefaults", "concurrency", "retry", "sla", "tenantId",
)
# 2.x: develop c94e7743's AbstractFlow + Flow fields, without `pluginDefaults`, which the 2.0 spec (client-sdk
# 50cb46f4) and the 2.0 migration reference drop; `policyRefs` is parsed (and ignored) by OSS.
FLOW_PROPERTIES_2 = (
    "id", "namespace", "revision", "description", "inputs", "outputs", "disabled", "labels", "variables",
    "deleted", "finally", "tasks", "errors", "afterExecution", "triggers", "concurrency", "retry", "sla",
    "checks", "workerSelector", "policyRefs", "quotas", "updated", "tenantId",
)
TASK_LISTS = ("tasks", "errors", "finally", "afterExecution")
GENERIC_FLOW = "io.kestra.core.models.flows.GenericFlow"


def flow_properties(kestra_version: str) -> tuple[str, ...]:
    return FLOW_PROPERTIES_2 if kestra_version.startswith("2") else FLOW_PROPERTIES


@dataclass
class FlowDoc:
    """The typed view of one flow source; `tree` is the whole document with plain scalars kept raw."""

    source: str
    tree: dict
    id: str | None
    namespace: str | None
    revision: int | None
    disabled: bool
    deleted: bool
    labels: list[dict] | None

    def task_list(self, name: str) -> list:
        value = self.tree.get(name)
        return value if isinstance(value, list) else []


def parse_flow(source: str, resource: str = "genericflow") -> FlowDoc:
    """Read `source` as Kestra's first parse does; raise `ApiError` (422, or 500 for a null document).

    `resource` names the target class in the message, as Kestra's YamlParser does (`Illegal <resource> source`).
    """
    try:
        tree = read_document(source)
    except YamlError as error:
        raise _parse_error(resource, _yaml_message(error)) from None
    if is_null(tree):
        # Jackson returns null for a null document and GenericFlow.fromYaml dereferences it.
        raise internal('Cannot invoke "io.kestra.core.models.flows.GenericFlow.toBuilder()" because "parsed" is null')
    if not isinstance(tree, dict):
        raise _parse_error(resource, _mismatch(GENERIC_FLOW, tree) + " (at line 1)")
    try:
        _check_lists(tree)
        return FlowDoc(
            source=source,
            tree=tree,
            id=_typed(tree, "id", _string),
            namespace=_typed(tree, "namespace", _string),
            revision=_typed(tree, "revision", _integer),
            disabled=_typed(tree, "disabled", _boolean),
            deleted=_typed(tree, "deleted", _boolean),
            labels=_typed(tree, "labels", labels_of),
        )
    except _Mismatch as mismatch:
        raise _parse_error(resource, f"YAML parsing error: {mismatch}") from None


def _yaml_message(error: YamlError) -> str:
    message = error.message if error.message.startswith("YAML syntax error") else f"YAML parsing error: {error.message}"
    return message if error.line is None else f"{message} (at line {error.line})"


def _parse_error(resource: str, message: str) -> ApiError:
    return invalid_entity(f"Illegal {resource} source: {message}", (Violation(message, "yaml"),))


class _Mismatch(Exception):
    """A value whose YAML shape cannot fill its typed Java field (Jackson's MismatchedInputException)."""


def _mismatch(java_type: str, node: object) -> str:
    if isinstance(node, dict):
        return f"Cannot deserialize value of type `{java_type}` from Object value (token `JsonToken.START_OBJECT`)"
    if isinstance(node, list):
        return f"Cannot deserialize value of type `{java_type}` from Array value (token `JsonToken.START_ARRAY`)"
    return (f"Cannot construct instance of `{java_type}` (although at least one Creator exists): "
            f"no String-argument constructor/factory method to deserialize from String value ('{node}')")


def _typed(tree: dict, key: str, read):
    """A typed field read; a mismatch names it as Jackson's `JsonMappingException.getMessage()` does, with
    its reference chain (which YamlParser.formatYamlErrorMessage keeps in `YAML parsing error: ...`)."""
    try:
        return read(tree.get(key))
    except _Mismatch as mismatch:
        raise _Mismatch(f'{mismatch} (through reference chain: {GENERIC_FLOW}["{key}"])') from None


def _string(node: object) -> str | None:
    try:
        return scalar_text(node)
    except TypeError:
        raise _Mismatch(_mismatch("java.lang.String", node)) from None


def _integer(node: object) -> int | None:
    if is_null(node):
        return None
    if isinstance(node, (dict, list)):
        raise _Mismatch(_mismatch("java.lang.Integer", node))
    value = resolve_scalar(node) if type(node) is Plain else node
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _Mismatch(f'Cannot deserialize value of type `java.lang.Integer` from String "{node}": '
                            "not a valid `java.lang.Integer` value") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Mismatch(f"Cannot coerce value ({node}) to `java.lang.Integer` value")
    return value


def _boolean(node: object) -> bool:
    if is_null(node):
        return False
    value = resolve_scalar(node) if type(node) is Plain else node
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false", ""):
        return value.lower() == "true"
    if isinstance(node, (dict, list)):
        raise _Mismatch(_mismatch("boolean", node))
    raise _Mismatch(f'Cannot deserialize value of type `boolean` from String "{node}": only "true" or "false" recognized')


def _check_lists(tree: dict) -> None:
    for key in (*TASK_LISTS, "triggers", "inputs", "outputs"):
        _typed(tree, key, _list)


def _list(value: object) -> None:
    if not is_null(value) and not isinstance(value, list):
        raise _Mismatch(_mismatch("java.util.ArrayList", value))


def labels_of(node: object) -> list[dict] | None:
    """Labels as Kestra serves them: a list of {key, value}, from either the map or the list form."""
    if is_null(node):
        return None
    if isinstance(node, dict):
        return [{"key": key, "value": _label_value(key, value)} for key, value in node.items()]
    if isinstance(node, list):
        labels = []
        for item in node:
            if not isinstance(item, dict):
                raise _Mismatch(_mismatch("io.kestra.core.models.Label", item))
            label = {"key": _label_text(item.get("key")), "value": _label_text(item.get("value"))}
            labels.append({name: text for name, text in label.items() if text is not None})
        return labels
    raise _Mismatch(_mismatch("java.util.List<io.kestra.core.models.Label>", node))


def _label_value(key: str, node: object) -> str:
    """A map-form label value: scalars are stringified after YAML typing (`yes` becomes "true")."""
    value = resolve(node)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise _Mismatch(f"Unsupported type for key: {key}, value: {value}")


def _label_text(node: object) -> str | None:
    try:
        return scalar_text(node)
    except TypeError:
        raise _Mismatch(_mismatch("java.lang.String", node)) from None
