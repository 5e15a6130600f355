"""Saved plans: the only module that reads or writes plan files.

A plan file is the JSON form of a plan (kestrasync.render.json), holding the exact text of every
flow to write and the server revision each change was computed against, so `apply plan.json`
writes exactly what was reviewed and can refuse when the server moved on. It never holds
credentials, and it is created readable by its owner only, since flow sources can be sensitive.
"""

from __future__ import annotations

import json
from pathlib import Path

from kestrasync.errors import PlanFileError
from kestrasync.files import write_atomically
from kestrasync.model import (
    PLAN_FORMAT_VERSION,
    Action,
    Change,
    Diagnostic,
    FlowKey,
    LocalFlow,
    Plan,
    RemoteFlow,
    Severity,
    SourceLocation,
    UpdateKind,
)
from kestrasync.render.json import plan_to_dict


def save_plan(plan: Plan, path: Path) -> None:
    """Write atomically with mode 0600: a reader never sees half a plan."""
    data = json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False).encode("utf-8")
    try:
        write_atomically(path, data, mode=0o600)
    except OSError as error:
        raise PlanFileError(f"cannot write plan file {path}: {error.strerror}") from None


def load_plan(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanFileError(f"cannot read plan file {path}: {error.strerror}") from None
    except ValueError as error:
        raise PlanFileError(f"{path} is not a kestra-sync plan file (invalid JSON: {error})") from None
    if not isinstance(data, dict) or data.get("kind") != "kestra-sync/plan":
        raise PlanFileError(f"{path} is not a kestra-sync plan file")
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            f"{path} has plan format {data.get('format_version')!r}; this kestra-sync reads {PLAN_FORMAT_VERSION!r}. "
            "Make the plan again with this version."
        )
    try:
        return Plan(
            server=data["server"],
            tenant=data["tenant"],
            scope=tuple(data["scope"]),
            changes=tuple(_change(c) for c in data["changes"]),
            unchanged=data["summary"]["unchanged"],
            prune=bool(data["prune"]),
            skipped_cosmetic=tuple(FlowKey.parse(k) for k in data["skipped_cosmetic"]),
            diagnostics=tuple(_diagnostic(d) for d in data["diagnostics"]),
            created_at=data["created_at"],
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFileError(f"{path} is damaged: missing or bad field {error}") from None


def _change(data: dict) -> Change:
    key = FlowKey(data["namespace"], data["id"])
    action = {"create": Action.CREATE, "update": Action.UPDATE, "delete": Action.DELETE}[data["action"]]
    before = after = None
    if data["revision_before"] is not None:
        before = RemoteFlow(key, data["server_source"], int(data["revision_before"]))
    if data["source"] is not None:
        references = tuple(FlowKey.parse(k) for k in data["references"])
        after = LocalFlow(key, data["source"], SourceLocation(data["file"], data["line"]), references)
    return Change(
        action,
        key,
        before,
        after,
        kind=UpdateKind(data["kind"]) if data["kind"] else None,
        summary=tuple(data["summary"]),
        diff=data["diff"],
        depends_on=tuple(FlowKey.parse(k) for k in data["depends_on"]),
    )


def _diagnostic(data: dict) -> Diagnostic:
    location = SourceLocation(data["file"], data["line"] or 1) if data["file"] else None
    key = FlowKey.parse(data["flow"]) if data["flow"] else None
    return Diagnostic(Severity(data["severity"]), data["message"], key, location)
