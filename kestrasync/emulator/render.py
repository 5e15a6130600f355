"""The `Flow` JSON Kestra serves, built from a stored source.

Kestra serializes its parsed model with Jackson (`non_null` inclusion), so the JSON is the YAML's content
re-typed: unknown top-level keys are gone (a lenient update drops them), labels are always a list, String
fields keep their text, untyped places get YAML 1.1 scalars, nulls are omitted, and the server's own fields
(`revision`, `tenantId`, `disabled`, `deleted`) are always present. `source` exists only on `FlowWithSource`,
so it is appended separately (`with_source`) to a cached `Flow` text. Kestra also injects task defaults
(`disabled: false`, `runIf`...) from its plugin classes; the emulator does not know them and leaves them out.
"""

from __future__ import annotations

import json
import math

from .flowdoc import TASK_LISTS, FlowDoc
from .flowyaml import is_null, resolve, scalar_text

# Jackson's property order for Flow, close enough for humans reading the JSON.
_ORDER = ("id", "namespace", "revision", "description", "inputs", "outputs", "disabled", "labels", "variables",
          "workerGroup", "deleted", "finally", "tasks", "errors", "afterExecution", "listeners", "triggers",
          "pluginDefaults", "concurrency", "retry", "sla")
_STRING_FIELDS = ("id", "type", "description")


def render_flow(doc: FlowDoc, *, revision: int, tenant: str, disabled: bool, deleted: bool,
                extra: dict | None = None) -> str:
    """The compact JSON text of `doc` as a `Flow` at `revision` (no `source`); `extra` holds the 2.x
    server fields (`updated`, `draft`)."""
    tree = doc.tree
    server = {"id": doc.id, "namespace": doc.namespace, "revision": revision, "disabled": disabled,
              "deleted": deleted, "labels": doc.labels, "description": _text(tree.get("description"))}
    body: dict = {}
    for key in _ORDER:
        if key in server:
            value = server[key]
        elif key == "pluginDefaults" and "pluginDefaults" not in tree:
            value = _typed(key, tree.get("taskDefaults"))  # the deprecated setter copies into pluginDefaults
        else:
            value = _typed(key, tree.get(key))
        if value is not None:
            body[key] = value
    body.update(extra or {})
    body["tenantId"] = tenant
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def render_broken(namespace: str, flow_id: str, *, revision: int, tenant: str, deleted: bool, exception: str,
                  extra: dict | None = None) -> str:
    """A `FlowWithException`: what a repository answers for a stored flow its model can no longer read
    (develop c94e7743 `FlowWithException.from`: id, namespace, revision, deleted, `tasks: []`, the message)."""
    body = {"id": flow_id, "namespace": namespace, "revision": revision, "disabled": False, "deleted": deleted,
            "tasks": [], **(extra or {}), "exception": exception, "tenantId": tenant}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def with_source(flow_json: str, source: str) -> str:
    """`FlowWithSource`: the cached `Flow` text plus its stored source, without re-serializing the rest."""
    return f'{flow_json[:-1]},"source":{json.dumps(source, ensure_ascii=False)}}}'


def _typed(key: str, node: object) -> object:
    if is_null(node):
        return None
    if key == "variables":
        return _json_safe(resolve(node), keep_nulls=True)  # a Map: Jackson keeps null values
    value = _json_safe(resolve(node), keep_nulls=False)
    if key in (*TASK_LISTS, "triggers", "inputs", "outputs") and isinstance(node, list):
        value = [_with_string_fields(raw, item) for raw, item in zip(node, value)]
    return value


def _with_string_fields(raw: object, item: object) -> object:
    """A typed object's `id`/`type`/`description` are Java Strings: keep their YAML text (`id: 01` stays "01")."""
    if not isinstance(raw, dict) or not isinstance(item, dict):
        return item
    for name in _STRING_FIELDS:
        text = _text(raw.get(name))
        if text is not None:
            item[name] = text
    return item


def _text(node: object) -> str | None:
    try:
        return scalar_text(node)
    except TypeError:
        return None


def _json_safe(value: object, keep_nulls: bool) -> object:
    """Drop nulls (Jackson `non_null`) and write NaN/Infinity as strings (Jackson's default)."""
    if isinstance(value, dict):
        return {k: _json_safe(v, keep_nulls) for k, v in value.items() if keep_nulls or v is not None}
    if isinstance(value, list):
        return [_json_safe(item, keep_nulls) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value

