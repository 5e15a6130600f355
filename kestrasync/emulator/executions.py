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

from .errors import Violation, illegal_state, invalid_entity, not_found
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
               schedule_date: str | None, ui_base: str) -> dict:
        """Start an execution of `flow` (its Flow JSON) with the submitted form values; return the response body."""
        if flow is None:
            raise not_found("Requested Flow is not found.")
        if flow.get("disabled"):
            raise illegal_state("Requested Flow is disabled.")
        execution_id = new_id()
        started = time.time()
        execution = {
            "id": execution_id, "namespace": flow["namespace"], "flowId": flow["id"],
            "flowRevision": flow["revision"], "tenantId": flow.get("tenantId"),
            "inputs": typed_inputs(flow.get("inputs") or [], form, flow, execution_id),
            "labels": execution_labels(flow.get("labels") or [], labels, execution_id),
            "state": _state(["CREATED"], started),
            "originalId": execution_id, "deleted": False,
            "metadata": {"attemptNumber": 1, "originalCreatedDate": iso(started)},
        }
        if schedule_date:
            execution["scheduleDate"] = schedule_date
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
    """Kestra's input reading: declared inputs only, defaults applied, required ones enforced, simple types coerced."""
    values = {}
    for spec in declared:
        name = spec.get("id") or spec.get("name")
        if name in form:
            values[name] = _coerce(name, spec.get("type", "STRING"), form[name], flow, execution_id)
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


def execution_labels(flow_labels: list[dict], requested: list[str], execution_id: str) -> list[dict]:
    """Flow labels, then `key:value` query labels (system ones refused), then the correlation id."""
    labels = [dict(label) for label in flow_labels]
    for text in requested:
        key, sep, value = text.partition(":")
        if not sep:
            raise invalid_entity(f"labels: Invalid label '{text}', it must be in the format 'key:value'",
                                 (Violation(f"Invalid label '{text}'", "labels"),))
        if key.startswith("system.") and key != _SYSTEM_LABEL_ALLOWED:
            message = f"System labels can only be set by Kestra itself, offending label: {key}={value}"
            raise invalid_entity(f"labels: {message}", (Violation(message, "labels"),))
        labels.append({"key": key, "value": value})
    if not any(label.get("key") == _SYSTEM_LABEL_ALLOWED for label in labels):
        labels.append({"key": _SYSTEM_LABEL_ALLOWED, "value": execution_id})
    return labels
