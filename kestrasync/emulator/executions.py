"""Executions without an executor: created, typed from the flow's inputs, and immediately finished.

Kestra's `POST /executions/{namespace}/{id}` checks the flow (`getFlowIfExecutableOrThrow`), reads the
multipart inputs against the flow's `inputs`, and answers one `ExecutionResponse`. Nothing runs here: an
execution is answered `CREATED`, or `SUCCESS` with `wait=true`, and reads back as `SUCCESS` afterwards,
which is what a client waiting for the end of a task-less run would observe.
"""

from __future__ import annotations

import secrets
import string
import time

import re

from .errors import Violation, conflict, invalid_entity, not_found
from .kvstore import iso

_ALPHABET = string.ascii_letters + string.digits
_SYSTEM_LABEL_ALLOWED = "system.correlationId"


def new_id() -> str:
    """A 22-character base62 id, the shape of Kestra's `IdUtils.create()`."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(22))


class Executions:
    def __init__(self) -> None:
        self._items: dict[str, dict] = {}

    def create(self, flow: dict | None, *, form: dict, labels: list[str], wait: bool,
               schedule_date: str | None, ui_base: str, kestra_version: str = "1.0") -> dict:
        """Start an execution of `flow` (its Flow JSON) with the submitted form values; return the response body
        (one object in every version; 2.x no longer serves `deleted`)."""
        if flow is None:
            raise not_found("Requested Flow is not found.")
        if flow.get("disabled"):
            raise conflict("Requested Flow is disabled.")
        execution_id = new_id()
        started = time.time()
        execution = {
            "id": execution_id, "namespace": flow["namespace"], "flowId": flow["id"],
            "flowRevision": flow["revision"], "tenantId": flow.get("tenantId"),
            "inputs": typed_inputs(flow.get("inputs") or [], form, flow, execution_id),
            "labels": execution_labels(flow.get("labels") or [], labels, execution_id, kestra_version),
            "state": _state(["CREATED"], started),
            "originalId": execution_id, "deleted": False,
            "metadata": {"attemptNumber": 1, "originalCreatedDate": iso(started)},
        }
        if schedule_date:
            execution["scheduleDate"] = schedule_date
        if kestra_version.startswith("2"):
            del execution["deleted"]
        finished = dict(execution, state=_state(["CREATED", "RUNNING", "SUCCESS"], started))
        self._items[execution_id] = finished
        answer = finished if wait else execution
        tenant = flow.get("tenantId") or "main"
        return dict(answer, url=f"{ui_base}/ui/{tenant}/executions/{flow['namespace']}/{flow['id']}/{execution_id}")

    def get(self, execution_id: str) -> dict:
        execution = self._items.get(execution_id)
        if execution is None:
            raise not_found()
        return execution

    def clear(self) -> None:
        self._items.clear()


def _state(history: list[str], started: float) -> dict:
    state = {"current": history[-1], "histories": [{"state": s, "date": iso(started)} for s in history],
             "startDate": iso(started), "duration": "PT0S"}
    if history[-1] == "SUCCESS":
        state["endDate"] = iso(started)
    return state


def typed_inputs(declared: list[dict], form: dict, flow: dict, execution_id: str) -> dict:
    """Kestra's input reading: declared inputs only, defaults applied, required ones enforced, simple types
    coerced, then each input's own `validate` (STRING `validator`, INT/FLOAT `min`/`max`).

    A file part is named after its input; the old style, a part named `files` whose filename is the input's
    id, is still read (FlowInputOutput.readData, v1.0.3), the file then named `<id><extension or .upl>`.
    """
    values = {}
    form = dict(form)
    old_style = form.get("files")
    if isinstance(old_style, tuple) and any((s.get("id") or s.get("name")) == old_style[0] for s in declared):
        spec = next(s for s in declared if (s.get("id") or s.get("name")) == old_style[0])
        extension = str(spec.get("extension") or ".upl")
        form[old_style[0]] = (old_style[0] + (extension if extension.startswith(".") else "." + extension), old_style[1])
    for spec in declared:
        name = spec.get("id") or spec.get("name")
        if name in form:
            values[name] = _coerce(name, spec.get("type", "STRING"), form[name], flow, execution_id)
            _validate(name, spec, values[name])
        elif "defaults" in spec:
            values[name] = spec["defaults"]
        elif spec.get("required", True):
            message = f"Invalid input for `{name}`, missing required input, but received `null`"
            raise invalid_entity(f"inputs.{name}: {message}", (Violation(message, f"inputs.{name}"),))
    return values


def _coerce(name: str, kind: str, value: object, flow: dict, execution_id: str) -> object:
    if isinstance(value, tuple):  # an uploaded file: (filename, bytes)
        return f"kestra:///{flow['namespace'].replace('.', '/')}/{flow['id']}/executions/{execution_id}/inputs/{name}/{value[0]}"
    try:
        if kind == "INT":
            return int(value)
        if kind == "FLOAT":
            return float(value)
        if kind in ("BOOLEAN", "BOOL"):
            if str(value).lower() not in ("true", "false"):
                raise ValueError(value)
            return str(value).lower() == "true"
    except ValueError:
        message = f"Invalid input for `{name}`, it must match the type `{kind}`, but received `{value}`"
        raise invalid_entity(f"inputs.{name}: {message}", (Violation(message, f"inputs.{name}"),)) from None
    return value


def _validate(name: str, spec: dict, value: object) -> None:
    """`Input.validate` (StringInput, IntInput, FloatInput): the message Data.toConstraintViolationException builds."""
    problem = None
    if spec.get("validator") is not None and isinstance(value, str) and not re.fullmatch(str(spec["validator"]), value):
        problem = f"it must match the pattern `{spec['validator']}`"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.get("min") is not None and value < spec["min"]:
            problem = f"it must be more than `{spec['min']}`"
        elif spec.get("max") is not None and value > spec["max"]:
            problem = f"it must be less than `{spec['max']}`"
    if problem:
        message = f"Invalid input for `{name}`, {problem}, but received `{value}`"
        raise invalid_entity(f"inputs.{name}: {message}", (Violation(message, f"inputs.{name}"),))


# develop c94e7743 Label: the message for a key off `^[\p{Ll}][\p{L}0-9._-]*$` (1.x requires non-null only).
_LABEL_KEY_MESSAGE = ("Invalid label key. A valid key contains only lowercase letters numbers hyphens (-) underscores (_) "
                      "or periods (.) and must begin with a lowercase letter.")


def execution_labels(flow_labels: list[dict], requested: list[str], execution_id: str,
                     kestra_version: str = "1.0") -> list[dict]:
    """Flow labels, then `key:value` query labels (system ones refused; 2.x also checks the key's form and
    a non-empty value), then the correlation id."""
    labels = [dict(label) for label in flow_labels]
    for text in requested:
        key, sep, value = text.partition(":")
        if not sep:
            raise invalid_entity(f"labels: Invalid label '{text}', it must be in the format 'key:value'",
                                 (Violation(f"Invalid label '{text}'", "labels"),))
        if kestra_version.startswith("2") and not key.startswith("system.") and not label_key_ok(key):
            raise invalid_entity(f"labels: {_LABEL_KEY_MESSAGE}", (Violation(_LABEL_KEY_MESSAGE, "labels"),))
        if kestra_version.startswith("2") and not value:
            raise invalid_entity("labels: must not be empty", (Violation("must not be empty", "labels"),))
        if key.startswith("system.") and key != _SYSTEM_LABEL_ALLOWED:
            message = f"System labels can only be set by Kestra itself, offending label: {key}={value}"
            raise invalid_entity(f"labels: {message}", (Violation(message, "labels"),))
        labels.append({"key": key, "value": value})
    if not any(label.get("key") == _SYSTEM_LABEL_ALLOWED for label in labels):
        labels.append({"key": _SYSTEM_LABEL_ALLOWED, "value": execution_id})
    return labels


def label_key_ok(key: str) -> bool:
    """`^[\\p{Ll}][\\p{L}0-9._-]*$`: a lower-case letter first, then letters, digits, `.`, `_` or `-`."""
    return bool(key) and key[0].islower() and all(c.isalpha() or c in "0123456789._-" for c in key[1:])
