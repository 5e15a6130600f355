"""Plans as JSON documents: the only module that writes or reads the format (plan files and
`--format json` are the same document).

A plan file holds the exact content of everything to write and the server version each change was
computed against, so `apply plan.json` writes exactly what was reviewed and can refuse when the
server moved on. It never holds credentials, and it is created readable by its owner only, since
flow sources can be sensitive. FORMAT: 2.0 (each change carries its resource kind); a file of
another format is refused with a sentence saying to plan again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from kestrasync import kinds
from kestrasync.errors import PlanFileError
from kestrasync.files import write_atomically
from kestrasync.model import (
    PLAN_FORMAT_VERSION,
    Action,
    ApplyReport,
    Change,
    Content,
    Detail,
    Diagnostic,
    Key,
    Local,
    Plan,
    Remote,
    ResultStatus,
    Severity,
    SourceLocation,
    Unmanaged,
    UpdateKind,
)

PLAN_TYPE = "kestra-sync/plan"
REPORT_TYPE = "kestra-sync/apply-report"
ERROR_TYPE = "kestra-sync/error"
_ACTIONS = {action.verb: action for action in Action}


def save_plan(plan: Plan, path: Path, redact: Callable[[str], str] = str) -> None:
    """Write atomically with mode 0600 (a reader never sees half a plan), through `redact`: the
    engine refuses to plan a file that holds a credential, so only the server's copies can lose one."""
    try:
        write_atomically(path, redact(dumps(plan_to_dict(plan))).encode("utf-8"), mode=0o600)
    except OSError as error:
        raise PlanFileError(f"cannot write plan file {path}: {error.strerror}") from None


def load_plan(path: Path) -> Plan:
    if path.suffix in (".yml", ".yaml"):
        raise PlanFileError(f"{path} is a flow file, not a saved plan: apply plans the whole repository; to apply only "
                            "one flow, pass --target NAMESPACE/ID (a plan file comes from `kestra-sync plan --out FILE`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanFileError(f"cannot read plan file {path}: {error.strerror}") from None
    except ValueError as error:
        raise PlanFileError(f"{path} is not a kestra-sync plan file (invalid JSON: {error})") from None
    if not isinstance(data, dict) or PLAN_TYPE not in (data.get("type"), data.get("kind")):
        raise PlanFileError(f"{path} is not a kestra-sync plan file")
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            f"{path} has plan format {data.get('format_version')!r}; this kestra-sync reads {PLAN_FORMAT_VERSION!r}. "
            "Make the plan again with this version (kestra-sync plan --out FILE)."
        )
    try:
        return plan_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise PlanFileError(f"{path} is damaged: missing or bad field {error}") from None


def dumps(document: dict, indent: int | None = 2) -> str:
    return json.dumps(document, indent=indent, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Plan <-> dict


def plan_to_dict(plan: Plan) -> dict:
    return {
        "format_version": plan.format_version,
        "type": PLAN_TYPE,
        "server": plan.server,
        "tenant": plan.tenant,
        "kestra": plan.kestra,
        "scope": list(plan.scope),
        "kinds": [info.name for info in plan.kinds],
        "created_at": plan.created_at,
        "prune": plan.prune,
        "has_changes": plan.has_changes,
        "summary": plan.counts(),
        "summary_by_kind": {info.name: plan.counts(info.name) for info in plan.kinds},
        "summary_line": plan.summary_line(),
        "changes": [change_to_dict(c) for c in plan.changes],
        "skipped_cosmetic": [k.qualified for k in plan.skipped_cosmetic],
        "diagnostics": [diagnostic_to_dict(d) for d in plan.diagnostics],
        "unmanaged": [unmanaged_to_dict(u) for u in plan.unmanaged],
        "environment": plan.environment or None,
    }


def plan_from_dict(data: dict) -> Plan:
    unknown = [name for name in data["kinds"] if name not in kinds.KINDS]
    if unknown:
        raise ValueError(f"kinds (this kestra-sync knows no kind {unknown[0]!r})")
    planned = tuple(kinds.get(name).info for name in data["kinds"])
    changes = tuple(change_from_dict(c) for c in data["changes"])
    if any(c.key.kind not in data["kinds"] for c in changes):
        raise ValueError("changes (a change of a kind the plan does not list)")
    return Plan(
        server=data["server"],
        tenant=data["tenant"],
        kestra=data["kestra"],
        scope=tuple(data["scope"]),
        kinds=planned,
        changes=changes,
        unchanged={info.name: int(data["summary_by_kind"][info.name]["unchanged"]) for info in planned},
        prune=bool(data["prune"]),
        skipped_cosmetic=tuple(Key.from_qualified(k) for k in data["skipped_cosmetic"]),
        diagnostics=tuple(diagnostic_from_dict(d) for d in data["diagnostics"]),
        created_at=data["created_at"],
        unmanaged=tuple(unmanaged_from_dict(u) for u in data.get("unmanaged", ())),
        environment=str(data.get("environment") or ""),
    )


def unmanaged_to_dict(unmanaged: Unmanaged) -> dict:
    key = unmanaged.key
    return {"key": key.qualified, "kind": key.kind, "namespace": key.namespace, "name": key.name,
            "renamed_to": unmanaged.renamed_to.qualified if unmanaged.renamed_to else None, "active": list(unmanaged.active)}


def unmanaged_from_dict(data: dict) -> Unmanaged:
    renamed = data["renamed_to"]
    return Unmanaged(Key.from_qualified(data["key"]), Key.from_qualified(renamed) if renamed else None,
                     tuple(str(a) for a in data["active"]))


def change_to_dict(change: Change) -> dict:
    location = change.after.location if change.after else None
    return {
        "action": change.action.verb,
        "kind": change.key.kind,
        "key": change.key.qualified,
        "address": str(change.key),
        "namespace": change.key.namespace,
        "name": change.key.name,
        "update_kind": change.update_kind.value if change.update_kind else None,
        "summary": [str(d) for d in change.summary],
        "details": [{"verb": d.verb, "element": d.element, "name": d.name, "parts": list(d.parts)} for d in change.summary],
        "version_before": change.version_before,
        "file": location.path if location else None,
        "line": location.line if location else None,
        "column": location.column if location else None,
        "depends_on": [k.qualified for k in change.depends_on],
        "references": [k.qualified for k in change.after.references] if change.after else [],
        "content": _content_out(change.after.content) if change.after else None,
        "server_content": _content_out(change.before.content) if change.before else None,
        "diff": change.diff,
    }


def change_from_dict(data: dict) -> Change:
    key = Key.from_qualified(data["key"])
    if key.kind != data["kind"]:
        raise ValueError("kind (it differs from the kind of the change's key)")
    action = _ACTIONS[data["action"]]
    before = after = None
    if action is not Action.CREATE:
        if data["version_before"] is None:
            raise ValueError("version_before")
        before = Remote(key, _content_in(data["server_content"]), data["version_before"])
    if action is not Action.DELETE:
        location = SourceLocation(data["file"], int(data["line"]), int(data["column"]))
        after = Local(key, _content_in(data["content"]), location, tuple(Key.from_qualified(k) for k in data["references"]))
    return Change(
        action,
        key,
        before,
        after,
        update_kind=UpdateKind(data["update_kind"]) if data["update_kind"] else None,
        summary=tuple(Detail(d["verb"], d["element"], d["name"], tuple(d["parts"])) for d in data["details"]),
        diff=data["diff"],
        depends_on=tuple(Key.from_qualified(k) for k in data["depends_on"]),
    )


def diagnostic_to_dict(diagnostic: Diagnostic) -> dict:
    location = diagnostic.location
    return {
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "key": diagnostic.key.qualified if diagnostic.key else None,
        "file": location.path if location else None,
        "line": location.line if location else None,
        "column": location.column if location else None,
    }


def diagnostic_from_dict(data: dict) -> Diagnostic:
    location = SourceLocation(data["file"], int(data["line"]), int(data["column"])) if data["file"] else None
    key = Key.from_qualified(data["key"]) if data["key"] else None
    return Diagnostic(Severity(data["severity"]), data["message"], key, location)


def _content_out(content: Content):
    """Text as a JSON string; bytes (a binary namespace file) as {"base64": ...}."""
    if isinstance(content, bytes):
        return {"base64": base64.b64encode(content).decode("ascii")}
    return content


def _content_in(value) -> Content:
    if isinstance(value, dict):
        return base64.b64decode(value["base64"], validate=True)
    if not isinstance(value, str):
        raise ValueError("content")
    return value


# ---------------------------------------------------------------------------------------------
# Apply reports and errors (printed, never read back)


def report_to_dict(report: ApplyReport) -> dict:
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "type": REPORT_TYPE,
        "ok": report.ok,
        "interrupted": report.interrupted,
        "summary": {s.value: len(report.with_status(s)) for s in ResultStatus},
        "summary_line": report.summary_line(),
        "results": [
            {
                "action": r.change.action.verb,
                "kind": r.change.key.kind,
                "key": r.change.key.qualified,
                "address": str(r.change.key),
                "status": r.status.value,
                "version_before": r.change.version_before,
                "version_after": r.version_after,
                "seconds": round(r.seconds, 4),
                "message": r.message,
            }
            for r in report.results
        ],
    }


def error_to_dict(message: str) -> dict:
    return {"format_version": PLAN_FORMAT_VERSION, "type": ERROR_TYPE, "error": message}
